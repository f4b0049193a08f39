"""The one training flow for the CLI, the WebUI and nohup runs: run(cfg).

It places the run (core.runs.placement), takes the folder's lock, writes config.yaml,
status.json, env.json and train.log, loads and checks the data, then hands over to the
stage's method (core/methods/). The command line is core/cli/train.py.

    from core.training.run import run
    rd = run(RunConfig.load("examples/dpo_demo.yaml"))   # RunDir of the finished run
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from core.config import RunConfig, validate
from core.errors import UserError
from core.runs.placement import in_use, pick_checkpoint, place
from core.runs.progress import CLEARED, Phase
from core.runs.rundir import RunDir

from .launch import (
    LAUNCHER_PID,
    inside_launch,
    launch,
    needs_launch,
    rank_label,
    record_error,
    status_pid,
)

log = logging.getLogger(__name__)
# stage -> module with train(cfg, rd, data, tokenizer, checkpoint) -> aborted?
METHODS = {"sft": "core.methods.sft", "dpo": "core.methods.pairwise", "kto": "core.methods.kto",
           "rm": "core.methods.rm", "grpo": "core.methods.grpo"}


@contextlib.contextmanager
def run_lock(rd: RunDir) -> Iterator[None]:
    """An exclusive flock on <run>/.lock while training: two trainings (UI and CLI, or two
    tabs) can never write the same directory. The OS drops it if the process dies."""
    rd.path.mkdir(parents=True, exist_ok=True)
    with open(rd.lock_file, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(in_use(rd)) from None
        yield


@contextlib.contextmanager
def log_to_file(rd: RunDir) -> Iterator[None]:
    """Copy our log to train.log, unless stdout already goes there (RunManager/nohup)."""
    try:
        if rd.log_file.exists() and os.path.samefile(rd.log_file, f"/proc/self/fd/{sys.stdout.fileno()}"):
            yield
            return
    except (OSError, ValueError):
        pass
    handler = logging.FileHandler(rd.log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s %(levelname)s{rank_label()} %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def run(cfg: RunConfig, config_path: str | os.PathLike | None = None, *,
        reward_funcs: Sequence[str] = ()) -> RunDir:
    """Validate, set up the run directory and train. Returns the RunDir; raises on failure
    (after recording it in status.json). `reward_funcs`: user GRPO rewards, "module:function"."""
    validate(cfg)
    check_reward_funcs(cfg, reward_funcs)
    if inside_launch():  # one of torchrun's ranks
        return _run_rank(cfg, tuple(reward_funcs))
    if needs_launch(cfg):  # several processes: torchrun runs them, this one waits
        return launch(cfg, config_path, (), reward_funcs)
    cfg = place(cfg, config_path=config_path)
    rd = RunDir(cfg.output_dir)
    with sigterm_interrupts(), run_lock(rd), log_to_file(rd):
        _run_locked(cfg, rd, tuple(reward_funcs))
    return rd


def _run_rank(cfg: RunConfig, reward_funcs: tuple[str, ...]) -> RunDir:
    """One rank of a multi-process run (core/training/launch.py placed it): rank 0 writes the
    run folder as a single process does, the others only train; a rank that fails leaves its
    error for the launching process."""
    from core.methods.sharding import is_main

    if not cfg.output_dir:
        raise UserError("output_dir: set it when you start torchrun yourself, so that every "
                        "process writes the same run folder (python -m core train does)")
    rd = RunDir(cfg.output_dir)
    rd.path.mkdir(parents=True, exist_ok=True)  # another node's folder: its train.log
    own_lock = is_main() and LAUNCHER_PID not in os.environ  # else the launcher holds it
    with sigterm_interrupts(), run_lock(rd) if own_lock else contextlib.nullcontext(), \
            log_to_file(rd):
        try:
            if is_main():
                _run_locked(cfg, rd, reward_funcs)
            else:
                _train(cfg, rd, _follower_checkpoint(cfg, rd), reward_funcs)
        except BaseException as e:
            if not isinstance(e, KeyboardInterrupt):
                record_error(rd, e)
            raise
    return rd


def _follower_checkpoint(cfg: RunConfig, rd: RunDir) -> str | None:
    """The checkpoint a rank other than 0 resumes from: the one the config names, or the
    newest complete one (rank 0 checks it; reading only here)."""
    resume = cfg.resume_from_checkpoint
    if resume in (None, False):
        return None
    if resume is True:
        complete = [c for c in rd.checkpoints() if c.complete]
        return str(complete[-1].path) if complete else None
    return str(resume)


def check_reward_funcs(cfg: RunConfig, reward_funcs: Sequence[str]) -> None:
    """User reward functions (--reward-func) only score grpo's completions."""
    if reward_funcs and cfg.stage != "grpo":
        raise UserError(f"--reward-func is for stage grpo, not {cfg.stage}")


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM before training starts (imports, loading) ends the run as `aborted` instead of
    killing it with a stale `running` status; during training GracefulStop takes over."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_locked(cfg: RunConfig, rd: RunDir, reward_funcs: tuple[str, ...]) -> None:
    checkpoint = pick_checkpoint(cfg, rd)  # refuses before anything is written
    rd.reset_metrics(after_step=_step_of(checkpoint))
    rd.stop_file.unlink(missing_ok=True)  # a STOP left by an earlier abort must not stop this run
    cfg.save(rd.config)

    try:  # from the `running` status on, any end (an abort's SIGTERM too) is written below
        pid, pid_started_at = status_pid()  # a multi-process run's: the launcher's
        rd.update_status(state="running", pid=pid, pid_started_at=pid_started_at,
                         started_at=time.time(),
                         ended_at=None, exit_code=None, error=None, saving_at=None,
                         stage=cfg.stage, model=cfg.model_name_or_path, dataset=cfg.dataset,
                         **CLEARED)  # an earlier run's phase and save are not this one's
        log.info("Run %s: stage=%s model=%s dataset=%s", rd.path, cfg.stage,
                 cfg.model_name_or_path, cfg.dataset)
        aborted = _train(cfg, rd, checkpoint, reward_funcs)
    except BaseException as e:
        interrupted = isinstance(e, KeyboardInterrupt)
        rd.update_status(state="aborted" if interrupted else "failed", ended_at=time.time(),
                         exit_code=130 if interrupted else (2 if isinstance(e, UserError) else 1),
                         error=None if interrupted else f"{type(e).__name__}: {e}")
        log.error("Run %s: %s", "aborted" if interrupted else "failed", e)
        raise
    state = "aborted" if aborted else "completed"
    rd.update_status(state=state, ended_at=time.time(), exit_code=0)
    log.info("Run %s: %s", state, rd.path)


