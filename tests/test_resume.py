"""Checkpoints and resume: 3 steps + resume equals 6 straight steps (weights and metrics), a
process killed with SIGKILL while writing a checkpoint resumes from the previous complete one,
incomplete/corrupt checkpoints are reported and never loaded, save_total_limit counts complete
checkpoints only, resuming loads with weights_only, and a resume with a changed config is
logged (max_steps, ...) or refused (another model, finetuning_type, ...)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from conftest import ROOT, tiny_config
from safetensors.torch import load_file

from core.errors import UserError
from core.methods.callbacks import GracefulStop
from core.runs.manager import RunManager
from core.runs.placement import resume_settings
from core.runs.rundir import MARKER, RunDir, config_hash
from core.training.run import run

TIMING = {"elapsed_s", "eta_s", "samples_per_s", "pairs_per_s", "tokens_per_s", "train_runtime",
          "train_samples_per_second", "train_steps_per_second", "eval_runtime",
          "eval_samples_per_second", "eval_steps_per_second", "step_time"}
STAGES = {"dpo": {}, "sft": {"dataset": "demo_sft"}}


def parity_config(model, out, stage: str, **overrides):
    # Two batches per step and 16 records: 4 steps an epoch, so the resume point (step 3) is
    # mid-epoch and step 5 starts a reshuffled epoch.
    return tiny_config(model, out, stage=stage, max_steps=6, save_steps=3,
                       gradient_accumulation_steps=2, **STAGES[stage], **overrides)


def steps(rd: RunDir) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in TIMING} for m in rd.metrics() if "loss" in m]


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_resume_matches_a_straight_run(stage, tiny_model, tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO")  # train.log gets what the root logger passes on
    straight = run(parity_config(tiny_model, tmp_path / "straight", stage))

    stop_at_3 = GracefulStop.on_step_end

    def stopping(self, args, state, control, **kw):
        if state.global_step == 3:
            self.rd.stop_file.touch()  # as the WebUI's abort does
        return stop_at_3(self, args, state, control, **kw)

    monkeypatch.setattr(GracefulStop, "on_step_end", stopping)
    first = run(parity_config(tiny_model, tmp_path / "split", stage))
    assert first.status()["state"] == "aborted" and first.status()["step"] == 3
    monkeypatch.setattr(GracefulStop, "on_step_end", stop_at_3)
    first.stop_file.unlink()

    loads = []
    torch_load = torch.load

    def spy(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return torch_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    resumed = run(parity_config(tiny_model, tmp_path / "split", stage, resume_from_checkpoint=True))
    assert loads and all(w is True for w in loads)  # rng, optimizer, scheduler: never pickles
    after = resumed.log_file.read_text().rsplit("Resuming from", 1)[1]
    assert "step 4/6" in after and "step 3/6" not in after  # steps 1-3 were not trained again
    assert resumed.status()["state"] == "completed" and resumed.status()["step"] == 6

    a = load_file(straight.path / "adapter_model.safetensors")
    b = load_file(resumed.path / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6, rtol=0), key
    assert steps(resumed) == steps(straight)
    assert [m["step"] for m in steps(resumed)] == [1, 2, 3, 4, 5, 6]
    # The end-of-run summary: same fields (train_loss covers each process's own steps).
    summary = [set(m) - TIMING for m in (straight.metrics()[-1], resumed.metrics()[-1])]
    assert summary[0] == summary[1] and "train_loss" in summary[0]


KILLED = """
import sys, time
from pathlib import Path
import core.methods.callbacks
from core.config import RunConfig
from core.training.run import run

mark = core.methods.callbacks.mark_complete

def slow(folder, step, *args):  # checkpoint-3 is written, its marker never is: SIGKILL arrives
    if step == 3:
        Path(sys.argv[2]).touch()
        time.sleep(300)
    mark(folder, step, *args)

