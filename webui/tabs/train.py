"""Train tab: every RunConfig field in its group (generated, see webui/forms.py), and Preview,
Save YAML, Load YAML, Start, Abort in a side panel that stays in view.

The handlers below are plain functions of form values (key -> widget value), tested without a
browser: preview() (the YAML, the command and the dry run of core.training.preflight),
save_yaml(), load_yaml(), start(), abort().
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr

from core.config import GROUPS, RunConfig
from core.errors import UserError
from core.runs.info import refusal
from core.runs.manager import RunManager
from core.training.preflight import key_of, preflight

from .. import forms
from ..i18n import DEFAULT, group_title, sentences, t
from ..preview import Problems, config_preview, filled, placed
from ..render import message_html, problems_html
from ..workspace import Workspace

# After a check: bring the first field with a problem into view (nothing when there is none).
SHOW_FIRST_PROBLEM = ("() => document.querySelector('.ps-invalid')"
                      "?.scrollIntoView({block: 'center', behavior: 'smooth'})")


# --- plain handlers --------------------------------------------------------------------------
def preview(ws: Workspace, values: dict[str, Any]) -> tuple[str | None, str | None, Problems]:
    """(YAML, command, problems) for the form; writes nothing. Once the form itself is valid,
    the problems are the dry run's (core.training.preflight): machine, output folder and the
    data tokenized with the model's (cached) tokenizer. (None, None, problems) when a value
    does not parse."""
    text, cmd, found = config_preview(ws, values)
    if text is not None and not found:
        cfg, _ = forms.build_config(values, ws)
        found = data_problems(ws, cfg) or dry_run(ws, cfg)
    return text, cmd, found


def data_problems(ws: Workspace, cfg: RunConfig) -> Problems:
    """(key, message) for a dataset whose registry entry reads a file outside data/, saves/
    or examples/: the dry run and the run read the data without the WebUI's guard."""
    out = []
    for key, names in (("dataset", cfg.datasets), ("eval_dataset", cfg.eval_datasets)):
        try:
            ws.check_datasets(names, cfg.dataset_dir or "data", key)
        except UserError as e:
            out.append((key, str(e)))
    return out


def dry_run(ws: Workspace, cfg: RunConfig) -> Problems:
    """The preflight's errors and warnings as (key, message), placed as Start places runs."""
    findings = preflight(cfg, saves_dir=ws.saves_dir, root=ws.root,
                         tokenizer=lambda c: ws.tokenizer(c.model_name_or_path))
    return [(f.key, f.message if f.severity == "error" else f"{f.message} ({f.severity})")
            for f in findings if f.severity != "info"]


def save_yaml(ws: Workspace, values: dict[str, Any], path: str | None) -> tuple[str | None, Problems]:
    """Write the form's config to `path` (empty: <run folder>/config.yaml, where the command
    expects it). Returns (the path written, problems); nothing is written when there are any."""
    cfg, found = forms.build_config(values, ws)
    if cfg is None or found:
        return None, found
    cfg, folder = placed(ws, cfg)
    try:
        target = ws.confine(path or f"{folder}/config.yaml", "yaml_path")
        if target.suffix not in (".yaml", ".yml"):
            raise UserError(f"yaml_path: {path} must end in .yaml or .yml")
    except UserError as e:
        return None, [("yaml_path", str(e))]
    try:
        cfg.save(target)
    except OSError as e:  # a folder where the file goes, no permission, a full disk
        return None, [("yaml_path", f"yaml_path: cannot write {ws.shown(target)}: "
                       f"{e.strerror or e}")]
    return ws.shown(target), []


def load_yaml(ws: Workspace, path: str,
              lang: str = DEFAULT) -> tuple[dict[str, Any] | None, str]:
    """Form values from a YAML file in saves/, data/ or examples/, and a note; (None, error)
    on failure."""
    try:
        cfg = RunConfig.load(ws.confine(path, "yaml_path", readonly=True))
    except UserError as e:  # ConfigError is one
        return None, str(e)
    note = t("no_remote_code", lang) if cfg.trust_remote_code else ""
    return forms.config_values(cfg), note


def start(ws: Workspace, runs: RunManager, values: dict[str, Any]) -> tuple[str | None, Problems]:
    """Validate and hand the config to RunManager.start; (run name, []) or (None, problems)."""
    cfg, found = forms.build_config(values, ws)
    found = found or (data_problems(ws, cfg) if cfg is not None else [])
    if cfg is None or found:
        return None, found
    try:
        return runs.start(cfg).name, []
    except UserError as e:  # ConfigError too: the message starts with the key when it has one
        return None, [(key_of(str(e)), str(e))]
    except OSError as e:  # the run folder cannot be written: a file in its place, a full disk
        where = f" {e.filename}" if e.filename else ""
        return None, [("output_dir", f"output_dir: cannot write the run folder{where}: "
                       f"{e.strerror or e}")]


