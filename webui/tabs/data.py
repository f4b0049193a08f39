"""Data tab: the registry as a table; a picked dataset's rows rendered as chat (chosen and
rejected side by side, 4, 10 or 25 rows a page), its check report and token-length histogram
with the check's own model and cutoff_len (following the top bar's and the Train form's until
changed here); upload, preview and register a file (data_upload.py).

Plain handlers: registry_table(), preview_rows(), check(). Every file a registry names is read
through ws.readable: an entry pointing outside data/, saves/ or examples/ shows why instead;
the check's model goes through ws.check_model.
"""
from __future__ import annotations

import logging
from functools import partial
from types import SimpleNamespace
from typing import Any

import gradio as gr

from core.config import RunConfig
from core.data import check_dataset, list_datasets, load_rows
from core.errors import UserError

from .. import plots
from ..forms import SPECS, suggestions
from ..i18n import DEFAULT, t
from ..i18n_core import say
from ..render import message_html, report_html, rows_page
from ..workspace import Workspace
from . import data_upload
from .data_pages import PER_PAGE, page_label, page_size, pager, resize

log = logging.getLogger(__name__)
COLUMNS = ("col_name", "col_format", "col_ranking", "col_stages", "col_records", "col_file",
           "col_error")


def registry_table(ws: Workspace, dataset_dir: str, lang: str) -> tuple[dict, list]:
    """({headers, data} for gr.Dataframe, [DatasetInfo])."""
    infos = list_datasets(ws.confine(dataset_dir or "data", "dataset_dir"), ws.readable)
    rows = [[i.name, i.formatting, "✓" if i.ranking else "", ", ".join(i.stages),
             "" if i.records is None else i.records, i.file, i.error or ""] for i in infos]
    columns = list(COLUMNS)
    if not any(i.error for i in infos):  # the problem column only when there is one
        columns, rows = columns[:-1], [r[:-1] for r in rows]
    return {"headers": [t(c, lang) for c in columns], "data": rows}, infos


def preview_rows(ws: Workspace, name: str, dataset_dir: str, stage: str, page: int,
                 lang: str, per_page: int = PER_PAGE) -> tuple[str, int]:
    """(HTML of page `page`, per_page rows as chat, number of pages)."""
    ds = load_rows(name, ws.confine(dataset_dir or "data", "dataset_dir"), stage,
                   guard=ws.readable)
    html, pages, _ = rows_page(ds.rows, ds.sources, page, page_size(per_page), lang)
    return html, pages


def check(ws: Workspace, name: str, dataset_dir: str, stage: str, model: str | None,
          template: str | None, cutoff_len: int | None, enable_thinking: bool, lang: str,
          truncation: str | None = None,
          max_completion_length: int | None = None) -> tuple[str, Any]:
    """(report HTML, token-length figure). `model` is the one whose tokenizer counts tokens
    (the report names it); without one (or when its tokenizer cannot load) the report has no
    token statistics and says why. cutoff_len, truncation and
    max_completion_length (grpo) are the check's; empty ones take the config's defaults."""
    folder = ws.confine(dataset_dir or "data", "dataset_dir")
    tokenizer, note, model = None, None, (model or "").strip() or None
    if model:
        try:
            ws.check_model(model, "model")
            tokenizer = ws.tokenizer(model)
        except Exception as e:  # offline hub id not in the cache, broken folder, ...
            note = t("no_tokens", lang, error=say(str(e).splitlines()[0], lang))
    else:
        note = t("check_no_model", lang)
    limits = {k: v for k, v in (("cutoff_len", cutoff_len), ("truncation", truncation),
                                ("max_completion_length", max_completion_length)) if v}
    cfg = RunConfig(**{k: int(v) if k != "truncation" else v for k, v in limits.items()})
    report = check_dataset(name, folder, stage, tokenizer=tokenizer, template=template or None,
                           cutoff_len=cfg.cutoff_len, enable_thinking=bool(enable_thinking),
                           truncation=cfg.truncation,
                           max_completion_length=cfg.max_completion_length,
                           guard=ws.readable, model=model)
    figure = plots.length_histogram(report.lengths, cfg.cutoff_len, lang)
    return report_html(report.to_dict(), lang, note, warn=tokenizer is None and bool(model)), figure


def stages_for(infos: list, name: str, preferred: str | None) -> tuple[list[str], str | None]:
    info = next((i for i in infos if i.name == name), None)
    stages = list(info.stages) if info else []
    return stages, (preferred if preferred in stages else (stages[0] if stages else None))


# --- the tab -------------------------------------------------------------------------------
def _layout(ctx) -> SimpleNamespace:
    ui = SimpleNamespace()
    ctx.relabel(gr.Markdown(f"### {t('registry')}"), "registry", "value", prefix="### ")
    ui.table = gr.Dataframe(interactive=False, max_height=260, wrap=True, elem_id="registry")
    ctx.relabel(gr.Markdown(t("registry_hint"), elem_classes=["ps-note"]), "registry_hint", "value")
    ui.registered, ui.new_name = data_upload.build(ctx)
    ui.infos = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            with gr.Row():
                ui.name = ctx.relabel(gr.Dropdown([], label=t("dataset"), elem_id="data-name",
                                                  scale=2), "dataset")
                ui.stage = ctx.relabel(gr.Dropdown([], label=t("preview_stage"), scale=1,
                                                   elem_id="data-stage"), "preview_stage")
            with gr.Row():
                ui.page, ui.per_page, ui.size = pager(ctx, "data")
            ui.chat = gr.HTML(f'<div class="ps-note">{t("pick_dataset")}</div>',
                              elem_id="data-preview")
        with gr.Column(scale=2, min_width=320):
            # The check's own model and cutoff_len, following the top bar's model and the
            # Train form's cutoff_len until changed here.
            with gr.Row():
                spec = SPECS["model_name_or_path"]
                local = ctx.ws.local_models()  # python -m webui --model-dir
                ui.model = ctx.relabel(gr.Dropdown(
                    suggestions(spec, DEFAULT, local), value=ctx.fields[spec.key].value,
                    allow_custom_value=True, label=t("check_model"), scale=2,
                    elem_id="data-model"), "check_model")
                ctx.on_lang(ui.model, lambda lang: {"choices": suggestions(spec, lang, local)})
                ui.cutoff = ctx.relabel(gr.Number(ctx.fields["cutoff_len"].value, precision=0,
                                                  minimum=1, label=t("check_cutoff"), scale=1,
                                                  elem_id="data-cutoff"), "check_cutoff")
            ui.report = gr.HTML(elem_id="data-report")
            ui.hist = gr.Plot(show_label=False, visible=False, elem_id="data-lengths")
    return ui


