"""Trainer callbacks shared by every stage (ours and TRL's trainers alike).

- RunFiles: metrics.jsonl (one JSON per log event, with elapsed/eta and throughput:
  samples_per_s, pairs_per_s for pairwise stages, tokens_per_s where the trainer logs
  num_tokens, counted from this process's start so a resumed run is not flattered), status.json
  step/total_steps (and peak_gpu_memory_gib at the end on CUDA; the set-up phase cleared when
  training begins), and a progress line in train.log.
- CheckpointMarker: writes checkpoint-N/COMPLETE after the Trainer finished saving it (with
  the run's settings, so a resume sees what changed, and each file's checksum), unless a
  trainable weight is NaN or infinite (finite.check_weights), then applies save_total_limit
  (counting complete checkpoints only).
- GracefulStop: SIGTERM/SIGINT or a STOP file in the run directory stop training at the end of
  the current step, after saving a checkpoint; with several processes every rank stops at the
  same step (the decision is all-reduced). saving() marks the start of a run's last save in
  status.json (saving_at), so an abort's kill waits for it.

With several processes only rank 0 writes the run folder (is_main()).
"""
from __future__ import annotations

import logging
import math
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl

from core.runs.progress import CLEARED
from core.runs.rundir import RunDir, mark_complete

from .finite import check_weights
from .sharding import any_rank, barrier, is_main

log = logging.getLogger(__name__)
DROP = {"total_flos"}


class RunFiles(TrainerCallback):
    def __init__(self, run_dir: RunDir, batch_size: int, pairs: bool = False) -> None:
        self.rd, self.batch_size, self.pairs = run_dir, batch_size, pairs
        self.start = time.time()
        self.first_step = 0
        self.first_tokens = 0
        self.last_status = 0.0

    def on_train_begin(self, args, state, control, **kw) -> None:
        self.start, self.first_step = time.time(), state.global_step
        counts = [h["num_tokens"] for h in state.log_history if "num_tokens" in h]
        self.first_tokens = counts[-1] if counts else 0
        if is_main():  # the other ranks of a multi-process run write nothing
            # the set-up phases (core.runs.progress) are over: the step counter takes over
            self.rd.update_status(step=state.global_step, total_steps=state.max_steps,
                                  **CLEARED)

    def _timing(self, state, logs: dict | None = None) -> dict:
        elapsed = time.time() - self.start
        done = state.global_step - self.first_step
        per_step = elapsed / done if done else math.nan
        remaining = max(state.max_steps - state.global_step, 0)
        rate = round(done * self.batch_size / elapsed, 3) if done and elapsed else None
        out = {"elapsed_s": round(elapsed, 3),
               "eta_s": round(per_step * remaining, 1) if done else None,
               "samples_per_s": rate}
        if self.pairs:
            out["pairs_per_s"] = rate
        if logs and "num_tokens" in logs and elapsed:
            out["tokens_per_s"] = round((logs["num_tokens"] - self.first_tokens) / elapsed, 1)
        return out

    def on_step_end(self, args, state, control, **kw) -> None:
        now = time.time()
        if not is_main():
            return
        if now - self.last_status > 1.0 or state.global_step == state.max_steps:
            self.last_status = now
            self.rd.update_status(step=state.global_step, total_steps=state.max_steps,
                                  eta_s=self._timing(state)["eta_s"])

    def on_train_end(self, args, state, control, **kw) -> None:
        # on_step_end writes at most once a second; an early stop must still show its step
        extra = {}
        if not is_main():
            return
        if torch.cuda.is_available():  # what QLoRA saves against LoRA, in one number
            extra["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
            log.info("Peak GPU memory: %.3f GiB", extra["peak_gpu_memory_gib"])
        self.rd.update_status(step=state.global_step, total_steps=state.max_steps, **extra)

    def on_log(self, args, state, control, logs=None, **kw) -> None:
        if not is_main():  # the logs are already averaged over the ranks
            return
        record = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        record.update({k: v for k, v in (logs or {}).items() if k not in DROP})
        record.update(self._timing(state, logs))
        self.rd.append_metrics(record)
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()}
        log.info("step %d/%d %s", state.global_step, state.max_steps,
                 " ".join(f"{k}={v}" for k, v in shown.items() if k not in ("step",)))


