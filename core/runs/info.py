"""RunInfo: what the UI shows of a run, read from its status.json and the process table, and
which actions the run allows now. Reading never writes; RunManager.poll() persists what a
dead process could not.

    info, status = inspect_run(RunDir("saves/x"), saves_dir)
    refusal(info, "resume")   # None when allowed, else why not (RunManager raises it)
    number_queue(infos)       # queue_position of each run waiting for a slot
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .alarms import Alarm, listed
from .procs import children, lock_held, process_matches
from .rundir import FINAL_STATES, RunDir

GONE = "process ended unexpectedly (see train.log)"
STARTUP = "ended before training started"  # the error of a launch that died before `running`
ACTIONS = ("abort", "resume", "delete", "load")  # "load": its config into a new run


@dataclass
class RunInfo:
    """One run as the UI shows it. `state` is one of rundir.STATES, or "created" for a folder
    holding only config.yaml. A `running` status whose process is gone reads `failed`."""
    name: str
    path: Path
    state: str
    stage: str | None = None
    model: str | None = None
    dataset: str | None = None
    step: int = 0
    total_steps: int | None = None
    progress: float = 0.0
    eta_s: float | None = None
    queued_at: float | None = None
    queue_position: int | None = None  # 1 = launched next; set by RunManager (number_queue)
    started_at: float | None = None
    ended_at: float | None = None
    age_s: float | None = None  # since training started; None for a run that never did
    error: str | None = None
    exit_code: int | None = None
    pid: int | None = None
    alive: bool = False
    stopping: bool = False  # abort requested, process still going
    saving: bool = False  # a live run writing its last save (stop checkpoint or final model)
    alarms: list[Alarm] = field(default_factory=list)  # core/runs/alarms.py, first seen first
    # The set-up phase a live run is in before its first step (core/runs/progress.py): its
    # name (a key of progress.PHASES), items done of total (None: it has no count) and
    # seconds left; None once training began or when the process is gone.
    phase: str | None = None
    phase_done: int | None = None
    phase_total: int | None = None
    phase_eta_s: float | None = None


def inspect_run(rd: RunDir, saves_dir: Path) -> tuple[RunInfo, dict[str, Any]]:
    """RunInfo from status.json and the process table; reads, never writes."""
    status = rd.status()
    alive = process_matches(status.get("pid"), status.get("pid_started_at"))
    if not alive and status.get("state") in ("queued", "running"):
        status = rd.status()  # it may have written its end just before it exited
        alive = process_matches(status.get("pid"), status.get("pid_started_at"))
    if not alive and status.get("state") == "running" and lock_held(rd):
        alive = True  # a trainer holds the run's lock, whatever the pid says
    if alive and status.get("state") in FINAL_STATES:
        # Still exiting (holds memory) only while it holds the lock or is our child that
        # has not been reaped; a process that trained in-process (a notebook, pytest) and
        # lives on is not the run any more.
        alive = lock_held(rd) or (status.get("pid") in children
                                  and children[status["pid"]].poll() is None)
    state, error = derive(rd, status, alive)
    step, total = int(status.get("step") or 0), status.get("total_steps")
    begun = status.get("started_at")
    path = rd.path.resolve()
    inside = path.is_relative_to(saves_dir)
    return RunInfo(
        name=str(path.relative_to(saves_dir)) if inside else path.name, path=path,
        state=state, stage=status.get("stage"), model=status.get("model"),
        dataset=status.get("dataset"), step=step, total_steps=total,
        progress=1.0 if state == "completed" else min(step / total, 1.0) if total else 0.0,
        eta_s=status.get("eta_s") if alive else None, queued_at=status.get("queued_at"),
        started_at=status.get("started_at"), ended_at=status.get("ended_at"),
        age_s=time.time() - begun if begun else None, error=error,
        exit_code=status.get("exit_code"), pid=status.get("pid"), alive=alive,
        stopping=alive and abort_requested(status) and state not in FINAL_STATES,
        saving=alive and state not in FINAL_STATES and saving_now(status),
        alarms=listed(status), **phase_of(status, alive and state == "running")), status


def phase_of(status: dict[str, Any], live: bool) -> dict[str, Any]:
    """RunInfo's phase fields from status.json; none for a run that is not live."""
    if not live or not status.get("phase"):
        return {}
    return {"phase": status["phase"], "phase_done": status.get("phase_done"),
            "phase_total": status.get("phase_total"), "phase_eta_s": status.get("phase_eta_s")}


def waiting(infos: list[RunInfo]) -> list[RunInfo]:
    """Queued runs not launched yet, in the order RunManager launches them (oldest first)."""
    return sorted((i for i in infos if i.state == "queued" and not i.pid),
                  key=lambda i: i.queued_at or 0)


def number_queue(infos: list[RunInfo]) -> list[RunInfo]:
    """Set each waiting run's queue_position (1 = next to launch); returns `infos`."""
    for position, info in enumerate(waiting(infos), 1):
        info.queue_position = position
    return infos


