"""Export tab: merge a finished run's LoRA adapter (or a checkpoint's) into its base and save a
standalone model with its tokenizer and chat template (core.models.export), into saves/exports/<run>
by default; dtype and shard size as core.models.export offers them.

The merge runs in a thread while the handler reports the time spent; the result is the folder
and the lines that load it with plain transformers. Plain handlers: options(), default_out(),
run(), snippet().
"""
from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from core.errors import UserError
from core.models.export import export
from core.models.loading import DTYPES
from core.runs.rundir import CHECKPOINT

from .. import runlists
from ..context import MODELS
from ..i18n import t
from ..render import duration, message_html
from ..worker import Job
from ..workspace import Workspace

log = logging.getLogger(__name__)
SIGNATURE = inspect.signature(export).parameters
EXPORTS = "exports"  # saves/exports/<name>


def options() -> dict[str, Any]:
    """export()'s own defaults and choices."""
    return {"dtype": SIGNATURE["dtype"].default, "dtypes": list(DTYPES),
            "max_shard_size": SIGNATURE["max_shard_size"].default}


def default_out(ws: Workspace, value: str | None) -> str:
    """saves/exports/<run> (or <run>-checkpoint-N), with -2, -3, ... when that is taken."""
    if not value:
        return ""
    path = Path(value)
    name = f"{path.parent.name}-{path.name}" if CHECKPOINT.match(path.name) else path.name
    folder, n = ws.saves_dir / EXPORTS / name, 2
    while folder.exists() and any(folder.iterdir()):
        folder, n = ws.saves_dir / EXPORTS / f"{name}-{n}", n + 1
    return ws.shown(folder)


def snippet(path: str) -> str:
    """Python that loads the export with plain transformers and answers one message; `path`
    absolute, so it runs from any folder."""
    return (
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f"model = AutoModelForCausalLM.from_pretrained({path!r})\n"
        f"tokenizer = AutoTokenizer.from_pretrained({path!r})\n"
        "messages = [{\"role\": \"user\", \"content\": \"Hello!\"}]\n"
        "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,\n"
        "                                       return_dict=True, return_tensors=\"pt\")\n"
        "out = model.generate(**inputs, max_new_tokens=64)\n"
        "answer = out[0, inputs[\"input_ids\"].shape[1]:]\n"
        "print(tokenizer.decode(answer, skip_special_tokens=True))\n")


def run(ws: Workspace, source: str | None, out: str | None, dtype: str, max_shard_size: str,
        lang: str) -> Iterator[tuple[str, str]]:
    """Export in a thread: (status, snippet) with the time spent every second, then the
    result (or the problem; nothing is half-written)."""
    try:
        if not source:
            raise UserError(t("export_pick", lang))
        folder = runlists.source(ws, source, "run")
        target = ws.confine(out or default_out(ws, source), "out_dir")
    except UserError as e:
        yield message_html(str(e), "error", lang), ""
        return
    job = Job(export, str(folder), str(target), dtype=dtype or options()["dtype"],
              max_shard_size=(max_shard_size or "").strip() or options()["max_shard_size"])
    for elapsed in job.ticks():
        text = t("export_running", lang, source=ws.shown(folder), elapsed=duration(elapsed))
        yield message_html(text, "info"), ""
    try:
        written = job.result()
    except Exception as e:  # e.g. a non-empty out_dir, a bad shard size
        if not isinstance(e, UserError):
            log.exception("Export failed")
        yield message_html(str(e) or type(e).__name__, "error", lang), ""
        return
    shown = ws.shown(written)
    yield (message_html(t("export_done", lang, path=shown, elapsed=duration(job.elapsed)), "ok"),
           snippet(str(Path(written).resolve())))


# --- the tab -------------------------------------------------------------------------------
def build(ctx) -> None:
    defaults = options()
    ctx.relabel(gr.Markdown(t("export_hint"), elem_classes=["ps-note"]), "export_hint", "value")
    empty = gr.HTML(visible=False, elem_id="export-empty")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            source = gr.Dropdown([], value=None, allow_custom_value=True, label=t("export_source"),
                                 elem_id="export-source")
            checkpoints = gr.Checkbox(False, label=t("chat_checkpoints"),
                                      elem_id="export-checkpoints")
            out = gr.Textbox(label=t("export_out"), info=t("export_out_info"), elem_id="export-out")
            with gr.Row():
                dtype = gr.Dropdown(defaults["dtypes"], value=defaults["dtype"],
                                    label=t("export_dtype"), info=t("export_dtype_info"),
                                    elem_id="export-dtype")
                shard = gr.Textbox(defaults["max_shard_size"], label=t("export_shard"),
                                   info=t("export_shard_info"), elem_id="export-shard")
            button = gr.Button(t("export_button"), variant="primary", elem_id="export-run")
            status = gr.HTML(elem_id="export-status")
        with gr.Column(scale=3, min_width=420):
            code = gr.Code(language="python", label=t("export_snippet"), interactive=False,
                           lines=8, wrap_lines=True, elem_id="export-snippet")
    for widget, key, attr in ((source, "export_source", "label"), (checkpoints, "chat_checkpoints",
                                                                   "label"),
                              (out, "export_out", "label"), (dtype, "export_dtype", "label"),
                              (shard, "export_shard", "label"), (button, "export_button", "value"),
                              (code, "export_snippet", "label")):
        ctx.relabel(widget, key, attr)
    for widget, key in ((out, "export_out_info"), (dtype, "export_dtype_info"),
                        (shard, "export_shard_info")):
        ctx.on_lang(widget, lambda lang, key=key: {"info": t(key, lang)})
    _wire(ctx, source, checkpoints, out, dtype, shard, button, status, code, empty)


def _wire(ctx, source, checkpoints, out, dtype, shard, button, status, code, empty) -> None:
    def lists(lang, picked, with_checkpoints) -> tuple:
        """Fresh choices; with nothing picked yet, the newest finished run and its out folder
        (a pick, typed ones too, and its out folder stay)."""
        choices = runlists.model_choices(ctx.ws, ctx.runs, with_checkpoints)
        note = gr.update(value=message_html(t("export_no_runs", lang), "info"), visible=not choices)
        if picked or not choices:
            return gr.update(choices=choices), gr.skip(), note
        newest = choices[0][1]
        return gr.update(choices=choices, value=newest), default_out(ctx.ws, newest), note

    inputs, outputs = [ctx.lang, source, checkpoints], [source, out, empty]
    for event in (ctx.app.load, ctx.tab.select if ctx.tab else None, checkpoints.change):
        if event is not None:
            event(lists, inputs, outputs, show_progress="hidden")
    source.input(lambda value: default_out(ctx.ws, value), source, out, show_progress="hidden")

    def on_export(lang, value, target, kind, size) -> Iterator[tuple]:
        for text, lines in run(ctx.ws, value, target, kind, size, lang):
            yield text, lines or gr.skip()

    button.click(on_export, [ctx.lang, source, out, dtype, shard], [status, code], **MODELS,
                 show_progress="hidden")
