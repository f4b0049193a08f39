"""Pick lists of the runs that offer a model, for the Chat, Evaluate and Export tabs (which
runs do, and from which folder, is core.models.spec.run_model_folder's decision).

    loadable(runs)                     # [(RunInfo, folder its model loads from)], newest first
    model_choices(ws, runs, True)      # [(label, value)]: runs and their complete checkpoints
    judges(ws, runs)                   # `rm` runs with a final model (reward models)

A value is the folder the model loads from (the run's, or its newest complete checkpoint's) as
the UI shows paths (relative to the project root when inside it), so it can be typed too;
`source(ws, value)` turns one back into a confined folder.
"""
from __future__ import annotations

from pathlib import Path

from core.config import RunConfig
from core.errors import UserError
from core.models.spec import run_model_folder
from core.runs.manager import RunInfo, RunManager
from core.runs.rundir import RunDir

from .workspace import Workspace

REWARD_STAGE = "rm"


def stage(info: RunInfo) -> str | None:
    """The run's stage: from status.json, else from its config.yaml."""
    if info.stage:
        return info.stage
    try:
        return RunConfig.load(info.path / "config.yaml").stage
    except (UserError, OSError):  # ConfigError is a UserError
        return None


def usable(info: RunInfo) -> bool:
    """The run offers a model to load (core.models.spec.run_model_folder decides)."""
    return run_model_folder(info) is not None


def loadable(runs: RunManager, reward: bool = False) -> list[tuple[RunInfo, Path]]:
    """(run, the folder its model loads from), newest first: generative runs, or with `reward`
    only the reward models."""
    out = []
    for info in runs.list():
        folder = run_model_folder(info)
        if folder is not None and (stage(info) == REWARD_STAGE) == reward:
            out.append((info, folder))
    return out


def model_choices(ws: Workspace, runs: RunManager,
                  with_checkpoints: bool = False) -> list[tuple[str, str]]:
    """(label, value) per loadable run, each followed by its other complete checkpoints when
    asked. A run that loads from a checkpoint (no final model) says which, as a checkpoint
    entry does: "my-run · checkpoint-20"."""
    out = []
    for info, folder in loadable(runs):
        out.append((_label(info, folder), ws.shown(folder)))
        if with_checkpoints:
            out += [(_label(info, c.path), ws.shown(c.path))
                    for c in RunDir(info.path).checkpoints() if c.complete and c.path != folder]
    return out


def _label(info: RunInfo, folder: Path) -> str:
    return info.name if folder == info.path else f"{info.name} · {folder.name}"


def judges(ws: Workspace, runs: RunManager) -> list[tuple[str, str]]:
    """Reward models with a final model: the judge reads the run folder (its config.yaml)."""
    return [(i.name, ws.shown(i.path)) for i, folder in loadable(runs, reward=True)
            if folder == i.path]


def source(ws: Workspace, value: str, key: str = "run") -> Path:
    """A picked or typed run/checkpoint/adapter folder, confined to data/ and saves/."""
    path = ws.confine(value, key)
    if not path.is_dir():
        raise UserError(f"{key}: {value} is not a folder; pick a finished run")
    return path
