"""AlarmWatch: the live alarms of core/runs/alarms.py during training, for every stage.

On each log event it feeds the record to a Monitor; a new alarm goes to train.log as a warning
and the full list to status.json ("alarms"). With stop_on_alarm, a new alarm stops the run at
this step boundary the way an abort does (GracefulStop): a checkpoint is saved, no final
model is written, and the run ends `aborted` with the alarm as its `error`. Aborted is the
state that already means "stopped before its last step, resumable from its checkpoint", so
resume, the Runs tab and the manager need nothing new; the reason tells it from a user's abort.
"""
from __future__ import annotations

import logging
from typing import Any

from transformers import TrainerCallback

from core.config import RunConfig
from core.runs.alarms import Kind, Monitor
from core.runs.rundir import RunDir

from .callbacks import GracefulStop
from .sharding import is_main

log = logging.getLogger(__name__)


class AlarmWatch(TrainerCallback):
    def __init__(self, run_dir: RunDir, cfg: RunConfig, stop: GracefulStop):
        self.rd, self.kind, self.stop = run_dir, Kind.of(cfg), stop
        self.stop_on_alarm = cfg.stop_on_alarm
        self.monitor = Monitor(None, self.kind)

    def on_train_begin(self, args, state, control, **kw) -> None:
        # A resumed run keeps its records up to the checkpoint: alarms they fired stay
        # listed (not logged again, and they do not stop the run again).
        self.monitor = Monitor(state.max_steps, self.kind)
        for record in self.rd.metrics():
            self.monitor.feed(record)
        if is_main():
            self.rd.update_status(alarms=[a.to_dict() for a in self.monitor.alarms])

    def on_log(self, args, state, control, logs=None, **kw) -> Any:
        # Every rank sees the same logs (averaged over the ranks), so every rank raises the
        # same alarms and stops at the same step; only rank 0 writes them down.
        new = self.monitor.feed({"step": state.global_step, **(logs or {})})
        if not new:
            return control
        for alarm in new:
            log.warning("%s", alarm.line())
        fields = {"alarms": [a.to_dict() for a in self.monitor.alarms]}
        # At the last step the run ends anyway; stopping would only lose the final model.
        if self.stop_on_alarm and not self.stop.stopping and state.global_step < state.max_steps:
            first = new[0]
            fields["error"] = f"stopped on alarm {first.id} at step {first.step}: {first.seen}"
            log.warning("stop_on_alarm: stopping after step %d and saving a checkpoint "
                        "(resume with resume_from_checkpoint=true).", state.global_step)
            # fit() reads GracefulStop.stopping: no final model, the run ends aborted. The
            # save and the stop are set here, as on_log runs after on_step_end this step.
            self.stop.stop_here(control)
        if is_main():
            self.rd.update_status(**fields)
        return control
