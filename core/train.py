"""Train from a YAML config:  python -m core train CONFIG.yaml [key=value ...]

The one training flow for the CLI, the WebUI and nohup runs. It resolves the run directory,
takes its lock, writes config.yaml, status.json, env.json and train.log, loads and checks the
data, then hands over to the stage's method (core/methods/). A finished run reruns with
`python -m core train saves/X/config.yaml` (into a new folder, saves/X-rerun-N); an aborted
or failed one continues with `resume_from_checkpoint=true`.

Examples:
  python -m core train examples/dpo_lora.yaml
  python -m core train examples/dpo_lora.yaml pref_loss=ipo pref_beta=0.5 max_steps=10
  nohup python -m core train examples/dpo_lora.yaml > dpo.log 2>&1 &
  python -m core train --keys          # every config key with its default and help
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import os
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

from .config import FIELDS, RunConfig, validate
from .errors import UserError
from .rundir import RunDir

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# stage -> module with train(cfg, rd, data, tokenizer, checkpoint) -> aborted?
METHODS = {"dpo": "core.methods.pairwise"}


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


def run(cfg: RunConfig, config_path: str | os.PathLike | None = None) -> RunDir:
    """Validate, set up the run directory and train. Returns the RunDir; raises on failure
    (after recording it in status.json)."""
    validate(cfg)
    cfg = resolve_run_dir(cfg, Path(config_path) if config_path else None)
    rd = RunDir(cfg.output_dir)
    with run_lock(rd), log_to_file(rd):
        _run_locked(cfg, rd)
    return rd


def _run_locked(cfg: RunConfig, rd: RunDir) -> None:
    import psutil

    from .env import write_env
    from .methods.common import pick_checkpoint

    checkpoint = pick_checkpoint(cfg, rd)  # refuses before anything is written
    rd.reset_metrics(after_step=_step_of(checkpoint))
    cfg.save(rd.config)

    rd.update_status(state="running", pid=os.getpid(), pid_started_at=psutil.Process().create_time(),
                     started_at=time.time(), ended_at=None, exit_code=None, error=None,
                     stage=cfg.stage, model=cfg.model_name_or_path, dataset=cfg.dataset)
    log.info("Run %s: stage=%s model=%s dataset=%s", rd.path, cfg.stage,
             cfg.model_name_or_path, cfg.dataset)
    try:
        aborted = _train(cfg, rd, write_env, checkpoint)
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


def _train(cfg: RunConfig, rd: RunDir, write_env, checkpoint: str | None) -> bool:
    from .data import load_for_training
    from .data.templates import get_template
    from .models import check_machine, load_tokenizer

    if cfg.stage not in METHODS:
        raise UserError(f"stage: {cfg.stage} is not available yet; use one of {', '.join(METHODS)}")
    import transformers

    transformers.utils.logging.disable_progress_bar()  # bars garble train.log
    # Raised by the Trainer's own internals on every run; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
    check_machine(cfg)
    tokenizer = load_tokenizer(cfg)
    template = get_template(cfg.template, tokenizer, cfg.enable_thinking)
    data = load_for_training(cfg, template)
    write_env(rd, cfg, data.fingerprint)
    method = importlib.import_module(METHODS[cfg.stage])
    return bool(method.train(cfg, rd, data, tokenizer, checkpoint))


def add_arguments(parser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config file (e.g. examples/dpo_lora.yaml)")
    parser.add_argument("overrides", nargs="*", help="key=value pairs that replace YAML values")
    parser.add_argument("--keys", action="store_true", help="list every config key and exit")


def main(args) -> int:
    if args.keys:
        for name, f in FIELDS.items():
            print(f"{name} (default {f.default!r}): {f.metadata['help']}")
        return 0
    if not args.config:
        raise UserError("give a config file: python -m core train CONFIG.yaml [key=value ...]")
    cfg = RunConfig.load(args.config, args.overrides)
    rd = run(cfg, args.config)
    print(f"run finished: {rd.path} ({rd.status().get('state')})")
    return 0
