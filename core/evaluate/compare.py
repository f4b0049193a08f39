"""Runs compared by their configs: the config keys whose values differ, the evaluation numbers
side by side and the training summaries. `python -m core runs diff A B` prints it.

    from core.evaluate.compare import diff_runs
    d = diff_runs(["saves/dpo-a", "dpo-b"])     # a folder, or a name under saves/
    for row in d.config: print(row.key, row.values)

It lives in core.evaluate, above core.runs and core.config, because it shows what evaluation
writes (evaluation_results.json, metrics.TABLE's numbers, training_summary) and a layer may
read the ones below it. output_dir and run_name are left out of the config rows: they differ
for every pair of runs, and the column heads already name the runs.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import FIELDS, RunConfig
from core.errors import UserError
from core.paths import PROJECT_ROOT
from core.runs.alarms import listed
from core.runs.rundir import RunDir

from .metrics import RESULTS, TABLE, training_summary

IDENTITY = ("output_dir", "run_name")
# training_summary's keys with their labels, then what status.json adds
TRAINING = (("initial_train_loss", "first loss"), ("final_train_loss", "final loss"),
            ("best_eval_loss", "best eval loss"), ("final_eval_loss", "final eval loss"),
            ("steps", "steps"), ("total_steps", "total steps"), ("state", "state"),
            ("training_time_s", "training time (s)"), ("alarms", "alarms"))
SHOWN_RUNS = 12  # names listed when a run is not found


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    values: list[Any]  # one per run, in the runs' order; None where a run has no value


@dataclass
class RunsDiff:
    names: list[str]  # the column heads: path under saves/, or the folder's name
    paths: list[Path]
    config: list[Row]  # only the keys whose values differ, in RunConfig field order
    evaluation: list[Row]  # eval dataset and metrics.TABLE's numbers any run has
    training: list[Row]

    def to_dict(self) -> dict[str, Any]:
        section = lambda rows: {r.key: r.values for r in rows}  # noqa: E731
        return {"runs": [{"name": n, "path": str(p)} for n, p in zip(self.names, self.paths)],
                "config": section(self.config), "evaluation": section(self.evaluation),
                "training": section(self.training)}


def diff_runs(runs: Sequence[str | os.PathLike],
              saves_dir: str | os.PathLike = "saves") -> RunsDiff:
    """Compare two or more run folders (paths, or names under `saves_dir`, which is relative
    to the project root like RunManager's)."""
    if len(runs) < 2:
        raise UserError("give two or more runs to compare (folders or names under saves/)")
    saves = Path(saves_dir).expanduser()
    saves = (saves if saves.is_absolute() else PROJECT_ROOT / saves).resolve()
    paths = [find_run(r, saves) for r in runs]
    if len(set(paths)) < len(paths):
        raise UserError("the same run is named twice: " + ", ".join(str(r) for r in runs))
    configs = [RunConfig.load(p / "config.yaml").to_dict() for p in paths]
    config = [Row(k, k, [c[k] for c in configs]) for k in FIELDS
              if k not in IDENTITY and any(c[k] != configs[0][k] for c in configs)]
    return RunsDiff(_names(paths, saves), paths, config, _evaluation(paths),
                    [row for row in _training(paths) if any(v is not None for v in row.values)])


def find_run(run: str | os.PathLike, saves: Path) -> Path:
    """A run folder (one with config.yaml): the path as given, else the name under `saves`."""
    given = Path(run).expanduser()
    candidates = [given] if given.is_absolute() else [given, saves / given]
    for folder in candidates:
        if (folder / "config.yaml").is_file():
            return folder.resolve()
    for folder in candidates:
        if folder.is_dir():
            raise UserError(f"{folder} is not a run folder: it has no config.yaml")
    known = sorted(p.parent.name for p in saves.glob("*/config.yaml"))
    listing = (", ".join(known[:SHOWN_RUNS]) + (", ..." if len(known) > SHOWN_RUNS else "")
               if known else "none")
    raise UserError(f"run '{run}' not found: no folder {given} and none named so in {saves} "
                    f"(runs there: {listing})")


def _names(paths: list[Path], saves: Path) -> list[str]:
    names = [str(p.relative_to(saves)) if p.is_relative_to(saves) else p.name for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def _evaluation(paths: list[Path]) -> list[Row]:
    results = [_results(p) for p in paths]
    rows = [Row("dataset", "eval dataset", [r.get("dataset") for r in results])]
    rows += [Row(key, label, [r.get(key) for r in results]) for key, label in TABLE]
    return [row for row in rows if any(v is not None for v in row.values)]


def _results(path: Path) -> dict[str, Any]:
    file = path / RESULTS
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{file} is not valid JSON ({e}); evaluate again with "
                        f"`python -m core eval --run {path} --dataset ...`") from None
    return data if isinstance(data, dict) else {}


def _training(paths: list[Path]) -> list[Row]:
    summaries = []
    for path in paths:
        status = RunDir(path).status()
        alarms = [a.id for a in listed(status)]
        summaries.append({**training_summary(path), "total_steps": status.get("total_steps"),
                          "alarms": alarms or None})
    return [Row(key, label, [s.get(key) for s in summaries]) for key, label in TRAINING]
