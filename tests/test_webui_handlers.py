"""WebUI handlers as plain functions (no browser): the generated form and its round trip,
relevance, validation per field, Preview/Save/Load/Start, path confinement, the Data tab
(preview as chat, check, register with a dry run first), the Runs tab, plots and i18n.
Run: pytest -q tests/test_webui_handlers.py"""
import html
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from core.config import FIELDS, RunConfig
from core.config.demo import demo_config, demo_tuned
from core.errors import UserError
from core.runs.info import ACTIONS, refusal
from core.runs.manager import RunManager
from core.runs.rundir import RunDir
from webui import config_files, forms, i18n, plots
from webui.tabs import data as data_tab
from webui.tabs import data_pages, data_upload
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


def with_models(ws: Workspace, *model_dirs: Path) -> Workspace:
    """`ws` as a server started with --model-dir for each of `model_dirs`."""
    return Workspace(saves_dir=ws.saves_dir, data_dir=ws.data_dir, model_dirs=model_dirs)


def test_model_fields_take_demo_hub_ids_and_model_folders_in_the_workspace(ws, tiny_model):
    """Deliberately changed (Hardening, item 3): a model folder anywhere on the machine was
    taken; now only inside data/, saves/, assets/ or a --model-dir folder."""
    ws.check_model("demo")
    ws.check_model("Qwen/Qwen2.5-0.5B-Instruct")
    ws.check_model("assets/demo-model")  # the bundled model, by its path
    exported = ws.saves_dir / "exports" / "mine"
    shutil.copytree(tiny_model, exported)
    ws.check_model(str(exported))
    ws.check_model(ws.shown(exported))
    with pytest.raises(UserError, match="outside the folders the WebUI loads models from"):
        ws.check_model(str(tiny_model))
    with_models(ws, tiny_model).check_model(str(tiny_model))  # python -m webui --model-dir
    for bad in ("/etc", "../../etc/passwd", "a/../b"):
        with pytest.raises(UserError, match="model_name_or_path"):
            ws.check_model(bad)
    _, found = forms.build_config(form(ws, output_dir="../outside", adapter_name_or_path=["/etc"],
                                       model_name_or_path="/etc"), ws)
    assert {k for k, _ in found} == {"output_dir", "adapter_name_or_path", "model_name_or_path"}


# --- Train tab -----------------------------------------------------------------------------
def command_parts(command: str) -> tuple[list[str], list[str]]:
    """A preview command as (its comment lines, the shell words of the command line)."""
    *comments, line = command.splitlines()
    assert all(c.startswith("# ") for c in comments), command
    return comments, shlex.split(line)


def test_preview_shows_yaml_and_command_and_writes_nothing(ws):
    values = form(ws, run_name="my-run")
    text, command, found = train_tab.preview(ws, values)
    refusals = [(k, m) for k, m in found if not m.endswith("(warning)")]  # the doctor warns
    assert refusals == [] and "pref_beta: 0.1" in text and "run_name: my-run" in text
    assert yaml.safe_load(text) == forms.build_config(values, ws)[0].to_dict()  # what Save writes
    comments, words = command_parts(command)
    target = ws.saves_dir / "configs" / "my-run.yaml"
    assert comments == [f"# Save YAML first: {target} does not hold this form's config yet."]
    python = words[10]  # the server's interpreter (.venv/bin/python), from the project root
    assert (ROOT / python) == Path(sys.executable) and not python.startswith("python")
    assert words == ["cd", str(ROOT), "&&", f"out={ws.saves_dir / 'my-run'}", "&&", "mkdir", "-p",
                     "$out", "&&", "nohup", python, "-m", "core", "train", str(target),
                     "output_dir=$out", ">>", "$out/train.log", "2>&1", "&"]
    assert not any(ws.saves_dir.iterdir())
    _, command, _ = train_tab.preview(ws, values, "", "zh")
    assert command.startswith("# 请先点击")
    text, command, found = train_tab.preview(ws, form(ws, pref_beta=-1))
    assert found and found[0][0] == "pref_beta"


def test_the_command_goes_where_start_would_put_the_run(ws):
    """No run_name: a dated folder in the WebUI's saves folder (not the CLI's default saves/),
    a new one when that name is taken, like Start's; the YAML keeps output_dir empty."""
    values = form(ws)
    cfg = forms.build_config(values, ws)[0]
    _, command, _ = train_tab.preview(ws, values)
    out = Path(command_parts(command)[1][3].removeprefix("out="))
    assert out.parent == ws.saves_dir and out.name.startswith("dpo-demo_pref_en-")
    assert cfg.output_dir is None and cfg.run_name is None
    (ws.saves_dir / out.name).mkdir()
    _, again, _ = train_tab.preview(ws, values)
    assert command_parts(again)[1][3] != f"out={out}"
    _, typed, _ = train_tab.preview(ws, form(ws, output_dir=str(ws.saves_dir / "mine")))
    assert command_parts(typed)[1][3] == f"out={ws.saves_dir / 'mine'}"


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


def test_preview_shows_the_doctor(ws):
    """A valid form's Preview also shows the run doctor: two pairs token by token with the
    scored tokens highlighted, and its findings next to the fields (the demo's chosen answers
    are always the longer ones: a length-bias warning on `dataset`)."""
    text, _, found, report = train_tab.inspect(ws, form(ws), lang="en")
    assert text and 'class="ps-tok ps-scored' in report and "First pair" in report
    bias = [m for k, m in found if k == "dataset" and "longer" in m]
    assert bias and bias[0].endswith("(warning)"), found
    assert not [m for _, m in found if not m.endswith(("(warning)", "(info)"))]  # nothing refused
    _, _, _, none = train_tab.inspect(ws, form(ws, cutoff_len=16, truncation="drop"))
    assert none == ""  # a refused run shows the refusal, not the doctor