def abort(runs: RunManager, name: str | None) -> str | None:
    """Abort a run started from this page; None when there is nothing to abort (or the name
    is not a run in saves/: the API can send any)."""
    try:
        if not name or refusal(runs.get(name), "abort"):
            return None
    except UserError:
        return None
    runs.abort(name)
    return name


def yaml_files(ws: Workspace) -> list[str]:
    """YAML files offered by Load: examples/, then the saves/ configs, newest first."""
    found = sorted(ws.examples_dir.glob("*.y*ml"))
    saves = sorted(ws.saves_dir.glob("**/*.y*ml"), key=lambda p: -p.stat().st_mtime)[:50]
    data = sorted(ws.data_dir.glob("*.y*ml"))
    return [ws.shown(p) for p in found + saves + data]


# --- the tab -----------------------------------------------------------------------------------
def _form_keys() -> list[str]:
    return [k for k in forms.SPECS if k not in forms.TOPBAR_KEYS]


def _groups(ctx) -> None:
    """One accordion per core.config group, fields in FIELDS order, checkboxes last."""
    for group in GROUPS:
        keys = [k for k in _form_keys() if forms.SPECS[k].group == group]
        if not keys:
            continue
        visible = any(ctx.fields[k].visible for k in keys)
        with gr.Accordion(group_title(group), open=True, visible=visible,
                          elem_id=f"group-{group}") as acc:
            for boxes in (False, True):
                with gr.Row():
                    for k in keys:
                        if (forms.SPECS[k].kind == "checkbox") == boxes:
                            ctx.fields[k].render()
        ctx.groups[group] = acc
        ctx.on_lang(acc, lambda lang, g=group: {"label": group_title(g, lang)})


def _side(ctx) -> SimpleNamespace:
    """The panel beside the form: buttons, status, YAML, command, YAML file."""
    ui = SimpleNamespace()
    with gr.Row(elem_classes=["ps-buttons"]):
        ui.start = ctx.relabel(gr.Button(t("start"), variant="primary", elem_id="start"), "start", "value")
        ui.abort = ctx.relabel(gr.Button(t("abort"), variant="stop", elem_id="train-abort"), "abort", "value")
        ui.preview = ctx.relabel(gr.Button(t("preview"), elem_id="preview"), "preview", "value")
    ui.status = gr.HTML(elem_id="train-status")
    ui.yaml = ctx.relabel(gr.Code(language="yaml", label=t("yaml"), lines=10, max_lines=14,
                                  interactive=False, elem_id="preview-yaml"), "yaml")
    ui.command = ctx.relabel(gr.Textbox(label=t("command"), lines=2, max_lines=4, interactive=False,
                                        buttons=["copy"], elem_classes=["ps-command"],
                                        elem_id="preview-command"), "command")
    ui.path = ctx.relabel(gr.Dropdown(yaml_files(ctx.ws), value=None, allow_custom_value=True,
                                      label=t("yaml_path"), elem_id="yaml-path"), "yaml_path")
    with gr.Row(elem_classes=["ps-buttons"]):
        ui.save = ctx.relabel(gr.Button(t("save_yaml"), elem_id="save-yaml"), "save_yaml", "value")
        ui.load = ctx.relabel(gr.Button(t("load_yaml"), elem_id="load-yaml"), "load_yaml", "value")
    return ui


def _marks(ctx, found: Problems, lang: str, message: str = "") -> list:
    """Updates for every field (its problem, or its help again), every group (opened when it
    holds a problem) and the status (the message, then every problem)."""
    by_key: dict[str, str] = {}
    for key, text in found:
        by_key.setdefault(key, text)
    fields = [forms.mark(forms.SPECS[k], lang, by_key.get(k)) for k in ctx.fields]
    bad_groups = {forms.SPECS[k].group for k in by_key if k in forms.SPECS}
    groups = [gr.update(open=True) if g in bad_groups else gr.update() for g in ctx.groups]
    return fields + groups + [message + problems_html(found, lang)]


