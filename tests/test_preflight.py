"""The dry run before training (core.training.preflight) and `python -m core train --check`:
refusals from the data, the stage, the registry, the model, the config and the output folder
are findings with the key they concern and exit 1; a good config exits 0 with a summary; a
resume names the settings that changed; nothing is written.
Run: pytest -q tests/test_preflight.py"""
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, tiny_config

from core.__main__ import main
from core.runs.placement import resume_settings
from core.runs.rundir import RunDir, mark_complete
from core.training.preflight import Finding, preflight, refused

DEMO = str(ROOT / "examples" / "dpo_demo.yaml")


def files_under(*folders) -> dict[str, int]:
    """Every file under `folders` with its modification time: what a dry run must not touch."""
    return {str(p): p.stat().st_mtime_ns for folder in folders for p in folder.rglob("*")}


def check(capsys, *args: str) -> tuple[int, str]:
    """`python -m core train --check ARGS` in this process: (exit code, what it printed)."""
    code = main(["train", "--check", *args])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("overrides, key, says", [
    (["cutoff_len=16", "truncation=drop"], "dataset", "longer than cutoff_len 16 (truncation drop)"),
    (["stage=grpo"], "reward_answer_column", "no column 'answer' for answer_match"),
    (["dataset=nope"], "dataset", "unknown dataset 'nope'"),
    (["model_name_or_path=no-such/model"], "model_name_or_path", "'no-such/model' is not a local"),
    (["pref_beta=0"], "pref_beta", "must be greater than 0"),
])
def test_check_refuses_with_findings(overrides, key, says, capsys, tmp_path):
    out = tmp_path / "run"
    code, printed = check(capsys, DEMO, f"dataset_dir={ROOT / 'data'}", f"output_dir={out}",
                          *overrides)
    assert code == 1 and says in printed and f"error: {key}: " in printed, printed
    assert printed.rstrip().splitlines()[-1].startswith("refused: ")
    assert not out.exists()


@pytest.mark.slow
def test_check_passes_a_good_config_and_writes_nothing(tmp_path, prefstudio_home):
    """The demo config, run as a user would from their own folder (output_dir saves/demo-dpo
    relative to it): exit 0, one summary line, no file written anywhere we look."""
    before = files_under(tmp_path, prefstudio_home, ROOT / "data")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "core", "train", "--check", DEMO,
                           f"dataset_dir={ROOT / 'data'}"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ok: "), done.stdout
    assert f"the run goes to {tmp_path / 'saves' / 'demo-dpo'}" in lines[0]
    assert "300 training rows" in lines[0]
    assert files_under(tmp_path, prefstudio_home, ROOT / "data") == before


def test_unknown_keys_are_findings_too(capsys):
    code, printed = check(capsys, DEMO, "lora_rnak=4")
    assert code == 1 and "unknown key 'lora_rnak'" in printed and "lora_rank" in printed


def fake_checkpoint(cfg, step: int = 1) -> RunDir:
    """A run folder as an abort leaves it: a complete checkpoint whose marker records `cfg`."""
    rd = RunDir(cfg.output_dir)
    folder = rd.path / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    mark_complete(folder, step, resume_settings(cfg))
    rd.update_status(state="aborted", step=step)
    return rd


def test_placement_and_resume_findings(tiny_model, tmp_path):
    cfg = tiny_config(tiny_model, tmp_path / "run")
    rd = fake_checkpoint(cfg)
    before = files_under(tmp_path)

    found = preflight(cfg)  # a fresh start over a checkpoint
    assert refused(found) and found[-1].key == "output_dir"
    assert "already holds a run" in found[-1].message

    found = preflight(cfg.replace(resume_from_checkpoint=True, max_steps=9, learning_rate=0.01))
    assert not refused(found)
    warning = next(f for f in found if f.severity == "warning")
    assert warning.key == "resume_from_checkpoint"
    assert "max_steps (3 -> 9)" in warning.message
    assert "learning_rate (0.001 -> 0.01)" in warning.message
    resumes = Finding("resume_from_checkpoint", f"resumes from {rd.path / 'checkpoint-1'}", "info")
    assert resumes in found

    found = preflight(cfg.replace(resume_from_checkpoint=True, finetuning_type="full"))
    assert refused(found)
    assert [f.key for f in found if f.severity == "error"] == ["resume_from_checkpoint"]
    assert "finetuning_type ('lora' -> 'full')" in found[0].message
    assert files_under(tmp_path) == before


def test_a_folder_in_use_is_refused(tiny_model, tmp_path):
    import fcntl

    cfg = tiny_config(tiny_model, tmp_path / "busy")
    rd = RunDir(cfg.output_dir)
    rd.path.mkdir()
    with open(rd.lock_file, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a trainer holds it
        found = preflight(cfg)
    assert refused(found) and "in use by another training process" in found[-1].message


def test_warnings_for_records_skipped_under_max_bad_ratio(tiny_model, tmp_path):
    found = preflight(tiny_config(tiny_model, tmp_path / "run", cutoff_len=40, truncation="drop",
                                  max_bad_ratio=0.9, max_samples=None))
    assert not refused(found), found
    skipped = [f for f in found if f.key == "max_bad_ratio"]
    assert skipped and skipped[0].severity == "warning" and "would be skipped" in skipped[0].message
    named = [f for f in found if f.key == "dataset" and f.severity == "warning"]
    assert named and "demo_pref_en.json" in named[0].message
    assert json.dumps([str(f) for f in found])  # every finding prints


def test_a_run_folder_below_a_file_is_refused_before_launch(tmp_path):
    """A file where the run folder's parent would be: a finding naming output_dir, not a crash
    (status.json cannot be read through a file either)."""
    (tmp_path / "a-file").write_text("x")
    cfg = tiny_config("demo", tmp_path / "a-file" / "run")
    errors = [f for f in preflight(cfg) if f.severity == "error"]
    assert [f.key for f in errors] == ["output_dir"] and "a-file is a file" in errors[0].message
    assert RunDir(tmp_path / "a-file" / "run").status() == {}
