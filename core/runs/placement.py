"""Where a run goes and whether it may start there: one home for the decisions the CLI, the
RunManager and the WebUI's Preview all make.

    cfg = place(cfg, saves_dir)          # output_dir (absolute) and run_name filled in
    check_free(RunDir(cfg.output_dir), cfg)  # UserError when starting would overwrite a run
    resume_point(cfg, rd)                    # the checkpoint it would resume from (reads only)
    checkpoint = pick_checkpoint(cfg, rd)    # the same, cleared to train on (the trainer)

A folder may take a new run when it holds no checkpoint, no final model and no completed run
(a run that failed or was aborted before its first save can be started again there); anything
else needs resume_from_checkpoint or a new output_dir (that is all LLaMA-Factory's
overwrite_output_dir means here: true or false, nothing here deletes a complete checkpoint).
A resume compares the config with the one its checkpoint recorded (config_changes): other
max_steps, learning_rate, ... are logged, another model, stage, finetuning_type, LoRA layout,
quantization or template is refused.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.errors import UserError
from core.paths import PROJECT_ROOT

from .rundir import (
    CHECKPOINT,
    Checkpoint,
    RunDir,
    config_hash,
    inspect_checkpoint,
    verify_checkpoint,
)

log = logging.getLogger(__name__)
PLACEMENT = ("output_dir", "run_name", "resume_from_checkpoint")  # where, not what, a run trains
# Settings a checkpoint's weights depend on (when relevant to the config: lora_* for LoRA):
# another base, start adapter, objective, adapter layout, quantization or prompt format makes
# them meaningless. Any other change (max_steps, learning_rate, ...) resumes with a warning.
FIXED = ("model_name_or_path", "adapter_name_or_path", "stage", "finetuning_type", "template",
         "quantization_bit", "quantization_type", "lora_rank", "lora_target", "use_dora",
         "pissa_init", "freeze_trainable_layers")


def default_run_name(cfg: RunConfig) -> str:
    """<stage>-<first dataset>-<date>-<time>, one folder name: the dataset name is cut to 60
    characters and anything but letters, digits, `.`, `_` and `-` becomes `_` (a name like
    ../../x must not lead out of saves/)."""
    dataset = cfg.datasets[0] if cfg.datasets else "data"
    dataset = re.sub(r"[^\w.-]+", "_", dataset)[:60].strip(".") or "data"
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


def in_use(rd: RunDir) -> str:
    """Why a run cannot start in a folder whose lock another training process holds."""
    pid = rd.status().get("pid", "?")
    return (f"output_dir: {rd.path} is in use by another training process (pid {pid}); wait "
            "for it, abort it, or choose a new output_dir")


def check_writable(folder: Path) -> None:
    """Refuse (UserError) a run folder that cannot be made or written: a file stands where it
    or a folder above it would be, or the nearest existing folder is read-only."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"output_dir: {existing} is a file, so the run folder {folder} cannot "
                        "be made there; choose another output_dir")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"output_dir: {existing} is not writable for this user; choose an "
                        "output_dir in a folder you can write")


def check_free(rd: RunDir, cfg: RunConfig) -> None:
    """Refuse (UserError) a start that would train over another run's checkpoints or final
    model, or a resume with nothing to resume from, or a folder that cannot be made."""
    check_writable(rd.path)
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


def resume_point(cfg: RunConfig, rd: RunDir) -> Checkpoint | None:
    """The checkpoint a run of `cfg` in `rd` resumes from (None: a fresh start), with every
    refusal (UserError) a start would meet; reads only, so a dry run can ask too."""
    check_free(rd, cfg)
    resume = cfg.resume_from_checkpoint
    if resume in (None, False):
        return None
    checkpoints = rd.checkpoints()
    chosen = _newest_sound(rd, checkpoints) if resume is True else _named_checkpoint(str(resume))
    done = [c.path.name for c in checkpoints if c.step > chosen.step and c.complete]
    if done:  # training on would save into their folder names
        raise UserError(f"resume_from_checkpoint: {chosen.path.name} is older than "
                        f"{', '.join(done)}, which training on would overwrite; resume from the "
                        "newest (resume_from_checkpoint=true), or continue from it in a new "
                        f"folder: output_dir=NEW resume_from_checkpoint={chosen.path}")
    fixed = [c for c in config_changes(cfg, chosen) if c.fixed]
    if fixed:
        raise UserError(f"resume_from_checkpoint: {chosen.path} was saved with another "
                        f"{_listed(fixed)}, so its weights do not fit this config; set "
                        f"{'it' if len(fixed) == 1 else 'them'} back, or start fresh in a new "
                        "output_dir")
    _check_max_steps(cfg, chosen)
    return chosen


