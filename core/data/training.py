"""The data of a run: every dataset of the config, checked, split and (optionally) tokenized.

    data = load_for_training(cfg, template)   # data.train, data.eval, data.train_features

Bad records are skipped and logged one by one; when their share passes cfg.max_bad_ratio the
run refuses to start and says which records and what to do.
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError

from .dataset import DatasetRows, load_rows, tokenize_checked
from .loading import fingerprint
from .records import Problem, Row

log = logging.getLogger(__name__)
LISTED = 10  # bad records named in the refusal


@dataclass
class TrainingData:
    train: list[Row]
    eval: list[Row]
    train_features: list[dict] | None  # aligned with train ("row" = position); None: not tokenized
    eval_features: list[dict] | None
    problems: list[Problem]
    fingerprint: str  # sha256 of the registry entries and data files, for env.json
    total: int = 0  # records read
    bad: int = 0  # records skipped
    notes: list[str] = field(default_factory=list)


@dataclass
class _Part:
    """Rows of one or more datasets, each row with its source and (maybe) its features."""

    rows: list[Row] = field(default_factory=list)
    keys: list[tuple] = field(default_factory=list)  # (dataset, file, index): split unit
    features: list[dict] | None = None


def load_for_training(cfg: Any, template: Any = None) -> TrainingData:
    """Load cfg.datasets (and cfg.eval_datasets) for cfg.stage. With a ChatTemplate the rows
    are tokenized once here, so training does not tokenize them again."""
    if not cfg.datasets:
        raise UserError("dataset: no dataset given; name one from dataset_info.json "
                        "(`python -m core data list`)")
    loaded = [load_rows(n, cfg.dataset_dir, cfg.stage, cfg.max_samples) for n in cfg.datasets]
    loaded_eval = [load_rows(n, cfg.dataset_dir, cfg.stage, cfg.max_samples)
                   for n in cfg.eval_datasets]
    notes: list[str] = []
    train = _merge(loaded, template, cfg.cutoff_len, notes)
    evals = _merge(loaded_eval, template, cfg.cutoff_len, notes)
    every = loaded + loaded_eval
    total, bad = enforce_bad_ratio(every, cfg.max_bad_ratio)
    problems = [p for ds in every for p in ds.problems]
    _log(problems, bad, total, notes)
    if not loaded_eval and cfg.val_size:
        train, evals = split(train, cfg.val_size, cfg.seed)
    elif loaded_eval and cfg.val_size:
        log.info("eval_dataset is set, so val_size=%s is ignored", cfg.val_size)
    if not train.rows:
        raise UserError(f"no usable training rows in {cfg.dataset} for stage {cfg.stage}; "
                        f"run `python -m core data check {cfg.datasets[0]} --stage {cfg.stage}`")
    return TrainingData(train.rows, evals.rows, train.features, evals.features, problems,
                        fingerprint([ds.entry for ds in every]), total, bad, notes)


def _merge(loaded: list[DatasetRows], template: Any, cutoff_len: int, notes: list[str]) -> _Part:
    """Concatenate datasets, tokenizing each when a template is given; rows of a record with
    an error (cutoff included) are dropped here, after their problem was recorded."""
    part = _Part(features=[] if template is not None else None)
    for ds in loaded:
        features = None
        if template is not None:
            features, note = tokenize_checked(ds, template, cutoff_len)
            if note and note not in notes:
                notes.append(note)
        bad = {(p.file, p.index) for p in ds.errors}
        by_row = {f["row"]: f for f in features} if features is not None else None
        for pos, (row, src) in enumerate(zip(ds.rows, ds.sources)):
            if src in bad or (by_row is not None and pos not in by_row):
                continue
            if part.features is not None and by_row is not None:
                part.features.append(dict(by_row[pos], row=len(part.rows)))
            part.rows.append(row)
            part.keys.append((ds.name, *src))
        if by_row is None:
            part.features = None  # a stage without a tokenizer: training tokenizes itself
    return part


def enforce_bad_ratio(loaded: list[DatasetRows], max_bad_ratio: float) -> tuple[int, int]:
    """(records, bad records); raises when the bad share is above max_bad_ratio."""
    total = sum(ds.total for ds in loaded)
    bad = sum(ds.bad_records() for ds in loaded)
    if total and bad / total > max_bad_ratio:
        errors = [p for ds in loaded for p in ds.errors]
        shown = "\n".join(f"  {p}" for p in errors[:LISTED])
        more = f"\n  ... and {len(errors) - LISTED} more" if len(errors) > LISTED else ""
        first = next(ds.name for ds in loaded if ds.errors)
        raise UserError(
            f"{bad} of {total} records are bad ({bad / total:.1%}), above max_bad_ratio "
            f"{max_bad_ratio}:\n{shown}{more}\nrun `python -m core data check {first} --stage "
            f"{loaded[0].stage}` to see them all, fix the data, or raise max_bad_ratio to "
            "train on the good records")
    return total, bad


def _log(problems: list[Problem], bad: int, total: int, notes: list[str]) -> None:
    for p in problems:
        if p.is_error:
            log.warning("skipping bad record %s", p)
        else:
            log.warning("data warning: %s", p)
    if bad:
        log.warning("skipped %d of %d records (see the lines above)", bad, total)
    for note in notes:
        log.info("%s", note)


def split(part: _Part, val_size: float, seed: int) -> tuple[_Part, _Part]:
    """Hold out val_size records (a share below 1, or a count), chosen with the seed. Whole
    records move together, so kto's two rows of a pair stay on one side."""
    groups = list(dict.fromkeys(part.keys))
    k = int(val_size) if val_size >= 1 else math.ceil(val_size * len(groups))
    if k >= len(groups):
        raise UserError(f"val_size {val_size} holds out {k} of {len(groups)} records, leaving "
                        "none to train; lower val_size")
    held = set(random.Random(seed).sample(groups, k))
    train, evals = _Part(), _Part()
    for side in (train, evals):
        side.features = [] if part.features is not None else None
    for pos, (row, key) in enumerate(zip(part.rows, part.keys)):
        side = evals if key in held else train
        if side.features is not None:
            side.features.append(dict(part.features[pos], row=len(side.rows)))
        side.rows.append(row)
        side.keys.append(key)
    return train, evals
