"""RunManager with real training subprocesses on the tiny model: start and queue, the run lock,
abort (graceful and escalated to SIGKILL), resume, a restarted manager re-attaching, runs
started from the shell, and stale statuses. Run: pytest -q tests/test_runs.py"""
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from conftest import ROOT, tiny_config

from core.config import ConfigError
from core.errors import UserError
from core.runs.failure import explain
from core.runs.info import (
    ABORT_GRACE_S,
    ABORT_STEPS,
    ACTIONS,
    GONE,
    SAVE_GRACE_S,
    RunInfo,
    abort_deadline,
    refusal,
)
from core.runs.manager import RunManager
from core.runs.rundir import FINAL_STATES, RunDir


def wait_for(check, timeout=120.0, what="condition", interval=0.2):
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def state_of(m: RunManager, name: str, states=("completed",)):
    """poll(), then the run's RunInfo when it is in one of `states`."""
    info = next((i for i in m.poll() if i.name == name), None)
    return info if info and info.state in states else None


def unplaced(model, **overrides):
    """A config without output_dir: the manager puts it under saves/."""
    return tiny_config(model, "unused", output_dir=None, **overrides)


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of a process group; orphaned zombies may wait for a
    reaper that this container's init never runs."""
    out = []
    for p in psutil.process_iter(["status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (ProcessLookupError, psutil.Error):
            continue
    return out


def write_status(rd: RunDir, **status):
    rd.path.mkdir(parents=True, exist_ok=True)
    rd.status_file.write_text(json.dumps(status))


def dead_pid() -> tuple[int, float]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    created = psutil.Process(proc.pid).create_time()
    proc.wait()
    return proc.pid, created


# --- no training process ---------------------------------------------------------------------
def test_bad_config_and_bad_folders_write_nothing(tmp_path):
    m = RunManager(tmp_path / "saves", max_concurrent=0)
    with pytest.raises(ConfigError, match="stage"):
        m.start(tiny_config(tmp_path / "model", tmp_path / "saves" / "bad", stage="bogus"))
    assert not (tmp_path / "saves" / "bad").exists()
    with pytest.raises(UserError, match="not inside the saves folder"):
        m.start(tiny_config(tmp_path / "model", tmp_path / "elsewhere"))
    assert not (tmp_path / "elsewhere").exists()
    done = RunDir(tmp_path / "saves" / "done")
    write_status(done, state="completed", pid=None)
    with pytest.raises(UserError, match="already holds a run"):
        m.start(tiny_config(tmp_path / "model", done.path))
    with pytest.raises(UserError, match="no complete checkpoint"):
        m.start(tiny_config(tmp_path / "model", done.path, resume_from_checkpoint=True))
    assert not done.config.exists()


def test_queue_lives_in_run_dirs(tmp_path):
    """max_concurrent=0 holds the queue: order, a second manager, abort and delete of queued runs."""
    saves = tmp_path / "saves"
    m = RunManager(saves, max_concurrent=0)
    first = m.start(unplaced(tmp_path / "model", run_name="first"))
    second = m.start(unplaced(tmp_path / "model"))  # default name under saves/
    assert (first.state, first.pid, first.alive) == ("queued", None, False)
    assert second.path.parent == saves.resolve() and second.name.startswith("dpo-demo_pref_en-")
    assert RunDir(first.path).config.is_file() and RunDir(first.path).status()["queued_at"]

    again = RunManager(saves, max_concurrent=0)  # a restarted server sees the same queue
    assert [i.name for i in again.poll()] == [second.name, first.name]  # newest first
    assert [i.queue_position for i in again.list()] == [2, 1]  # launched oldest first
    assert again.get("first").queue_position == 1 and again.get(second.name).queue_position == 2
    assert again.get("first").age_s is None  # queued, never started
    with pytest.raises(UserError, match="queued already"):
        again.start(tiny_config(tmp_path / "model", first.path))
    aborted = again.abort("first")
    assert aborted.state == "aborted" and not aborted.alive and aborted.pid is None
    assert aborted.queue_position is None and again.get(second.name).queue_position == 1
    again.delete(second.name)
    assert not second.path.exists()
    (tmp_path / "elsewhere").mkdir()
    for target in (tmp_path / "elsewhere", saves, "../elsewhere"):
        with pytest.raises(UserError, match="not inside the saves folder"):
            again.delete(target)
    assert (tmp_path / "elsewhere").is_dir() and saves.is_dir()


def test_stale_status_reads_failed_unless_the_lock_is_held(tmp_path):
    m = RunManager(tmp_path / "saves", max_concurrent=0)
    pid, created = dead_pid()
    stale, locked = RunDir(tmp_path / "saves" / "stale"), RunDir(tmp_path / "saves" / "locked")
    reused = RunDir(tmp_path / "saves" / "reused")  # our own pid, but created long before
    for rd, p, t in ((stale, pid, created), (locked, pid, created), (reused, os.getpid(), 1000.0)):
        write_status(rd, state="running", pid=p, pid_started_at=t, started_at=time.time())
    info = m.get("stale")
    assert (info.state, info.error, info.alive) == ("failed", GONE, False)
    assert stale.status()["state"] == "running"  # reading never writes
    with open(locked.lock_file, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a trainer still holds it
        by_name = {i.name: i for i in m.poll()}
        assert by_name["locked"].state == "running" and by_name["locked"].alive
        assert locked.status()["state"] == "running"
    assert by_name["reused"].state == "failed"
    assert stale.status()["state"] == "failed" and stale.status()["error"] == GONE
    m.poll()
    assert locked.status()["state"] == "failed"


def refused_by_manager(call, *args, **kwargs) -> str:
    """The UserError message a RunManager call raises."""
    with pytest.raises(UserError) as e:
        call(*args, **kwargs)
    return str(e.value)


def allowed(info) -> set[str]:
    return {action for action in ACTIONS if refusal(info, action) is None}


def test_run_actions_follow_one_rule(tmp_path):
    """core.runs.info.refusal decides what a run allows; RunManager raises its reason."""
    saves = tmp_path / "saves"
    m = RunManager(saves, max_concurrent=0)
    for name, state in (("done", "completed"), ("stopped", "aborted"), ("bare", "aborted"),
                        ("final", "failed")):
        rd = RunDir(saves / name)
        write_status(rd, state=state, pid=None)
        if name != "bare":
            tiny_config(tmp_path / "model", rd.path).save(rd.config)
    (saves / "final" / "adapter_model.safetensors").write_bytes(b"weights")
    m.start(unplaced(tmp_path / "model", run_name="waiting"))

    assert allowed(m.get("done")) == {"delete", "load"}
    for action, call in (("abort", m.abort), ("resume", m.resume)):
        reason = refusal(m.get("done"), action)
        assert reason.startswith("done is completed; only a")
        assert refused_by_manager(call, "done") == reason
    assert allowed(m.get("stopped")) == {"resume", "delete", "load"}
    assert allowed(m.get("waiting")) == {"abort", "delete", "load"}
    assert "only an aborted or failed run" in refused_by_manager(m.resume, "waiting")
    assert allowed(m.get("bare")) == {"delete"}
    assert "config.yaml is missing" in refused_by_manager(m.resume, "bare")
    assert allowed(m.get("final")) == {"delete", "load"}
    assert "final model but no complete checkpoint" in refused_by_manager(m.resume, "final")
    for name, step in (("early", 0), ("midway", 4)):  # failed before its first step, or after
        rd = RunDir(saves / name)
        write_status(rd, state="failed", pid=None, step=step)
        tiny_config(tmp_path / "model", rd.path).save(rd.config)
    assert allowed(m.get("early")) == {"delete", "load"}
    assert "failed before its first step" in refused_by_manager(m.resume, "early")
    assert allowed(m.get("midway")) == {"resume", "delete", "load"}
    with pytest.raises(ValueError, match="unknown run action"):
        refusal(m.get("done"), "rename")

    pid, created = dead_pid()
    busy = RunDir(saves / "busy")
    write_status(busy, state="running", pid=pid, pid_started_at=created, started_at=time.time())
    with open(busy.lock_file, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # alive: a trainer holds the lock
        assert allowed(m.get("busy")) == {"abort"}
        assert "abort it first" in refused_by_manager(m.delete, "busy")
        assert "still running" in refused_by_manager(m.resume, "busy")
        info = m.abort("busy")  # alive by its lock only: a STOP file asks it to stop
        assert info.stopping and busy.stop_file.exists() and allowed(info) == set()
        assert refused_by_manager(m.abort, "busy") == refusal(info, "abort")
        assert "stopping already" in refusal(info, "abort")
        m.abort("busy", grace_s=5)  # a shorter grace is not refused: it escalates
        assert busy.status()["abort_grace_s"] == 5


def test_launch_that_dies_before_training_reads_failed(tmp_path):
    """A trainer that exits before writing `running` (e.g. a refused config): its one-line
    error from train.log becomes the run's error."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'error: output_dir: refused for a reason' >&2\nexit 2\n")
    fake.chmod(0o755)
    m = RunManager(tmp_path / "saves", python=str(fake))
    info = m.start(unplaced(tmp_path / "model", run_name="dud"))
    assert info.pid
    info = wait_for(lambda: state_of(m, "dud", ("failed",)), 20, "the launch to fail")
    assert info.error == "ended before training started: output_dir: refused for a reason"
    assert info.exit_code == 2 and RunDir(info.path).status()["state"] == "failed"
    failure = explain(info, RunDir(info.path).log_tail(30))
    assert failure.headline == "output_dir: refused for a reason"
    assert (failure.key, failure.group, failure.before_training) == ("output_dir", "output", True)
    assert "failed before its first step" in refused_by_manager(m.resume, "dud")


@pytest.mark.parametrize("error, log, headline, fix", [
    ("UserError: 2 of 9 records are bad (22.2%), above max_bad_ratio 0.0:\n  d.json:3 prompt: "
     "prompt has 21 tokens, no room for the answer at cutoff_len 16; raise cutoff_len or "
     "shorten it\nrun `python -m core data check d --stage dpo` to see them all, fix the data, "
     "or raise max_bad_ratio to train on the good records", "",
     "2 of 9 records are bad (22.2%), above max_bad_ratio 0.0: d.json:3 prompt: prompt has 21 "
     "tokens, no room for the answer at cutoff_len 16; raise cutoff_len or shorten it",
     ("cutoff_len", "data", "raise", True)),
    ("UserError: 2 of 9 records are bad (22.2%), above max_bad_ratio 0.0:\n  d.json:3 chosen: "
     "empty text\nrun `python -m core data check d` to see them all, fix the data, or raise "
     "max_bad_ratio to train on the good records", "", None, ("max_bad_ratio", "data", "raise",
                                                               True)),
    ("ConfigError: saves/x/config.yaml: 2 problems:\n  - learning_rate: -1.0 must be > 0\n"
     "  - lora_rank: 0 must be >= 1", "", "2 problems: learning_rate: -1.0 must be > 0",
     ("learning_rate", "optimisation", None, False)),
    ("OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "",
     "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
     ("per_device_train_batch_size", "optimisation", "lower", False)),
    ("UserError: flash_attn: fa2 needs a CUDA GPU and the flash-attn package; use flash_attn: "
     "auto", "", None, ("flash_attn", "model", None, False)),
    (GONE, "step 3\nTraceback (most recent call last):\n  x\nKeyError: 'rewards/chosen'\n",
     "KeyError: 'rewards/chosen'", (None, None, None, False)),
    ("ended before training started (see train.log)", "error: ValueError: bad shape (run with "
     "-v for the traceback)\n", "ValueError: bad shape", (None, None, None, False)),
    (GONE, "", GONE, (None, None, None, False)),
    ("UserError: " + "x" * 500, "", "x" * 239 + "…", (None, None, None, False)),
])
def test_a_failure_reads_as_one_headline_and_the_key_to_change(error, log, headline, fix):
    info = RunInfo("r", ROOT, "failed", step=0, error=error)
    failure = explain(info, log)
    assert (failure.key, failure.group, failure.change, failure.data_check) == fix
    assert "\n" not in failure.headline and not failure.headline.startswith(("UserError",
                                                                             "ConfigError"))
    assert failure.headline == (headline or failure.headline) and failure.detail == error
    assert failure.before_training and failure.log == log
    assert explain(RunInfo("r", ROOT, "aborted", error=error), log) is None


STUBBORN = textwrap.dedent("""
    import json, os, signal, subprocess, sys, time
    import psutil
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen([sys.executable, "-c", "import signal, time; "
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"])
    status = {"state": "running", "pid": os.getpid(), "step": 1, "total_steps": 10,
              "pid_started_at": psutil.Process().create_time(), "started_at": time.time()}
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump(status, f)
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(300)
""")


@contextlib.contextmanager
def stubborn_run(tmp_path, name: str = "stubborn") -> Iterator[tuple[RunManager, RunDir, Any]]:
    """A `running` run (with a child in its group) that ignores SIGTERM: (manager, run folder,
    process); nothing of it is left afterwards."""
    rd = RunDir(tmp_path / "saves" / name)
    rd.path.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN, str(rd.status_file)],
                            start_new_session=True)
    try:
        m = RunManager(tmp_path / "saves")
        wait_for(lambda: rd.status_file.exists() and m.get(name).alive
                 and len(group_members(proc.pid)) == 2, 30,
                 "the stub and its child")
        yield m, rd, proc
    finally:  # leave nothing behind if an assertion failed early
        for p in group_members(proc.pid):
            p.kill()


def test_abort_escalates_to_sigkill_of_the_group(tmp_path):
    """A run that ignores SIGTERM (as does its child) is killed, group and all, after the grace."""
    with stubborn_run(tmp_path) as (m, rd, proc):
        info = m.abort("stubborn", grace_s=1.0)
        assert info.stopping and info.state == "running"
        assert rd.status()["abort_requested_at"] and rd.status()["abort_pid"] == proc.pid
        assert m.poll()[0].state == "running"  # SIGTERM ignored, grace not over yet
        info = wait_for(lambda: state_of(m, "stubborn", ("aborted",)), 10, "the SIGKILL")
        assert "killed" in info.error and rd.status()["exit_code"] == -signal.SIGKILL
        assert proc.wait(timeout=10) == -signal.SIGKILL
        wait_for(lambda: not group_members(proc.pid), 10, "the whole group to die")
        assert not m.get("stubborn").alive


def test_the_abort_deadline_allows_slow_steps_and_the_save_in_progress():
    """An explicit grace is exact; otherwise ABORT_GRACE_S or ABORT_STEPS steps (from eta_s),
    and SAVE_GRACE_S from the start of this process's last save (saving_at)."""
    t0 = 10_000.0
    asked = {"abort_requested_at": t0, "started_at": t0 - 500}
    assert abort_deadline({**asked, "abort_grace_s": 1.0}) == t0 + 1.0
    assert abort_deadline(asked) == t0 + ABORT_GRACE_S  # its step time is not known yet
    slow = {**asked, "step": 10, "total_steps": 20, "eta_s": 600.0}  # 60 s a step
    assert abort_deadline(slow) == t0 + ABORT_STEPS * 60.0
    assert abort_deadline({**slow, "eta_s": 10.0}) == t0 + ABORT_GRACE_S  # 1 s a step
    saving = {**slow, "saving_at": t0 + 20}
    assert abort_deadline(saving) == t0 + 20 + SAVE_GRACE_S
    past_run = {**saving, "saving_at": t0 - 600}  # before this process started
    assert abort_deadline(past_run) == t0 + ABORT_STEPS * 60.0
    assert abort_deadline({**saving, "abort_grace_s": 5.0}) == t0 + 5.0


def test_an_abort_waits_for_the_save_in_progress_then_kills(tmp_path):
    """Past the step's allowance a run that is saving is not killed, until SAVE_GRACE_S after
    its save began; the Runs tab says it is saving."""
    with stubborn_run(tmp_path) as (m, rd, proc):
        m.abort("stubborn")
        assert rd.status()["abort_grace_s"] is None  # automatic
        late = time.time() - ABORT_GRACE_S - 5  # the step's allowance is over
        rd.update_status(started_at=late - 100, abort_requested_at=late, saving_at=late + 10)
        assert m.poll()[0].state == "running"  # but it is saving: not killed
        info = m.get("stubborn")
        assert info.stopping and info.saving
        from webui.render import state_text
        assert state_text(info, "en") == "stopping · saving a checkpoint"  # the Runs tab's
        long_ago = time.time() - SAVE_GRACE_S - 10
        rd.update_status(started_at=long_ago - 100, abort_requested_at=long_ago,
                         saving_at=long_ago + 5)
        info = wait_for(lambda: state_of(m, "stubborn", ("aborted",)), 10, "the SIGKILL")
        assert "killed: still running" in info.error and proc.wait(timeout=10) == -signal.SIGKILL


# --- real training processes -----------------------------------------------------------------
@pytest.mark.slow
def test_start_queue_and_complete(tiny_model, tmp_path, empty_cache):
    saves = tmp_path / "saves"
    m = RunManager(saves, max_concurrent=1)
    a = m.start(tiny_config(tiny_model, saves / "a", max_steps=3))
    b = m.start(tiny_config(tiny_model, saves / "b", max_steps=2))
    assert a.state == "queued" and a.alive and a.pid  # launched; the trainer is starting up
    assert b.state == "queued" and not b.alive and b.pid is None
    assert a.queue_position is None and b.queue_position == 1  # next when a slot frees

    def a_done():
        infos = {i.name: i for i in m.poll()}
        if infos["a"].state in ("queued", "running"):
            assert infos["b"].state == "queued" and infos["b"].pid is None, "b started early"
            return None
        return infos

    infos = wait_for(a_done, 120, "run a to finish")
    assert infos["a"].state == "completed", RunDir(a.path).log_tail()
    b = wait_for(lambda: state_of(m, "b"), 120, "run b to complete")
    a = m.get("a")
    assert a.progress == 1.0 and a.step == 3 and a.exit_code == 0 and not a.alive
    assert b.step == 2 and RunDir(b.path).status()["launched_at"] >= a.ended_at
    for info in (a, b):
        rd = RunDir(info.path)
        assert rd.has_final_model() and (rd.path / "adapter_config.json").is_file()
        assert rd.metrics() and rd.metrics()[0]["step"] == 1
        log = rd.log_file.read_text()
        assert "[prefstudio " in log and " -m core train " in log
        # stdout is train.log, so the trainer adds no second copy of each line
        assert log.count("Run completed") == 1 and "run finished:" in log
        # the set-up phases as plain lines (stdout is no terminal: no tqdm bar, no \r)
        # (the pairs its max_steps reach: 3 or 2 steps of 2)
        assert f"Computing reference log-probs ({2 * info.step} pairs)..." in log
        assert "\r" not in log
        assert RunDir(info.path).status()["phase"] is None  # cleared when training began


@pytest.mark.slow
def test_lock_abort_and_resume(tiny_model, tmp_path):
    saves = tmp_path / "saves"
    m = RunManager(saves)
    cfg = tiny_config(tiny_model, saves / "long", max_steps=2000, save_steps=10000)
    info = m.start(cfg)
    rd = RunDir(info.path)
    wait_for(lambda: state_of(m, "long", ("running",)) and m.get("long").step >= 1, 120,
             "the first step")

    # a second trainer on the same folder (through another YAML) is refused
    other = tmp_path / "other.yaml"
    cfg.save(other)
    second = subprocess.run([sys.executable, "-m", "core", "train", str(other)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 2, second.stderr
    assert "in use by another training process" in second.stderr and str(rd.path) in second.stderr
    assert m.get("long").state == "running"

    info = m.abort("long")
    assert info.stopping and info.state == "running"
    info = wait_for(lambda: state_of(m, "long", ("aborted", "failed", "completed")), 30,
                    "the graceful stop")
    assert info.state == "aborted" and info.error is None and info.exit_code == 0
    wait_for(lambda: m.poll() and not group_members(info.pid), 15, "the process group to end")
    last = rd.checkpoints()[-1]
    # status.json's step is written at most once a second, so it may lag the checkpoint
    assert last.complete and info.step <= last.step < 2000

    resumed = m.resume("long", overrides=[f"max_steps={last.step + 2}"])
    assert resumed.state == "queued" and resumed.pid != info.pid
    assert rd.status()["launch_args"][-1] == "resume_from_checkpoint=true"
    done = wait_for(lambda: state_of(m, "long", ("completed", "failed")), 120, "the resumed run")
    assert done.state == "completed", rd.log_tail()
    assert done.step == last.step + 2 and rd.has_final_model()
    assert any("Resuming from" in line and last.path.name in line
               for line in rd.log_file.read_text().splitlines())
    assert not rd.status().get("abort_pid")  # the old abort request does not carry over


@pytest.mark.slow
def test_restarted_manager_reattaches_and_sees_shell_runs(tiny_model, tmp_path):
    saves = tmp_path / "saves"
    shell_yaml = tmp_path / "shell.yaml"
    tiny_config(tiny_model, saves / "shell", max_steps=2000, save_steps=10000).save(shell_yaml)
    with open(tmp_path / "shell.log", "w") as log:  # nohup python -m core train x.yaml > x.log
        shell = subprocess.Popen([sys.executable, "-m", "core", "train", str(shell_yaml)],
                                 cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        m1 = RunManager(saves, max_concurrent=2)
        ui = m1.start(tiny_config(tiny_model, saves / "ui", max_steps=60, save_steps=1000))
        wait_for(lambda: state_of(m1, "ui", ("running",)) and m1.get("ui").step >= 1, 120,
                 "the UI run's first step")
        m2 = RunManager(saves, max_concurrent=2)  # the server restarted
        info = m2.get("ui")
        assert info.state == "running" and info.alive and info.pid == ui.pid
        with pytest.raises(UserError, match="abort it first"):
            m2.delete("ui")

        seen = wait_for(lambda: (i := state_of(m2, "shell", ("running",))) and i.step >= 1 and i,
                        120, "the shell run's first step")  # SIGTERM before it ends the process
        assert seen.alive and seen.pid == shell.pid and seen.model == str(tiny_model)
        m2.abort("shell")  # a run the manager did not launch stops the same way
        stopped = wait_for(lambda: state_of(m2, "shell", ("aborted", "failed", "completed")), 60,
                           "the shell run to stop")
        assert stopped.state == "aborted" and shell.wait(timeout=30) == 0

        done = wait_for(lambda: state_of(m2, "ui", ("completed", "failed")), 120, "the UI run")
        assert done.state == "completed" and done.progress == 1.0 and done.pid == ui.pid
        wait_for(lambda: not m2.get("ui").alive, 30, "the UI run's process to exit")
        m2.delete("ui")
        assert not (saves / "ui").exists() and [i.name for i in m2.list()] == ["shell"]
    finally:
        if shell.poll() is None:
            shell.kill()


@pytest.mark.slow
def test_abort_during_startup_then_resume_fresh(tiny_model, tmp_path):
    """Abort before the trainer trains: the trainer ends `aborted` (no checkpoint yet); resume
    then starts the run fresh from its config. Deterministic: the data file is a FIFO, so the
    trainer waits in its start-up (reading the data) until the test has aborted it; the
    test waits on the run's status, never on how fast anything is."""
    data = tmp_path / "data"
    data.mkdir()
    os.mkfifo(data / "demo_pref_en.json")  # the root registry's entry, read from this folder
    m = RunManager(tmp_path / "saves")
    info = m.start(tiny_config(tiny_model, tmp_path / "saves" / "early", max_steps=2,
                               dataset_dir=str(data)))
    assert info.state == "queued" and info.alive
    wait_for(lambda: state_of(m, "early", ("running",)), 300, "the trainer to take over")
    m.abort("early")
    info = wait_for(lambda: (i := state_of(m, "early", FINAL_STATES)) and not i.alive and i, 300,
                    "the aborted start-up to end")
    assert info.state == "aborted" and not RunDir(info.path).checkpoints()
    assert info.exit_code == 130 and info.error is None  # SIGTERM while loading: it wrote
    # aborted itself (killed before run() took over, the manager writes it: the test below)

    (data / "demo_pref_en.json").unlink()  # the data arrives
    shutil.copy(ROOT / "data" / "demo_pref_en.json", data / "demo_pref_en.json")
    m.resume("early")
    rd = RunDir(info.path)
    assert rd.status()["launch_args"] == ["resume_from_checkpoint=null"]
    done = wait_for(lambda: state_of(m, "early", ("completed", "failed")), 300, "the fresh run")
    assert done.state == "completed" and done.step == 2 and done.error is None, rd.log_tail()
    assert rd.log_file.read_text().count("[prefstudio ") == 2  # both launches, one log


def test_abort_before_the_trainer_takes_over(tmp_path):
    """A process SIGTERM kills before run() took over (still importing: here a stand-in that
    only sleeps) cannot write its end; the manager writes `aborted` for it."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexec sleep 300\n")
    fake.chmod(0o755)
    m = RunManager(tmp_path / "saves", python=str(fake))
    info = m.start(unplaced(tmp_path / "model", run_name="early"))
    assert info.state == "queued" and info.alive
    m.abort("early")
    info = wait_for(lambda: (i := state_of(m, "early", FINAL_STATES)) and not i.alive and i, 60,
                    "the abort")
    assert info.state == "aborted" and "before it could save" in info.error
    assert info.exit_code in (-signal.SIGTERM, None)  # None: reaped before we saw it
