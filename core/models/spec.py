"""What model a run, checkpoint or adapter folder stands for (chat, export and evaluation),
and which runs offer a model to load.

    spec = run_model_spec("saves/demo-dpo")   # ModelSpec(base, merged, adapter, template, ...)
    run_model_folder(info)                    # saves/demo-dpo, saves/x/checkpoint-20 or None
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from core.errors import UserError

if TYPE_CHECKING:
    from core.runs.info import RunInfo
    from core.runs.rundir import RunDir

log = logging.getLogger(__name__)
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class ModelSpec(NamedTuple):
    """A run's model = base + merged(start adapters but the last) + the run's final adapter.
    `adapter` is None for full weights (then `base` is the run's own folder)."""

    base: str
    merged: tuple[str, ...]
    adapter: str | None
    template: str | None
    enable_thinking: bool


def run_folder(path: str | os.PathLike) -> Path | None:
    """The run directory a path belongs to (itself or, for checkpoint-N, its parent), if any."""
    path = Path(path)
    for folder in (path, path.parent):
        if (folder / "config.yaml").is_file():
            return folder
    return None


def run_model_spec(path: str | os.PathLike, base: str | None = None) -> ModelSpec:
    """What `path` (a run folder, one of its checkpoint-N folders, a bare adapter folder or a
    model folder) stands for. A run without a final model yet uses its newest complete
    checkpoint. `base` replaces the base model (e.g. a local copy of the hub id)."""
    from core.runs.rundir import RunDir

    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a folder: give a run folder (saves/NAME), one of its "
                        "checkpoint-N folders, or an adapter folder")
    run = run_folder(path)
    if run is None:  # a bare adapter or model folder
        if _is_adapter(path):
            return ModelSpec(base or _adapter_base(path), (), str(path), None, True)
        if _has_weights(path):
            return ModelSpec(str(path), (), None, None, True)
        raise UserError(f"{path} holds no adapter (adapter_config.json), no model weights and no "
                        "config.yaml")
    from core.config import RunConfig

    cfg = RunConfig.load(run / "config.yaml")
    weights = path if path != run else _final_or_checkpoint(RunDir(run))
    if path != run:
        _check_complete(path)
    lora = _is_adapter(weights)
    if not lora and not _has_weights(weights):
        raise UserError(f"{weights} holds neither an adapter nor model weights")
    # LoRA: all start adapters but the last were merged before training (the last was trained
    # further, so the final adapter contains it). full/freeze: all are in the saved weights.
    merged = tuple(cfg.adapters[:-1]) if lora else ()
    model = base or cfg.model_name_or_path
    return ModelSpec(model if lora else str(weights), merged, str(weights) if lora else None,
                     cfg.template, cfg.enable_thinking)


def run_model_folder(info: RunInfo) -> Path | None:
    """The folder a run's model loads from in the pickers, or None when it offers none: a
    completed run's final model (the run folder itself), else the newest complete checkpoint
    of any run that is not running (aborted, failed, or completed without a final model). A
    queued or running run offers nothing: it is still writing (a typed checkpoint path works)."""
    from core.runs.rundir import RunDir

    if info.alive or info.state in ("queued", "running"):
        return None
    if info.state == "completed" and _holds_model(info.path):
        return info.path
    return _newest_checkpoint(RunDir(info.path))


def _final_or_checkpoint(rd: RunDir) -> Path:
    if _holds_model(rd.path):
        return rd.path
    newest = _newest_checkpoint(rd)
    if newest is None:
        state = rd.status().get("state", "unknown")
        raise UserError(f"{rd.path} has no final model and no complete checkpoint yet (state: "
                        f"{state}); wait for its first save_steps checkpoint")
    log.info("%s has no final model yet; using %s.", rd.path, newest.name)
    return newest


def _newest_checkpoint(rd: RunDir) -> Path | None:
    """The newest complete checkpoint whose files match their checksums (a corrupt one is
    logged and passed over)."""
    from core.runs.rundir import verify_checkpoint

    for c in reversed([c for c in rd.checkpoints() if c.complete]):
        checked = verify_checkpoint(c)
        if checked.complete:
            return c.path
        log.warning("Skipping %s: %s.", c.path, checked.problem)
    return None


def _holds_model(path: Path) -> bool:
    """A final model: a LoRA adapter or full weights."""
    return _is_adapter(path) or _has_weights(path)


def _check_complete(folder: Path) -> None:
    from core.runs.rundir import CHECKPOINT, inspect_checkpoint

    match = CHECKPOINT.match(folder.name)
    if match:
        found = inspect_checkpoint(folder, int(match.group(1)), verify=True)
        if not found.complete:
            raise UserError(f"{folder} is incomplete ({found.problem}); pick another checkpoint")


def _is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def _has_weights(path: Path) -> bool:
    return (path / "config.json").is_file() and any((path / w).exists() for w in WEIGHTS)


def _adapter_base(path: Path) -> str:
    base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise UserError(f"{path}/adapter_config.json names no base model; give it with --model")
    return base
