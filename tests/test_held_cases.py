"""Cases of the hardening sweep that held, proven here where no other test did: zero-byte
files in a run folder and a full disk while saving are survived and resumed, shell
metacharacters in a run's name reach the launched process literally, YAML tags are refused
and never construct anything, and the WebUI never sets trust_remote_code."""
import errno
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from core.config import ConfigError, RunConfig
from core.runs.manager import RunManager
from core.runs.rundir import RunDir
from core.training.run import run


@pytest.mark.slow
def test_zero_byte_files_are_survived_and_resumed(tiny_model, tmp_path, caplog):
    caplog.set_level("INFO")
    cfg = tiny_config(tiny_model, tmp_path / "run", save_steps=1)
    rd = run(cfg)
    (rd.path / "checkpoint-3" / "adapter_model.safetensors").write_bytes(b"")
    rd.status_file.write_bytes(b"")
    rd.metrics_file.write_bytes(b"")
    assert rd.status() == {} and rd.metrics() == []
    assert [(c.step, c.complete) for c in rd.checkpoints()] == [(1, True), (2, True), (3, False)]
    resumed = run(cfg.replace(resume_from_checkpoint=True, max_steps=4))
    log = resumed.log_file.read_text()
    assert "checkpoint-3: adapter_model.safetensors has 0 bytes" in log
    assert "Resuming from" in log and "checkpoint-2 (newest complete" in log
    assert resumed.status()["state"] == "completed" and resumed.status()["step"] == 4


@pytest.mark.slow
def test_a_full_disk_while_saving_fails_the_run_and_it_resumes(tiny_model, tmp_path, monkeypatch,
                                                               caplog):
    caplog.set_level("INFO")
    real = torch.save

    def full_disk(obj, f, *args, **kwargs):  # the disk fills up while checkpoint-2 is written
        if "checkpoint-2" in str(f) and str(f).endswith("optimizer.pt"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    cfg = tiny_config(tiny_model, tmp_path / "run", save_steps=1)
    with pytest.raises(OSError, match="No space left on device"):
        run(cfg)
    rd = RunDir(cfg.output_dir)
    status = rd.status()
    assert status["state"] == "failed" and "No space left on device" in status["error"]
    assert [(c.step, c.complete) for c in rd.checkpoints()] == [(1, True), (2, False)]

    monkeypatch.setattr(torch, "save", real)  # space freed
    resumed = run(cfg.replace(resume_from_checkpoint=True))
    log = resumed.log_file.read_text()
    assert "checkpoint-2: no COMPLETE marker" in log and "checkpoint-1 (newest complete" in log
    assert resumed.status()["state"] == "completed" and resumed.status()["step"] == 3
    assert [c.step for c in resumed.checkpoints() if c.complete] == [1, 2, 3]


def test_shell_metacharacters_reach_the_launched_process_literally(tmp_path):
    """The RunManager launches an argument list, never a shell: a run name full of shell syntax
    is one argument, and nothing in it runs."""
    short = Path(tempfile.mkdtemp(prefix="c", dir="/tmp"))  # the name stays < 200 bytes
    seen, canary = tmp_path / "argv.json", short / "p"
    fake = tmp_path / "python"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"json.dump(sys.argv[1:], open({str(seen)!r}, 'w'))\n")
    fake.chmod(0o755)
    name = f"x; touch {canary} $(touch {canary}) `touch {canary}` | & > '\" *"
    name = name.replace("/", "_")  # a run name is one folder
    m = RunManager(tmp_path / "saves", python=str(fake))
    m.start(RunConfig(model_name_or_path=str(tmp_path / "model"), run_name=name,
                      dataset="demo_pref_en"))
    deadline = time.time() + 30
    while not seen.exists() and time.time() < deadline:
        time.sleep(0.1)
    argv = json.loads(seen.read_text())
    assert argv == ["-m", "core", "train", str(tmp_path / "saves" / name / "config.yaml")]
    assert not canary.exists() and not list(short.iterdir())
    short.rmdir()


@pytest.mark.parametrize("tagged", [
    "model_name_or_path: !!python/object/apply:os.system ['touch {canary}']\n",
    "learning_rate: !!python/name:os.system\n",
    "dataset: !custom {{a: 1}}\n",
])
def test_yaml_tags_are_refused_and_construct_nothing(tagged, tmp_path):
    canary = tmp_path / "pwned"
    path = tmp_path / "c.yaml"
    path.write_text(tagged.format(canary=canary))
    with pytest.raises(ConfigError, match="not valid YAML.*could not determine a constructor"):
        RunConfig.load(path)
    assert not canary.exists()


def test_the_webui_never_sets_trust_remote_code(tmp_path):
    from webui import forms
    from webui.config_files import load_yaml
    from webui.workspace import Workspace

    ws = Workspace(tmp_path / "saves", tmp_path / "data")
    yaml_path = tmp_path / "saves" / "remote.yaml"
    RunConfig(model_name_or_path="org/model", trust_remote_code=True).save(yaml_path)
    values, note = load_yaml(ws, str(yaml_path))
    assert note == "trust_remote_code is never set from the WebUI."
    cfg, problems = forms.build_config(values, ws)
    assert cfg is not None and cfg.trust_remote_code is False
