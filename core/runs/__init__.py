"""Runs: the run directory contract (rundir), where a run goes and whether it may start
(placement), what the UI shows of a run (info), their processes (procs) and the RunManager
that starts, queues, aborts, resumes and deletes them. Light: no torch, no transformers."""
from .info import RunInfo
from .manager import RunManager
from .rundir import RunDir

__all__ = ["RunDir", "RunInfo", "RunManager"]