class CheckpointMarker(TrainerCallback):
    """The Trainer's own rotation (save_total_limit) runs before this marker exists, so a crash
    in between could leave no complete checkpoint; the limit is applied here instead, after
    the new checkpoint is complete. `config`: the run's settings for the marker
    (core.runs.placement.resume_settings)."""

    def __init__(self, limit: int | None = None, config: dict[str, Any] | None = None) -> None:
        self.limit, self.config = limit, config

    def on_save(self, args, state, control, model=None, **kw) -> None:
        # every rank writes its own RNG state into the checkpoint: mark it complete after all
        barrier()
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir() and args.should_save:
            if model is not None:  # the weights just saved: NaN never makes a checkpoint complete
                check_weights(model, f"{folder.name} not marked complete", state.global_step)
            mark_complete(folder, state.global_step, self.config)
            log.info("Checkpoint saved: %s", folder)
            if self.limit:
                prune(RunDir(args.output_dir), self.limit)


def prune(rd: RunDir, limit: int) -> None:
    """Keep the newest `limit` complete checkpoints; remove every checkpoint older than them."""
    found = rd.checkpoints()
    complete = [c for c in found if c.complete]
    if len(complete) <= limit:
        return
    oldest_kept = complete[-limit].step
    for c in found:
        if c.step < oldest_kept:
            shutil.rmtree(c.path, ignore_errors=True)
            log.info("Removed %s (save_total_limit %d).", c.path.name, limit)


class GracefulStop(TrainerCallback):
    """Stops at the next step boundary and saves, so an aborted run can resume.

    `requested`: this process was asked to stop (a signal, the STOP file), at any moment.
    `stopping`: every rank agreed, at a step end, that training stops there; fit() reads it."""

    def __init__(self, run_dir: RunDir) -> None:
        self.rd = run_dir
        self.requested = False
        self.stopping = False
        self.previous = {}

    def on_train_begin(self, args, state, control, **kw) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.signal(sig, self._on_signal)

    def restore(self) -> None:
        """In-process callers get their signal handlers back (once). common.fit calls it after
        the final save, so a signal during that save is noted, and the save still finishes."""
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def _on_signal(self, signum, frame) -> None:
        if self.requested:  # a second signal: stop now
            raise KeyboardInterrupt
        self.requested = True
        log.warning("Stop requested (signal %d): saving a checkpoint after this step.", signum)

    def on_step_end(self, args, state, control, **kw) -> TrainerControl:
        if self.rd.stop_file.exists() and not self.requested:
            self.requested = True
            log.warning("Stop requested (STOP file): saving a checkpoint after this step.")
        # Several processes: all stop at the step one of them was asked to, or they would wait
        # on each other's gradients forever. Decide on one reading of `requested`: a signal
        # that comes while any_rank waits for the other ranks is handled when that call
        # returns, and reading the flag again then would stop this rank alone.
        asked = self.requested
        if any_rank(asked, getattr(args, "device", "cpu")):
            if not asked:
                self.requested = True
                log.warning("Stop requested by another rank: saving a checkpoint after this step.")
            self.stop_here(control)
        return control

    def stop_here(self, control: TrainerControl) -> None:
        """Save and stop at this step end (every rank calls it at the same step)."""
        self.stopping = True
        control.should_save = True
        control.should_training_stop = True
        saving(self.rd)


def saving(rd: RunDir) -> None:
    """status.json's saving_at: the run's last save (the stop checkpoint or the final model)
    begins now; an abort waits for it (core.runs.info.abort_deadline)."""
    if is_main():
        rd.update_status(saving_at=time.time())
