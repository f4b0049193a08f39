"""Where a run goes and whether it may start there: one home for the decisions the CLI, the
RunManager and the WebUI's Preview all make.

    cfg = place(cfg, saves_dir)          # output_dir (absolute) and run_name filled in
    check_free(RunDir(cfg.output_dir), cfg)  # UserError when starting would overwrite a run
    checkpoint = pick_checkpoint(cfg, rd)    # the checkpoint to resume from, or None

A folder may take a new run when it holds no checkpoint, no final model and no completed run
(a run that failed or was aborted before its first save can be started again there); anything
else needs resume_from_checkpoint or a new output_dir. That is all LLaMA-Factory's
overwrite_output_dir means here: true or false, nothing here deletes a complete checkpoint.
"""
from __future__ import annotations

import logging
import os
import shutil
from datetime import datetime
from pathlib import Path

from core.config import RunConfig
from core.errors import UserError
from core.paths import PROJECT_ROOT

from .rundir import CHECKPOINT, Checkpoint, RunDir, inspect_checkpoint

log = logging.getLogger(__name__)


def default_run_name(cfg: RunConfig) -> str:
    """<stage>-<first dataset>-<date>-<time>."""
    dataset = cfg.datasets[0] if cfg.datasets else "data"
    return f"{cfg.stage}-{dataset}-{datetime.now():%Y%m%d-%H%M%S}"


def place(cfg: RunConfig, saves_dir: str | os.PathLike | None = None,
          config_path: str | os.PathLike | None = None, root: Path | None = None) -> RunConfig:
    """The config with an absolute output_dir and a run_name. A relative output_dir is read from
    `root` (default: the current directory; the RunManager and the WebUI pass the project root,
    where runs are launched); none means <saves_dir, default saves/>/<run_name or a dated name>
    (a dated name gets -2, -3, ... when two starts fall in the same second). Rerunning a
    finished run's own config.yaml goes to a new sibling folder, <run>-rerun-N."""
    saves = Path(saves_dir) if saves_dir else PROJECT_ROOT / "saves"
    if cfg.output_dir:
        path = Path(cfg.output_dir).expanduser()
        path = path if path.is_absolute() else (root or Path.cwd()) / path
    else:
        name = cfg.run_name or default_run_name(cfg)
        path, n = saves / name, 2
        while not cfg.run_name and path.exists():
            path, n = saves / f"{name}-{n}", n + 1
    path = path.resolve()
    cfg = cfg.replace(output_dir=str(path), run_name=cfg.run_name or path.name)
    rd = RunDir(path)
    own = config_path is not None and Path(config_path).resolve() == rd.config.resolve()
    if own and cfg.resume_from_checkpoint in (None, False) and rd.holds_run():
        n = 1
        while Path(f"{path}-rerun-{n}").exists():
            n += 1
        new = Path(f"{path}-rerun-{n}")
        log.info("%s already holds a run; rerunning its config into %s.", path, new)
        cfg = cfg.replace(output_dir=str(new), run_name=new.name)
    return cfg


def check_free(rd: RunDir, cfg: RunConfig) -> None:
    """Refuse (UserError) a start that would train over another run's checkpoints or final
    model, or a resume with nothing to resume from."""
    resume = cfg.resume_from_checkpoint
    checkpoints = rd.checkpoints()
    completed = rd.status().get("state") == "completed"
    if resume in (None, False) and (checkpoints or rd.has_final_model() or completed):
        held = (", ".join(c.path.name for c in checkpoints)
                or ("a final model" if rd.has_final_model() else "a completed run"))
        never = (" overwrite_output_dir never deletes a run here." if cfg.overwrite_output_dir
                 else "")
        raise UserError(f"output_dir: {rd.path} already holds a run ({held}).{never} To continue "
                        "it, add resume_from_checkpoint=true; to start over, choose a new "
                        "output_dir.")
    if resume is True and not any(c.complete for c in checkpoints):
        raise UserError(f"resume_from_checkpoint: no complete checkpoint in {rd.path}; remove "
                        "the key to start fresh")


def pick_checkpoint(cfg: RunConfig, rd: RunDir) -> str | None:
    """The checkpoint to resume from, or None for a fresh start. Incomplete ones are reported
    and skipped; a fresh start over existing checkpoints is refused (check_free)."""
    checkpoints = rd.checkpoints()
    for c in checkpoints:
        if not c.complete:
            log.warning("Skipping %s: %s.", c.path, c.problem)
    check_free(rd, cfg)
    resume = cfg.resume_from_checkpoint
    if resume in (None, False):
        return None
    if resume is True:
        chosen = [c for c in checkpoints if c.complete][-1]
        log.info("Resuming from %s (newest complete checkpoint).", chosen.path)
    else:
        chosen = _named_checkpoint(str(resume))
        log.info("Resuming from %s.", chosen.path)
    _clear_after(chosen, checkpoints)
    return str(chosen.path)


def _named_checkpoint(resume: str) -> Checkpoint:
    path = Path(resume)
    match = CHECKPOINT.match(path.name)
    if not path.is_dir() or not match:
        raise UserError(f"resume_from_checkpoint: {resume} is not a checkpoint-N folder")
    chosen = inspect_checkpoint(path, int(match.group(1)))
    if not chosen.complete:
        raise UserError(f"resume_from_checkpoint: {resume} is incomplete ({chosen.problem}); "
                        "pick another or use resume_from_checkpoint=true")
    return chosen


def _clear_after(chosen: Checkpoint, checkpoints: list[Checkpoint]) -> None:
    """The resumed run saves the steps after `chosen` again, into the same folder names.
    Incomplete leftovers there are removed so no half-written file survives into a new
    checkpoint; complete ones are never overwritten: that is refused."""
    later = [c for c in checkpoints if c.step > chosen.step]
    done = [c.path.name for c in later if c.complete]
    if done:
        raise UserError(f"resume_from_checkpoint: {chosen.path.name} is older than "
                        f"{', '.join(done)}, which training on would overwrite; resume from the "
                        "newest (resume_from_checkpoint=true), or continue from it in a new "
                        f"folder: output_dir=NEW resume_from_checkpoint={chosen.path}")
    for c in later:
        log.warning("Removing %s (%s): this run saves that step again.", c.path, c.problem)
        shutil.rmtree(c.path)