core.methods.callbacks.mark_complete = slow
run(RunConfig.load(sys.argv[1]))
"""


def test_a_signal_during_the_ranks_agreement_stops_every_rank_at_the_next_step(tmp_path,
                                                                               monkeypatch):
    """A signal that comes while any_rank waits for the other ranks is handled when the
    all-reduce returns. The rank must not stop alone on it (the others, not asked, go on to the
    next step and would wait on its gradients forever): all stop at the next step end."""
    import core.methods.callbacks as callbacks
    from transformers import TrainerControl

    stop = GracefulStop(RunDir(tmp_path))

    def all_reduce_then_signal(flag, device):
        stop._on_signal(signal.SIGTERM, None)
        return flag  # no other rank was asked

    monkeypatch.setattr(callbacks, "any_rank", all_reduce_then_signal)
    control = TrainerControl()
    stop.on_step_end(None, None, control)
    assert stop.requested and not stop.stopping
    assert not control.should_training_stop and not control.should_save

    monkeypatch.setattr(callbacks, "any_rank", lambda flag, device: flag)
    stop.on_step_end(None, None, control)
    assert stop.stopping and control.should_training_stop and control.should_save


@pytest.mark.slow
def test_sigkill_while_saving_resumes_from_the_previous_checkpoint(tiny_model, tmp_path, caplog):
    caplog.set_level("INFO")
    cfg = tiny_config(tiny_model, tmp_path / "run", max_steps=4, save_steps=1)
    cfg.save(tmp_path / "c.yaml")
    (tmp_path / "killed.py").write_text(textwrap.dedent(KILLED))
    saving = tmp_path / "saving"
    proc = subprocess.Popen([sys.executable, str(tmp_path / "killed.py"), str(tmp_path / "c.yaml"),
                             str(saving)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not saving.exists():
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.time() < deadline, "the run never reached checkpoint-3"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    rd = RunDir(tmp_path / "run")
    found = {c.step: c.complete for c in rd.checkpoints()}
    assert found == {1: True, 2: True, 3: False}
    assert rd.status()["state"] == "running"  # nobody could record the kill

    resumed = run(cfg.replace(resume_from_checkpoint=True))
    log = resumed.log_file.read_text()
    assert "Skipping" in log and "checkpoint-3: no COMPLETE marker" in log
    assert "Resuming from" in log and "checkpoint-2 (newest complete" in log
    assert resumed.status()["state"] == "completed" and resumed.status()["step"] == 4
    assert [c.step for c in resumed.checkpoints() if c.complete] == [1, 2, 3, 4]
    assert [m["step"] for m in resumed.metrics() if "loss" in m] == [1, 2, 3, 4]


@pytest.mark.slow
def test_incomplete_and_corrupt_checkpoints_are_never_loaded(tiny_model, tmp_path, caplog):
    caplog.set_level("INFO")
    cfg = tiny_config(tiny_model, tmp_path / "run", save_steps=1)
    rd = run(cfg)
    with open(rd.path / "checkpoint-3" / "optimizer.pt", "r+b") as f:
        f.truncate(100)  # a torn write
    (rd.path / "checkpoint-2" / MARKER).unlink()
    with pytest.raises(UserError, match="checkpoint-3 is incomplete \\(optimizer.pt has 100 bytes"):
        run(cfg.replace(resume_from_checkpoint=str(rd.path / "checkpoint-3")))
    with pytest.raises(UserError, match="checkpoint-1 is older than checkpoint-3|incomplete"):
        run(cfg.replace(resume_from_checkpoint=str(rd.path / "checkpoint-2")))
    resumed = run(cfg.replace(resume_from_checkpoint=True))
    log = resumed.log_file.read_text()
    assert "checkpoint-3: optimizer.pt has 100 bytes" in log and "Resuming from" in log
    assert f"{rd.path / 'checkpoint-1'} (newest complete checkpoint)" in log
    assert [c.step for c in resumed.checkpoints() if c.complete] == [1, 2, 3]


@pytest.mark.slow
def test_refuses_to_resume_behind_newer_complete_checkpoints(tiny_model, tmp_path):
    cfg = tiny_config(tiny_model, tmp_path / "run", save_steps=1, save_total_limit=2)
    rd = run(cfg)
    assert [(c.step, c.complete) for c in rd.checkpoints()] == [(2, True), (3, True)]
    with pytest.raises(UserError, match="checkpoint-2 is older than checkpoint-3.*output_dir=NEW"):
        run(cfg.replace(resume_from_checkpoint=str(rd.path / "checkpoint-2")))
    elsewhere = run(cfg.replace(output_dir=str(tmp_path / "new"), max_steps=4,
                                resume_from_checkpoint=str(rd.path / "checkpoint-2")))
    assert elsewhere.status()["state"] == "completed"
    assert [m["step"] for m in elsewhere.metrics() if "loss" in m] == [3, 4]


@pytest.mark.slow
def test_resume_with_a_changed_config(tiny_model, tiny_qwen3, tmp_path, caplog):
    """The marker records the run's settings: other max_steps resume with a warning naming
    them; another finetuning_type or model is refused, by run() and RunManager.resume alike,
    before anything is written. A marker from before settings were recorded resumes unchecked."""
    caplog.set_level("INFO")
    cfg = tiny_config(tiny_model, tmp_path / "run", max_steps=2, save_steps=1)
    rd = run(cfg)
    marker = json.loads((rd.path / "checkpoint-2" / MARKER).read_text())
    assert marker["step"] == 2 and "adapter_model.safetensors" in marker["files"]
    assert marker["config"] == resume_settings(cfg) and marker["config_hash"] == config_hash(
        resume_settings(cfg.replace(output_dir="elsewhere", run_name="other")))

    for key, value in (("finetuning_type", "full"), ("model_name_or_path", str(tiny_qwen3)),
                       ("lora_rank", 4)):
        status = rd.status_file.read_text()
        with pytest.raises(UserError, match=f"checkpoint-2 was saved with another {key} "):
            run(cfg.replace(resume_from_checkpoint=True, **{key: value}))
        assert rd.status_file.read_text() == status and len(rd.checkpoints()) == 2

    rd.update_status(state="aborted")  # as the Runs tab offers it
    with pytest.raises(UserError, match=r"finetuning_type \('lora' -> 'full'\)"):
        RunManager(tmp_path, max_concurrent=0).resume("run", overrides=["finetuning_type=full"])
    assert rd.status()["state"] == "aborted"

    resumed = run(cfg.replace(resume_from_checkpoint=True, max_steps=3, learning_rate=2e-3))
    log = resumed.log_file.read_text()
    assert "Resuming checkpoint-2 with changed settings: learning_rate (0.001 -> 0.002), " \
           "max_steps (2 -> 3)" in log
    assert resumed.status()["state"] == "completed" and resumed.status()["step"] == 3

    old = rd.path / "checkpoint-3" / MARKER  # written before markers held settings
    data = json.loads(old.read_text())
    old.write_text(json.dumps({"step": data["step"], "files": data["files"]}))
    again = run(cfg.replace(resume_from_checkpoint=True, max_steps=4))
    after = again.log_file.read_text().rsplit("Resuming from", 1)[1]
    assert "changed settings" not in after and again.status()["step"] == 4