def test_save_yaml_writes_a_file_and_makes_no_run(ws):
    values = form(ws, run_name="saved", pref_beta=0.3)
    written, found = config_files.save_yaml(ws, values, "")
    assert found == [] and Path(written) == ws.saves_dir / "configs" / "saved.yaml"
    assert RunManager(ws.saves_dir).list() == []  # Runs shows nothing new
    assert [p.relative_to(ws.saves_dir) for p in ws.saves_dir.rglob("*")] == [
        Path("configs"), Path("configs/saved.yaml")]
    loaded, note = config_files.load_yaml(ws, written)
    assert loaded == forms.config_values(forms.build_config(values, ws)[0]) and note == ""
    assert loaded["output_dir"] == "" and loaded["run_name"] == "saved"
    # the command now runs that file, with no "save first" line
    _, command, _ = train_tab.preview(ws, values, written)
    comments, words = command_parts(command)
    assert comments == [] and words[14] == written
    # saving the same form again keeps its file; another config never overwrites it unasked
    assert config_files.save_yaml(ws, values, "")[0] == written
    other, _ = config_files.save_yaml(ws, {**values, "pref_beta": 0.4}, "")
    assert Path(other).name == "saved-2.yaml"
    assert config_files.load_yaml(ws, written)[0]["pref_beta"] == 0.3
    named, _ = config_files.save_yaml(ws, {**values, "pref_beta": 0.5}, written)  # named: replaced
    assert named == written and config_files.load_yaml(ws, written)[0]["pref_beta"] == 0.5


def test_save_yaml_refuses_run_folders_and_other_places(ws):
    fake_run(ws, "done")
    for path, words in ((str(ws.saves_dir / "done" / "mine.yaml"), "is a run folder"),
                        (str(ws.saves_dir / "done" / "sub" / "mine.yaml"), "is a run folder"),
                        (str(ws.saves_dir / "new" / "config.yaml"), "run's own config"),
                        ("/tmp/elsewhere.yaml", "outside"),
                        (str(ws.saves_dir / "mine.txt"), ".yaml or .yml"),
                        (str(ws.saves_dir / "done"), ".yaml or .yml")):
        written, found = config_files.save_yaml(ws, form(ws), path)
        assert written is None and found[0][0] == "yaml_path" and words in found[0][1], found
    assert not (ws.saves_dir / "new").exists()
    assert not (ws.saves_dir / "done" / "mine.yaml").exists()
    written, found = config_files.save_yaml(ws, form(ws), str(ws.data_dir / "mine.yml"))
    assert found == [] and (ws.data_dir / "mine.yml").is_file()
    # an example just loaded is read-only: Save writes the form to saves/configs/ instead
    written, found = config_files.save_yaml(ws, form(ws), str(ws.examples_dir / "dpo_demo.yaml"))
    assert found == [] and Path(written) == ws.saves_dir / "configs" / "dpo-demo_pref_en.yaml"


def test_save_then_load_yaml(ws):
    values, error = config_files.load_yaml(ws, "../etc/passwd")
    assert values is None and "outside" in error
    values, _ = config_files.load_yaml(ws, str(ws.examples_dir / "dpo_demo.yaml"))
    assert values["stage"] == "dpo" and values["model_name_or_path"] == "demo"


@pytest.mark.slow
def test_the_pasted_command_runs_the_saved_config(ws):
    """The command as a user pastes it into a shell, with --check added: the server's
    interpreter in the project root reads the saved file and places the run where Start
    would; the check's verdict lands in that folder's train.log."""
    values = form(ws, max_samples=8)
    written, _ = config_files.save_yaml(ws, values, "")
    _, command, _ = train_tab.preview(ws, values, written)
    assert " -m core train " in command
    checked = command.replace(" -m core train ", " -m core train --check ").removesuffix(" &")
    done = subprocess.run(["bash", "-c", checked], cwd="/", capture_output=True, text=True,
                          timeout=300)
    out = Path(command_parts(command)[1][3].removeprefix("out="))
    log = (out / "train.log").read_text()
    assert done.returncode == 0 and log.splitlines()[-1].startswith("ok:"), (done.stderr, log)
    assert out.parent == ws.saves_dir and RunManager(ws.saves_dir).list() == []


def test_start_validates_before_anything_starts(ws):
    manager = RunManager(ws.saves_dir, max_concurrent=0)  # holds the queue: nothing launches
    name, found = train_tab.start(ws, manager, form(ws, pref_beta=0))
    assert name is None and found[0][0] == "pref_beta" and not any(ws.saves_dir.iterdir())
    name, found = train_tab.start(ws, manager, form(ws, run_name="ok"))
    assert found == [] and name == "ok" and manager.get("ok").state == "queued"
    name, found = train_tab.start(ws, manager, form(ws, run_name="ok"))
    assert name is None and found[0][0] == "output_dir"
    assert train_tab.abortable(manager, "ok") and not train_tab.abortable(manager, None)
    assert train_tab.abort(manager, "ok") == "ok" and manager.get("ok").state == "aborted"
    assert not train_tab.abortable(manager, "ok") and not train_tab.abortable(manager, "gone")