def _step_of(checkpoint: str | None) -> int:
    return int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0


def _train(cfg: RunConfig, rd: RunDir, checkpoint: str | None,
           reward_funcs: tuple[str, ...]) -> bool:
    with Phase(rd, "imports"):  # torch, transformers and trl take seconds to import
        method = _import_method(cfg)
    from core.data import load_for_training
    from core.data.templates import get_template
    from core.methods.sharding import is_main
    from core.models.checks import check_model
    from core.models.loading import LoadOptions, check_machine, load_tokenizer

    from .doctor import log_checks
    from .env import write_env

    check_machine(cfg)
    with Phase(rd, "data") as phase:
        tokenizer = load_tokenizer(LoadOptions.of_run(cfg))
        check_model(cfg, tokenizer)  # pad token, lora_target, layers: before any weight is read
        template = get_template(cfg.template, tokenizer, cfg.enable_thinking)
        # counts the rows it tokenizes; logs what cutoff_len cut to train.log
        data = load_for_training(cfg, template, progress=phase)
        if data.truncation is not None and is_main():  # the Runs view shows it
            rd.update_status(truncation=data.truncation.to_dict())
        log_checks(cfg, template, data)  # the doctor's data and memory findings, no weight yet
        if is_main():  # with several processes, rank 0 alone writes the run folder
            write_env(rd, cfg, data.fingerprint)
    extra = {"user_rewards": reward_funcs} if cfg.stage == "grpo" else {}
    aborted = bool(method.train(cfg, rd, data, tokenizer, checkpoint, **extra))
    if cfg.plot_loss and is_main():
        from .plot import write_loss_plot

        plot = write_loss_plot(rd)
        log.info("Loss curves: %s", plot or f"none logged (logging_steps {cfg.logging_steps})")
    return aborted


def _import_method(cfg: RunConfig) -> Any:
    """The stage's module (METHODS), with the libraries' progress bars off (they garble
    train.log; our phases report instead) and their noise silenced."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()  # TRL's trainers map over datasets.Dataset
    # Raised by the Trainer's own internals on every run; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*",
                            category=FutureWarning)
    return importlib.import_module(METHODS[cfg.stage])
