"""Runs tab: every run under saves/ (from the UI or `nohup python -m core train`), and for the
picked runs a progress bar, why it failed (core.runs.failure) and its live alarms, live charts
(several runs overlay, with the settings that differ and their evaluations: core.evaluate.
compare), the log tail, the config and Abort / Resume / Delete / Load config into Train.

The page only reads files, on a 2 s timer, and sends a part again only when it changed; the
runs themselves are advanced by the server's poller thread (webui/app.py), so nothing depends
on a browser being open. Plain handlers: table(), view(), act(), load_config().
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import gradio as gr

from core.config import RunConfig
from core.errors import UserError
from core.evaluate.compare import diff_runs
from core.evaluate.metrics import RESULTS
from core.runs.failure import explain
from core.runs.info import ACTIONS, RunInfo, refusal
from core.runs.manager import RunManager
from core.runs.rundir import RunDir

from .. import forms, plots, runlists
from ..i18n import t
from ..preview import filled
from ..render import (
    age,
    alarm_title,
    alarms_html,
    diff_html,
    failure_html,
    log_html,
    message_html,
    phase_text,
    progress_html,
    speed_text,
    state_text,
)
from .runs_cache import build_cache_line

TICK_S = 2.0
LOG_LINES = 40
FAILURE_LINES = 30  # of train.log, under a failed run's details
COLUMNS = ("col_run", "col_state", "col_stage", "col_model", "col_dataset", "col_progress", "col_age")
CHARTS = plots.PANELS
# Charts drawn while their tab is hidden (a language switch on another tab, a run finishing
# meanwhile) get plotly's default 700 px width and overflow their panels, cutting the legend
# off; plotly re-measures its visible charts on a window resize.
REFIT = ("() => { for (const ms of [100, 600]) "
         "setTimeout(() => window.dispatchEvent(new Event('resize')), ms); }")


def table(infos: list[RunInfo], lang: str) -> dict[str, list]:
    """{headers, data} for gr.Dataframe: one row per run, newest first."""
    rows = []
    for i in infos:
        state = state_text(i, lang)
        if i.alarms:  # the run doctor found something: its view says what and what to try
            state += " · ⚠ " + ", ".join(alarm_title(a, lang) for a in i.alarms)
        total = f"{i.step}/{i.total_steps}" if i.total_steps else (str(i.step) if i.step else "")
        progress = f"{round(100 * i.progress)}%" + (f" ({total})" if total else "")
        if i.phase:  # before the first step: the set-up phase, e.g. the reference pass n/N
            progress = phase_text(i, lang)
        rows.append([i.name, state, i.stage or "", i.model or "", i.dataset or "", progress,
                     age(i.age_s, lang)])
    return {"headers": [t(c, lang) for c in COLUMNS], "data": rows}


@dataclass
class View:
    progress: str
    figures: dict[str, Any]
    log: str
    config: str
    actions: dict[str, bool]  # abort/resume/delete/load -> enabled
    notice: str = ""  # why the first run failed, and its alarms
    compare: str = ""  # with two or more runs: how they differ
    speed: str = ""  # the latest pairs/s and tokens/s, kept for the bar's clock ticks


def actions(info: RunInfo | None) -> dict[str, bool]:
    """Which buttons are enabled: the run actions core allows now (core.runs.info.refusal,
    which RunManager enforces), and Compare in chat for a finished generative run."""
    if info is None:
        return {**dict.fromkeys(ACTIONS, False), "chat": False}
    return {**{action: refusal(info, action) is None for action in ACTIONS},
            "chat": runlists.usable(info) and runlists.stage(info) != runlists.REWARD_STAGE}


def view(runs: RunManager, names: list[str], lang: str) -> View:
    """What the tab shows for the picked runs; the first one gets the bar, log and config."""
    infos = []
    for name in names:
        try:
            infos.append(runs.get(name))
        except UserError:
            continue  # deleted meanwhile
    if not infos:
        return View(f'<div class="ps-note">{t("pick_run", lang)}</div>', plots.run_figures({}, lang),
                    "", "", actions(None))
    main = infos[0]
    rd = RunDir(main.path)
    records = {i.name: RunDir(i.path).metrics() for i in infos}
    config = rd.config.read_text(encoding="utf-8") if rd.config.is_file() else ""
    failure = explain(main, rd.log_tail(FAILURE_LINES))
    notice = (failure_html(failure, lang) if failure else "") + alarms_html(main.alarms, lang)
    speed = speed_text(records[main.name], lang)
    return View(progress_html(main, lang, truncation=rd.status().get("truncation"), speed=speed),
                plots.run_figures(records, lang), rd.log_tail(LOG_LINES), config, actions(main),
                notice, compare(runs, infos, lang), speed)


def compare(runs: RunManager, infos: list[RunInfo], lang: str) -> str:
    """For two or more runs, the config keys that differ and their evaluations side by side."""
    if len(infos) < 2:
        return ""
    try:
        return diff_html(diff_runs([i.path for i in infos], runs.saves_dir), lang)
    except UserError as e:  # e.g. a run without config.yaml
        return message_html(str(e), "info")


def act(runs: RunManager, action: str, name: str | None, lang: str) -> tuple[bool, str]:
    """abort | resume | delete one run; (done, message)."""
    if not name:
        return False, t("pick_run", lang)
    try:
        if action == "abort":
            before = runs.get(name)
            runs.abort(name)
            if before.state == "queued":  # nothing to save: it never trained
                return True, t("abort_starting" if before.alive else "abort_queued", lang,
                               name=name)
            return True, t("abort_sent", lang, name=name)
        if action == "resume":
            runs.resume(name)
            return True, t("resumed", lang, name=name)
        runs.delete(name)
        return True, t("deleted", lang, name=name)
    except UserError as e:
        return False, str(e)


def load_config(runs: RunManager, name: str | None, lang: str) -> tuple[dict | None, str]:
    """A run's config as form values for a new run (output_dir, run_name and resume cleared)."""
    if not name:
        return None, t("pick_run", lang)
    try:
        cfg = RunConfig.load(runs.get(name).path / "config.yaml")
    except UserError as e:  # ConfigError is one
        return None, str(e)
    cfg = cfg.replace(output_dir=None, run_name=None, resume_from_checkpoint=None)
    return forms.config_values(cfg), t("cleared_output", lang, name=name)


