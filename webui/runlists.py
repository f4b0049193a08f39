"""Pick lists of finished runs for the Chat, Evaluate and Export tabs.

    finished(runs)                     # completed runs that hold a model, newest first
    model_choices(ws, runs, True)      # [(label, value)]: runs and their complete checkpoints
    judges(ws, runs)                   # finished `rm` runs (reward models)

A value is the run's folder as the UI shows paths (relative to the project root when inside
it), so it can be typed too; `source(ws, value)` turns one back into a confined folder.
"""
from __future__ import annotations

from pathlib import Path

from core.config import ConfigError, RunConfig
from core.errors import UserError
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
    except (UserError, ConfigError, OSError):
        return None


def usable(info: RunInfo) -> bool:
    """Completed, with a final model or a complete checkpoint to load."""
    if info.state != "completed":
        return False
    rd = RunDir(info.path)
    return rd.has_final_model() or (info.path / "adapter_config.json").is_file() or any(
        c.complete for c in rd.checkpoints())


def finished(runs: RunManager, reward: bool = False) -> list[RunInfo]:
    """Usable runs, newest first: generative ones, or with `reward` only the reward models."""
    return [i for i in runs.list() if usable(i) and (stage(i) == REWARD_STAGE) == reward]


def checkpoints(info: RunInfo) -> list[Path]:
    return [c.path for c in RunDir(info.path).checkpoints() if c.complete]


def model_choices(ws: Workspace, runs: RunManager, with_checkpoints: bool = False,
                  infos: list[RunInfo] | None = None) -> list[tuple[str, str]]:
    """(label, value) per finished run, each followed by its checkpoints when asked."""
    out = []
    for info in finished(runs) if infos is None else infos:
        out.append((info.name, ws.shown(info.path)))
        if with_checkpoints:
            out += [(f"{info.name} · {c.name}", ws.shown(c)) for c in checkpoints(info)]
    return out


def judges(ws: Workspace, runs: RunManager) -> list[tuple[str, str]]:
    return [(i.name, ws.shown(i.path)) for i in finished(runs, reward=True)]


def source(ws: Workspace, value: str, key: str = "run") -> Path:
    """A picked or typed run/checkpoint/adapter folder, confined to data/ and saves/."""
    path = ws.confine(value, key)
    if not path.is_dir():
        raise UserError(f"{key}: {value} is not a folder; pick a finished run")
    return path