def on_table(ws: Workspace, dataset_dir: str, lang: str) -> tuple:
    try:
        value, found = registry_table(ws, dataset_dir, lang)
    except UserError as e:
        return gr.update(), [], gr.update(), message_html(str(e), "error", lang)
    return value, found, gr.update(choices=[i.name for i in found]), gr.update()


def on_pick(evt: gr.SelectData) -> Any:
    row = evt.row_value or []
    return row[0] if row else gr.update()


def on_name(picked: str, found: list, train_stage: str) -> tuple[dict, dict]:
    stages, chosen = stages_for(found, picked, train_stage)
    return gr.update(choices=stages, value=chosen), gr.update(value=1)


def on_preview(ws: Workspace, picked, dataset_dir, chosen_stage, number, lang,
               per_page=PER_PAGE) -> tuple[str, Any]:
    if not picked or not chosen_stage:
        return f'<div class="ps-note">{t("pick_dataset", lang)}</div>', page_label(1, 1, lang)
    try:
        html, pages = preview_rows(ws, picked, dataset_dir, chosen_stage, number, lang, per_page)
    except UserError as e:
        return message_html(str(e), "error", lang), gr.update()
    return html, page_label(number, pages, lang)


def on_check(ws: Workspace, picked, dataset_dir, chosen_stage, model, template, cutoff, thinking,
             lang, truncation=None, completion=None) -> tuple[str, Any]:
    if not picked or not chosen_stage:
        return "", gr.update(visible=False)
    try:
        html, fig = check(ws, picked, dataset_dir, chosen_stage, model, template, cutoff,
                          thinking, lang, truncation, completion)
    except UserError as e:
        return message_html(str(e), "error", lang), gr.update(visible=False)
    return html, gr.update(value=fig, visible=bool(fig.data))


def same(value: Any) -> Any:
    return value


def first_pick(found: list, wanted: list | None) -> str | None:
    """On page load: the Train form's first dataset, else the first registered one."""
    names = [i.name for i in found]
    wanted = [w for w in (wanted or []) if w in names]
    return (wanted or names or [None])[0]


def build(ctx) -> None:
    f, ui = ctx.fields, _layout(ctx)
    listed, tables = [f["dataset_dir"], ctx.lang], [ui.table, ui.infos, ui.name, ui.report]
    shown = [ui.name, f["dataset_dir"], ui.stage, ui.page, ctx.lang, ui.per_page]
    checked = [ui.name, f["dataset_dir"], ui.stage, ui.model, f["template"], ui.cutoff,
               f["enable_thinking"], ctx.lang, f["truncation"], f["max_completion_length"]]
    table, preview, checking = (partial(on_table, ctx.ws), partial(on_preview, ctx.ws),
                                partial(on_check, ctx.ws))
    ctx.app.load(table, listed, tables, show_progress="hidden").then(
        first_pick, [ui.infos, f["dataset"]], ui.name, show_progress="hidden")
    ctx.lang.change(table, listed, tables, show_progress="hidden")
    f["dataset_dir"].blur(table, listed, tables)
    ui.table.select(on_pick, None, ui.name)
    ui.registered.then(table, listed, tables).then(
        lambda n, v: (n or gr.update(), (v or 0) + 1 if n else gr.update()),
        [ui.new_name, ctx.registry], [ui.name, ctx.registry])
    ui.name.change(on_name, [ui.name, ui.infos, f["stage"]], [ui.stage, ui.page]).then(
        preview, shown, [ui.chat, ui.page]).then(checking, checked, [ui.report, ui.hist])
    ui.stage.input(preview, shown, [ui.chat, ui.page]).then(checking, checked, [ui.report, ui.hist])
    for event in (ui.page.submit, ui.page.blur, ctx.lang.change):
        event(preview, shown, [ui.chat, ui.page], show_progress="hidden")
    ui.per_page.input(resize, [ui.page, ui.size, ui.per_page], [ui.page, ui.size],
                      show_progress="hidden").then(preview, shown, [ui.chat, ui.page],
                                                   show_progress="hidden")
    # The check's model and cutoff_len follow the top bar's and the Train form's (a loaded
    # YAML, a typed value); a change of either, here or there, checks again.
    f["model_name_or_path"].change(same, f["model_name_or_path"], ui.model, show_progress="hidden")
    f["cutoff_len"].change(same, f["cutoff_len"], ui.cutoff, show_progress="hidden")
    f["cutoff_len"].blur(same, f["cutoff_len"], ui.cutoff, show_progress="hidden").then(
        checking, checked, [ui.report, ui.hist])
    for event in (ui.model.change, f["template"].change, f["truncation"].change,
                  ui.cutoff.submit, ui.cutoff.blur, ctx.lang.change):  # the report in that language
        event(checking, checked, [ui.report, ui.hist])