def signature(runs: RunManager, names: list[str]) -> tuple:
    """Changes when a picked run's files do: metrics, log, status, config or evaluation."""
    out = []
    for name in names:
        rd = RunDir(runs.saves_dir / name)
        for f in (rd.metrics_file, rd.log_file, rd.status_file, rd.config, rd.path / RESULTS):
            try:
                st = f.stat()
                out.append((st.st_size, st.st_mtime_ns))
            except OSError:
                out.append(None)
    return tuple(out)


# --- the tab -------------------------------------------------------------------------------
def _layout(ctx) -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.grid = gr.Dataframe(interactive=False, max_height=300, wrap=True, elem_id="runs-table")
    ctx.relabel(gr.Markdown(t("runs_hint"), elem_classes=["ps-note"]), "runs_hint", "value")
    # allow_custom_value: a run picked elsewhere (Start) may not be among the choices yet
    ui.picked = ctx.relabel(gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True,
                                        label=t("selected_runs"), elem_id="runs-picked"),
                            "selected_runs")
    ui.empty = gr.HTML(elem_id="runs-empty")
    with gr.Column(visible=False) as ui.details:
        ui.progress = gr.HTML(elem_id="run-progress")
        ui.notice = gr.HTML(elem_id="run-notice")
        with gr.Row(elem_classes=["ps-buttons"]):
            ui.buttons = {}
            for key, text, variant in (("abort", "abort", "stop"), ("resume", "resume", "secondary"),
                                       ("delete", "delete", "secondary")):
                ui.buttons[key] = ctx.relabel(gr.Button(t(text), variant=variant, interactive=False,
                                                        elem_id=f"run-{key}"), text, "value")
            ui.confirm = gr.Button(variant="stop", visible=False, elem_id="run-delete-confirm")
            ui.cancel = ctx.relabel(gr.Button(t("cancel"), visible=False), "cancel", "value")
            ui.buttons["load"] = ctx.relabel(gr.Button(t("to_train"), interactive=False,
                                                       elem_id="run-to-train"), "to_train", "value")
            if ctx.chat_run is not None:  # the Chat tab is there
                ui.buttons["chat"] = ctx.relabel(gr.Button(t("compare_in_chat"), interactive=False,
                                                           elem_id="run-to-chat"),
                                                 "compare_in_chat", "value")
        ui.message = gr.HTML(elem_id="runs-message")  # cleared when another run is picked
        ui.compare = gr.HTML(elem_id="runs-compare")
        ui.charts = {}
        for pair in (CHARTS[0:2], CHARTS[2:4], CHARTS[4:6]):
            with gr.Row():
                for key in pair:
                    ui.charts[key] = gr.Plot(show_label=False, elem_id=f"chart-{key}")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=400):
                ui.log = gr.HTML(log_html(t("log"), ""), elem_id="run-log")
            ui.config = ctx.relabel(gr.Code(language="yaml", label=t("config"), lines=14,
                                            max_lines=14, interactive=False, scale=2,
                                            elem_id="run-config"), "config")
    build_cache_line(ctx)
    ui.seen = gr.State({})
    ui.outputs = [ui.grid, ui.picked, ui.empty, ui.details, ui.progress, ui.notice, ui.compare,
                  ui.log, ui.config, ui.seen, *ui.charts.values(), *ui.buttons.values()]
    return ui


