"""WebUI handlers as plain functions (no browser): the generated form and its round trip,
relevance, validation per field, Preview/Save/Load/Start, path confinement, the Data tab
(preview as chat, check, register with a dry run first), the Runs tab, plots and i18n.
Run: pytest -q tests/test_webui_handlers.py"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from core.config import FIELDS, RunConfig
from core.errors import UserError
from core.runs.info import ACTIONS, refusal
from core.runs.manager import RunManager
from core.runs.rundir import RunDir
from webui import forms, i18n, plots
from webui.tabs import data as data_tab
from webui.tabs import data_upload
from webui.tabs import runs as runs_tab
from webui.tabs import train as train_tab
from webui.workspace import Workspace

DEMO_FILES = ("demo_pref_en.json", "demo_sft.json")


@pytest.fixture
def ws(tmp_path) -> Workspace:
    """A workspace whose data/ holds two demo datasets and its own registry."""
    data = tmp_path / "data"
    data.mkdir()
    registry = json.loads((ROOT / "dataset_info.json").read_text())
    for name in DEMO_FILES:
        shutil.copy(ROOT / "data" / name, data / name)
    keep = {k: v for k, v in registry.items() if v.get("file_name") in DEMO_FILES}
    (data / "dataset_info.json").write_text(json.dumps(keep, indent=2))
    return Workspace(saves_dir=tmp_path / "saves", data_dir=data)


def form(ws: Workspace, **changes) -> dict:
    """Form values for a valid DPO on `ws`'s data, with `changes` as widget values."""
    cfg = RunConfig(dataset_dir=str(ws.data_dir), cutoff_len=256, max_steps=2)
    return {**forms.config_values(cfg), **changes}


# --- boundaries ----------------------------------------------------------------------------
def test_import_core_does_not_import_gradio():
    code = "import sys, core, core.training.run, core.data, core.runs; assert 'gradio' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_every_form_field_comes_from_the_config_metadata():
    shown = {k for k, f in FIELDS.items() if f.metadata.get("ui") is not False}
    assert set(forms.SPECS) == shown and "trust_remote_code" not in forms.SPECS
    assert forms.SPECS["pref_beta"].kind == "number" and forms.SPECS["bf16"].kind == "checkbox"
    assert forms.SPECS["pref_loss"].kind == "dropdown" and forms.SPECS["lora_alpha"].kind == "optnumber"
    choices = forms.dropdown_choices(forms.SPECS["template"], "en")
    assert ("(empty)", "") in choices and all(v != "" for _, v in choices[1:])
    help_text = forms.info(forms.SPECS["lora_rank"], "en")
    assert FIELDS["lora_rank"].metadata["help"] in help_text and "Default: 8" in help_text
    assert "≥ 1" in help_text and "≤ 1024" in help_text


def test_pick_lists_come_from_the_metadata():
    from core.config import MODEL_SUGGESTIONS

    kinds = {k: s.kind for k, s in forms.SPECS.items() if s.kind in ("model", "datasets",
                                                                     "adapters")}
    assert kinds == {"model_name_or_path": "model", "ref_model": "model", "dataset": "datasets",
                     "eval_dataset": "datasets", "adapter_name_or_path": "adapters",
                     "ref_model_adapters": "adapters"}
    for key, kind in kinds.items():
        meta = FIELDS[key].metadata
        assert (meta["suggest"] if kind == "model" else meta["pick"]) in (MODEL_SUGGESTIONS, kind)
    assert forms.suggestions(forms.SPECS["model_name_or_path"], "en") == list(MODEL_SUGGESTIONS)
    assert forms.suggestions(forms.SPECS["ref_model"], "zh")[0] == ("（空）", "")
    assert not hasattr(forms, "MODEL_SUGGESTIONS") and not hasattr(forms, "WIDGET_HINTS")


def test_form_values_round_trip_to_the_same_config(ws):
    cfg = RunConfig(dataset="demo_pref_en,demo_sft", dataset_dir=str(ws.data_dir), pref_beta=0.25,
                    lora_alpha=32, max_samples=100, learning_rate=2e-4, bf16=True,
                    quantization_bit=4, quantization_type="fp4", ld_alpha=0.5,
                    resume_from_checkpoint=True, output_dir=str(ws.saves_dir / "x"))
    values = forms.config_values(cfg)
    assert values["dataset"] == ["demo_pref_en", "demo_sft"] and values["lora_alpha"] == "32"
    assert values["template"] == "" and values["pref_beta"] == 0.25
    back, found = forms.build_config(values, ws)
    assert found == [] and back == cfg