def demo_form(ws: Workspace, **changes) -> dict:
    """The form a new browser gets (examples/dpo_demo.yaml), with `changes` as widget values."""
    return {**forms.config_values(demo_config().replace(dataset_dir=str(ws.data_dir))), **changes}


def test_leaving_the_demo_resets_its_tuned_values(ws):
    tuned = demo_tuned()  # where examples/dpo_demo.yaml differs from the config defaults
    assert tuned["learning_rate"] == 5e-4 and FIELDS["learning_rate"].default == 5e-5
    assert {"lora_rank", "cutoff_len", "per_device_train_batch_size"} <= set(tuned)
    assert not {"model_name_or_path", "dataset", "output_dir", "run_name"} & set(tuned)
    assert train_tab.off_demo(demo_form(ws)) == ({}, "")  # still the demo: nothing changes
    # another model; the user had set the batch size himself: it stays
    values = demo_form(ws, model_name_or_path="Qwen/Qwen2.5-0.5B-Instruct",
                       per_device_train_batch_size=2)
    back, text = train_tab.off_demo(values)
    assert back == {k: forms.to_widget(forms.SPECS[k], FIELDS[k].default)
                    for k in tuned if k != "per_device_train_batch_size"}
    assert "learning_rate 0.0005 → 5e-05" in text and "lora_rank 16 → 8" in text
    cfg, found = forms.build_config({**values, **back}, ws)
    assert cfg.learning_rate == 5e-5 and cfg.per_device_train_batch_size == 2
    # another dataset does it too, whatever the model
    back, _ = train_tab.off_demo(demo_form(ws, dataset=["demo_pref_en", "demo_sft"]))
    assert back["learning_rate"] == 5e-5
    message = i18n.t("demo_left", "en", changes=text)
    assert "\n" not in message and message.startswith("Not the demo any more")


def test_reset_keeps_model_and_data_and_gives_the_defaults(ws):
    changed = demo_form(ws, learning_rate=1e-3, pref_loss="ipo", max_steps=7, bf16=True)
    assert train_tab.reset(changed) == demo_form(ws)  # on the demo: the demo's values
    mine = demo_form(ws, model_name_or_path="Qwen/Qwen3-0.6B", dataset=["demo_sft"],
                     learning_rate=1e-3, template="qwen3", lora_rank=64)
    values = train_tab.reset(mine)
    expected = RunConfig(model_name_or_path="Qwen/Qwen3-0.6B", dataset="demo_sft",
                         dataset_dir=str(ws.data_dir))
    assert values == forms.config_values(expected) and values["learning_rate"] == 5e-5


def test_groups_count_the_values_that_differ_from_the_defaults(ws):
    labels = train_tab.block_labels(demo_form(ws), "en")
    # the demo: gradient_accumulation_steps; logging_steps and save_steps (main fields apart)
    assert labels["optimisation"] == "Optimisation · 1 changed"
    assert labels["output"] == "Saving and logging · 2 changed"
    assert labels["preference"] == "Preference" and labels["main"] == "Main settings"
    values = demo_form(ws, warmup_ratio=0.2, lora_alpha="abc", simpo_gamma=1.0, seed=7)
    labels = train_tab.block_labels(values, "zh")
    assert labels["optimisation"] == "优化 · 3 项已改"  # + warmup_ratio, seed
    assert labels["finetuning"] == "阶段与 LoRA · 1 项已改"  # lora_alpha does not parse
    assert labels["preference"] == "偏好"  # simpo_gamma does not apply to sigmoid
    defaults = train_tab.block_labels(forms.config_values(RunConfig()), "en")
    assert not [label for label in defaults.values() if "changed" in label], defaults
    assert set(train_tab.BLOCKS["main"]) == {k for k, f in FIELDS.items() if f.metadata["main"]}


def test_help_shows_as_plain_text_in_gradio():
    """gradio renders `info` with its own few Markdown rules; help must come out as written
    (lookalikes for the characters they would eat)."""
    def gradio_info(text: str) -> str:  # gradio 6.31's info renderer, rule by rule
        text = html.escape(text, quote=True).replace("&#x27;", "'")
        for pattern, repl in ((r"`([^`]+)`", r"<code>\1</code>"),
                              (r"\[([^\]]+)\]\(([^)]+)\)", r"<a>\1</a>"),
                              (r"\*\*(.+?)\*\*", r"<strong>\1</strong>"),
                              (r"__(.+?)__", r"<strong>\1</strong>"),
                              (r"\*(.+?)\*", r"<em>\1</em>"),
                              (r"(?<!\w)_(.+?)_(?!\w)", r"<em>\1</em>")):
            text = re.sub(pattern, repl, text, flags=re.ASCII)
        return text

    regex = FIELDS["reward_format_regex"].default
    assert "<em>" in gradio_info(f"Default: {regex}")  # what the user saw
    for spec in forms.SPECS.values():
        shown = forms.info(spec, "en")
        assert "<" not in gradio_info(shown).replace("&lt;", ""), shown
    shown = forms.info(forms.SPECS["reward_format_regex"], "en")
    assert "^<think>.∗?</think>\\s∗\\S" in shown
    for text in ("`x` [a](b) **b** __c__ _d_ *e*", "⚠ pref_beta: 0 must be > 0"):
        assert "<" not in gradio_info(forms.plain(text)), text
    assert forms.plain("pref_beta and lora_rank") == "pref_beta and lora_rank"


