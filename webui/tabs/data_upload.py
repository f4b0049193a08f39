"""Upload a data file and register it: detect format and columns (a dry run of
core.data.register_file), show its rows as chat as they will read once registered, let the
user edit the columns (each edit detects again and refreshes the rows), then copy the file
into data/ and register it (core.data.register_upload).

A file is copied only when it registers: a file whose records fail (unless "register even with
bad records" is ticked) or a name already taken leaves data/ and the registry as they were.
Plain handlers: detect(), preview(), register().
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from core.data import register_file, register_upload
from core.data.loading import EXTENSIONS, read_path
from core.data.registry import (
    COLUMN_KEYS,
    DEFAULT_COLUMNS,
    DEFAULT_TAGS,
    FORMATS,
    TAG_KEYS,
)
from core.errors import UserError

from ..i18n import DEFAULT, t
from ..i18n_core import say
from ..i18n_fields import registry_label
from ..render import message_html, rows_page
from ..workspace import Workspace
from .data_pages import page_label, page_size, pager, resize


@dataclass
class Detected:
    name: str
    save_as: str
    entry: dict[str, Any]
    keys: list[str]  # the records' fields, for the column pickers
    stage: str
    stages: list[str]
    rows: int
    problems: list = field(default_factory=list)
    converted: Any = field(default=None, repr=False)  # core.data.DatasetRows, for the preview

    def columns(self) -> dict[str, str]:
        """Detected columns, plus the format's default names the records actually have."""
        fmt = self.entry.get("formatting", "alpaca")
        found = {k: v for k, v in DEFAULT_COLUMNS.get(fmt, {}).items() if v in self.keys}
        return {**found, **self.entry.get("columns", {})}

    def tags(self) -> dict[str, str]:
        return {**DEFAULT_TAGS.get(self.entry.get("formatting"), {}), **self.entry.get("tags", {})}


def default_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("_") or "dataset"


def free_target(ws: Workspace, folder: Path, name: str) -> str:
    """folder/name, or folder/stem-2.ext, ... when taken."""
    path, n = folder / name, 2
    while path.exists():
        path, n = folder / f"{Path(name).stem}-{n}{Path(name).suffix}", n + 1
    return ws.shown(path)


def detect(ws: Workspace, upload: str, dataset_dir: str, name: str | None = None,
           formatting: str | None = None, ranking: bool | None = None,
           columns: dict[str, str | None] | None = None,
           tags: dict[str, str] | None = None) -> Detected:
    """What registering `upload` would write, and how its records convert; writes nothing."""
    folder = ws.confine(dataset_dir or "data", "dataset_dir")
    path = Path(upload)
    reg = register_file(name or default_name(path), path, folder, formatting=formatting,
                        ranking=ranking, columns=columns, tags=tags, dry_run=True)
    keys = list(dict.fromkeys(k for r in read_path(path)[:20] if isinstance(r.data, dict)
                              for k in r.data))
    entry = {**reg.entry, "file_name": path.name}
    return Detected(reg.name, free_target(ws, folder, path.name), entry, keys, reg.stage,
                    reg.stages, reg.rows, reg.problems, reg.converted)


def preview(converted: Any, upload: str | None, page: Any, per_page: int,
            lang: str) -> tuple[str, int]:
    """(HTML of a page of a detected file's rows as chat, as the Data tab shows registered
    ones, headed by what it is; the number of pages). Rows name the uploaded file."""
    if converted is None:
        return "", 1
    name = Path(upload).name if upload else converted.file
    sources = [(name, index) for _, index in converted.sources]
    html, pages, _ = rows_page(converted.rows, sources, page, per_page, lang)
    head = t("upload_preview", lang, stage=converted.stage)
    return f'<div class="ps-note ps-upload-head">{head}</div>{html}', pages


def register(ws: Workspace, upload: str, name: str, save_as: str, dataset_dir: str,
             formatting: str | None, ranking: bool | None, columns: dict[str, str | None] | None,
             tags: dict[str, str] | None, allow_bad: bool = False,
             lang: str = DEFAULT) -> tuple[bool, str]:
    """Copy `upload` to `save_as` (inside the data folder) and register it as `name`
    (core.data.register_upload). Returns (registered, message); on failure nothing is left."""
    folder = ws.confine(dataset_dir or "data", "dataset_dir")
    target = ws.confine(save_as, "save_as")
    reg = register_upload(upload, name, target, folder, formatting=formatting, ranking=ranking,
                          columns=columns, tags=tags, allow_bad=allow_bad)
    if reg.registry is None:
        return False, t("not_registered", lang, n=len({p.index for p in reg.errors}))
    return True, t("registered", lang, name=name, registry=ws.shown(reg.registry))


