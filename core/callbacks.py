"""Trainer callbacks shared by every stage (ours and TRL's trainers alike).

- RunFiles: metrics.jsonl (one JSON per log event, with elapsed/eta/throughput), status.json
  step/total_steps, and a progress line in train.log.
- CheckpointMarker: writes checkpoint-N/COMPLETE after the Trainer finished saving it.
- GracefulStop: SIGTERM/SIGINT or a STOP file in the run directory stop training at the end of
  the current step, after saving a checkpoint.
"""
from __future__ import annotations

import logging
import math
import signal
import time
from pathlib import Path

from transformers import TrainerCallback

from .rundir import RunDir, mark_complete

log = logging.getLogger(__name__)
DROP = {"total_flos"}


class RunFiles(TrainerCallback):
    def __init__(self, run_dir: RunDir, batch_size: int):
        self.rd, self.batch_size = run_dir, batch_size
        self.start = time.time()
        self.first_step = 0
        self.last_status = 0.0

    def on_train_begin(self, args, state, control, **kw):
        self.start, self.first_step = time.time(), state.global_step
        self.rd.update_status(step=state.global_step, total_steps=state.max_steps)

    def _timing(self, state) -> dict:
        elapsed = time.time() - self.start
        done = state.global_step - self.first_step
        per_step = elapsed / done if done else math.nan
        remaining = max(state.max_steps - state.global_step, 0)
        return {"elapsed_s": round(elapsed, 3),
                "eta_s": round(per_step * remaining, 1) if done else None,
                "samples_per_s": round(done * self.batch_size / elapsed, 3) if done and elapsed else None}

    def on_step_end(self, args, state, control, **kw):
        now = time.time()
        if now - self.last_status > 1.0 or state.global_step == state.max_steps:
            self.last_status = now
            self.rd.update_status(step=state.global_step, total_steps=state.max_steps,
                                  eta_s=self._timing(state)["eta_s"])

    def on_log(self, args, state, control, logs=None, **kw):
        record = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        record.update({k: v for k, v in (logs or {}).items() if k not in DROP})
        record.update(self._timing(state))
        self.rd.append_metrics(record)
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()}
        log.info("step %d/%d %s", state.global_step, state.max_steps,
                 " ".join(f"{k}={v}" for k, v in shown.items() if k not in ("step",)))


class CheckpointMarker(TrainerCallback):
    def on_save(self, args, state, control, **kw):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir() and args.should_save:
            mark_complete(folder, state.global_step)
            log.info("Checkpoint saved: %s", folder)


class GracefulStop(TrainerCallback):
    """Stops at the next step boundary and saves, so an aborted run can resume."""

    def __init__(self, run_dir: RunDir):
        self.rd = run_dir
        self.requested = False
        self.previous = {}

    def on_train_begin(self, args, state, control, **kw):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.signal(sig, self._on_signal)

    def on_train_end(self, args, state, control, **kw):
        for sig, handler in self.previous.items():  # in-process callers get theirs back
            signal.signal(sig, handler)

    def _on_signal(self, signum, frame):
        if self.requested:  # a second signal: stop now
            raise KeyboardInterrupt
        self.requested = True
        log.warning("Stop requested (signal %d): saving a checkpoint after this step.", signum)

    def on_step_end(self, args, state, control, **kw):
        if self.rd.stop_file.exists() and not self.requested:
            self.requested = True
            log.warning("Stop requested (STOP file): saving a checkpoint after this step.")
        if self.requested:
            control.should_save = True
            control.should_training_stop = True
        return control