def _newest_sound(rd: RunDir, checkpoints: list[Checkpoint]) -> Checkpoint:
    """The newest complete checkpoint whose files still match their checksums. A corrupt one
    is logged, and marked incomplete in `checkpoints` (so newer-than checks pass it over)."""
    problems = []
    for i in reversed(range(len(checkpoints))):
        if not checkpoints[i].complete:
            continue
        checked = verify_checkpoint(checkpoints[i])
        if checked.complete:
            return checked
        checkpoints[i] = checked
        log.warning("Skipping %s: %s.", checked.path, checked.problem)
        problems.append(f"{checked.path.name}: {checked.problem}")
    raise UserError(f"resume_from_checkpoint: no sound checkpoint in {rd.path} "
                    f"({'; '.join(problems)}); remove the key to start fresh")


def _check_max_steps(cfg: RunConfig, chosen: Checkpoint) -> None:
    """A resume whose max_steps is not above the checkpoint's step would train nothing and end
    `completed` (or, at the same step, train one step past it); refuse it with both numbers."""
    if 0 < cfg.max_steps <= chosen.step:
        raise UserError(f"max_steps: {cfg.max_steps} is not above the step of {chosen.path.name} "
                        f"({chosen.step}), so resuming would train nothing; set max_steps above "
                        f"{chosen.step}, or start fresh in a new output_dir")


def pick_checkpoint(cfg: RunConfig, rd: RunDir) -> str | None:
    """The checkpoint to resume from, or None for a fresh start (resume_point). Incomplete ones
    are reported and skipped, changed settings logged; incomplete folders past the chosen one
    are removed, since this run saves those steps again."""
    checkpoints = rd.checkpoints()
    for c in checkpoints:
        if not c.complete:
            log.warning("Skipping %s: %s.", c.path, c.problem)
    chosen = resume_point(cfg, rd)
    if chosen is None:
        return None
    newest = " (newest complete checkpoint)" if cfg.resume_from_checkpoint is True else ""
    log.info("Resuming from %s%s.", chosen.path, newest)
    changes = config_changes(cfg, chosen)
    if changes:
        log.warning("Resuming %s with changed settings: %s.", chosen.path.name, _listed(changes))
    for c in checkpoints:  # no half-written file may survive into a new checkpoint
        if c.step > chosen.step:
            log.warning("Removing %s (%s): this run saves that step again.", c.path,
                        c.problem or "a file differs from its checksum")
            shutil.rmtree(c.path)
    return str(chosen.path)


@dataclass(frozen=True)
class Change:
    """A setting that differs between a checkpoint's run and the config resuming it."""
    key: str
    old: Any
    new: Any
    fixed: bool  # the checkpoint's weights do not fit the new value: resuming is refused

    def __str__(self) -> str:
        return f"{self.key} ({self.old!r} -> {self.new!r})"


def resume_settings(cfg: RunConfig) -> dict[str, Any]:
    """What a checkpoint records of its run's config (its COMPLETE marker): every setting
    except where the run lives, so a copy resumed elsewhere compares equal."""
    return {k: v for k, v in cfg.to_dict().items() if k not in PLACEMENT}


def config_changes(cfg: RunConfig, checkpoint: Checkpoint) -> list[Change]:
    """The settings `cfg` changes against the run that saved `checkpoint`. Markers written
    before settings were recorded compare as unchanged. Keys the marker lacks (added since)
    are skipped: there is nothing to compare them with."""
    if checkpoint.config_hash is None or checkpoint.config is None:
        return []
    now = resume_settings(cfg)
    if config_hash(now) == checkpoint.config_hash:
        return []
    return [Change(k, checkpoint.config[k], v, k in FIXED and cfg.relevant(k))
            for k, v in now.items() if k in checkpoint.config and checkpoint.config[k] != v]


def _listed(changes: list[Change]) -> str:
    return ", ".join(str(c) for c in changes)


def _named_checkpoint(resume: str) -> Checkpoint:
    path = Path(resume)
    match = CHECKPOINT.match(path.name)
    if not path.is_dir() or not match:
        raise UserError(f"resume_from_checkpoint: {resume} is not a checkpoint-N folder")
    chosen = inspect_checkpoint(path, int(match.group(1)), verify=True)
    if not chosen.complete:
        raise UserError(f"resume_from_checkpoint: {resume} is incomplete ({chosen.problem}); "
                        "pick another or use resume_from_checkpoint=true")
    return chosen
