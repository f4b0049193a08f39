"""Train tab: every RunConfig field (generated, see webui/forms.py): the main settings first,
the others in collapsed groups titled with how many values differ from the defaults; Preview,
Save YAML, Load YAML, Reset to defaults, Start, Abort in a side panel that stays in view. The
YAML, the shell command and the counts follow every change of the form.

The handlers below are plain functions of form values (key -> widget value), tested without a
browser: preview() (the YAML, the command and the dry run of core.training.preflight),
start(), abort(), reset(), off_demo() (the demo's tuned values left behind with the demo) and
block_labels(); Save YAML and Load YAML are webui/config_files.py's.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gradio as gr

from core.config import DEMO_MODEL, GROUPS, RunConfig
from core.config.demo import defaults_for, leave_demo
from core.errors import UserError
from core.runs.info import refusal
from core.runs.manager import RunManager
from core.training.doctor import doctor
from core.training.launch import machine
from core.training.preflight import Finding, key_of, preflight

from .. import forms
from ..config_files import load_yaml, save_yaml, yaml_files
from ..doctor import doctor_html
from ..i18n import DEFAULT, group_title, sentences, t
from ..preview import Problems, config_preview, filled
from ..render import message_html, problems_html
from ..workspace import Workspace

# After a check: bring the first field with a problem into view (nothing when there is none).
SHOW_FIRST_PROBLEM = ("() => document.querySelector('.ps-invalid')"
                      "?.scrollIntoView({block: 'center', behavior: 'smooth'})")


# --- plain handlers --------------------------------------------------------------------------
def preview(ws: Workspace, values: dict[str, Any], yaml_path: str | None = None,
            lang: str = "en") -> tuple[str | None, str | None, Problems]:
    """(YAML, command, problems) for the form; writes nothing. Once the form itself is valid,
    the problems are the dry run's (core.training.preflight): machine, output folder and the
    data tokenized with the model's (cached) tokenizer, and the run doctor's findings.
    (None, None, problems) when a value does not parse."""
    text, cmd, found, _ = inspect(ws, values, yaml_path, lang)
    return text, cmd, found


def inspect(ws: Workspace, values: dict[str, Any], yaml_path: str | None = None,
            lang: str = "en") -> tuple[str | None, str | None, Problems, str]:
    """preview() plus the doctor's panel (webui.doctor: two pairs token by token with the
    scored tokens highlighted, then its findings) as HTML; "" when the form is not valid."""
    text, cmd, found = config_preview(ws, values, yaml_path, lang)
    if text is None or found:
        return text, cmd, found, ""
    cfg, _ = forms.build_config(values, ws)
    found = data_problems(ws, cfg)
    if found:
        return text, cmd, found, ""
    report = doctor(cfg, saves_dir=ws.saves_dir, root=ws.root,
                    tokenizer=lambda c: ws.tokenizer(c.model_name_or_path))
    found = [(f.key, f.message if f.severity == "error" else f"{f.message} ({f.severity})")
             for f in report.all_findings() if f.severity != "info"]
    return text, cmd, found, "" if report.refused else doctor_html(report, lang)


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


def findings(ws: Workspace, cfg: RunConfig) -> list[Finding]:
    """core.training.preflight for the form's config, with the page's tokenizer cache."""
    return preflight(cfg, saves_dir=ws.saves_dir, root=ws.root,
                     tokenizer=lambda c: ws.tokenizer(c.model_name_or_path))


def start(ws: Workspace, runs: RunManager, values: dict[str, Any]) -> tuple[str | None, Problems]:
    """Validate, dry-run (core.training.preflight: an unknown dataset, bad data, a folder in
    use, ...) and hand the config to RunManager.start; (run name, []) or (None, problems).
    Nothing is written or launched while the preflight has an error; warnings do not stop it."""
    cfg, found = forms.build_config(values, ws)
    found = found or (data_problems(ws, cfg) if cfg is not None else [])
    if cfg is None or found:
        return None, found
    found = [(f.key, f.message) for f in findings(ws, cfg) if f.severity == "error"]
    if found:
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


def abortable(runs: RunManager, name: str | None) -> bool:
    """Whether the run started from this page can still be aborted."""
    try:
        return bool(name) and refusal(runs.get(name), "abort") is None
    except UserError:  # deleted meanwhile
        return False


def reset(values: dict[str, Any]) -> dict[str, Any]:
    """Form values for "Reset to defaults": the model, dataset and data folder kept, the rest
    as core.config.demo.defaults_for says (the demo's values on the demo, else the defaults)."""
    parsed = forms.typed(values)
    cfg = defaults_for(parsed.get("model_name_or_path") or DEMO_MODEL, parsed.get("dataset"),
                       parsed.get("dataset_dir") or forms.SPECS["dataset_dir"].default)
    return forms.config_values(cfg)


def off_demo(values: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """After the model or dataset changed: the demo-tuned values the form still holds, back at
    their defaults once it no longer trains the demo (core.config.demo.leave_demo), as
    ({key: widget value}, "key old → new, ..."); ({}, "") when nothing changes."""
    parsed = forms.typed(values)
    back = leave_demo(parsed)
    shown = ", ".join(f"{k} {forms.shown(parsed[k])} → {forms.shown(v)}" for k, v in back.items())
    return {k: forms.to_widget(forms.SPECS[k], v) for k, v in back.items()}, shown


# --- the tab -----------------------------------------------------------------------------------
def _form_keys() -> list[str]:
    return [k for k in forms.SPECS if k not in forms.TOPBAR_KEYS]


def _blocks() -> dict[str, list[str]]:
    """The form's blocks in page order: "main" (the settings changed most, core.config
    metadata `main`), then each core.config group with its other fields, in FIELDS order."""
    out = {"main": list(forms.MAIN_KEYS)}
    for group in GROUPS:
        keys = [k for k in _form_keys() if forms.SPECS[k].group == group and k not in out["main"]]
        if keys:
            out[group] = keys
    return out


BLOCKS = _blocks()
BLOCK_OF = {k: block for block, keys in BLOCKS.items() for k in keys}


def block_labels(values: dict[str, Any], lang: str) -> dict[str, str]:
    """Each block's title; a group's says how many of its values differ from the defaults."""
    changed = forms.changed(values)
    out = {"main": t("group_main", lang)}
    for group, keys in list(BLOCKS.items())[1:]:
        n = len(changed & set(keys))
        out[group] = group_title(group, lang) + (f" · {t('n_changed', lang, n=n)}" if n else "")
    return out


def devices_text(lang: str = DEFAULT) -> str:
    """The Devices group's note: the GPUs this machine has (with memory), or its CPUs."""
    found = machine()
    if not found.gpus:
        return t("devices_cpu", lang, cpus=found.cpus)
    gpus = ", ".join(f"{name} ({gib:g} GiB)" for name, gib in found.gpus)
    return t("devices_gpus", lang, n=len(found.gpus), gpus=gpus)


def _groups(ctx) -> None:
    """The main block (open), then one collapsed accordion per group; checkboxes last."""
    labels = block_labels({k: c.value for k, c in ctx.fields.items()}, DEFAULT)
    for block, keys in BLOCKS.items():
        visible = any(ctx.fields[k].visible for k in keys)
        with gr.Accordion(labels[block], open=block == "main", visible=visible,
                          elem_id=f"group-{block}") as acc:
            for boxes in (False, True):
                with gr.Row():
                    for k in keys:
                        if (forms.SPECS[k].kind == "checkbox") == boxes:
                            ctx.fields[k].render()
            if block == "devices":  # what the launch keys can use here
                ctx.on_lang(gr.Markdown(devices_text(DEFAULT), elem_id="devices-found"),
                            lambda lang: {"value": devices_text(lang)})
        ctx.groups[block] = acc  # titled by the live preview (counts), in every language


def _side(ctx) -> SimpleNamespace:
    """The panel beside the form: buttons, status, YAML, command, YAML file, reset."""
    ui = SimpleNamespace()
    with gr.Row(elem_classes=["ps-buttons"]):
        ui.start = ctx.relabel(gr.Button(t("start"), variant="primary", elem_id="start"),
                               "start", "value")
        # for a run started here: grey and disabled until Start made one
        ui.abort = ctx.relabel(gr.Button(t("abort"), interactive=False, elem_id="train-abort"),
                               "abort", "value")
        ui.preview = ctx.relabel(gr.Button(t("preview"), elem_id="preview"), "preview", "value")
    ui.status = gr.HTML(elem_id="train-status")
    ui.doctor = gr.HTML(elem_id="train-doctor")  # Preview's doctor: pairs and findings
    ui.yaml = ctx.relabel(gr.Code(language="yaml", label=t("yaml"), lines=10, max_lines=14,
                                  interactive=False, elem_id="preview-yaml"), "yaml")
    ui.command = ctx.relabel(gr.Textbox(label=t("command"), lines=3, max_lines=8,
                                        interactive=False, buttons=["copy"],
                                        elem_classes=["ps-command"], elem_id="preview-command"),
                             "command")
    ui.path = gr.Dropdown(yaml_files(ctx.ws), value=None, allow_custom_value=True,
                          label=t("yaml_path"), info=t("yaml_path_info"), elem_id="yaml-path")
    ctx.on_lang(ui.path, lambda lang: {"label": t("yaml_path", lang),
                                       "info": t("yaml_path_info", lang)})
    with gr.Row(elem_classes=["ps-buttons"]):
        for name, key in (("save", "save_yaml"), ("load", "load_yaml"), ("reset", "reset_form")):
            button = gr.Button(t(key), size="md", elem_id=key.replace("_", "-"))
            setattr(ui, name, ctx.relabel(button, key, "value"))
    ctx.relabel(gr.Markdown(t("reset_info"), elem_classes=["ps-note"], elem_id="reset-info"),
                "reset_info", "value")
    return ui


def _abort_button(active: bool) -> dict:
    return gr.update(interactive=active, variant="stop" if active else "secondary")


def _marks(ctx, found: Problems, lang: str, message: str = "") -> list:
    """Updates for every field (its problem, or its help again), every block (opened when it
    holds a problem) and the status (the message, then every problem)."""
    by_key: dict[str, str] = {}
    for key, text in found:
        by_key.setdefault(key, text)
    fields = [forms.mark(forms.SPECS[k], lang, by_key.get(k)) for k in ctx.fields]
    bad = {BLOCK_OF[k] for k in by_key if k in BLOCK_OF}
    groups = [gr.update(open=True) if g in bad else gr.update() for g in ctx.groups]
    return fields + groups + [message + problems_html(found, lang)]


def build(ctx) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=480, elem_id="train-form"):
            _groups(ctx)
        with gr.Column(scale=2, min_width=320, elem_id="train-side"):
            ui = _side(ctx)
    ui.started = gr.State(None)
    ctx.shared.update(train_status=ui.status, train_yaml=ui.yaml, train_command=ui.command)
    ui.keys = list(ctx.fields)
    ui.fields, ui.groups = [ctx.fields[k] for k in ui.keys], list(ctx.groups.values())
    ui.live = [ui.yaml, ui.command] + ui.groups  # what live() updates
    _wire_live(ctx, ui)
    _wire_files(ctx, ui)
    _wire_runs(ctx, ui)
    _wire_defaults(ctx, ui)
    _wire_relevance(ctx, ui.keys, ui.fields, ui.groups)
    _wire_pick_lists(ctx)


def _live(ctx, ui, values: dict[str, Any], target: str | None, lang: str) -> list:
    """The form as YAML and command, and the groups' titles with their counts."""
    text, cmd = filled(ctx.ws, values, target, lang)
    labels = block_labels(values, lang)
    return ([text, cmd or f"# {t('command_unparsable', lang)}"]
            + [gr.update(label=labels[g]) for g in ctx.groups])


def _wire_live(ctx, ui) -> None:
    """Every change of the form, the language or the YAML file updates the live parts."""
    def on_change(lang, target, *args):
        return _live(ctx, ui, dict(zip(ui.keys, args)), target, lang)

    live = dict(fn=on_change, inputs=[ctx.lang, ui.path] + ui.fields, outputs=ui.live,
                show_progress="hidden")
    gr.on([ctx.lang.change, ui.path.change] + [f.change for f in ui.fields],
          trigger_mode="always_last", **live)
    ctx.app.load(**live)


def _wire_files(ctx, ui) -> None:
    """Preview (with the dry run), Save YAML and Load YAML."""
    marked = ui.fields + ui.groups + [ui.status]

    def on_preview(lang, target, *args):
        values = dict(zip(ui.keys, args))
        text, cmd, found, report = inspect(ctx.ws, values, target, lang)
        text, cmd = (gr.update(), gr.update()) if text is None else (text, cmd)
        named = values.get("run_name") or values.get("output_dir")
        note = sentences([t("valid", lang), "" if named else t("name_at_start", lang)], lang)
        errors = [(k, m) for k, m in found if not m.endswith(("(warning)", "(info)"))]
        return [text, cmd, report] + _marks(ctx, found, lang,
                                            "" if errors else message_html(note, "ok"))

    def on_save(lang, target, *args):
        written, found = save_yaml(ctx.ws, dict(zip(ui.keys, args)), target)
        if not written:
            return [gr.update()] + _marks(ctx, found, lang)
        return ([gr.update(choices=yaml_files(ctx.ws), value=written)]
                + _marks(ctx, [], lang, message_html(t("saved_yaml", lang, path=written), "ok")))

    def on_load(lang, target):
        loaded, note = load_yaml(ctx.ws, target or "", lang)
        if loaded is None:
            return ([message_html(note, "error", lang)]
                    + [gr.update() for _ in ui.live + ui.fields])
        return ([message_html(sentences([t("loaded_yaml", lang, path=target), note], lang), "ok")]
                + _live(ctx, ui, loaded, target, lang) + [loaded[k] for k in ui.keys])

    for event in (ui.preview.click(on_preview, [ctx.lang, ui.path] + ui.fields,
                                   [ui.yaml, ui.command, ui.doctor] + marked),
                  ui.save.click(on_save, [ctx.lang, ui.path] + ui.fields, [ui.path] + marked)):
        event.then(None, js=SHOW_FIRST_PROBLEM)
    ui.load.click(on_load, [ctx.lang, ui.path], [ui.status] + ui.live + ui.fields)


def _wire_runs(ctx, ui) -> None:
    """Start (then over to Runs) and Abort, which is live only while a run started here."""
    def on_start(lang, target, *args):
        values = dict(zip(ui.keys, args))
        name, found = start(ctx.ws, ctx.runs, values)
        if name is None:
            return [gr.update()] * 6 + _marks(ctx, found, lang)
        return ([name, name, gr.update(selected="runs"), _abort_button(True)]
                + list(filled(ctx.ws, values, target, lang))  # the next run's folder
                + _marks(ctx, [], lang, message_html(t("run_started", lang, name=name), "ok")))

    def on_abort(lang, name):
        aborted = abort(ctx.runs, name)
        text = t("abort_sent", lang, name=aborted) if aborted else t("no_run_to_abort", lang)
        return message_html(text, "info" if aborted else "error"), _abort_button(False)

    ui.start.click(on_start, [ctx.lang, ui.path] + ui.fields,
                   [ui.started, ctx.focus_run, ctx.tabs, ui.abort, ui.yaml, ui.command]
                   + ui.fields + ui.groups + [ui.status]).then(None, js=SHOW_FIRST_PROBLEM)
    ui.abort.click(on_abort, [ctx.lang, ui.started], [ui.status, ui.abort])
    if ctx.tab is not None:  # back on Train: the run may have ended meanwhile
        ctx.tab.select(lambda name: _abort_button(abortable(ctx.runs, name)), ui.started,
                       ui.abort, show_progress="hidden")


def _wire_defaults(ctx, ui) -> None:
    """Reset to defaults, and the demo's tuned values left behind with the demo."""
    def on_reset(lang, target, *args):
        new = reset(dict(zip(ui.keys, args)))
        return ([message_html(t("reset_done", lang), "ok")] + _live(ctx, ui, new, target, lang)
                + [{**forms.mark(forms.SPECS[k], lang, None), "value": new[k]} for k in ui.keys])

    def on_leave_demo(lang, target, *args):
        values = dict(zip(ui.keys, args))
        back, changes = off_demo(values)
        if not back:
            return [gr.update() for _ in [ui.status] + ui.live + ui.fields]
        message = t("demo_left", lang, changes=changes)
        gr.Info(message)  # the model is in the top bar: this shows on every tab
        return ([message_html(message, "info")] + _live(ctx, ui, {**values, **back}, target, lang)
                + [back.get(k, gr.update()) for k in ui.keys])

    inputs, outputs = [ctx.lang, ui.path] + ui.fields, [ui.status] + ui.live + ui.fields
    ui.reset.click(on_reset, inputs, outputs)
    for key in ("model_name_or_path", "dataset"):  # the user's choice (.input), not a Load
        ctx.fields[key].input(on_leave_demo, inputs, outputs)


def _wire_relevance(ctx, keys: list[str], fields: list, groups: list) -> None:
    """Show only the fields that matter for the current stage, loss, finetuning type, ..."""
    def toggle(*args):
        shown = forms.visibility(dict(zip(keys, args)))
        return [gr.update(visible=shown[k]) for k in keys] + [
            gr.update(visible=any(shown[k] for k in BLOCKS[g])) for g in ctx.groups]

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