def test_relevance_follows_stage_loss_and_finetuning_type(ws):
    shown = forms.visibility(form(ws))
    assert shown["pref_beta"] and shown["lora_rank"] and not shown["simpo_gamma"]
    assert not shown["quantization_type"] and not shown["min_lr_ratio"]
    assert forms.visibility(form(ws, pref_loss="simpo"))["simpo_gamma"]
    assert not forms.visibility(form(ws, pref_loss="ipo"))["dpo_label_smoothing"]
    assert not forms.visibility(form(ws, finetuning_type="full"))["lora_rank"]
    assert forms.visibility(form(ws, quantization_bit=4))["quantization_type"]
    sft = forms.visibility(form(ws, stage="sft"))
    assert not sft["pref_beta"] and not sft["pref_loss"] and sft["learning_rate"]


def test_hidden_fields_take_their_defaults(ws):
    cfg, found = forms.build_config(form(ws, pref_loss="ipo", dpo_label_smoothing=0.2,
                                         finetuning_type="full", lora_rank=64), ws)
    assert found == [] and cfg.dpo_label_smoothing == 0.0 and cfg.lora_rank == 8


def test_problems_are_returned_per_field(ws):
    cfg, found = forms.build_config(form(ws, lora_alpha="abc", pref_beta=0), ws)
    assert cfg is None and [k for k, _ in found] == ["lora_alpha", "pref_beta"]
    assert "whole number" in found[0][1]
    _, found = forms.build_config(form(ws, pref_beta=0, pref_loss="robust", lora_alpha="4"), ws)
    keys = {k for k, _ in found}
    assert keys == {"pref_beta", "dpo_label_smoothing"}
    assert all(message.startswith(key) for key, message in found)


# --- paths ---------------------------------------------------------------------------------
def test_paths_are_confined_to_data_and_saves(ws, tmp_path):
    assert ws.confine(ws.data_dir / "demo_pref_en.json") == ws.data_dir / "demo_pref_en.json"
    for bad in ("../etc/passwd", "/etc/passwd", str(ws.data_dir / ".." / ".." / "x"), ""):
        with pytest.raises(UserError, match="dataset_dir"):
            ws.confine(bad, "dataset_dir")
    (ws.data_dir / "escape").symlink_to(tmp_path.parent)
    with pytest.raises(UserError, match="outside"):
        ws.confine(ws.data_dir / "escape" / "x.json")
    with pytest.raises(UserError):
        ws.confine(ws.examples_dir / "dpo_demo.yaml")
    assert ws.confine(ws.examples_dir / "dpo_demo.yaml", readonly=True).is_file()


def test_model_fields_take_hub_ids_and_model_folders(ws, tiny_model):
    ws.check_model("demo")
    ws.check_model("Qwen/Qwen2.5-0.5B-Instruct")
    ws.check_model(str(tiny_model))  # a local model folder anywhere
    for bad in ("/etc", "../../etc/passwd", "a/../b"):
        with pytest.raises(UserError, match="model_name_or_path"):
            ws.check_model(bad)
    _, found = forms.build_config(form(ws, output_dir="../outside", adapter_name_or_path=["/etc"],
                                       model_name_or_path="/etc"), ws)
    assert {k for k, _ in found} == {"output_dir", "adapter_name_or_path", "model_name_or_path"}


# --- Train tab -----------------------------------------------------------------------------
def test_preview_shows_yaml_and_command_and_writes_nothing(ws):
    text, command, found = train_tab.preview(ws, form(ws, run_name="my-run"))
    assert found == [] and "pref_beta: 0.1" in text and "run_name: my-run" in text
    folder = f"{ws.saves_dir}/my-run"
    assert command == f"nohup python -m core train {folder}/config.yaml > {folder}/train.log 2>&1 &"
    assert not any(ws.saves_dir.iterdir())
    text, command, found = train_tab.preview(ws, form(ws, pref_beta=-1))
    assert found and found[0][0] == "pref_beta"