def test_a_kept_form_comes_back_as_far_as_it_still_fits(ws):
    current = demo_form(ws)
    saved = {**current, "learning_rate": 1e-5, "pref_loss": "ipo", "lora_alpha": "abc",
             "dataset": ["mine"], "bf16": True, "stage": "no-such-stage", "gone_key": 1,
             "cutoff_len": "512", "max_samples": None}
    back = forms.restore(saved, current)
    assert back == {**current, "learning_rate": 1e-5, "pref_loss": "ipo", "lora_alpha": "abc",
                    "dataset": ["mine"], "bf16": True}
    assert forms.restore(None, current) == current and forms.restore("x", current) == current


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
    ws = with_models(ws, tiny_model)
    html, fig = data_tab.check(ws, "demo_pref_en", str(ws.data_dir), "dpo", str(tiny_model), None,
                               256, True, "en")
    assert "OK: the data can train" in html and "300 records" in html and "p95" in html
    assert [t.name for t in fig.data] == ["prompt", "chosen", "rejected"]
    assert len(fig.data[0].x) == 300
    html, fig = data_tab.check(ws, "demo_pref_en", str(ws.data_dir), "dpo", "no-such/model-x",
                               None, 256, True, "en")
    assert "OK" in html and "tokenizer" in html and not fig.data


def used(report: str) -> str:
    """The report's line naming the model and template that counted the tokens ("" if none)."""
    found = re.search(r'ps-check-used">([^<]*)<', report)
    return html.unescape(found.group(1)) if found else ""


def test_the_check_names_the_model_it_used_and_takes_another(ws, tiny_model):
    def check(model, lang="en", template=None):
        return data_tab.check(ws, "demo_pref_en", str(ws.data_dir), "dpo", model, template, 256,
                              True, lang)[0]

    assert used(check("demo")) == ("Tokens counted with the tokenizer of demo, template: the "
                                   "tokenizer's own")
    assert used(check("demo", template="qwen")).endswith("template: qwen")
    assert used(check("demo", "zh")) == "Token 数由 demo 的分词器统计，模板：分词器自带"
    refused = check(str(tiny_model))  # a model folder outside the workspace: no token counts
    assert not used(refused) and "p95" not in refused and "OK: the data can train" in refused
    note = html.unescape(re.search(r'ps-note ps-warn">([^<]*)<', refused).group(1))
    assert note.startswith("Token lengths need the model's tokenizer: model: ")
    assert "outside the folders the WebUI loads models from" in note and "--model-dir" in note
    ws = with_models(ws, tiny_model)
    assert used(check(str(tiny_model))).startswith(f"Tokens counted with the tokenizer of "
                                                   f"{tiny_model},")
    empty = check("  ")
    assert not used(empty) and "Pick a model for the check" in empty and "ps-warn" not in empty
    report = data_tab.check_dataset("demo_pref_en", ws.data_dir, "dpo",
                                    tokenizer=ws.tokenizer("demo"), model="demo")
    assert report.to_dict()["model"] == "demo" and report.to_dict()["template"] is None
    assert "tokens counted with the tokenizer of demo, template its own" in report.render()


def test_the_check_names_its_cutoff_len_and_the_box_changes_it(ws):
    def check(cutoff, lang="en"):
        return data_tab.check(ws, "demo_pref_en", str(ws.data_dir), "dpo", "demo", None, cutoff,
                              True, lang)[0]

    full, short = check(4096), check(12)
    assert "Cutoff length 4096, truncation llamafactory: 0 of 300 records" in full
    assert "Cutoff length 12, truncation llamafactory: " in short and "Cutoff length 4096" not in short
    assert "OK: the data can train" in full and "ps-verdict ps-warn" in short  # cut: a warning
    assert "截断长度 12" in check(12, "zh")


def stats_rows(report: str) -> dict[str, list[int]]:
    """The token table of a check report: {row name: [min, mean, p50, p95, max]}."""
    return {name: [int(v) for v in re.findall(r"<td>(\d+)</td>", cells)] for name, cells in
            re.findall(r"<tr><td>([^<]*)</td>((?:<td>\d+</td>){5})</tr>", report)}


def test_the_check_statistics_cover_every_row_the_bad_ones_too(ws):
    """Item 6: the table said prompt max 253 while an error listed a 2,583-token prompt."""
    rows = [{"instruction": f"Question {i}?", "output": "A"} for i in range(3)]
    rows.append({"instruction": "hello " * 100, "output": "A"})
    (ws.data_dir / "long.json").write_text(json.dumps(rows))
    registry = ws.data_dir / "dataset_info.json"
    registry.write_text(json.dumps({**json.loads(registry.read_text()),
                                    "long": {"file_name": "long.json"}}))
    report = data_tab.check(ws, "long", str(ws.data_dir), "grpo", "demo", None, 96, True, "en",
                            "error", 32)[0]
    errors = re.findall(r'class="ps-err">[^<]*/long.json:3 <b>prompt</b>: (\d+) tokens, longer than '
                        r"cutoff_len 96 - max_completion_length 32", report)
    assert len(errors) == 1 and "4 records · 3 good rows · 1 bad records · 1 errors" in report
    assert stats_rows(report)["prompt"][4] == int(errors[0]) > 64  # the refused prompt: its max
    assert "Tokens before truncation, all 4 rows" in report
    assert used(report) == "Tokens counted with the tokenizer of demo, template: the tokenizer's own"


