"""The Runs tab's cache line: where PrefStudio's cache lives outside saves/, its size per
kind, and a button that clears the reference log-probs. Both through core/cache.py, the home
of `python -m core cache`."""
from __future__ import annotations

import html

import gradio as gr

from core.cache import clear, human, usage
from core.paths import home

from ..i18n import t


def cache_text(lang: str) -> str:
    sizes = {u.kind: human(u.bytes) for u in usage()}
    return t("cache_line", lang, path=html.escape(str(home())), ref=sizes["ref-logps"],
             demo=sizes["demo-model"], bench=sizes["bench"])


def clear_reference(lang: str) -> tuple[str, str]:
    """Clear the reference log-probs: (the new cache line, what was removed)."""
    freed = clear(["ref-logps"])
    return cache_text(lang), t("cache_cleared", lang, size=human(freed))


def build_cache_line(ctx) -> None:
    with gr.Row(elem_classes=["ps-note"]):
        line = gr.Markdown(cache_text("en"), elem_id="runs-cache")
        button = ctx.relabel(gr.Button(t("clear_ref_cache"), size="sm", scale=0,
                                       elem_id="runs-cache-clear"), "clear_ref_cache", "value")
    done = gr.Markdown(elem_id="runs-cache-done")
    ctx.app.load(cache_text, ctx.lang, line, show_progress="hidden")
    ctx.lang.change(cache_text, ctx.lang, line, show_progress="hidden")
    button.click(clear_reference, ctx.lang, [line, done], show_progress="hidden")
