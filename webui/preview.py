"""A form's config as it will be saved and run: the YAML, where Save YAML writes it and the
shell command that runs it. Shared by the Train tab (its live preview, Preview, Save, Load)
and the Runs tab (Load config into Train), so no tab imports another. Quick and writes
nothing: the dry run of the data (core.training.preflight) is the Train tab's Preview.

    text, cmd, problems = config_preview(ws, values, "saves/configs/x.yaml", "en")
    text, cmd = filled(ws, values)             # "" for what cannot be shown
    yaml_target(ws, cfg, "")                   # saves/configs/<run_name or stage-dataset>.yaml

Save YAML writes the form's config as it is (output_dir and run_name empty unless typed), so
the file can be run again and again; the command names the folder the run goes to, as Start
would place it, on the command line. A YAML file is never written into a run folder.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.errors import UserError
from core.runs.placement import PLACEMENT, place
from core.training.launch import command as launch_command
from core.training.launch import needs_launch, node_commands, placed

from . import forms
from .i18n import DEFAULT, t
from .workspace import Workspace

Problems = list[tuple[str, str]]
CONFIGS = "configs"  # <saves>/configs/: where Save YAML writes unless told otherwise


def same_config(path: Path, cfg: RunConfig) -> bool:
    """Whether the YAML file at `path` holds `cfg`."""
    try:
        return path.is_file() and RunConfig.load(path) == cfg
    except (UserError, OSError, ValueError):  # ValueError: a NUL in the name
        return False


def yaml_target(ws: Workspace, cfg: RunConfig, path: str | None) -> str:
    """Where Save YAML writes: `path` as typed when given (Save confines it and names what is
    wrong with it), else, or when `path` is one of the read-only examples/ just loaded,
    <saves>/configs/<run_name or stage-dataset>.yaml, with -2, -3, ... when that file holds
    another config."""
    text = str(path or "").strip()
    try:
        if text and not ws.absolute(text).is_relative_to(ws.examples_dir):
            return text
    except (ValueError, OSError):  # a NUL, a name too long: for Save to report
        return text
    stem = Path(cfg.run_name or f"{cfg.stage}-{(cfg.datasets or ['data'])[0]}").name
    folder = ws.saves_dir / CONFIGS
    target, n = folder / f"{stem}.yaml", 2
    while target.exists() and not same_config(target, cfg):
        target, n = folder / f"{stem}-{n}.yaml", n + 1
    return str(target)


def run_folder(ws: Workspace, cfg: RunConfig) -> str:
    """The folder a run of `cfg` started now goes to, as Start places it, as the UI shows it."""
    return ws.shown(Path(place(cfg, ws.saves_dir, root=ws.root).output_dir))


def command(ws: Workspace, cfg: RunConfig, yaml_file: str, lang: str = DEFAULT) -> str:
    """The shell line that runs `yaml_file` in the background as Start runs the form: from the
    project root, with the server's interpreter, into the folder Start would use, its output
    appended to that folder's train.log. A first comment line says to save first when the file
    does not hold the form's config (yet)."""
    try:
        path = ws.absolute(yaml_file)
    except (ValueError, OSError):
        path = Path(yaml_file)
    python, shown = ws.shown(Path(sys.executable)), ws.shown(path)
    line = (f"cd {shlex.quote(str(ws.root))} && out={shlex.quote(run_folder(ws, cfg))} && "
            f'mkdir -p "$out" && nohup {shlex.quote(python)} -m core train {shlex.quote(shown)} '
            f'output_dir="$out" >> "$out/train.log" 2>&1 &')
    line += launch_lines(ws, cfg, shown, lang)
    if same_config(path, cfg):
        return line
    return f"# {t('save_first', lang, path=shown)}\n{line}"


def launch_lines(ws: Workspace, cfg: RunConfig, yaml_file: str, lang: str = DEFAULT) -> str:
    """For a config of several processes: the torchrun line the command runs (core's, as the
    CLI builds it) and, over several nodes, the line to type on each other node."""
    if not needs_launch(cfg):
        return ""
    fixed = placed(place(cfg, ws.saves_dir, root=ws.root))
    argv = launch_command(cfg, yaml_file, fixed, python=ws.shown(Path(sys.executable)))
    out = f"\n# {t('launch_runs', lang)}: {shlex.join(argv)}"
    for n, other in enumerate(node_commands(cfg, yaml_file, fixed), start=1):
        out += f"\n# {t('launch_node', lang, n=n)}: {other}"
    return out


def config_preview(ws: Workspace, values: dict[str, Any], yaml_path: str | None = None,
                   lang: str = DEFAULT) -> tuple[str | None, str | None, Problems]:
    """(YAML, command, the form's problems); (None, None, problems) when a value does not
    parse."""
    cfg, found = forms.build_config(values, ws)
    if cfg is None:
        return None, None, found
    if any(key in PLACEMENT for key, _ in found):  # no folder to name: no command
        return cfg.to_yaml(), None, found
    return cfg.to_yaml(), command(ws, cfg, yaml_target(ws, cfg, yaml_path), lang), found


def filled(ws: Workspace, values: dict[str, Any], yaml_path: str | None = None,
           lang: str = DEFAULT) -> tuple[str, str]:
    """The YAML and command previews for values just put into the form ("" when invalid)."""
    text, cmd, _ = config_preview(ws, values, yaml_path, lang)
    return text or "", cmd or ""