def test_the_check_model_and_cutoff_boxes_check_again(ws):
    """The Data tab's own model and cutoff boxes feed the check and run it when changed; the
    top bar's model and the Train form's cutoff_len only fill them in."""
    from webui.app import build_app

    app = build_app(ws, RunManager(ws.saves_dir, max_concurrent=0))
    elem = {i: getattr(b, "elem_id", None) for i, b in app.blocks.items()}
    checks = [fn for fn in app.fns.values() if getattr(fn.fn, "func", None) is data_tab.on_check]
    inputs = {elem[b._id] for fn in checks for b in fn.inputs}
    assert {"data-model", "data-cutoff"} <= inputs
    assert "field-model_name_or_path" not in inputs and "field-cutoff_len" not in inputs
    triggers = {(elem.get(i), event) for fn in checks for i, event in fn.targets}
    assert {("data-model", "change"), ("data-cutoff", "submit"), ("data-cutoff", "blur")} <= triggers
    follows: dict[tuple, set] = {}
    for fn in app.fns.values():
        for i, event in fn.targets:
            if elem.get(i) in ("field-model_name_or_path", "field-cutoff_len"):
                follows.setdefault((elem[i], event), set()).update(elem[b._id] for b in fn.outputs)
    assert follows[("field-model_name_or_path", "change")] >= {"data-model"}
    assert follows[("field-cutoff_len", "change")] >= {"data-cutoff"}


def test_pages_show_4_10_or_25_rows(ws):
    def shown(page, per_page):
        html, pages = data_tab.preview_rows(ws, "demo_pref_en", str(ws.data_dir), "dpo", page,
                                            "en", per_page)
        return re.search(r"Rows [^<]*", html).group(0), html.count('class="ps-row"'), pages

    assert shown(1, 4) == ("Rows 1–4 of 300", 4, 75)
    assert shown(3, 10) == ("Rows 21–30 of 300", 10, 30)
    assert shown(2, 25) == ("Rows 26–50 of 300", 25, 12)
    assert shown(99, 25) == ("Rows 276–300 of 300", 25, 12)  # past the end: the last page
    assert shown(1, 1000) == ("Rows 1–4 of 300", 4, 75)  # not a choice (an API call): 4
    assert data_pages.PAGE_SIZES == (4, 10, 25)
    # a new page size keeps the first row shown in view
    assert data_pages.resize(3, 10, 4) == (6, 4)  # rows 21-30 -> 21-24
    assert data_pages.resize(6, 4, 25) == (1, 25)  # rows 21-24 -> 1-25
    assert data_pages.resize(2, 25, 10) == (3, 10)  # rows 26-50 -> 21-30
    assert data_pages.resize(None, "x", 10) == (1, 10)


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


def test_an_upload_is_previewed_as_chat_with_its_columns_before_registering(ws, tmp_path):
    upload = tmp_path / "gradio-tmp" / "mine.jsonl"
    upload.parent.mkdir()
    rows = [{"question": f"q{i}", "good": f"yes {i}", "bad": f"no {i}"} for i in range(12)]
    upload.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = (ws.data_dir / "dataset_info.json").read_text()
    d = data_upload.detect(ws, str(upload), str(ws.data_dir))
    html, pages = data_upload.preview(d.converted, str(upload), 1, 4, "en")
    assert d.stage == "grpo" and pages == 3 and "Rows 1–4 of 12" in html
    assert "as stage grpo reads them" in html and "ps-pair" not in html  # good/bad are extras
    assert "mine.jsonl · #0" in html and "gradio-tmp" not in html  # the file's own name
    columns = {"prompt": "question", "chosen": "good", "rejected": "bad"}
    d = data_upload.detect(ws, str(upload), str(ws.data_dir), None, "alpaca", True, columns, None)
    html, pages = data_upload.preview(d.converted, str(upload), 2, 10, "en")
    assert pages == 2 and "Rows 11–12 of 12" in html and html.count('class="ps-row"') == 2
    assert "as stage dpo reads them" in html and "ps-pair" in html
    assert re.search(r"ps-chosen.*yes 10.*ps-rejected.*no 10", html, re.S)
    zh = data_upload.preview(d.converted, str(upload), 1, 4, "zh")[0]
    assert "注册前预览" in zh and "优选" in zh
    assert data_upload.preview(None, None, 1, 4, "en") == ("", 1)  # nothing detected
    assert (ws.data_dir / "dataset_info.json").read_text() == before  # nothing registered
    assert sorted(p.name for p in ws.data_dir.iterdir()) == sorted(DEMO_FILES + (
        "dataset_info.json",))


