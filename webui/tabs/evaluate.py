"""Evaluate tab: finished runs and their base on a held-out pairwise set (core.evaluate.flow),
as a comparison table, a grouped bar chart and generation samples; an `rm` run as judge adds
each model's win rate against the base on the same prompts.

Evaluation takes seconds to minutes, so it runs in a thread while the handler reports the time
spent; the results land in each run's evaluation_results.json, which the tab shows again
without re-running when the run is picked. Plain handlers: datasets(), options(), saved(),
run(), results_view().
"""
from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass
from typing import Any, Iterator

import gradio as gr

from core.config import parse_number
from core.data import list_datasets
from core.errors import UserError
from core.evaluate.flow import evaluate
from core.evaluate.metrics import RESULTS, TABLE

from .. import plots, runlists
from ..context import MODELS
from ..i18n import t
from ..render import duration, message_html, samples_html
from ..worker import Job
from ..workspace import Workspace

log = logging.getLogger(__name__)
PREFERRED = "demo_pref_en_test"  # the demo's held-out split, picked when registered
EXTRA = (("judge_score", "judge score"),)  # with a judge, beside core's TABLE
SIGNATURE = inspect.signature(evaluate).parameters


@dataclass
class View:
    status: str
    table: dict | None
    figure: Any
    samples: str


def options() -> dict[str, Any]:
    """evaluate()'s own defaults for the settings the tab offers."""
    return {k: SIGNATURE[k].default for k in ("max_samples", "samples", "max_new_tokens",
                                              "win_prompts")}


def datasets(ws: Workspace, dataset_dir: str) -> tuple[list[str], str | None]:
    """Registered datasets that give pairs, and the one to pick first."""
    try:
        infos = list_datasets(ws.confine(dataset_dir or "data", "dataset_dir"), ws.readable)
    except UserError as e:
        log.warning("No datasets for Evaluate: %s", e)
        return [], None
    names = [d.name for d in infos if "dpo" in d.stages]
    return names, (PREFERRED if PREFERRED in names else (names[0] if names else None))


def results_view(results: dict[str, dict], lang: str, status: str = "") -> View:
    """The table, the chart and the samples for core.evaluate.flow.evaluate's results."""
    columns = [(k, label) for k, label in TABLE + EXTRA
               if any(r.get(k) is not None for r in results.values())]
    headers = [t("col_model", lang)] + [plots.metric_label(k, lang, label) for k, label in columns]
    rows = [[plots.model_label(name, lang)] + [_cell(r.get(k)) for k, _ in columns]
            for name, r in results.items()]
    if "base" in results:  # its 0.50 and 0 look like a broken number without this
        status += f'<div class="ps-note" id="eval-base-note">{t("eval_base_note", lang)}</div>'
    return View(status, {"headers": headers, "data": rows}, plots.evaluation_figure(results, lang),
                samples_html(results, lang))


