"""The Train tab's YAML files: Save YAML writes the form's config to a file in saves/ or
data/ (never into a run folder, so saving makes no run), Load YAML reads one from saves/,
data/ or examples/ into form values, and the Load list offers them. Plain functions of form
values (key -> widget value), tested without a browser.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.errors import UserError
from core.runs.rundir import RunDir

from . import forms
from .i18n import DEFAULT, t
from .preview import CONFIGS, Problems, yaml_target
from .workspace import Workspace


def save_yaml(ws: Workspace, values: dict[str, Any],
              path: str | None) -> tuple[str | None, Problems]:
    """Write the form's config to `path` in saves/ or data/ (empty: saves/configs/<name>.yaml,
    see preview.yaml_target), never into a run folder, so saving makes no run. Returns (the
    path written, problems); nothing is written when there are any."""
    cfg, found = forms.build_config(values, ws)
    if cfg is None or found:
        return None, found
    try:
        target = ws.confine(yaml_target(ws, cfg, path), "yaml_path")
        check_yaml_target(ws, target)
    except UserError as e:
        return None, [("yaml_path", str(e))]
    try:
        cfg.save(target)
    except OSError as e:  # a folder where the file goes, no permission, a full disk
        return None, [("yaml_path", f"yaml_path: cannot write {ws.shown(target)}: "
                       f"{e.strerror or e}")]
    return ws.shown(target), []


def check_yaml_target(ws: Workspace, target: Path) -> None:
    """A UserError unless `target` may take a saved YAML: a .yaml/.yml file outside every run
    folder (one holding status.json or config.yaml, as Runs lists them), not named config.yaml
    (that name makes its folder a run)."""
    shown = ws.shown(target)
    if target.suffix not in (".yaml", ".yml"):
        raise UserError(f"yaml_path: {shown} must end in .yaml or .yml")
    if target.is_dir():
        raise UserError(f"yaml_path: {shown} is a folder; give a file name ending in .yaml")
    if target.name == RunDir(target.parent).config.name:
        raise UserError(f"yaml_path: {target.name} is the name of a run's own config and would "
                        "make its folder look like a run; choose another name")
    for folder in (target.parent, *target.parent.parents):
        rd = RunDir(folder)
        if rd.config.exists() or rd.status_file.exists():
            raise UserError(f"yaml_path: {ws.shown(folder)} is a run folder; save the YAML "
                            f"outside it, e.g. in {ws.shown(ws.saves_dir / CONFIGS)}/")
        if folder in (ws.saves_dir, ws.data_dir):
            break


def load_yaml(ws: Workspace, path: str,
              lang: str = DEFAULT) -> tuple[dict[str, Any] | None, str]:
    """Form values from a YAML file in saves/, data/ or examples/, and a note; (None, error)
    on failure."""
    try:
        cfg = RunConfig.load(ws.confine(path, "yaml_path", readonly=True))
    except UserError as e:  # ConfigError is one
        return None, str(e)
    note = t("no_remote_code", lang) if cfg.trust_remote_code else ""
    return forms.config_values(cfg), note


def yaml_files(ws: Workspace) -> list[str]:
    """YAML files offered by Load: examples/, then the saves/ configs, newest first."""
    found = sorted(ws.examples_dir.glob("*.y*ml"))
    saves = sorted(ws.saves_dir.glob("**/*.y*ml"), key=lambda p: -p.stat().st_mtime)[:50]
    data = sorted(ws.data_dir.glob("*.y*ml"))
    return [ws.shown(p) for p in found + saves + data]