def derive(rd: RunDir, status: dict[str, Any], alive: bool) -> tuple[str, str | None]:
    """State and error, where a dead process left a `running` (or launched `queued`) status."""
    state, error = status.get("state") or "created", status.get("error")
    if alive or not (state == "running" or (state == "queued" and status.get("pid"))):
        return state, error
    if abort_requested(status):
        return "aborted", "stopped by the abort request before it could save (see train.log)"
    return ("failed", GONE) if state == "running" else ("failed", startup_error(rd))


def abort_requested(status: dict[str, Any]) -> bool:
    """An abort of this process (not of an earlier run in the same folder)."""
    return bool(status.get("pid")) and status.get("abort_pid") == status.get("pid")


# An aborted run stops at the end of its current step, then saves a checkpoint; RunManager
# kills it when it takes longer than this (abort_deadline).
ABORT_GRACE_S = 30.0  # to reach the step's end: at least this,
ABORT_STEPS = 3  # or as long as this many of its steps take, when they are slower
SAVE_GRACE_S = 1800.0  # then to write the checkpoint (or the final model): a full model's
# weights and optimizer state take minutes to write at real sizes


def abort_deadline(status: dict[str, Any]) -> float:
    """When an aborted run that has not ended is killed (a time.time() value). An explicit
    grace (RunManager.abort(grace_s=...), status abort_grace_s) is exact. Otherwise the run
    gets ABORT_GRACE_S or ABORT_STEPS of its steps (from status.json's eta_s), whichever is
    longer, and once it began its last save (saving_at, written by the trainer) SAVE_GRACE_S
    from then: a save in progress is not cut off at the step's allowance."""
    asked = status.get("abort_requested_at") or time.time()
    if status.get("abort_grace_s") is not None:
        return asked + status["abort_grace_s"]
    deadline = asked + max(ABORT_GRACE_S, ABORT_STEPS * step_seconds(status))
    if saving_now(status):
        deadline = max(deadline, status["saving_at"] + SAVE_GRACE_S)
    return deadline


def saving_now(status: dict[str, Any]) -> bool:
    """This process began its last save (saving_at, written by the trainer; an earlier run's
    in the same folder does not count)."""
    saving = status.get("saving_at")
    return bool(saving) and saving >= (status.get("started_at") or 0)


def step_seconds(status: dict[str, Any]) -> float:
    """Seconds per step from the trainer's last status (eta_s over the steps left); 0 when
    unknown."""
    eta, step, total = (status.get(k) for k in ("eta_s", "step", "total_steps"))
    if not isinstance(eta, (int, float)) or not isinstance(step, int) \
            or not isinstance(total, int) or total <= step:
        return 0.0
    return eta / (total - step)


def startup_error(rd: RunDir) -> str:
    """The CLI's one-line `error: ...` when the process ended before training began."""
    for line in reversed(rd.log_tail(30).splitlines()):
        if line.startswith("error: "):
            return f"{STARTUP}: {line[len('error: '):]}"
    return f"{STARTUP} (see train.log)"


def refusal(info: RunInfo, action: str) -> str | None:
    """None when `action` (one of ACTIONS) may be done to the run now, else the reason why not.
    The one rule: RunManager raises it as a UserError, the Runs tab enables its buttons by it."""
    rules = {"abort": _abort_refusal, "resume": _resume_refusal, "delete": _delete_refusal,
             "load": _load_refusal}
    if action not in rules:
        raise ValueError(f"unknown run action {action!r}; one of {', '.join(ACTIONS)}")
    return rules[action](info)


def _abort_refusal(info: RunInfo) -> str | None:
    if info.stopping:  # asking again changes nothing (RunManager may still shorten the grace)
        return (f"{info.name} is stopping already: it saves a checkpoint after the current step "
                "and ends")
    if info.state not in ("queued", "running"):
        return f"{info.name} is {info.state}; only a queued or running run can be aborted"
    return None


def _resume_refusal(info: RunInfo) -> str | None:
    if info.alive:
        return (f"{info.name} is {info.state}, its process (pid {info.pid}) is still running; "
                "abort it, or wait for it to end")
    if info.state not in ("aborted", "failed"):
        return f"{info.name} is {info.state}; only an aborted or failed run can be resumed"
    rd = RunDir(info.path)
    if not rd.config.is_file():
        return f"{rd.config} is missing, so {info.name} cannot be resumed"
    if rd.has_final_model() and not any(c.complete for c in rd.checkpoints()):
        return (f"{info.name} has a final model but no complete checkpoint to resume from; rerun "
                f"its config into a new folder: python -m core train {rd.config}")
    if failed_before_training(info) and not any(c.complete for c in rd.checkpoints()):
        return (f"{info.name} failed before its first step, so there is nothing to resume and "
                "it would fail the same way; fix what its error names, then start it again: "
                f"python -m core train {rd.config}")
    return None


def failed_before_training(info: RunInfo) -> bool:
    """A failed run that never finished a step (bad data, a refused config, no memory)."""
    return info.state == "failed" and not info.step


def _delete_refusal(info: RunInfo) -> str | None:
    if not info.alive:
        return None
    hint = "try again in a moment" if info.state in FINAL_STATES else "abort it first"
    return f"{info.name} is {info.state}, its process (pid {info.pid}) is still running; {hint}"


def _load_refusal(info: RunInfo) -> str | None:
    config = RunDir(info.path).config
    return None if config.is_file() else f"{config} is missing: {info.name} has no config to load"