def test_picking_chosen_and_rejected_makes_the_upload_pairs_and_its_rows_follow(ws, tmp_path):
    """The handlers behind the upload's column boxes: a picked column detects again, and its
    rows (ui.shown's third and fourth: the converted rows and their page) follow."""
    upload = tmp_path / "mine.jsonl"
    rows = [{"question": f"q{i}", "good": f"yes {i}", "bad": f"no {i}"} for i in range(6)]
    upload.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = (ws.data_dir / "dataset_info.json").read_text()
    n = 9 + len(data_upload.COLUMN_KEYS) + len(data_upload.TAG_KEYS)
    first = data_upload.on_upload(ws, n, str(upload), str(ws.data_dir), "en", 4)
    assert len(first) == n + 2 and first[-2:] == ["mine", str(ws.data_dir / "mine.jsonl")]
    assert first[2].stage == "grpo" and "Rows 1–4 of 6" in first[3]
    columns = {k: "" for k in data_upload.COLUMN_KEYS} | {
        "prompt": "question", "chosen": "good", "rejected": "bad"}
    tags = [""] * len(data_upload.TAG_KEYS)
    shown = data_upload.on_column(ws, n, str(upload), str(ws.data_dir), "en", 10, first[0],
                                  "alpaca", False, *columns.values(), *tags)
    assert shown[0]["ranking"] is True and shown[2].stage == "dpo"
    assert "Rows 1–6 of 6" in shown[3] and shown[3].count("ps-pair") == 6
    gone = data_upload.on_check(ws, n, None, str(ws.data_dir), "en", 4, None, None, False)
    assert "Upload a file first." in gone[1] and gone[2] is None and gone[3] == ""
    assert (ws.data_dir / "dataset_info.json").read_text() == before  # nothing registered
    assert not (ws.data_dir / "mine.jsonl").exists()


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
def fake_run(ws: Workspace, name: str, state: str = "completed", steps: int = 6,
             **config) -> RunDir:
    rd = RunDir(ws.saves_dir / name)
    rd.path.mkdir(parents=True)
    RunConfig(run_name=name, output_dir=str(rd.path), **config).save(rd.config)
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


def test_a_run_deleted_meanwhile_says_so_where_its_view_was(ws):
    from types import SimpleNamespace

    manager = RunManager(ws.saves_dir, max_concurrent=0)
    fake_run(ws, "a")
    parts = ("grid", "picked", "empty", "details", "progress", "notice", "compare", "log",
             "config", "seen")
    ui = SimpleNamespace(**{p: p for p in parts}, charts={k: k for k in plots.PANELS},
                         buttons={k: f"button-{k}" for k in (*ACTIONS, "chat")})
    out = runs_tab.refresh(manager, ui, ["a"], "en", {}, force=True)
    assert out["empty"] == "" and "ps-state-completed" in out["progress"]
    assert runs_tab.act(manager, "delete", "a", "en") == (True, "Deleted a.")
    out = runs_tab.refresh(manager, ui, ["a"], "en", out["seen"])  # the next tick
    assert "Deleted a." in out["empty"] and out["details"]["visible"] is False
    out = runs_tab.refresh(manager, ui, [], "en", out["seen"])
    assert "empty" not in out  # said once; picking another run replaces it


def bad_data_error(ws: Workspace, model: Path) -> str:
    """status.json's error for a run whose records do not fit cutoff_len 16 (truncation drop), as training
    (core/training/run.py) writes it: the data loader's own refusal."""
    from core.data import load_for_training
    from core.data.templates import get_template
    from core.models.loading import LoadOptions, load_tokenizer

    cfg = RunConfig(model_name_or_path=str(model), dataset_dir=str(ws.data_dir), cutoff_len=16,
                    truncation="drop")
    template = get_template(cfg.template, load_tokenizer(LoadOptions.of_run(cfg)), True)
    with pytest.raises(UserError) as e:
        load_for_training(cfg, template)
    return f"UserError: {e.value}"


def test_a_failed_run_says_why_where_to_fix_it_and_keeps_the_details(ws, tiny_model):
    manager = RunManager(ws.saves_dir, max_concurrent=0)
    rd = fake_run(ws, "bad", state="failed", steps=0)
    error = bad_data_error(ws, tiny_model)
    rd.update_status(error=error, exit_code=2, step=0)
    rd.log_file.write_text("loading data\nerror: " + error.removeprefix("UserError: ") + "\n")
    v = runs_tab.view(manager, ["bad"], "en")
    headline = re.search(r'ps-headline">([^<]*)<', v.notice).group(1)
    assert "\n" not in headline and "longer than cutoff_len 16" in headline
    assert not headline.startswith("UserError")  # the type says nothing to a person
    assert "To fix: raise Cutoff length · cutoff_len in Train → Data." in v.notice
    assert "Load config into Train" in v.notice and "Data → Check lists every bad" in v.notice
    details = v.notice[v.notice.index("<details"):]
    assert "above max_bad_ratio" in details and "loading data" in details  # error + log lines
    assert "python -m core data check" in details and "python -m core" not in headline
    assert "ps-run-error" not in v.progress  # said once, in the failure box
    assert v.actions["resume"] is False and v.actions["load"] is True  # resume is off ...
    reason = refusal(manager.get("bad"), "resume")
    assert "failed before its first step" in reason  # ... by core's rule
    assert runs_tab.act(manager, "resume", "bad", "en") == (False, reason)
    zh = runs_tab.view(manager, ["bad"], "zh").notice
    assert "在 训练 → 数据 中调大 截断长度 · cutoff_len" in zh

    later = fake_run(ws, "later", state="failed", steps=3)  # died mid-training: resumable
    later.update_status(error="process ended unexpectedly (see train.log)")
    later.log_file.write_text("step 3\nTraceback (most recent call last):\n  ...\n"
                              "RuntimeError: CUDA error: an illegal memory access\n")
    v = runs_tab.view(manager, ["later"], "en")
    assert 'ps-headline">RuntimeError: CUDA error: an illegal memory access<' in v.notice
    assert "Read the details below" in v.notice and v.actions["resume"] is True
    fake_run(ws, "fine")
    assert runs_tab.view(manager, ["fine"], "en").notice == ""  # only a failed run says why


