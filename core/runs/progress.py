"""The phases before a run's first step (loading data, loading the model, the reference pass,
the trainer's set-up), reported so that a run never sits at "step 0/?" without saying why.

status.json gets {"phase", "phase_done", "phase_total", "phase_eta_s", "phase_started_at"},
written at most every REPORT_S seconds (the Runs tab's bar reads them; core.runs.info). A
phase that counts gets a tqdm bar when stdout is a terminal (console log lines go through
tqdm meanwhile, so they do not break the bar), else a log line every LINE_S seconds: the
train.log of a RunManager or nohup run (its stdout) holds plain lines, never a carriage
return. Every phase logs its start and its end. A phase stays in status.json until the next
one replaces it; RunFiles clears it when training begins, and from then on the step counter
tells.

    with Phase(rd, "reference", total=len(pairs)) as phase:
        for batch in batches:
            ...
            phase.advance(len(batch))
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Any

from .rundir import RunDir

log = logging.getLogger(__name__)
# name -> what it does, for the terminal and train.log (the WebUI translates the name: i18n)
PHASES = {
    "imports": "loading the training libraries",
    "data": "loading and tokenizing the data",
    "model": "loading the model",
    "ref_model": "loading the reference model",
    "reference": "computing reference log-probs",
    "trainer": "setting up the trainer",
    "start": "starting training",
}
UNITS = {"reference": "pairs", "data": "rows"}  # what a phase counts; absent: no count
FIELDS = ("phase", "phase_done", "phase_total", "phase_eta_s", "phase_started_at")
CLEARED = dict.fromkeys(FIELDS)  # update_status(**CLEARED) ends the phase display
REPORT_S = 0.5  # status.json at most this often
LINE_S = 5.0  # a log line at most this often when stdout is not a terminal


class Phase:
    """One phase of a run's set-up; `total` is how many items it counts (None: no count).
    `rd` None reports to the terminal only (a probe, a test)."""

    def __init__(self, rd: RunDir | None, name: str, total: int | None = None) -> None:
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}; one of {', '.join(PHASES)}")
        # several processes (torchrun sets RANK): rank 0 alone writes the run folder
        rank0 = int(os.environ.get("RANK", "0")) == 0
        self.rd, self.name, self.total = rd if rank0 else None, name, total
        self.done = 0
        self.started = self.reported = self.lined = self.counted = 0.0
        self.bar: Any = None
        self.redirect = contextlib.ExitStack()

    def __enter__(self) -> Phase:
        self.start()
        return self

    def __exit__(self, kind, value, tb) -> None:
        self.finish(ok=kind is None)

    def start(self) -> None:
        """Show the phase now: in status.json, as a log line, and as a bar on a terminal."""
        self.started = self.lined = self.counted = time.time()
        log.info("%s%s...", PHASES[self.name].capitalize(),
                 f" ({self.total} {UNITS.get(self.name, 'items')})" if self.total else "")
        self._bar()
        self._status()

    def count(self, total: int) -> None:
        """The phase's count, learnt after it started (the data phase knows how many rows it
        tokenizes once it has read them): counting and the ETA start from here."""
        self.total, self.done, self.counted = total, 0, time.time()
        self._bar()
        self._status()

    def _bar(self) -> None:
        if self.total and self.bar is None and _terminal():
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self.bar = tqdm(total=self.total, desc=PHASES[self.name].capitalize(),
                            unit=f" {UNITS.get(self.name, 'items')}", file=sys.stdout,
                            dynamic_ncols=True)
            self.redirect.enter_context(logging_redirect_tqdm())

    def advance(self, n: int = 1) -> None:
        """`n` more items done; reports when REPORT_S (status.json) or LINE_S (a log line,
        when there is no bar) has passed since the last time."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        now = time.time()
        if now - self.reported >= REPORT_S:
            self._status()
        if self.bar is None and self.total and now - self.lined >= LINE_S:
            self.lined = now
            log.info("%s", self.line())

    def finish(self, ok: bool = True) -> None:
        """The last report; the phase stays in status.json until replaced or cleared. A phase
        that raised leaves its last report, so a failed run shows where it stopped."""
        if self.bar is not None:
            self.redirect.close()
            self.bar.close()
            self.bar = None
        if not ok:
            return
        self._status()
        log.info("%s: done in %.1f s", PHASES[self.name].capitalize(), time.time() - self.started)

    def eta_s(self) -> float | None:
        """Seconds left at the pace so far; None before the first item or without a count."""
        if not self.total or not self.done:
            return None
        elapsed = time.time() - self.counted
        return round(elapsed / self.done * max(self.total - self.done, 0), 1)

    def line(self) -> str:
        """`Computing reference log-probs: 40/200 pairs (20%), 3.1 s elapsed, about 12 s left`."""
        pct = 100 * self.done // self.total if self.total else 0
        eta = self.eta_s()
        left = f", about {eta:.0f} s left" if eta is not None else ""
        return (f"{PHASES[self.name].capitalize()}: {self.done}/{self.total} "
                f"{UNITS.get(self.name, 'items')} ({pct}%), "
                f"{time.time() - self.counted:.1f} s elapsed{left}")

    def fields(self) -> dict[str, Any]:
        """What status.json holds for this phase right now."""
        return {"phase": self.name, "phase_done": self.done if self.total else None,
                "phase_total": self.total, "phase_eta_s": self.eta_s(),
                "phase_started_at": self.started}

    def _status(self) -> None:
        self.reported = time.time()
        if self.rd is not None:
            self.rd.update_status(**self.fields())


def _terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False