def test_preview_includes_the_dry_run(ws):
    """Once the form is valid, Preview lists core.training.preflight's findings: the data
    tokenized with the model's tokenizer, the output folder; it writes nothing."""
    text, _, found = train_tab.preview(ws, form(ws, cutoff_len=16, truncation="drop"))
    assert text and [k for k, _ in found] == ["dataset"]
    assert "longer than cutoff_len 16 (truncation drop)" in found[0][1]
    fake_run(ws, "done")
    before = sorted(p.name for p in ws.saves_dir.rglob("*"))
    _, _, found = train_tab.preview(ws, form(ws, output_dir=str(ws.saves_dir / "done")))
    assert [k for k, _ in found] == ["output_dir"] and "already holds a run" in found[0][1]
    _, _, found = train_tab.preview(ws, form(ws, output_dir=str(ws.saves_dir / "done"),
                                             resume_from_checkpoint=True))
    assert found[0][0] == "resume_from_checkpoint" and "no complete checkpoint" in found[0][1]
    assert sorted(p.name for p in ws.saves_dir.rglob("*")) == before


def test_save_then_load_yaml(ws):
    written, found = train_tab.save_yaml(ws, form(ws, run_name="saved", pref_beta=0.3), "")
    assert found == [] and Path(written) == ws.saves_dir / "saved" / "config.yaml"
    values, note = train_tab.load_yaml(ws, written)
    assert values["pref_beta"] == 0.3 and values["run_name"] == "saved" and note == ""
    assert train_tab.save_yaml(ws, form(ws), "/tmp/elsewhere.yaml")[1][0][0] == "yaml_path"
    values, error = train_tab.load_yaml(ws, "../etc/passwd")
    assert values is None and "outside" in error
    values, _ = train_tab.load_yaml(ws, str(ws.examples_dir / "dpo_demo.yaml"))
    assert values["stage"] == "dpo" and values["model_name_or_path"] == "demo"


def test_start_validates_before_anything_starts(ws):
    manager = RunManager(ws.saves_dir, max_concurrent=0)  # holds the queue: nothing launches
    name, found = train_tab.start(ws, manager, form(ws, pref_beta=0))
    assert name is None and found[0][0] == "pref_beta" and not any(ws.saves_dir.iterdir())
    name, found = train_tab.start(ws, manager, form(ws, run_name="ok"))
    assert found == [] and name == "ok" and manager.get("ok").state == "queued"
    name, found = train_tab.start(ws, manager, form(ws, run_name="ok"))
    assert name is None and found[0][0] == "output_dir"
    assert train_tab.abort(manager, "ok") == "ok" and manager.get("ok").state == "aborted"


# --- Data tab ------------------------------------------------------------------------------
def test_registry_table_and_chat_preview(ws):
    table, infos = data_tab.registry_table(ws, str(ws.data_dir), "en")
    assert [r[0] for r in table["data"]] == ["demo_pref_en", "demo_sft"]
    assert table["headers"][0] == "Name" and "Problem" not in table["headers"]
    html, pages = data_tab.preview_rows(ws, "demo_pref_en", str(ws.data_dir), "dpo", 2, "en")
    first = json.loads((ws.data_dir / "demo_pref_en.json").read_text())[data_tab.PER_PAGE]
    assert pages == 75 and "ps-chosen" in html and "ps-rejected" in html and "ps-pair" in html
    assert first["instruction"].replace("'", "&#x27;") in html and "Rows 5–8 of 300" in html
    html, _ = data_tab.preview_rows(ws, "demo_sft", str(ws.data_dir), "sft", 1, "zh")
    assert "用户" in html and "ps-chosen" not in html
    with pytest.raises(UserError):
        data_tab.preview_rows(ws, "demo_pref_en", "../etc", "dpo", 1, "en")


def test_check_report_and_token_histogram(ws, tiny_model):
    html, fig = data_tab.check(ws, "demo_pref_en", str(ws.data_dir), "dpo", str(tiny_model), None,
                               256, True, "en")
    assert "OK: the data can train" in html and "300 records" in html and "p95" in html
    assert [t.name for t in fig.data] == ["prompt", "chosen", "rejected"]
    assert len(fig.data[0].x) == 300
    html, fig = data_tab.check(ws, "demo_pref_en", str(ws.data_dir), "dpo", "no-such/model-x",
                               None, 256, True, "en")
    assert "OK" in html and "tokenizer" in html and not fig.data


def test_check_without_cutoff_uses_the_config_default(ws, monkeypatch):
    seen = {}
    real = data_tab.check_dataset
    monkeypatch.setattr(data_tab, "check_dataset",
                        lambda *a, **k: seen.update(k) or real(*a, **k))
    data_tab.check(ws, "demo_pref_en", str(ws.data_dir), "dpo", None, None, None, True, "en")
    assert seen["cutoff_len"] == FIELDS["cutoff_len"].default