def build(ctx) -> None:
    keys = list(ctx.fields)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=480):
            _groups(ctx)
        with gr.Column(scale=2, min_width=320, elem_id="train-side"):
            ui = _side(ctx)
    started = gr.State(None)
    ctx.shared.update(train_status=ui.status, train_yaml=ui.yaml, train_command=ui.command)
    fields, groups = [ctx.fields[k] for k in keys], list(ctx.groups.values())
    marked = fields + groups + [ui.status]

    def values(args) -> dict[str, Any]:
        return dict(zip(keys, args))

    def on_preview(lang, *args):
        text, cmd, found = preview(ctx.ws, values(args))
        text, cmd = (gr.update(), gr.update()) if text is None else (text, cmd)
        named = values(args).get("run_name") or values(args).get("output_dir")
        note = sentences([t("valid", lang), "" if named else t("name_at_start", lang)], lang)
        return [text, cmd] + _marks(ctx, found, lang, "" if found else message_html(note, "ok"))

    def on_save(lang, target, *args):
        written, found = save_yaml(ctx.ws, values(args), target)
        if not written:
            return [gr.update(), gr.update(), gr.update()] + _marks(ctx, found, lang)
        text, cmd = filled(ctx.ws, values(args))
        return ([text, cmd, gr.update(choices=yaml_files(ctx.ws), value=written)]
                + _marks(ctx, [], lang, message_html(t("saved_yaml", lang, path=written), "ok")))

    def on_load(lang, target):
        loaded, note = load_yaml(ctx.ws, target or "", lang)
        if loaded is None:
            return ([message_html(note, "error", lang), gr.update(), gr.update()]
                    + [gr.update() for _ in fields])
        return ([message_html(sentences([t("loaded_yaml", lang, path=target), note], lang), "ok"),
                 *filled(ctx.ws, loaded)] + [gr.update(value=loaded[k]) for k in keys])

    def on_start(lang, *args):
        name, found = start(ctx.ws, ctx.runs, values(args))
        if name is None:
            return [gr.update(), gr.update(), gr.update()] + _marks(ctx, found, lang)
        return ([name, name, gr.update(selected="runs")]
                + _marks(ctx, [], lang, message_html(t("run_started", lang, name=name), "ok")))

    def on_abort(lang, name):
        aborted = abort(ctx.runs, name)
        text = t("abort_sent", lang, name=aborted) if aborted else t("no_run_to_abort", lang)
        return message_html(text, "info" if aborted else "error")

    for event in (ui.preview.click(on_preview, [ctx.lang] + fields, [ui.yaml, ui.command] + marked),
                  ui.save.click(on_save, [ctx.lang, ui.path] + fields,
                                [ui.yaml, ui.command, ui.path] + marked)):
        event.then(None, js=SHOW_FIRST_PROBLEM)
    ui.load.click(on_load, [ctx.lang, ui.path], [ui.status, ui.yaml, ui.command] + fields)
    ui.start.click(on_start, [ctx.lang] + fields, [started, ctx.focus_run, ctx.tabs] + marked
                   ).then(None, js=SHOW_FIRST_PROBLEM)
    ui.abort.click(on_abort, [ctx.lang, started], ui.status)
    ctx.app.load(lambda *args: list(filled(ctx.ws, values(args))), fields,
                 [ui.yaml, ui.command], show_progress="hidden")
    _wire_relevance(ctx, keys, fields, groups)
    _wire_pick_lists(ctx)


def _wire_relevance(ctx, keys: list[str], fields: list, groups: list) -> None:
    """Show only the fields that matter for the current stage, loss, finetuning type, ..."""
    def toggle(*args):
        shown = forms.visibility(dict(zip(keys, args)))
        per_group = {g: any(shown[k] for k in keys if forms.SPECS[k].group == g and
                            k not in forms.TOPBAR_KEYS) for g in ctx.groups}
        return [gr.update(visible=shown[k]) for k in keys] + [gr.update(visible=per_group[g])
                                                             for g in ctx.groups]

    for key in forms.DRIVERS:
        if key in ctx.fields:
            ctx.fields[key].change(toggle, fields, fields + groups, show_progress="hidden")


def _wire_pick_lists(ctx) -> None:
    """Registered datasets and finished adapters, fresh on page load and after a registration."""
    targets = [k for k, s in forms.SPECS.items() if s.kind in ("datasets", "adapters")]

    def refresh(dataset_dir, *current):
        options = ctx.ws.pick_lists(ctx.runs, dataset_dir or "data")
        return [gr.update(choices=sorted(set(options[forms.SPECS[k].kind]) | set(v or [])))
                for k, v in zip(targets, current)]

    inputs = [ctx.fields["dataset_dir"]] + [ctx.fields[k] for k in targets]
    outputs = [ctx.fields[k] for k in targets]
    ctx.app.load(refresh, inputs, outputs, show_progress="hidden")
    ctx.registry.change(refresh, inputs, outputs, show_progress="hidden")