def test_a_queued_run_shows_its_place_and_aborting_it_says_so(ws):
    manager = RunManager(ws.saves_dir, max_concurrent=0)  # nothing launches: both wait
    for name in ("first", "second"):
        manager.start(RunConfig(dataset_dir=str(ws.data_dir), run_name=name))
    rows = {r[0]: r for r in runs_tab.table(manager.list(), "en")["data"]}
    assert rows["first"][1] == "queued · #1 in the queue"
    assert rows["second"][1] == "queued · #2 in the queue"
    assert rows["second"][6] == "–"  # not "Started just now": it has not started
    v = runs_tab.view(manager, ["second"], "en")
    assert "#2 in the queue" in v.progress and "the 1 ahead of it" in v.progress
    assert "as soon as a running run ends" in runs_tab.view(manager, ["first"], "en").progress
    assert "队列第 2 位" in runs_tab.view(manager, ["second"], "zh").progress
    done, message = runs_tab.act(manager, "abort", "first", "en")
    assert done and message == "Took first off the queue: it had not started."
    assert "checkpoint" not in message
    assert manager.get("second").queue_position == 1  # moved up
    done, message = runs_tab.act(manager, "abort", "second", "zh")
    assert message == "已将 second 移出队列：它尚未开始。"


def diverging_alarms() -> list:
    """The run doctor's alarms for a DPO run whose grad_norm spikes, then whose loss climbs
    far above ln 2."""
    from core.runs.alarms import Kind, check

    records = [{"step": s, "loss": 0.69, "grad_norm": 1.0} for s in range(1, 9)]
    records += [{"step": 9, "loss": 0.7, "grad_norm": 60.0},
                {"step": 10, "loss": 2.5, "grad_norm": 2.0}, {"step": 11, "loss": 2.9}]
    return check(records, 100, Kind("dpo", "sigmoid"))


def test_alarms_show_what_was_seen_what_it_means_and_what_to_try(ws):
    manager = RunManager(ws.saves_dir, max_concurrent=0)
    alarms = diverging_alarms()
    assert [a.id for a in alarms] == ["grad_spike", "diverging"]
    fake_run(ws, "wild", state="aborted").update_status(alarms=[a.to_dict() for a in alarms])
    fake_run(ws, "calm")
    rows = {r[0]: r[1] for r in runs_tab.table(manager.list(), "en")["data"]}
    assert rows == {"wild": "aborted · ⚠ Gradient spike, Training is diverging",
                    "calm": "completed"}
    notice = runs_tab.view(manager, ["wild"], "en").notice
    error, warning = notice.index('ps-alarm-error" data-alarm="diverging"'), notice.index(
        'ps-alarm-warning" data-alarm="grad_spike"')
    assert error < warning  # the worse one first
    for alarm in alarms:
        for text in (alarm.seen, alarm.meaning, alarm.advice):
            assert html.escape(text) in notice
    assert "grad_norm is 60" in notice and "step 9" in notice and "step 11" in notice
    assert all(f"<dt>{label}</dt>" in notice for label in ("Seen", "Usually means", "Try"))
    zh = runs_tab.view(manager, ["wild"], "zh").notice
    assert "训练发散 · 第 11 步" in zh and "<dt>现象</dt>" in zh
    assert runs_tab.view(manager, ["calm"], "en").notice == ""


def test_picked_runs_show_the_settings_that_differ_and_their_evaluations(ws):
    manager = RunManager(ws.saves_dir, max_concurrent=0)
    fake_run(ws, "a", learning_rate=1e-4)
    fake_run(ws, "b", steps=3, learning_rate=5e-6, pref_beta=0.3)
    (ws.saves_dir / "a" / "evaluation_results.json").write_text(json.dumps(
        {"dataset": "demo_pref_en_test", "preference_accuracy": 0.75, "reward_margin": 0.31}))
    assert runs_tab.view(manager, ["a"], "en").compare == ""  # one run: nothing to compare
    html_ = runs_tab.view(manager, ["b", "a"], "en").compare
    rows = dict(re.findall(r"<tr><td>([^<]*)</td>((?:<td>[^<]*</td>)+)</tr>", html_))
    cells = {label: re.findall(r"<td>([^<]*)</td>", row) for label, row in rows.items()}
    assert re.findall(r"<th>([^<]*)</th>", html_)[1:3] == ["b", "a"]  # a column per run
    assert cells["Learning rate · learning_rate"] == ["5e-06", "0.0001"]
    assert cells["Beta · pref_beta"] == ["0.3", "0.1"]
    assert not any("output_dir" in k or "run_name" in k or "dataset_dir" in k for k in cells)
    assert cells["Preference accuracy"] == ["–", "0.75"] and cells["Eval dataset"][1] == (
        "demo_pref_en_test")
    assert cells["Final loss"] == ["0.55", "0.4"] and cells["State"] == ["completed"] * 2
    zh = runs_tab.view(manager, ["a", "b"], "zh").compare
    assert "不同的设置" in zh and "偏好准确率" in zh and "已完成" in zh


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


