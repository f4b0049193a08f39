"""A long core call (evaluation, export) in a thread, so a generator handler can report
progress while it runs and the page stays responsive.

    job = Job(export, run, out)
    for elapsed in job.ticks():          # every second while it runs
        yield f"working… {elapsed:.0f} s"
    path = job.result()                  # its return value, or its exception raised here
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator


class Job:
    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        self.started = time.monotonic()
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True,
                                        name=f"job-{getattr(fn, '__name__', 'call')}")
        self._thread.start()

    def _run(self, fn, args, kwargs) -> None:
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as e:  # handed to the caller's thread by result()
            self._error = e

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def ticks(self, every: float = 1.0) -> Iterator[float]:
        """Seconds elapsed, every `every` seconds while the call runs."""
        while True:
            self._thread.join(timeout=every)
            if not self._thread.is_alive():
                return
            yield self.elapsed

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
