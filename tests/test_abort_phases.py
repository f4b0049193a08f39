"""An abort stops a run whatever it is doing: SIGTERM while reading the data, tokenizing,
loading the model or computing the reference log-probs ends the run at once as `aborted`
(core/training/run.py sigterm_interrupts); during the final save the save finishes and the run
completes; during training with dataloader workers (processes of the trainer's group) the
trainer saves a checkpoint and stops, and no worker outlives it."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from conftest import ROOT, tiny_config
from test_runs import group_members

from core.runs.manager import RunManager
from core.runs.rundir import RunDir

SLOW = """
import importlib, pathlib, sys, time
config, target, flag = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
seconds = float(sys.argv[4])
module_name, attr = target.rsplit(".", 1)
module = importlib.import_module(module_name)
real = getattr(module, attr)

def slow(*args, **kwargs):  # the phase in progress when the signal comes
    flag.touch()
    time.sleep(seconds)
    return real(*args, **kwargs)

setattr(module, attr, slow)
from core.__main__ import main
sys.exit(main(["train", config]))
"""



def children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.Error:
        return []


def wait_for(check, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def signalled_in(target: str, seconds: float, cfg, tmp_path) -> tuple[int, float]:
    """Run `train` with `target` slowed down; SIGTERM it there. (exit code, seconds to end)."""
    cfg.save(tmp_path / "c.yaml")
    (tmp_path / "slow.py").write_text(textwrap.dedent(SLOW))
    flag = tmp_path / "reached"
    proc = subprocess.Popen([sys.executable, str(tmp_path / "slow.py"), str(tmp_path / "c.yaml"),
                             target, str(flag), str(seconds)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT),  # an empty cache
                                 "PREFSTUDIO_HOME": str(tmp_path / "home")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: flag.exists() or proc.poll() is not None, 240, target)
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        sent = time.time()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        return code, time.time() - sent
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("target", [
    "core.data.training.load_rows",  # reading the data
    "core.data.training.tokenize_checked",  # tokenizing
    "core.models.policy.load_policy",  # loading the model
    "core.methods.reference._compute",  # the reference pass
])
@pytest.mark.slow
def test_sigterm_in_set_up_ends_the_run_as_aborted_at_once(target, tiny_model, tmp_path):
    cfg = tiny_config(tiny_model, tmp_path / "run", max_steps=2)
    code, took = signalled_in(target, 300, cfg, tmp_path)
    rd = RunDir(cfg.output_dir)
    assert code == 130 and took < 30, (code, took)
    status = rd.status()
    assert status["state"] == "aborted" and status["exit_code"] == 130 and status["error"] is None
    assert not rd.checkpoints() and not rd.has_final_model()


@pytest.mark.slow
def test_sigterm_during_the_final_save_lets_it_finish(tiny_model, tmp_path):
    cfg = tiny_config(tiny_model, tmp_path / "run", max_steps=2)
    code, _ = signalled_in("core.methods.common.save_final", 3, cfg, tmp_path)
    rd = RunDir(cfg.output_dir)
    assert code == 0 and rd.status()["state"] == "completed", rd.log_tail()
    assert rd.has_final_model() and (rd.path / "adapter_config.json").is_file()
    assert "Stop requested (signal 15)" in rd.log_file.read_text()


def train_with_workers(model, tmp_path, name: str):
    """(manager, run folder, trainer pid, its dataloader workers) of an endless run started
    through a RunManager, once it trains with two workers."""
    saves = tmp_path / "saves"
    m = RunManager(saves)
    info = m.start(tiny_config(model, saves / name, max_steps=100000, save_steps=100000,
                               dataloader_num_workers=2))
    rd = RunDir(info.path)
    pid = wait_for(lambda: rd.status().get("step", 0) >= 2 and rd.status()["pid"], 300,
                   "training to start")
    workers = wait_for(lambda: len(w := children(pid)) >= 2 and w, 60, "the dataloader workers")
    return m, rd, pid, workers


@pytest.mark.slow
def test_abort_with_dataloader_workers_stops_the_whole_group(tiny_model, tmp_path):
    m, rd, pid, workers = train_with_workers(tiny_model, tmp_path, "workers")
    assert os.getpgid(pid) == pid  # the trainer leads its own group
    assert len(workers) >= 2 and all(os.getpgid(w.pid) == pid for w in workers)
    m.abort("workers")
    done = wait_for(lambda: (i := m.get("workers")).state in ("aborted", "failed")
                    and not i.alive and i, 120, "the abort")
    assert done.state == "aborted" and done.error is None, rd.log_tail()
    assert [c.complete for c in rd.checkpoints()] == [True]  # resumable where it stopped
    wait_for(lambda: not group_members(pid), 30, "every process of the group to end")
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


@pytest.mark.slow
def test_the_kill_past_the_grace_takes_the_workers_with_the_trainer(tiny_model, tmp_path):
    """What poll() does when an abort's grace is over (core.runs.procs.kill, SIGKILL to the
    trainer's group), on a trainer with live dataloader workers: none of them survives."""
    from core.runs.procs import kill

    m, rd, pid, workers = train_with_workers(tiny_model, tmp_path, "killed")
    kill(pid)
    wait_for(lambda: not group_members(pid), 30, "every process of the group to end")
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    done = wait_for(lambda: (i := state_of(m, "killed")) and not i.alive and i, 60, "the record")
    assert done.state == "failed" and [c.complete for c in rd.checkpoints()] == []


def state_of(m: RunManager, name: str):
    info = next((i for i in m.poll() if i.name == name), None)
    return info if info and info.state in ("aborted", "failed", "completed") else None


def test_a_stop_during_the_last_step_completes_the_run(tiny_model, tmp_path, monkeypatch):
    """Training is over at the last step anyway: the run saves its final model and completes
    (a resume would have nothing left to train)."""
    from core.methods.callbacks import GracefulStop
    from core.training.run import run

    real = GracefulStop.on_step_end

    def stopping(self, args, state, control, **kw):
        if state.global_step == state.max_steps:
            self.rd.stop_file.touch()
        return real(self, args, state, control, **kw)

    monkeypatch.setattr(GracefulStop, "on_step_end", stopping)
    rd = run(tiny_config(tiny_model, tmp_path / "run", max_steps=2))
    assert rd.status()["state"] == "completed" and rd.has_final_model()
