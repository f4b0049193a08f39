"""One run, several processes: `python -m core train x.yaml` re-executes itself under torchrun
when the config asks for more than one process (nproc_per_node x nnodes) or for DeepSpeed or
FSDP. The CLI, the RunManager (which starts the CLI) and the WebUI's Preview all read the
command from here.

    needs_launch(cfg)                   # several processes, and not already one of them
    machine()                           # Machine(gpus=(("NVIDIA H200", 139.8),), cpus=16)
    command(cfg, "x.yaml", ["max_steps=5"])   # the argv, run without a shell
    node_commands(cfg, "x.yaml", [])    # what to type on nodes 1..nnodes-1
    rd = launch(cfg, "x.yaml", [])      # place the run, hold its lock, run torchrun, settle

The launching process holds the run folder's lock and stays its `pid` in status.json, so an
abort (SIGTERM) reaches it: it passes the signal to every rank of this node; the ranks agree
on the step to stop at (core.methods.callbacks.GracefulStop), save, and rank 0 writes the end.
A second signal kills them. A rank that fails writes its error to <run>/.rank-N.error; the
first one becomes the run's error in status.json.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil

from core.config import RunConfig
from core.runs.info import abort_deadline
from core.runs.procs import kill
from core.runs.rundir import FINAL_STATES, RunDir

log = logging.getLogger(__name__)
LAUNCHER_PID = "PREFSTUDIO_LAUNCHER_PID"  # set for the ranks: the pid status.json names
ERROR_GLOB = ".rank-*.error"
WAIT_S = 0.5  # how often the launching process looks at its ranks


def processes(cfg: RunConfig) -> int:
    """Processes on this node: nproc_per_node, else one per visible GPU (1 without one)."""
    if cfg.nproc_per_node:
        return cfg.nproc_per_node
    import torch

    return torch.cuda.device_count() or 1


def inside_launch() -> bool:
    """Whether this process is one of torchrun's ranks."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


@dataclass(frozen=True)
class Machine:
    """What this machine offers the launch keys: its GPUs (name, GiB) and CPUs."""

    gpus: tuple[tuple[str, float], ...]
    cpus: int


def machine() -> Machine:
    import torch

    from core.config.choices import CPUS

    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append((props.name, round(props.total_memory / 2**30, 1)))
    return Machine(tuple(gpus), CPUS)


def needs_launch(cfg: RunConfig) -> bool:
    """More than one process in all, or DeepSpeed/FSDP (which need torchrun's environment even
    on one GPU), and this process is not already a rank."""
    wants = processes(cfg) * cfg.nnodes > 1 or bool(cfg.deepspeed or cfg.fsdp)
    return wants and not inside_launch()


def command(cfg: RunConfig, config_path: str | os.PathLike, overrides: Sequence[str] = (),
            reward_funcs: Sequence[str] = (), node_rank: int | None = None,
            python: str = sys.executable) -> list[str]:
    """torchrun (as `python -m torch.distributed.run`) running `python -m core train` in every
    process. One node: a standalone rendezvous on a free port (two runs never collide); several:
    node 0's master_addr:master_port."""
    launcher = [python, "-m", "torch.distributed.run", f"--nproc_per_node={processes(cfg)}"]
    if cfg.nnodes == 1:
        launcher.append("--standalone")
    else:
        rank = cfg.node_rank if node_rank is None else node_rank
        launcher += [f"--nnodes={cfg.nnodes}", f"--node_rank={rank}",
                     f"--master_addr={cfg.master_addr}", f"--master_port={cfg.master_port}"]
    train = ["-m", "core", "train", *(f"--reward-func={r}" for r in reward_funcs),
             str(config_path), *overrides]
    return launcher + train


def placed(cfg: RunConfig) -> list[str]:
    """The overrides every rank gets from the launcher: where the run goes (`cfg` as placement
    filled it in), so that every rank writes and reads the same folder. The checkpoint to
    resume from each rank finds itself: the newest complete one, or the one named."""
    return [f"output_dir={cfg.output_dir}", f"run_name={cfg.run_name}"]


def node_commands(cfg: RunConfig, config_path: str | os.PathLike,
                  overrides: Sequence[str] = (), reward_funcs: Sequence[str] = ()) -> list[str]:
    """For a run over several nodes: the shell line to type on each other node (the same
    project and config there; output_dir is where node 0 writes)."""
    lines = []
    for rank in range(1, cfg.nnodes):
        argv = command(cfg, config_path, [*overrides, f"node_rank={rank}"], reward_funcs,
                       node_rank=rank, python="python")
        lines.append(shlex.join(argv))
    return lines