def refresh(runs: RunManager, ui, names: list[str], lang: str, last: dict, force: bool = False,
            newest: bool = False) -> dict[Any, Any]:
    """{component: update} for the parts that changed since `last` (a per-page State); all of
    them with `force`. `newest` (page load): pick the newest run when none is picked."""
    last, out = dict(last or {}), {}
    infos = runs.list()
    rows = table(infos, lang)
    if force or rows != last.get("table"):
        out[ui.grid], last["table"] = rows, rows
    run_names = [i.name for i in infos]
    gone = [n for n in last.get("picked") or [] if n not in run_names]  # deleted meanwhile
    names = [n for n in (names or []) if n in run_names] or (run_names[:1] if newest else [])
    if force or run_names != last.get("names") or names != last.get("picked"):
        out[ui.picked] = gr.update(choices=run_names, value=names)
        last["names"], last["picked"] = run_names, names
        note = t("no_runs", lang) if not infos else t("pick_run", lang)
        out[ui.empty] = "" if names else (
            message_html(t("deleted", lang, name=", ".join(gone)), "ok") if gone
            else f'<div class="ps-empty">{note}</div>')
        out[ui.details] = gr.update(visible=bool(names))
    live = tuple((i.state, i.alive, i.stopping) for i in infos if i.name in names)
    sig = (tuple(names), lang, signature(runs, names), live)  # a process may end silently
    if force or sig != last.get("sig"):
        v = view(runs, names, lang)
        out.update({ui.progress: v.progress, ui.notice: v.notice, ui.compare: v.compare,
                    ui.log: log_html(t("log", lang), v.log), ui.config: v.config})
        for key, fig in v.figures.items():
            out[ui.charts[key]] = fig
        for key, btn in ui.buttons.items():
            out[btn] = gr.update(interactive=v.actions[key])
        last["sig"], last["speed"] = sig, v.speed
    else:  # the clock of a live run moves on though its files did not change
        main = next((i for i in infos if names and i.name == names[0]), None)
        if main is not None and main.alive:
            cuts = RunDir(main.path).status().get("truncation")
            out[ui.progress] = progress_html(main, lang, truncation=cuts,
                                             speed=last.get("speed", ""))
    out[ui.seen] = last
    return out


