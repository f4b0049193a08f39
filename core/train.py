"""Train from a YAML config:  python -m core train CONFIG.yaml [key=value ...]

The one training flow for the CLI, the WebUI and nohup runs. It resolves the run directory,
takes its lock, writes config.yaml, status.json, env.json and train.log, loads and checks the
data, then hands over to the stage's method (core/methods/). A finished run reruns with
`python -m core train saves/X/config.yaml` (into a new folder, saves/X-rerun-N); an aborted
or failed one continues with `resume_from_checkpoint=true`.

Examples:
  python -m core train examples/dpo_demo.yaml
  python -m core train examples/dpo_demo.yaml pref_loss=ipo pref_beta=0.5 max_steps=10
  nohup python -m core train examples/dpo_demo.yaml > dpo.log 2>&1 &
  python -m core train examples/sft_demo.yaml        # then: examples/dpo_from_sft.yaml
  python -m core train examples/grpo_demo.yaml --reward-func my_rewards:score
  python -m core train --keys          # every config key with its default and help

Stages: sft, dpo (+ ORPO/SimPO via pref_loss), kto, rm (reward model), grpo. Your own GRPO
reward functions are given here only, never in a YAML (a YAML may come from a form or a
stranger): --reward-func module:function (or path/to/file.py:function), repeatable; each is
called as f(prompts, completions, completion_ids, **dataset_columns) -> list of floats.
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
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .config import FIELDS, RunConfig, validate
from .errors import UserError
from .rundir import RunDir

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# stage -> module with train(cfg, rd, data, tokenizer, checkpoint) -> aborted?
METHODS = {"sft": "core.methods.sft", "dpo": "core.methods.pairwise", "kto": "core.methods.kto",
           "rm": "core.methods.rm", "grpo": "core.methods.grpo"}


def default_run_name(cfg: RunConfig) -> str:
    dataset = cfg.datasets[0] if cfg.datasets else "data"
    return f"{cfg.stage}-{dataset}-{datetime.now():%Y%m%d-%H%M%S}"


def resolve_run_dir(cfg: RunConfig, config_path: Path | None) -> RunConfig:
    """Fill output_dir/run_name; a rerun of a finished run's own config.yaml goes to a new
    sibling folder so nothing in the old run is overwritten."""
    if not cfg.run_name:
        cfg = cfg.replace(run_name=Path(cfg.output_dir).name if cfg.output_dir else default_run_name(cfg))
    if not cfg.output_dir:
        cfg = cfg.replace(output_dir=str(PROJECT_ROOT / "saves" / cfg.run_name))
    rd = RunDir(cfg.output_dir)
    is_own_config = config_path is not None and config_path.resolve() == rd.config.resolve()
    if is_own_config and cfg.resume_from_checkpoint in (None, False) and rd.holds_run():
        n = 1
        while Path(f"{cfg.output_dir}-rerun-{n}").exists():
            n += 1
        new = f"{cfg.output_dir}-rerun-{n}"
        log.info("%s already holds a run; rerunning its config into %s.", cfg.output_dir, new)
        cfg = cfg.replace(output_dir=new, run_name=Path(new).name)
    return cfg


@contextlib.contextmanager
def run_lock(rd: RunDir):
    """An exclusive flock on <run>/.lock while training: two trainings (UI and CLI, or two
    tabs) can never write the same directory. The OS drops it if the process dies."""
    rd.path.mkdir(parents=True, exist_ok=True)
    with open(rd.lock_file, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = rd.status().get("pid", "?")
            raise UserError(f"output_dir: {rd.path} is in use by another training process "
                            f"(pid {pid}); wait for it, abort it, or choose a new output_dir")
        yield


@contextlib.contextmanager
def log_to_file(rd: RunDir):
    """Copy our log to train.log, unless stdout already goes there (RunManager/nohup)."""
    try:
        if rd.log_file.exists() and os.path.samefile(rd.log_file, f"/proc/self/fd/{sys.stdout.fileno()}"):
            yield
            return
    except (OSError, ValueError):
        pass
    handler = logging.FileHandler(rd.log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                           "%H:%M:%S"))
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
    if reward_funcs and cfg.stage != "grpo":
        raise UserError(f"--reward-func is for stage grpo, not {cfg.stage}")
    cfg = resolve_run_dir(cfg, Path(config_path) if config_path else None)
    rd = RunDir(cfg.output_dir)
    with sigterm_interrupts(), run_lock(rd), log_to_file(rd):
        _run_locked(cfg, rd, tuple(reward_funcs))
    return rd


@contextlib.contextmanager
def sigterm_interrupts():
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
    import psutil

    from .env import write_env
    from .methods.common import pick_checkpoint

    checkpoint = pick_checkpoint(cfg, rd)  # refuses before anything is written
    rd.reset_metrics(after_step=_step_of(checkpoint))
    rd.stop_file.unlink(missing_ok=True)  # a STOP left by an earlier abort must not stop this run
    cfg.save(rd.config)

    rd.update_status(state="running", pid=os.getpid(), pid_started_at=psutil.Process().create_time(),
                     started_at=time.time(), ended_at=None, exit_code=None, error=None,
                     stage=cfg.stage, model=cfg.model_name_or_path, dataset=cfg.dataset)
    log.info("Run %s: stage=%s model=%s dataset=%s", rd.path, cfg.stage,
             cfg.model_name_or_path, cfg.dataset)
    try:
        aborted = _train(cfg, rd, write_env, checkpoint, reward_funcs)
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


def _train(cfg: RunConfig, rd: RunDir, write_env, checkpoint: str | None,
           reward_funcs: tuple[str, ...]) -> bool:
    from .data import load_for_training
    from .data.templates import get_template
    from .models import check_machine, load_tokenizer

    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()  # bars garble train.log
    datasets.disable_progress_bars()  # TRL's trainers map over datasets.Dataset
    # Raised by the Trainer's own internals on every run; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
    check_machine(cfg)
    tokenizer = load_tokenizer(cfg)
    template = get_template(cfg.template, tokenizer, cfg.enable_thinking)
    data = load_for_training(cfg, template)
    write_env(rd, cfg, data.fingerprint)
    method = importlib.import_module(METHODS[cfg.stage])
    extra = {"user_rewards": reward_funcs} if cfg.stage == "grpo" else {}
    return bool(method.train(cfg, rd, data, tokenizer, checkpoint, **extra))


def add_arguments(parser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config file (e.g. examples/dpo_demo.yaml)")
    parser.add_argument("overrides", nargs="*", help="key=value pairs that replace YAML values")
    parser.add_argument("--keys", action="store_true", help="list every config key and exit")
    parser.add_argument("--reward-func", action="append", default=[], metavar="MODULE:FUNCTION",
                        help="grpo: your own reward function (module:function or "
                        "file.py:function), repeatable; command line only, never from a YAML")


def main(args) -> int:
    if args.keys:
        for name, f in FIELDS.items():
            print(f"{name} (default {f.default!r}): {f.metadata['help']}")
        return 0
    if not args.config:
        raise UserError("give a config file: python -m core train CONFIG.yaml [key=value ...]")
    cfg = RunConfig.load(args.config, args.overrides)
    rd = run(cfg, args.config, reward_funcs=args.reward_func)
    print(f"run finished: {rd.path} ({rd.status().get('state')})")
    return 0
