"""RunManager: start, queue, abort, resume, list and delete training runs as subprocesses.

    from core.config import RunConfig
    from core.runs import RunManager

    runs = RunManager("saves", max_concurrent=1)
    info = runs.start(RunConfig.load("examples/dpo_lora.yaml"))  # queued, then launched
    runs.poll()              # call every 1-2 s: launches queued runs, notices dead processes,
                             # SIGKILLs a run still going past its abort's deadline
    runs.list()              # every run under saves/, `nohup python -m core train` ones too
    runs.abort(info.name)    # SIGTERM: the trainer saves a checkpoint after this step, stops
    runs.resume(info.name)   # from the newest complete checkpoint (else fresh), via the queue
    runs.delete(info.name)

A run is `python -m core train <run_dir>/config.yaml` in its own process group, writing only
to its run directory (stdout and stderr go to train.log). The queue and every abort request
live in status.json, so a restarted server picks up where the last one stopped. No call
waits on a run. Fields this module adds to status.json: queued_at, launch_args, launched_at,
abort_requested_at, abort_grace_s (null: the automatic grace, info.abort_deadline), abort_pid.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from core.config import RunConfig, validate
from core.errors import UserError
from core.paths import PROJECT_ROOT, write_atomic

from .info import (
    RunInfo,
    abort_deadline,
    abort_requested,
    inspect_run,
    number_queue,
    refusal,
    waiting,
)
from .placement import check_free, place, resume_point
from .procs import children, exit_codes, kill, process_matches, reap
from .rundir import FINAL_STATES, RunDir

log = logging.getLogger(__name__)

MAX_DEPTH = 3          # saves/<model>/<type>/<run>, as LLaMA-Factory users lay them out


class RunManager:
    def __init__(self, saves_dir: str | os.PathLike = "saves", max_concurrent: int = 1,
                 python: str = sys.executable, confined: bool = False) -> None:
        """`saves_dir` relative to the project root, like the CLI's default output_dir.
        max_concurrent 0 holds the queue (nothing new is launched). `confined` (the WebUI's
        manager): get() and list() also refuse or skip run folders outside saves_dir, links
        resolved, as the changing calls always do; off, get() takes any run folder (CLI)."""
        if max_concurrent < 0:
            raise ValueError(f"max_concurrent: {max_concurrent} must be 0 or more")
        saves = Path(saves_dir)
        self.saves_dir = (saves if saves.is_absolute() else PROJECT_ROOT / saves).resolve()
        self.max_concurrent = max_concurrent
        self.python = python
        self.confined = confined
        self._mutex = threading.Lock()

    # --- reading (no lock, no writes) ----------------------------------------------------
    def list(self) -> list[RunInfo]:
        """Every run under saves_dir, newest first; a run waiting for a slot carries its
        queue_position."""
        infos = number_queue([self._inspect(rd)[0] for rd in self._run_dirs()])
        return sorted(infos, key=lambda i: -(i.started_at or i.queued_at or 0))

    def get(self, run: str | os.PathLike | RunInfo) -> RunInfo:
        """A run by name (relative to saves_dir), path or RunInfo; when confined, only one
        inside saves_dir."""
        rd = self._dir(run, inside=self.confined)
        if not (rd.status_file.exists() or rd.config.exists()):
            raise UserError(f"no run at {rd.path} (no status.json or config.yaml)")
        info = self._inspect(rd)[0]
        if waiting([info]):  # its place among the others
            info.queue_position = next((i.queue_position for i in self.list()
                                        if i.path == info.path), None)
        return info

    # --- changing runs -------------------------------------------------------------------
    def poll(self) -> list[RunInfo]:
        """Persist the end of runs whose process died, escalate overdue aborts and launch
        queued runs (oldest first) into free slots. Returns list()."""
        with self._guard():
            self._poll()
        return self.list()

    def start(self, cfg: RunConfig) -> RunInfo:
        """Validate, write <run_dir>/config.yaml and a `queued` status, launch if a slot is
        free. Raises ConfigError/UserError before writing anything."""
        validate(cfg)
        with self._guard():
            cfg = self._place(cfg)
            rd = RunDir(cfg.output_dir)
            self._check_free(rd, cfg)
            cfg.save(rd.config)
            self._queue(rd, cfg, args=[])
            self._poll()
        return self.get(rd)

    def abort(self, run: str | os.PathLike | RunInfo, grace_s: float | None = None) -> RunInfo:
        """A queued run is marked aborted; a running one gets SIGTERM (it saves a checkpoint
        and stops after the current step) and poll() SIGKILLs its process group if it still
        runs past info.abort_deadline: `grace_s` after the request, or (None) time for a few of
        its steps and then for its save. Returns at once. Calling again with a shorter grace
        only shortens it; anything else info.refusal() refuses is a UserError."""
        with self._guard():
            rd = self._dir(run)
            info, status = self._inspect(rd)
            now = time.time()
            if info.stopping and grace_s is not None and \
                    status.get("abort_requested_at", now) + grace_s < abort_deadline(status):
                rd.update_status(abort_grace_s=grace_s)  # escalate: poll() kills it sooner
            elif reason := refusal(info, "abort"):
                raise UserError(reason)
            elif info.state == "queued" and not info.alive:
                rd.update_status(state="aborted", ended_at=now, error=None)
            else:  # recorded before the signal, so the trainer's final write keeps it
                rd.update_status(abort_requested_at=now, abort_grace_s=grace_s,
                                 abort_pid=info.pid)
                if process_matches(info.pid, status.get("pid_started_at")):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(info.pid, signal.SIGTERM)
                else:  # alive by its lock only: the trainer also checks STOP each step
                    rd.stop_file.touch()
                log.info("Abort requested for %s (pid %s).", info.name, info.pid)
        return self.get(rd)

    def resume(self, run: str | os.PathLike | RunInfo,
               overrides: list[str] | None = None) -> RunInfo:
        """Queue an aborted or failed run again: from its newest complete checkpoint, or from
        its config when it has none. `overrides` are key=value strings (e.g. max_steps=500)."""
        overrides = list(overrides or [])
        with self._guard():
            rd = self._dir(run)
            info, status = self._inspect(rd)
            if reason := refusal(info, "resume"):
                raise UserError(reason)
            cfg = validate(RunConfig.load(rd.config, overrides))
            args = overrides + self._resume_args(rd, cfg)
            rd.stop_file.unlink(missing_ok=True)  # a stale STOP would end the new run at once
            self._queue(rd, cfg, args, step=status.get("step"),
                        total_steps=status.get("total_steps"))
            self._poll()
        return self.get(rd)

    def delete(self, run: str | os.PathLike | RunInfo) -> None:
        """Remove a run directory inside saves_dir; refused while its process lives."""
        with self._guard():
            rd = self._dir(run)
            if not (rd.status_file.exists() or rd.config.exists()):
                raise UserError(f"{rd.path} is not a run directory (no status.json or "
                                "config.yaml)")
            info, _ = self._inspect(rd)
            if reason := refusal(info, "delete"):
                raise UserError(reason)
            shutil.rmtree(rd.path)
            log.info("Deleted run %s.", rd.path)

    # --- internals -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """One writer at a time: a thread lock for the UI's worker threads, and a flock on
        <saves>/.runs.lock so a second server on the same saves never launches a run twice."""
        with self._mutex:
            self.saves_dir.mkdir(parents=True, exist_ok=True)
            with open(self.saves_dir / ".runs.lock", "a") as f:
                fcntl.flock(f, fcntl.LOCK_EX)  # held for milliseconds by the other side
                yield

    def _poll(self) -> None:
        reap()
        infos = []
        for rd in self._run_dirs():
            info, status = self._inspect(rd)
            self._settle(rd, info, status)
            infos.append(info)
        busy = sum(i.alive for i in infos)  # a run that already wrote its end still holds memory
        for info in waiting(infos)[:max(self.max_concurrent - busy, 0)]:
            self._launch(RunDir(info.path))

    def _settle(self, rd: RunDir, info: RunInfo, status: dict[str, Any]) -> None:
        """Write down what the trainer could not: its death, or the kill after an abort."""
        now = time.time()
        if (info.alive and abort_requested(status) and now >= abort_deadline(status)
                and process_matches(info.pid, status.get("pid_started_at"))):
            kill(info.pid)  # also when it wrote its end but hangs on the way out
            waited = now - status.get("abort_requested_at", now)
            error = f"killed: still running {waited:.0f} s after the abort request"
            if _end(rd, info.pid, state="aborted", ended_at=now, exit_code=-signal.SIGKILL,
                    error=error):
                log.warning("Run %s %s.", info.name, error)
                info.state, info.error, info.stopping = "aborted", error, False
        elif info.state in FINAL_STATES and status.get("state") not in FINAL_STATES:
            reap()  # it may have ended after this poll's first reap
            code = exit_codes.pop(info.pid, None) if info.pid else None
            if _end(rd, info.pid, state=info.state, error=info.error, ended_at=now,
                    exit_code=code):
                info.exit_code = code
                log.warning("Run %s: %s.", info.name, info.error)

    def _launch(self, rd: RunDir) -> None:
        """python -m core train <run>/config.yaml in its own session, output into train.log."""
        args = rd.status().get("launch_args") or []
        cmd = [self.python, "-m", "core", "train", str(rd.config), *args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # train.log stays live
        try:
            with open(rd.log_file, "ab") as out:
                out.write(f"\n[prefstudio {datetime.now():%Y-%m-%d %H:%M:%S}] "
                          f"{shlex.join(cmd)}\n".encode())
                out.flush()
                proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        except OSError as e:
            rd.update_status(state="failed", ended_at=time.time(), error=f"could not launch: {e}")
            return
        children[proc.pid] = proc
        try:
            created = psutil.Process(proc.pid).create_time()
        except psutil.Error:  # gone already: poll() reports it
            created = None
        # The state stays `queued` until the trainer writes `running`: a `running` status
        # would make the trainer treat its own config as a finished run and rerun elsewhere.
        rd.update_status(pid=proc.pid, pid_started_at=created, launched_at=time.time())
        log.info("Launched %s (pid %d).", rd.path, proc.pid)

    def _queue(self, rd: RunDir, cfg: RunConfig, args: list[str], **keep: Any) -> None:
        """A fresh status (old pid, error and abort fields dropped) that poll() will launch."""
        status = {"state": "queued", "queued_at": time.time(), "launch_args": args,
                  "stage": cfg.stage, "model": cfg.model_name_or_path, "dataset": cfg.dataset,
                  "step": 0, "total_steps": None, "updated_at": time.time(),
                  **{k: v for k, v in keep.items() if v is not None}}
        with rd.status_lock():
            write_atomic(rd.status_file, json.dumps(status, indent=1))

    def _place(self, cfg: RunConfig) -> RunConfig:
        """output_dir as training will resolve it (the trainer runs in the project root),
        under saves_dir by default; a folder outside saves_dir is refused."""
        cfg = place(cfg, self.saves_dir, root=PROJECT_ROOT)
        self._dir(cfg.output_dir)
        return cfg

    def _check_free(self, rd: RunDir, cfg: RunConfig) -> None:
        if not rd.path.exists():
            return
        info, _ = self._inspect(rd)
        if info.alive or info.state == "queued":
            raise UserError(f"output_dir: {rd.path} is {info.state} already; abort it or "
                            "choose a new output_dir")
        check_free(rd, cfg)

    @staticmethod
    def _resume_args(rd: RunDir, cfg: RunConfig) -> list[str]:
        """The launch arguments: from the newest complete checkpoint (refused here, before
        the launch, when the config no longer fits it), else a fresh start."""
        checkpoints = rd.checkpoints()
        if any(c.complete for c in checkpoints):
            resume_point(cfg.replace(output_dir=str(rd.path), resume_from_checkpoint=True), rd)
            return ["resume_from_checkpoint=true"]
        for c in checkpoints:  # unusable (no marker), and they would block a fresh start
            log.warning("Removing incomplete %s: %s.", c.path, c.problem)
            shutil.rmtree(c.path, ignore_errors=True)
        return ["resume_from_checkpoint=null"]  # the saved config may say true

    def _dir(self, run: str | os.PathLike | RunInfo, inside: bool = True) -> RunDir:
        """A run's folder; names are relative to saves_dir. `inside`: refuse anything that is
        not strictly inside saves_dir (links resolved), so no call touches other folders."""
        path = Path(run.path if isinstance(run, (RunInfo, RunDir)) else run)
        path = (path if path.is_absolute() else self.saves_dir / path).resolve()
        if inside and (path == self.saves_dir or not path.is_relative_to(self.saves_dir)):
            raise UserError(f"{path} is not inside the saves folder {self.saves_dir}; "
                            "a run is a folder under it")
        return RunDir(path)

    def _run_dirs(self) -> list[RunDir]:
        """Folders under saves_dir holding status.json or config.yaml (not descended into)."""
        found, stack = [], [(self.saves_dir, 1)]
        while stack:
            folder, depth = stack.pop()
            try:
                subfolders = [c for c in folder.iterdir()
                              if c.is_dir() and not c.name.startswith(".")]
            except OSError:
                continue
            for child in subfolders:
                if self.confined and not child.resolve().is_relative_to(self.saves_dir):
                    continue  # a link out of saves/: not the WebUI's to show
                if (child / "status.json").exists() or (child / "config.yaml").exists():
                    found.append(RunDir(child))
                elif depth < MAX_DEPTH:
                    stack.append((child, depth + 1))
        return found

    def _inspect(self, rd: RunDir) -> tuple[RunInfo, dict[str, Any]]:
        return inspect_run(rd, self.saves_dir)


def _end(rd: RunDir, pid: int | None, **fields: Any) -> bool:
    """Write the end of a run whose process is gone, unless it wrote its own end (or a new
    process took the folder over) since we looked."""
    with rd.status_lock():
        status = rd.status()
        if status.get("state") in FINAL_STATES or status.get("pid") != pid:
            return False
        write_atomic(rd.status_file, json.dumps({**status, **fields, "updated_at": time.time()},
                                                indent=1))
    return True