def summary(d: Detected, lang: str) -> str:
    text = t("detected", lang, formatting=d.entry.get("formatting"), rows=d.rows, stage=d.stage,
             pairs=t("pairs_suffix", lang) if d.entry.get("ranking") else "",
             stages=", ".join(d.stages))
    # the uploaded copy's name, not gradio's temporary folder
    shown = [say(str(p).replace(str(p.file), Path(p.file).name, 1), lang)
             for p in d.problems[:10]]
    more = f" (+{len(d.problems) - 10})" if len(d.problems) > 10 else ""
    kind = "error" if any(p.is_error for p in d.problems) else "ok"
    return message_html(text + ("\n" + "\n".join(shown) + more if shown else ""), kind)


# --- the accordion ---------------------------------------------------------------------------
def _layout(ctx) -> SimpleNamespace:
    ui = SimpleNamespace()
    with ctx.relabel(gr.Accordion(t("upload"), open=False, elem_id="upload"), "upload"):
        with gr.Row(equal_height=False):
            ui.file = ctx.relabel(gr.File(label=t("upload_file"), scale=2, elem_id="upload-file",
                                          file_types=list(EXTENSIONS)),
                                  "upload_file")
            ctx.remount(ui.file)  # gradio's "Drop File Here" in the page's language
            with gr.Column(scale=2):
                ui.name = ctx.relabel(gr.Textbox(label=t("new_name"), elem_id="upload-name"),
                                      "new_name")
                ui.save_as = ctx.relabel(gr.Textbox(label=t("save_as"), elem_id="upload-save-as"),
                                         "save_as")
                with gr.Row():
                    ui.fmt = ctx.relabel(gr.Dropdown(list(FORMATS), label=t("formatting"),
                                                     elem_id="upload-format"), "formatting")
                    ui.ranking = ctx.relabel(gr.Checkbox(label=t("ranking"),
                                                         elem_id="upload-ranking"), "ranking")
        ui.message = gr.HTML(elem_id="upload-message")
        ctx.relabel(gr.Markdown(t("columns")), "columns", "value")
        with gr.Row():
            ui.cols = [gr.Dropdown([], label=k, allow_custom_value=True, min_width=110,
                                   elem_id=f"upload-col-{k}") for k in COLUMN_KEYS]
        with gr.Row(visible=False) as ui.tag_row:
            ui.tags = [gr.Textbox(label=k, min_width=110) for k in TAG_KEYS]
        for key, box in zip(COLUMN_KEYS + TAG_KEYS, ui.cols + ui.tags):
            ctx.on_lang(box, lambda lang, key=key: {"label": registry_label(key, lang)})
        with gr.Row():
            ui.allow_bad = ctx.relabel(gr.Checkbox(label=t("allow_bad")), "allow_bad")
            ui.check = ctx.relabel(gr.Button(t("detect")), "detect", "value")
            ui.register = ctx.relabel(gr.Button(t("register"), variant="primary",
                                                elem_id="upload-register"), "register", "value")
        with gr.Row(visible=False, elem_id="upload-pages") as ui.pages:
            ui.page, ui.per_page, ui.size = pager(ctx, "upload")
        ui.preview = gr.HTML(elem_id="upload-preview")
    ui.detected, ui.done, ui.rows = gr.State(None), gr.State(None), gr.State(None)
    ui.shown = [ui.detected, ui.message, ui.rows, ui.preview, ui.page, ui.pages, ui.fmt,
                ui.ranking, ui.tag_row] + ui.cols + ui.tags
    ui.edits = [ui.detected, ui.fmt, ui.ranking] + ui.cols + ui.tags
    return ui


def edited(entry, formatting, is_pair, values) -> tuple:
    """(formatting, ranking, columns, tags) from the editors; a column the detection found and
    the user cleared is passed as None, which removes it."""
    col_values, tag_values = values[:len(COLUMN_KEYS)], values[len(COLUMN_KEYS):]
    columns = {k: v or None for k, v in zip(COLUMN_KEYS, col_values)
               if v or k in (entry or {}).get("columns", {})}
    tags = dict(zip(TAG_KEYS, tag_values)) if formatting != "alpaca" else None
    return formatting or None, bool(is_pair), columns, tags


def show(d: Detected, upload: str, per_page: Any, lang: str) -> list:
    """Updates for ui.shown: the detection, its summary, its first page of rows, and every
    editor filled in."""
    columns, fmt = d.columns(), d.entry.get("formatting")
    html, pages = preview(d.converted, upload, 1, page_size(per_page), lang)
    return ([d.entry, summary(d, lang), d.converted, html, page_label(1, pages, lang),
             gr.update(visible=True), gr.update(value=fmt), bool(d.entry.get("ranking")),
             gr.update(visible=fmt != "alpaca")]
            + [gr.update(choices=[""] + d.keys, value=columns.get(k, "")) for k in COLUMN_KEYS]
            + [d.tags().get(k, "") for k in TAG_KEYS])


