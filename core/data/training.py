"""The data of a run: every dataset of the config, checked, mixed, split and tokenized.

    data = load_for_training(cfg, template)   # data.train, data.eval, data.train_features

The order is LLaMA-Factory's: each dataset is read (split, num_samples, max_samples), the
datasets are mixed (mix_strategy, interleave_probs) and val_size is held out (mixing.py),
then the records a stage cannot use are left out. Rows are tokenized with cutoff_len and
`truncation` (truncation.py); what was cut is in data.truncation, train.log and status.json.
Bad records are skipped and logged one by one; when their share passes cfg.max_bad_ratio the
run refuses to start and says which records and what to do. truncation error refuses any
record longer than cutoff_len.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from core.config import split_list
from core.errors import UserError

from .dataset import DatasetRows, load_rows, tokenize_checked
from .formats import identical_reason, no_usable_pair
from .loading import fingerprint
from .mixing import hold_out, mix
from .records import Problem, Row
from .registry import check_names, data_command
from .truncation import Cutoff, Cuts

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
    # Worth a warning, tied to no record (the template fallback): train.log and preflight say them.
    notes: list[str] = field(default_factory=list)
    truncation: Cuts | None = None  # what cutoff_len did (None: not tokenized)


@dataclass
class _Record:
    """One record read: its rows (0, 1 or 2) and their features; the unit of mixing."""

    key: tuple  # (dataset, file, index)
    rows: list[Row] = field(default_factory=list)
    features: list[dict] = field(default_factory=list)
    bad: bool = False


@dataclass
class _Part:
    """Rows of one or more datasets, each row with its record key and (maybe) its features."""

    rows: list[Row] = field(default_factory=list)
    keys: list[tuple] = field(default_factory=list)
    features: list[dict] | None = None
    groups: list[list[Row]] = field(default_factory=list)  # the rows of each record kept


def load_for_training(cfg: Any, template: Any = None, progress: Any = None) -> TrainingData:
    """Load cfg.datasets (and cfg.eval_datasets) for cfg.stage. With a ChatTemplate the rows
    are tokenized once here, so training does not tokenize them again; `progress` (a
    core.runs.progress.Phase) learns how many rows once they are read, and counts them."""
    import numpy as np

    if not cfg.datasets:
        raise UserError("dataset: no dataset given; name one from dataset_info.json "
                        f"(`{data_command('list', dataset_dir=cfg.dataset_dir)}`)")
    if cfg.eval_datasets and cfg.val_size:
        raise UserError(f"val_size: {cfg.val_size} holds out training data, but eval_dataset "
                        f"{cfg.eval_dataset} is set too (LLaMA-Factory refuses both); keep one")
    check_dataset_names(cfg)
    rng = np.random.RandomState(cfg.seed)  # num_samples draws, shared in order as in LF
    loaded = [load_rows(n, cfg.dataset_dir, cfg.stage, cfg.max_samples, rng) for n in cfg.datasets]
    loaded_eval = [load_rows(n, cfg.dataset_dir, cfg.stage, cfg.max_samples, rng)
                   for n in cfg.eval_datasets]
    cut = Cutoff(cfg.cutoff_len, cfg.truncation,
                 cfg.max_completion_length if cfg.stage == "grpo" else 0)
    cuts = Cuts(cut.mode, cut.length) if template is not None else None
    on_rows = None
    if progress is not None and template is not None:
        progress.count(sum(len(ds.rows) for ds in loaded + loaded_eval))
        on_rows = progress.advance
    train = [_records(ds, template, cut, cuts, on_rows) for ds in loaded]
    evals = [_records(ds, template, cut, cuts, on_rows) for ds in loaded_eval]
    every = loaded + loaded_eval
    if cuts is not None and cuts.refused:
        raise _too_long(every, cuts)
    total, bad = enforce_bad_ratio(every, cfg.max_bad_ratio)
    problems = [p for ds in every for p in ds.problems]
    notes = [template.fallback] if getattr(template, "fallback", None) else []
    _log(problems, bad, total, cuts, notes)
    train_part, eval_part = _arrange(train, evals, cfg, template is not None)
    if not train_part.rows:
        raise UserError(f"no usable training rows in {cfg.dataset} for stage {cfg.stage}; "
                        f"run `{check_command(cfg.datasets[0], cfg)}`")
    refuse_identical(train_part, cfg)
    return TrainingData(train_part.rows, eval_part.rows, train_part.features, eval_part.features,
                        problems, fingerprint([ds.entry for ds in every]), total, bad, notes,
                        cuts)


def check_dataset_names(cfg: Any) -> None:
    """Refuse a dataset or eval_dataset name the registry does not have, naming the key and
    the registered names (preflight asks this before loading a tokenizer)."""
    check_names(cfg.datasets, cfg.dataset_dir, "dataset")
    check_names(cfg.eval_datasets, cfg.dataset_dir, "eval_dataset")


def check_command(name: str, cfg: Any) -> str:
    """The `data check` line for one of the run's datasets, ready to paste."""
    return data_command("check", name, "--stage", cfg.stage, dataset_dir=cfg.dataset_dir)