def test_register_detects_first_then_saves(ws, tmp_path):
    upload = tmp_path / "upload" / "mine.jsonl"
    upload.parent.mkdir()
    rows = [{"question": f"q{i}", "good": f"yes {i}", "bad": f"no {i}"} for i in range(5)]
    upload.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = (ws.data_dir / "dataset_info.json").read_text()
    d = data_upload.detect(ws, str(upload), str(ws.data_dir))
    assert d.name == "mine" and d.entry["formatting"] == "alpaca" and d.keys == ["question", "good", "bad"]
    assert d.save_as == str(ws.data_dir / "mine.jsonl")
    assert (ws.data_dir / "dataset_info.json").read_text() == before  # the dry run wrote nothing
    # as detected the pairs are missing; the user maps chosen/rejected, then it registers
    columns = {"prompt": "question", "chosen": "good", "rejected": "bad"}
    d = data_upload.detect(ws, str(upload), str(ws.data_dir), None, "alpaca", True, columns, None)
    assert d.rows == 5 and d.stages[0] == "dpo" and not d.problems
    ok, message = data_upload.register(ws, str(upload), "mine", d.save_as, str(ws.data_dir),
                                       "alpaca", True, columns, None)
    assert ok and "Registered mine" in message
    registry = json.loads((ws.data_dir / "dataset_info.json").read_text())
    assert registry["mine"]["file_name"] == "mine.jsonl" and registry["mine"]["ranking"] is True
    html, _ = data_tab.preview_rows(ws, "mine", str(ws.data_dir), "dpo", 1, "en")
    assert "yes 0" in html and "no 0" in html


def test_bad_or_clashing_uploads_leave_nothing_behind(ws, tmp_path):
    upload = tmp_path / "bad.json"
    upload.write_text(json.dumps([{"instruction": "q", "chosen": "", "rejected": "b"}]))
    before = (ws.data_dir / "dataset_info.json").read_text()
    ok, message = data_upload.register(ws, str(upload), "bad", str(ws.data_dir / "bad.json"),
                                       str(ws.data_dir), None, None, None, None)
    assert not ok and "Not registered" in message and not (ws.data_dir / "bad.json").exists()
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"instruction": "q", "chosen": "a", "rejected": "b"}]))
    with pytest.raises(UserError, match="already"):
        data_upload.register(ws, str(good), "demo_sft", str(ws.data_dir / "good.json"),
                             str(ws.data_dir), None, None, None, None)
    assert not (ws.data_dir / "good.json").exists()
    with pytest.raises(UserError, match="outside"):
        data_upload.register(ws, str(good), "x", "../x.json", str(ws.data_dir), None, None, None, None)
    assert (ws.data_dir / "dataset_info.json").read_text() == before


# --- Runs tab and plots --------------------------------------------------------------------
def fake_run(ws: Workspace, name: str, state: str = "completed", steps: int = 6) -> RunDir:
    rd = RunDir(ws.saves_dir / name)
    rd.path.mkdir(parents=True)
    RunConfig(run_name=name, output_dir=str(rd.path)).save(rd.config)
    rd.update_status(state=state, stage="dpo", model="demo", dataset="demo_pref_en", step=steps,
                     total_steps=steps, started_at=1000.0, ended_at=1060.0)
    for step in range(1, steps + 1):
        rd.append_metrics({"step": step, "loss": 0.7 - 0.05 * step, "learning_rate": 1e-4,
                           "rewards/chosen": 0.1 * step, "rewards/rejected": -0.1 * step,
                           "rewards/margins": 0.2 * step, "rewards/accuracies": 0.5})
    rd.append_metrics({"step": steps, "eval_loss": 0.5, "eval_runtime": 1.0})
    rd.log_file.write_text("line 1\nline 2\n")
    return rd


