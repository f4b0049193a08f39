"""Pages of rows shown as chat (the Data tab's preview, an upload's preview): 4, 10 or 25
rows a page, a page box that says how many pages there are, and a new page size that keeps
the rows in view.

    page, per_page, size = pager(ctx, "data")     # elem_ids data-page, data-per-page
    per_page.input(resize, [page, size, per_page], [page, size])
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from ..i18n import t

PAGE_SIZES = (4, 10, 25)  # rows a page may show
PER_PAGE = PAGE_SIZES[0]


def page_size(value: Any) -> int:
    """A rows-per-page choice; anything else (an API call's 1000) is the first size."""
    try:
        return int(value) if int(value) in PAGE_SIZES else PER_PAGE
    except (TypeError, ValueError):
        return PER_PAGE


def page_for(page: Any, old: Any, new: Any) -> int:
    """The page of `new` rows each that shows the first row of page `page` of `old` rows."""
    first = (max(int(page or 1), 1) - 1) * page_size(old)
    return first // page_size(new) + 1


def resize(page: Any, old: Any, new: Any) -> tuple[int, int]:
    """A new rows-per-page choice: (the page that keeps the first row shown in view, the size)."""
    return page_for(page, old, new), page_size(new)


def page_label(number: Any, pages: int, lang: str) -> dict:
    """The page box kept within the pages, its label saying how many there are."""
    number = min(max(int(number or 1), 1), pages)
    return gr.update(value=number, label=f"{t('page', lang)} ({number}/{pages})")


def pager(ctx, prefix: str) -> tuple[Any, Any, Any]:
    """(page number box, rows-per-page radio, State of the page size shown); elem_ids
    <prefix>-page and <prefix>-per-page."""
    # No relabel: the preview's handler labels the page box ("Page (2/75)") in each language.
    page = gr.Number(1, precision=0, minimum=1, label=t("page"), min_width=100, scale=1,
                     elem_id=f"{prefix}-page")
    per_page = ctx.relabel(gr.Radio(list(PAGE_SIZES), value=PER_PAGE, label=t("per_page"),
                                    scale=2, elem_id=f"{prefix}-per-page"), "per_page")
    return page, per_page, gr.State(PER_PAGE)