def failed(entry: Any, message: str, n: int, lang: str) -> list:
    """Updates for ui.shown when there is nothing (or no longer anything) to show: the
    message, no rows; the editors as they are."""
    first = [entry, message, None, "", gr.update(value=1, label=t("page", lang)),
             gr.update(visible=False)]
    return first + [gr.update()] * (n - len(first))


def on_page(converted: Any, file: str | None, page: Any, per_page: Any,
            lang: str) -> tuple[str, dict]:
    """Another page (or page size, or language) of the detected file's rows."""
    html, pages = preview(converted, file, page, page_size(per_page), lang)
    return html, page_label(page, pages, lang)


def _wire_pages(ctx, ui: SimpleNamespace) -> None:
    """The preview's page box and rows-per-page choice."""
    paged = [ui.rows, ui.file, ui.page, ui.per_page, ctx.lang]
    for event in (ui.page.submit, ui.page.blur, ctx.lang.change):
        event(on_page, paged, [ui.preview, ui.page], show_progress="hidden")
    ui.per_page.input(resize, [ui.page, ui.size, ui.per_page], [ui.page, ui.size],
                      show_progress="hidden").then(on_page, paged, [ui.preview, ui.page],
                                                   show_progress="hidden")


def on_upload(ws: Workspace, n: int, file, dataset_dir, lang, per_page) -> list:
    """A file dropped in: detect it, show its rows, and propose a name and a file to save as."""
    if not file:
        return failed(None, "", n, lang) + [gr.update(), gr.update()]
    try:
        d = detect(ws, file, dataset_dir)
    except UserError as e:
        return failed(None, message_html(str(e), "error", lang), n, lang) + [
            default_name(Path(file)), gr.update()]
    return show(d, file, per_page, lang) + [d.name, d.save_as]


def on_check(ws: Workspace, n: int, file, dataset_dir, lang, per_page, entry, formatting,
             is_pair, *rest) -> list:
    """Detect again with the user's edits; the rows follow them."""
    if not file:
        return failed(None, message_html(t("need_file", lang), "error"), n, lang)
    try:
        d = detect(ws, file, dataset_dir, None, *edited(entry, formatting, is_pair, rest))
    except UserError as e:
        return failed(entry, message_html(str(e), "error", lang), n, lang)
    return show(d, file, per_page, lang)


def on_column(ws: Workspace, n: int, file, dataset_dir, lang, per_page, entry, formatting,
              is_pair, *rest) -> list:
    """A picked column: chosen and rejected both given make the records pairs."""
    picked = dict(zip(COLUMN_KEYS, rest))
    pairs = bool(is_pair) or bool(picked.get("chosen") and picked.get("rejected"))
    return on_check(ws, n, file, dataset_dir, lang, per_page, entry, formatting, pairs, *rest)


def on_register(ws: Workspace, file, name, target, dataset_dir, lang, bad, entry, formatting,
                is_pair, *rest) -> tuple[str, str | None]:
    """Copy and register the file with the user's edits: (message, the name registered)."""
    name = (name or "").strip()
    if not file or not name:
        return message_html(t("need_file" if not file else "need_name", lang), "error"), None
    try:
        ok, text = register(ws, file, name, target, dataset_dir,
                            *edited(entry, formatting, is_pair, rest), allow_bad=bad, lang=lang)
    except UserError as e:
        return message_html(str(e), "error", lang), None
    return message_html(text, "ok" if ok else "error"), (name if ok else None)


def build(ctx) -> tuple[Any, Any]:
    """The accordion; returns (the Register event, a State holding the registered name) for
    the Data tab to chain its table refresh on."""
    ui = _layout(ctx)
    n = len(ui.shown)
    dataset_dir = ctx.fields["dataset_dir"]
    # One detection at a time, in order: an edit detects again (the rows follow the columns).
    queue = {"concurrency_id": "upload-detect", "concurrency_limit": 1}
    ui.file.upload(partial(on_upload, ctx.ws, n), [ui.file, dataset_dir, ctx.lang, ui.per_page],
                   ui.shown + [ui.name, ui.save_as], **queue)
    checked = [ui.file, dataset_dir, ctx.lang, ui.per_page] + ui.edits
    ui.fmt.input(lambda v: gr.update(visible=v != "alpaca"), ui.fmt, ui.tag_row)
    for event in [ui.check.click, ui.fmt.input, ui.ranking.input] + [b.blur for b in ui.tags]:
        event(partial(on_check, ctx.ws, n), checked, ui.shown, **queue)
    for column in ui.cols:
        column.input(partial(on_column, ctx.ws, n), checked, ui.shown, **queue)
    _wire_pages(ctx, ui)
    event = ui.register.click(partial(on_register, ctx.ws),
                              [ui.file, ui.name, ui.save_as, dataset_dir, ctx.lang, ui.allow_bad]
                              + ui.edits, [ui.message, ui.done])
    return event, ui.done