def refuse_identical(part: _Part, cfg: Any) -> None:
    """A run whose every training pair has identical answers would train for nothing."""
    pairs = no_usable_pair(part.groups, cfg.stage)
    if pairs:
        raise UserError(f"dataset: {cfg.dataset}, stage {cfg.stage}: {identical_reason(pairs)} "
                        f"(`{check_command(cfg.datasets[0], cfg)}` shows them)")


def _records(ds: DatasetRows, template: Any, cut: Cutoff, cuts: Cuts | None,
             on_rows: Any = None) -> list[_Record]:
    """Every record read, in order, with its rows; tokenized when a template is given. Records
    with an error (truncation's drops included) are marked bad, after their problem was
    recorded."""
    by_row = None
    if template is not None:
        tokens = tokenize_checked(ds, template, cut, on_rows)
        cuts.add(tokens.cuts)
        by_row = {f["row"]: f for f in tokens.features}
    bad = {(p.file, p.index) for p in ds.errors}
    whole = any(p.index is None for p in ds.errors)
    records = [_Record((ds.name, *key), bad=whole or key in bad) for key in ds.keys]
    for pos, (row, at) in enumerate(zip(ds.rows, ds.record_of)):
        records[at].rows.append(row)
        if by_row is not None:
            records[at].features.append(by_row.get(pos))
            records[at].bad |= pos not in by_row
    return records


def _arrange(train: list[list[_Record]], evals: list[list[_Record]], cfg: Any,
             tokenized: bool) -> tuple[_Part, _Part]:
    """Mix the datasets, hold out val_size, then leave the bad records out."""
    probs = [float(p) for p in split_list(cfg.interleave_probs)] or None
    merged = [train[d][i] for d, i in mix([len(r) for r in train], cfg.mix_strategy, probs,
                                          cfg.seed)]
    held: list[_Record] = []
    if evals:
        held = [evals[d][i] for d, i in mix([len(r) for r in evals], cfg.mix_strategy, probs,
                                            cfg.seed)]
    elif cfg.val_size:
        kept, out = hold_out(len(merged), cfg.val_size, cfg.seed)
        merged, held = [merged[i] for i in kept], [merged[i] for i in out]
    return _flatten(merged, tokenized), _flatten(held, tokenized)


def _flatten(records: list[_Record], tokenized: bool) -> _Part:
    part = _Part(features=[] if tokenized else None)
    for rec in records:
        if rec.bad:
            continue
        part.groups.append(rec.rows)
        for row, feature in zip(rec.rows, rec.features if tokenized else rec.rows):
            if tokenized:
                part.features.append(dict(feature, row=len(part.rows)))
            part.rows.append(row)
            part.keys.append(rec.key)
    return part


def _too_long(loaded: list[DatasetRows], cuts: Cuts) -> UserError:
    longer = [p for ds in loaded for p in ds.errors if "(truncation error)" in p.reason]
    shown = "\n".join(f"  {p}" for p in longer[:LISTED])
    more = f"\n  ... and {len(longer) - LISTED} more" if len(longer) > LISTED else ""
    return UserError(f"truncation error: {cuts.refused} records are longer than cutoff_len "
                     f"{cuts.cutoff_len}:\n{shown}{more}\nraise cutoff_len, or set truncation "
                     "llamafactory (cut them as LLaMA-Factory does), keep_recent, or drop")


def enforce_bad_ratio(loaded: list[DatasetRows], max_bad_ratio: float) -> tuple[int, int]:
    """(records, bad records); raises when the bad share is above max_bad_ratio."""
    total = sum(ds.total for ds in loaded)
    bad = sum(ds.bad_records() for ds in loaded)
    if total and bad / total > max_bad_ratio:
        errors = [p for ds in loaded for p in ds.errors]
        shown = "\n".join(f"  {p}" for p in errors[:LISTED])
        more = f"\n  ... and {len(errors) - LISTED} more" if len(errors) > LISTED else ""
        first = next(ds for ds in loaded if ds.errors)
        check = data_command("check", first.name, "--stage", first.stage,
                             dataset_dir=first.entry.dataset_dir if first.entry else None)
        raise UserError(
            f"{bad} of {total} records are bad ({bad / total:.1%}), above max_bad_ratio "
            f"{max_bad_ratio}:\n{shown}{more}\nrun `{check}` to see them all, fix the data, or "
            "raise max_bad_ratio to train on the good records")
    return total, bad


def _log(problems: list[Problem], bad: int, total: int, cuts: Cuts | None,
         notes: list[str]) -> None:
    for note in notes:
        log.warning("%s", note)
    for p in problems:
        if p.is_error:
            log.warning("skipping %s record %s", "bad" if p.severity == "error" else "dropped", p)
        else:
            log.warning("data warning: %s", p)
    if bad:
        log.warning("skipped %d of %d records (see the lines above)", bad, total)
    if cuts is not None:
        (log.warning if cuts.cut or cuts.dropped else log.info)("truncation: %s", cuts.summary())
        for example in cuts.examples:
            log.info("truncation: cut %s", example)
        if cuts.mode == "llamafactory" and cuts.prompts_cut:
            log.info("truncation: a cut prompt keeps its start, as in LLaMA-Factory, so it loses "
                     "its end and the assistant header; truncation keep_recent keeps the end")