def test_runs_table_view_and_actions(ws):
    manager = RunManager(ws.saves_dir, max_concurrent=0)
    fake_run(ws, "a")
    fake_run(ws, "b", state="aborted", steps=3)
    rows = runs_tab.table(manager.list(), "en")
    assert rows["headers"][:2] == ["Run", "State"]
    assert {r[0]: r[1] for r in rows["data"]} == {"a": "completed", "b": "aborted"}
    assert {r[0]: r[5] for r in rows["data"]}["a"] == "100% (6/6)"
    v = runs_tab.view(manager, ["a"], "en")
    assert "ps-state-completed" in v.progress and "1:00" in v.progress and "line 2" in v.log
    assert "run_name: a" in v.config and v.actions == {"abort": False, "resume": False,
                                                      "delete": True, "load": True,
                                                      "chat": False}  # no model in it
    assert len(v.figures["loss"].data) == 2 and v.figures["eval"].data[0].name == "eval_loss"
    both = runs_tab.view(manager, ["a", "b"], "en")
    assert len(both.figures["loss"].data) == 4 and runs_tab.actions(manager.get("b"))["resume"]
    for name in ("a", "b"):  # the buttons follow the rule RunManager enforces
        info = manager.get(name)
        assert {k: v for k, v in runs_tab.actions(info).items() if k != "chat"} == {
            action: refusal(info, action) is None for action in ACTIONS}
    assert runs_tab.act(manager, "resume", "a", "en") == (False, refusal(manager.get("a"), "resume"))
    values, message = runs_tab.load_config(manager, "a", "en")
    assert values["output_dir"] == "" and values["run_name"] == "" and "cleared" in message
    assert runs_tab.act(manager, "delete", "a", "en") == (True, "Deleted a.")
    done, message = runs_tab.act(manager, "resume", "zzz", "en")
    assert not done and "zzz" in message
    assert runs_tab.view(manager, ["a"], "en").actions["delete"] is False  # gone: nothing picked


def test_runs_view_shows_throughput(ws):
    manager = RunManager(ws.saves_dir, max_concurrent=0)
    rd = fake_run(ws, "fast", steps=2)
    assert "pairs/s" not in runs_tab.view(manager, ["fast"], "en").progress  # none logged yet
    rd.append_metrics({"step": 3, "loss": 0.6, "samples_per_s": 1.25, "pairs_per_s": 1.25,
                       "tokens_per_s": 640.4})
    v = runs_tab.view(manager, ["fast"], "en")
    assert "1.25 pairs/s · 640 tokens/s" in v.progress and v.speed in v.progress
    assert "1.25 对/秒 · 640 词元/秒" in runs_tab.view(manager, ["fast"], "zh").progress


def test_plots_from_metrics_records():
    records = [{"step": s, "loss": 1.0 / s, "learning_rate": 1e-4 * s,
                "rewards/chosen": 0.1 * s, "rewards/rejected": -0.1 * s,
                "rewards/margins": 0.2 * s, "rewards/accuracies": 1.0} for s in range(1, 11)]
    records.append({"step": 10, "train_runtime": 3.0, "train_loss": 0.3})  # summary: ignored
    figs = plots.run_figures({"run": records}, "en")
    assert set(figs) == set(plots.PANELS) and not figs["eval"].data  # a note, no curve
    raw, smooth = figs["loss"].data
    assert list(raw.x) == list(range(1, 11)) and len(smooth.y) == 10
    assert smooth.y[0] == pytest.approx(1.0) and smooth.y[-1] > raw.y[-1]  # lags the fall
    assert [t.name for t in figs["rewards"].data] == ["chosen", "rejected"]
    empty = plots.run_figures({"run": []}, "zh")["loss"]
    assert not empty.data and "等待" in empty.layout.annotations[0].text
    assert plots.ema([1.0, 1.0, 1.0]) == [1.0, 1.0, 1.0]


# --- language and shell ----------------------------------------------------------------------
def test_every_text_is_in_both_languages():
    for table in (i18n.TEXT, i18n.LABELS):
        for key, entry in table.items():
            assert set(entry) == set(i18n.LANGS) and all(entry.values()), key
    used = set()
    for path in (ROOT / "webui").rglob("*.py"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']""", path.read_text()))
    assert used and used <= set(i18n.TEXT), used - set(i18n.TEXT)
    assert i18n.field_label("pref_beta", "zh") == "偏好 β · pref_beta"
    assert i18n.field_label("some_new_key", "zh") == "some_new_key"


def test_app_builds_with_the_registered_tabs(ws):
    import gradio as gr

    from webui import tabs
    from webui.app import build_app
    assert [name for name, _ in tabs.available()] == list(tabs.TABS)
    app = build_app(ws, RunManager(ws.saves_dir, max_concurrent=0))
    assert isinstance(app, gr.Blocks)


def test_cli_defaults_are_safe(monkeypatch):
    from webui.__main__ import build_parser, parse_auth
    args = build_parser().parse_args([])
    assert args.host == "127.0.0.1" and args.share is False and args.auth is None
    assert parse_auth("me:se:cret") == ("me", "se:cret") and parse_auth(None) is None
    with pytest.raises(SystemExit):
        parse_auth("nopassword")