def test_chart_legends_fit_their_panels():
    """Widths follow the panel (none is set: gradio autosizes); with several runs the legend
    sits under the plot, one entry per run for the loss, and the figure grows a row of room
    per two entries instead of cutting it off."""
    records = [{"step": s, "loss": 1.0 / s, "learning_rate": 2e-5,
                "rewards/chosen": 0.1 * s, "rewards/rejected": -0.1 * s} for s in range(1, 6)]
    one = plots.run_figures({"run": records}, "zh")
    assert one["loss"].layout.height == plots.HEIGHT and one["loss"].layout.legend.y == 1.02
    assert one["lr"].layout.yaxis.rangemode == "tozero"  # a constant rate is not drawn at "0"
    three = plots.run_figures({name: records for name in ("a", "b", "c")}, "en")
    loss = three["loss"]
    assert [tr.name for tr in loss.data if tr.showlegend is not False] == ["a", "b", "c"]
    assert loss.layout.legend.yref == "container" and loss.layout.legend.yanchor == "bottom"
    assert loss.layout.height == plots.HEIGHT + 2 * plots.LEGEND_ROW  # 3 entries: 2 rows
    assert loss.layout.margin.b >= 2 * plots.LEGEND_ROW + 40
    assert three["rewards"].layout.height == plots.HEIGHT + 3 * plots.LEGEND_ROW  # 6 entries
    long = plots.run_figures({"x" * 50: records, "y": records}, "en")["loss"]
    assert long.layout.legend.entrywidth == 1 and long.layout.height == plots.HEIGHT + (
        2 * plots.LEGEND_ROW)  # a long name takes a row of its own
    for fig in [*one.values(), *three.values()]:
        assert fig.layout.width is None


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


def test_model_dir_names_more_folders_models_load_from(ws, tmp_path, monkeypatch, tiny_model):
    import os

    from webui.__main__ import build_parser, main
    assert build_parser().parse_args([]).model_dir == []
    args = build_parser().parse_args(["--model-dir", str(tiny_model.parent), "--model-dir", "x"])
    assert args.model_dir == [str(tiny_model.parent), "x"]
    served = Workspace(saves_dir=ws.saves_dir, model_dirs=[tiny_model.parent])
    served.check_model(str(tiny_model))
    assert served.model_roots[-1] == tiny_model.parent.resolve()
    with pytest.raises(UserError, match="--model-dir "):
        ws.check_model(str(tiny_model))
    other = tmp_path / "more"
    other.mkdir()
    monkeypatch.setenv("PREFSTUDIO_MODEL_DIRS", f"{tiny_model}{os.pathsep}{other}")
    from_env = Workspace(saves_dir=ws.saves_dir)
    assert from_env.model_dirs == [tiny_model.resolve(), other.resolve()]
    from_env.check_model(str(tiny_model))
    monkeypatch.delenv("PREFSTUDIO_MODEL_DIRS")
    with pytest.raises(UserError, match="is not a folder"):
        Workspace(saves_dir=ws.saves_dir, model_dirs=[tmp_path / "missing"])
    with pytest.raises(SystemExit, match="error: --model-dir"):
        main(["--saves-dir", str(ws.saves_dir), "--model-dir", str(tmp_path / "missing")])


def test_model_dir_models_are_offered_in_the_model_fields(ws, tmp_path, tiny_model):
    """A server started with --model-dir /models offers /models/<each model> to pick (the top
    bar, ref_model, the Data check's model), in either language."""
    from webui.app import build_app

    models = tmp_path / "models"
    for name in ("b-model", "a-model"):
        shutil.copytree(tiny_model, models / name)
    (models / "notes").mkdir()  # not a model: not offered
    served = Workspace(saves_dir=ws.saves_dir, data_dir=ws.data_dir,
                       model_dirs=[models, tiny_model])
    local = [str(models / "a-model"), str(models / "b-model"), str(tiny_model)]
    assert served.local_models() == local and ws.local_models() == []
    assert served.pick_lists(RunManager(ws.saves_dir, max_concurrent=0))["models"] == local
    spec = forms.SPECS["model_name_or_path"]
    assert forms.suggestions(spec, "en", local)[-3:] == local
    assert forms.relabel(forms.SPECS["ref_model"], "zh", local)["choices"][-3:] == local
    app = build_app(served, RunManager(ws.saves_dir, max_concurrent=0))
    boxes = {b.elem_id: b for b in app.blocks.values()
             if getattr(b, "elem_id", None) in ("field-model_name_or_path", "data-model")}
    for box in boxes.values():
        assert [value for _, value in box.choices][-3:] == local, box.elem_id
    assert len(boxes) == 2


def test_model_paths_say_why_they_are_refused(ws, tmp_path):
    empty = ws.data_dir / "not-a-model"
    empty.mkdir()
    with pytest.raises(UserError, match="not-a-model is not a model folder .no config.json"):
        ws.check_model(str(empty))
    for typo in ("no such model", str(ws.data_dir / "sub" / "no-model-here")):
        with pytest.raises(UserError, match="is neither a hub id .* nor a model folder"):
            ws.check_model(typo, "model")
    link = ws.data_dir / "link"
    link.symlink_to(tmp_path)
    with pytest.raises(UserError, match=f"link .it leads to {tmp_path}. is outside the folders "
                                        f"the WebUI loads models from .*--model-dir {tmp_path.parent}"):
        ws.check_model(str(link))
    with pytest.raises(UserError, match="give 'demo', a hub id"):
        ws.check_model("  ")


def test_cli_defaults_are_safe(monkeypatch):
    from webui.__main__ import build_parser, parse_auth
    args = build_parser().parse_args([])
    assert args.host == "127.0.0.1" and args.share is False and args.auth is None
    assert parse_auth("me:se:cret") == ("me", "se:cret") and parse_auth(None) is None
    with pytest.raises(SystemExit):
        parse_auth("nopassword")
