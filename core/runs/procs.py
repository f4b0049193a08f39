"""Processes of runs: is a recorded pid still the run, is a trainer holding the run's lock,
kill a run's process group, reap what this process launched."""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
from typing import Any

import psutil

from .rundir import RunDir

PID_TOLERANCE_S = 1.0  # create_time is rounded to clock ticks; a reused pid differs by far more
# Processes this Python process launched, shared by every manager in it: reap() collects them
# so no zombie lingers (a zombie still "exists" for kill(pid, 0)) and keeps their exit codes.
children: dict[int, subprocess.Popen] = {}
exit_codes: dict[int, int] = {}


def process_matches(pid: Any, started_at: Any) -> bool:
    """The run's process lives: the pid exists, is no zombie, and was created when the status
    says (a reused pid belongs to someone else)."""
    if not pid or started_at is None:
        return False
    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - float(started_at)) <= PID_TOLERANCE_S
    except (psutil.Error, ValueError, TypeError):
        return False


def lock_held(rd: RunDir) -> bool:
    """Whether a trainer holds <run>/.lock; a non-blocking probe, let go of at once."""
    try:
        fd = os.open(rd.lock_file, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the lock if we got it
    return False


def kill(pid: int) -> None:
    """SIGKILL the run's process group when it leads its own (launched by us or `nohup ... &`
    from a job-control shell), and every process below it: torchrun starts each rank of a
    multi-process run in a session of its own, out of the group's reach."""
    try:
        proc = psutil.Process(pid)
        procs = proc.children(recursive=True) + [proc]  # listed before anything dies
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, psutil.Error):
        return
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()


def reap() -> None:
    for pid, proc in list(children.items()):
        code = proc.poll()
        if code is not None:
            exit_codes[pid] = code
            del children[pid]