def build(ctx) -> None:
    ui = _layout(ctx)
    inputs = [ui.picked, ctx.lang, ui.seen]

    def shown(names, lang, last):
        return refresh(ctx.runs, ui, names, lang, last, force=True)

    def picked(names, lang, last):  # another run: the last action's message was not about it
        return {**shown(names, lang, last), ui.message: ""}

    def on_row(evt: gr.SelectData):
        return [evt.row_value[0]] if evt.row_value else gr.update()

    def focus(name):
        runs = [i.name for i in ctx.runs.list()]
        return gr.update(choices=runs, value=[name]) if name else gr.update()

    if ctx.tab is not None:
        ctx.tab.select(None, None, None, js=REFIT)
    gr.Timer(TICK_S).tick(lambda *a: refresh(ctx.runs, ui, *a), inputs, ui.outputs,
                          show_progress="hidden")
    ctx.app.load(lambda *a: refresh(ctx.runs, ui, *a, force=True, newest=True), inputs,
                 ui.outputs, show_progress="hidden")
    anew = ui.outputs + [ui.message]
    ui.picked.input(picked, inputs, anew, show_progress="hidden")
    ctx.lang.change(shown, inputs, ui.outputs, show_progress="hidden").then(None, js=REFIT)
    ui.grid.select(on_row, None, ui.picked).then(picked, inputs, anew, show_progress="hidden")
    ctx.focus_run.change(focus, ctx.focus_run, ui.picked).then(  # Start lands here
        picked, inputs, anew, show_progress="hidden").then(None, js=REFIT)
    _wire_actions(ctx, ui, lambda e: e.then(shown, inputs, ui.outputs, show_progress="hidden"))


def _wire_actions(ctx, ui, then_refresh) -> None:
    """Abort, Resume, Delete (asks first) and Load config into Train, on the first picked run."""
    def first(names):
        return names[0] if names else None

    def run_action(action):
        def handler(names, lang):
            done, text = act(ctx.runs, action, first(names), lang)
            return message_html(text, "ok" if done else "error", lang)
        return handler

    for action in ("abort", "resume"):
        then_refresh(ui.buttons[action].click(run_action(action), [ui.picked, ctx.lang], ui.message))

    def ask(names, lang):
        name = first(names)
        return (gr.update(visible=bool(name), value=t("confirm_delete", lang, name=name or "")),
                gr.update(visible=bool(name)))

    def hide():
        return gr.update(visible=False), gr.update(visible=False)

    pair = [ui.confirm, ui.cancel]
    ui.buttons["delete"].click(ask, [ui.picked, ctx.lang], pair)
    ui.cancel.click(hide, None, pair)
    def delete(names, lang, last):
        done, text = act(ctx.runs, "delete", first(names), lang)
        rest = names[1:] if done else names
        return {**refresh(ctx.runs, ui, rest, lang, last, force=True),
                ui.message: message_html(text, "ok" if done else "error")}

    ui.confirm.click(delete, [ui.picked, ctx.lang, ui.seen], ui.outputs + [ui.message],
                     show_progress="hidden").then(hide, None, pair)
    keys = list(ctx.fields)

    train = [ctx.shared[k] for k in ("train_status", "train_yaml", "train_command")]

    def to_train(names, lang):
        values, text = load_config(ctx.runs, first(names), lang)
        if values is None:
            return ([message_html(text, "error", lang), gr.update()]
                    + [gr.update()] * (len(train) + len(keys)))
        return ([gr.update(), gr.update(selected="train"), message_html(text, "ok"),
                 *filled(ctx.ws, values)] + [gr.update(value=values[k]) for k in keys])

    ui.buttons["load"].click(to_train, [ui.picked, ctx.lang],
                             [ui.message, ctx.tabs] + train + [ctx.fields[k] for k in keys])
    if "chat" in ui.buttons:  # base on A, this run on B, and over to Chat
        def to_chat(names):
            name = first(names)
            if not name:
                return gr.update(), gr.update()
            return [ctx.ws.shown(ctx.runs.get(name).path), time.time()], gr.update(selected="chat")

        ui.buttons["chat"].click(to_chat, ui.picked, [ctx.chat_run, ctx.tabs])
