"""A form's config as it will be saved and run: the YAML and the shell command. Shared by the
Train tab (Preview, Save, Load) and the Runs tab (Load config into Train), so no tab imports
another. Quick and writes nothing: the dry run of the data (core.training.preflight) is the
Train tab's Preview.

    text, cmd, problems = config_preview(ws, values)   # (None, None, problems) if unparsable
    text, cmd = filled(ws, values)                      # "" for what cannot be shown
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.runs.placement import PLACEMENT, place

from . import forms
from .workspace import Workspace

Problems = list[tuple[str, str]]


def placed(ws: Workspace, cfg: RunConfig) -> tuple[RunConfig, str]:
    """The config as it will be saved (output_dir and run_name filled, as core places it) and
    its folder as the UI shows paths."""
    cfg = place(cfg, ws.saves_dir, root=ws.root)
    shown = ws.shown(Path(cfg.output_dir))
    return cfg.replace(output_dir=shown), shown


def command(folder: str) -> str:
    """The shell line that runs a saved config in the background, like Start does."""
    config, log = shlex.quote(f"{folder}/config.yaml"), shlex.quote(f"{folder}/train.log")
    return f"nohup python -m core train {config} > {log} 2>&1 &"


def config_preview(ws: Workspace,
                   values: dict[str, Any]) -> tuple[str | None, str | None, Problems]:
    """(YAML, command, the form's problems); (None, None, problems) when a value does not
    parse."""
    cfg, found = forms.build_config(values, ws)
    if cfg is None:
        return None, None, found
    if any(key in PLACEMENT for key, _ in found):  # no folder to name: no command
        return cfg.to_yaml(), None, found
    cfg, folder = placed(ws, cfg)
    return cfg.to_yaml(), command(folder), found


def filled(ws: Workspace, values: dict[str, Any]) -> tuple[str, str]:
    """The YAML and command previews for values just put into the form ("" when invalid)."""
    text, cmd, _ = config_preview(ws, values)
    return text or "", cmd or ""