def _cell(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else ("–" if value is None else value)


def saved(ws: Workspace, picked: list[str], lang: str) -> View:
    """The last evaluation of the picked runs (evaluation_results.json), without running."""
    results: dict[str, dict] = {}
    sets = set()
    for value in picked or []:
        try:
            record = json.loads((runlists.source(ws, value) / RESULTS).read_text(encoding="utf-8"))
        except (UserError, OSError, json.JSONDecodeError):
            continue
        results.setdefault("base", record.get("base") or {})
        results[record.get("model") or value] = record
        sets.add(record.get("dataset") or "?")
    if not results:
        note = t("eval_pick_runs", lang) if not picked else t("eval_none_saved", lang)
        return View(message_html(note, "info"), None, plots.evaluation_figure({}, lang), "")
    note = t("eval_saved", lang, dataset=", ".join(sorted(sets)))
    return results_view(results, lang, message_html(note, "info"))


def run(ws: Workspace, picked: list[str], dataset: str | None, dataset_dir: str,
        max_samples: Any, judge: str | None, samples: Any, max_new_tokens: Any,
        lang: str) -> Iterator[View]:
    """Evaluate the picked runs and the base in a thread: a View with the time spent every
    second, then one with the results (or the problem)."""
    try:
        paths = [str(runlists.source(ws, v)) for v in picked or []]
        if not paths:
            raise UserError(t("eval_pick_runs", lang))
        if not dataset:
            raise UserError(t("eval_pick_dataset", lang))
        ws.check_datasets([dataset], dataset_dir)  # the flow reads it without the guard
        kwargs = dict(dataset_dir=str(ws.confine(dataset_dir or "data", "dataset_dir")),
                      max_samples=_count("max_samples", max_samples, optional=True),
                      samples=_count("samples", samples), max_new_tokens=_count("max_new_tokens",
                                                                                max_new_tokens),
                      judge=str(runlists.source(ws, judge, "judge")) if judge else None)
    except UserError as e:
        yield View(message_html(str(e), "error", lang), None, None, "")
        return
    job = Job(evaluate, paths, dataset, **kwargs)
    for elapsed in job.ticks():
        text = t("eval_running", lang, n=len(paths), dataset=dataset, elapsed=duration(elapsed))
        yield View(message_html(text, "info"), None, None, "")
    try:
        results = job.result()
    except Exception as e:  # shown under the button; the page goes on
        if not isinstance(e, UserError):
            log.exception("Evaluation failed")
        yield View(message_html(str(e) or type(e).__name__, "error", lang), None, None, "")
        return
    done = t("eval_done", lang, elapsed=duration(job.elapsed))
    yield results_view(results, lang, message_html(done, "ok"))


def _count(key: str, value: Any, optional: bool = False) -> int | None:
    return parse_number(key, value, integer=True, optional=optional, minimum=1)


# --- the tab -------------------------------------------------------------------------------
def _layout(ctx) -> dict[str, Any]:
    ui, defaults = {}, options()
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            ui["runs"] = gr.Dropdown([], value=[], multiselect=True, label=t("eval_runs"),
                                     info=t("eval_runs_info"), elem_id="eval-runs")
            ui["dataset"] = gr.Dropdown([], value=None, label=t("eval_dataset"),
                                        info=t("eval_dataset_info"), elem_id="eval-dataset")
            ui["judge"] = gr.Dropdown([], value=None, label=t("eval_judge"),
                                      info=t("eval_judge_info"), elem_id="eval-judge")
            with gr.Row():
                ui["max_samples"] = gr.Textbox(_text(defaults["max_samples"]),
                                               label=t("eval_max_samples"),
                                               placeholder=t("eval_all"),
                                               elem_id="eval-max-samples")
                ui["samples"] = gr.Number(defaults["samples"], precision=0, minimum=1,
                                          label=t("eval_samples"), elem_id="eval-samples")
                ui["max_new_tokens"] = gr.Number(defaults["max_new_tokens"], precision=0, minimum=1,
                                                 label=t("eval_max_new_tokens"),
                                                 elem_id="eval-max-new-tokens")
            ui["run"] = gr.Button(t("eval_run"), variant="primary", elem_id="eval-run")
            ui["status"] = gr.HTML(elem_id="eval-status")
        with gr.Column(scale=3, min_width=420):
            ui["figure"] = gr.Plot(show_label=False, elem_id="eval-chart")
    with gr.Column(visible=False) as ui["results"]:  # shown once there are results
        ui["table"] = gr.Dataframe(interactive=False, wrap=True, elem_id="eval-table")
        ui["samples_title"] = gr.Markdown(f"### {t('eval_samples_title')}")
        ui["samples_html"] = gr.HTML(elem_id="eval-samples-view")
    for key, text, attr in (("runs", "eval_runs", "label"), ("dataset", "eval_dataset", "label"),
                            ("judge", "eval_judge", "label"), ("max_samples", "eval_max_samples",
                                                                "label"),
                            ("samples", "eval_samples", "label"),
                            ("max_new_tokens", "eval_max_new_tokens", "label"),
                            ("run", "eval_run", "value")):
        ctx.relabel(ui[key], text, attr)
    for key in ("runs", "dataset", "judge"):
        ctx.on_lang(ui[key], lambda lang, key=key: {"info": t(f"eval_{key}_info", lang)})
    ctx.relabel(ui["max_samples"], "eval_all", "placeholder")
    ctx.relabel(ui["samples_title"], "eval_samples_title", "value", "### ")
    return ui


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _shown(view: View, clear: bool = False) -> list:
    """Updates for [status, table, figure, samples, results column]; a View without a table
    leaves the last results in place (progress), or hides them with `clear`."""
    if view.table is None:
        figure = view.figure if clear and view.figure is not None else gr.skip()
        return [view.status, gr.skip(), figure, gr.skip(),
                gr.update(visible=False) if clear else gr.skip()]
    return [view.status, view.table, view.figure, view.samples, gr.update(visible=True)]


def build(ctx) -> None:
    ui = _layout(ctx)
    outputs = [ui["status"], ui["table"], ui["figure"], ui["samples_html"], ui["results"]]
    dataset_dir = ctx.fields["dataset_dir"]

    def lists(lang, folder, picked, dataset, judge, first=False) -> list:
        """Fresh pick lists (runs finish, datasets get registered) and the picked runs' last
        results."""
        runs = runlists.model_choices(ctx.ws, ctx.runs)
        values = [v for _, v in runs]
        picked = [p for p in picked or [] if p in values] or (values[:1] if first else [])
        names, preferred = datasets(ctx.ws, folder)
        judges = [(t("eval_no_judge", lang), "")] + runlists.judges(ctx.ws, ctx.runs)
        return [gr.update(choices=runs, value=picked),
                gr.update(choices=names, value=dataset if dataset in names else preferred),
                gr.update(choices=judges, value=judge or "")] + _shown(saved(ctx.ws, picked, lang),
                                                                       clear=True)

    inputs = [ctx.lang, dataset_dir, ui["runs"], ui["dataset"], ui["judge"]]
    pickers = [ui["runs"], ui["dataset"], ui["judge"]]
    # With nothing picked, the newest finished run is (also on a visit: runs finish meanwhile).
    for event in (ctx.app.load, ctx.tab.select if ctx.tab else None, ctx.lang.change):
        if event is not None:
            event(lambda *a: lists(*a, first=True), inputs, pickers + outputs,
                  show_progress="hidden")
    ui["runs"].input(lambda lang, picked: _shown(saved(ctx.ws, picked, lang), clear=True),
                     [ctx.lang, ui["runs"]], outputs, show_progress="hidden")

    def on_run(lang, folder, picked, dataset, judge, max_samples, samples,
               max_new_tokens) -> Iterator[list]:
        for view in run(ctx.ws, picked, dataset, folder, max_samples, judge, samples,
                        max_new_tokens, lang):
            yield _shown(view)

    ui["run"].click(on_run, inputs + [ui["max_samples"], ui["samples"], ui["max_new_tokens"]],
                    outputs, **MODELS, show_progress="hidden")