def launch(cfg: RunConfig, config_path: str | os.PathLike | None,
           overrides: Sequence[str] = (), reward_funcs: Sequence[str] = ()) -> RunDir:
    """Place the run, hold its lock and run torchrun until every rank ended; then write the
    end the ranks could not (a rank's error, a crash). Returns the RunDir. `cfg` is
    `config_path` with `overrides`; without a path (a config made in Python) the ranks read
    it from <run>/.launch.yaml."""
    from core.config import validate
    from core.models.loading import check_machine
    from core.runs.placement import place, resume_point

    from .run import log_to_file, run_lock

    validate(cfg)
    check_machine(cfg)
    cfg = place(cfg, config_path=config_path)
    rd = RunDir(cfg.output_dir)
    with run_lock(rd):
        if config_path is None:
            config_path, overrides = rd.path / ".launch.yaml", ()
            cfg.save(config_path)
        resume_point(cfg, rd)  # refuses a resume that cannot work before any rank starts
        fixed = placed(cfg)
        argv = command(cfg, config_path, [*overrides, *fixed], reward_funcs)
        for stale in rd.path.glob(ERROR_GLOB):
            stale.unlink()
        with log_to_file(rd):
            log.info("Launching %d process(es) on this node: %s", processes(cfg), shlex.join(argv))
            for i, line in enumerate(node_commands(cfg, config_path, [*overrides, *fixed])):
                log.info("On node %d, run: %s", i + 1, line)
            started = time.time()
            code, aborted = _run_ranks(argv, rd)
            _settle(rd, code, aborted, started)
    return rd


def _run_ranks(argv: list[str], rd: RunDir) -> tuple[int, bool]:
    """torchrun in a session of its own, so a terminal's Ctrl-C reaches this process alone
    (RunManager's kill lists every process below this one, torchrun and its ranks included).
    The first SIGTERM or SIGINT goes on as SIGTERM to each rank directly: they agree on the
    step to stop at, save and exit, however long the save takes (torchrun, when signalled
    itself, kills its ranks 30 s later). Before the ranks exist torchrun gets it. A second
    signal kills torchrun and every rank at once, and so does the abort's automatic grace
    (core.runs.info.abort_deadline, from the first signal and `rd`'s status) running out,
    for a run signalled from a shell as for one the RunManager aborts."""
    env = {**os.environ, LAUNCHER_PID: str(os.getpid()), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    asked: list[float] = []  # when each signal came

    def forward(signum, frame) -> None:
        asked.append(time.time())
        if proc.poll() is not None:
            return
        if len(asked) > 1:
            kill(proc.pid)
            return
        for target in _ranks(proc.pid) or [proc]:
            with contextlib.suppress(psutil.Error, ProcessLookupError):  # it ended meanwhile
                target.send_signal(signal.SIGTERM)

    main = threading.current_thread() is threading.main_thread()  # signals reach only it
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT) if main}
    killed = False
    try:
        while (code := proc.poll()) is None:
            if asked and not killed and time.time() >= abort_deadline(
                    {**rd.status(), "abort_requested_at": asked[0], "abort_grace_s": None}):
                log.warning("The ranks still run past the abort's grace: killing them.")
                kill(proc.pid)
                killed = True
            time.sleep(WAIT_S)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code, bool(asked)


def _ranks(torchrun_pid: int) -> list[psutil.Process]:
    """The rank processes torchrun started (its children); [] before it started them."""
    try:
        return psutil.Process(torchrun_pid).children()
    except psutil.Error:
        return []


def rank_errors(rd: RunDir) -> list[tuple[int, str]]:
    """(rank, error) of each rank that failed, the first to fail first."""
    found = sorted(rd.path.glob(ERROR_GLOB), key=lambda p: p.stat().st_mtime)
    return [(int(p.name.split("-")[1].split(".")[0]), p.read_text(encoding="utf-8").strip())
            for p in found]


def record_error(rd: RunDir, error: BaseException) -> None:
    """A rank's own failure, for the launching process to put in status.json."""
    from core.methods.sharding import rank

    rd.path.mkdir(parents=True, exist_ok=True)
    (rd.path / f".rank-{rank()}.error").write_text(f"{type(error).__name__}: {error}",
                                                   encoding="utf-8")


def _settle(rd: RunDir, code: int, aborted: bool, started: float) -> None:
    """The run's end when rank 0 did not write it, or a rank's error when one failed."""
    errors = rank_errors(rd)
    status = rd.status()
    ended = status.get("state") in FINAL_STATES and (status.get("ended_at") or 0) >= started
    now = time.time()
    if errors:
        rank, error = errors[0]
        rd.update_status(state="failed", error=f"rank {rank}: {error}", ended_at=now,
                         exit_code=code or 1)
        log.error("Run failed: rank %d: %s", rank, error)
    elif not ended or (code and status.get("state") == "completed"):
        state = "aborted" if aborted else "failed"
        rd.update_status(state=state, ended_at=now, exit_code=130 if aborted else (code or 1),
                         error=None if aborted else f"a training process exited with code "
                         f"{code}; see train.log")
        log.error("Run %s (torchrun exit code %d)", state, code)


def rank_label() -> str:
    """' [rank N]' for a rank's log lines, '' for a single process."""
    return f" [rank {os.environ['RANK']}]" if inside_launch() and "RANK" in os.environ else ""


def status_pid() -> tuple[int, float | None]:
    """The pid status.json names (the launching process when there is one) and its start."""
    pid = int(os.environ.get(LAUNCHER_PID) or os.getpid())
    try:
        return pid, psutil.Process(pid).create_time()
    except psutil.Error:
        return os.getpid(), psutil.Process().create_time()
