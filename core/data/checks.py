"""`data check`: is a dataset fit to train a stage? Counts, every problem, token lengths.

    report = check_dataset("dpo_en_demo", "data", "dpo", tokenizer=tok, cutoff_len=1024)
    print(report.render()); report.ok; report.to_dict()   # the WebUI and --json use to_dict

Token statistics cover every converted row before truncation (rows cut or dropped by cutoff_len
included); `truncation` says what cutoff_len did (truncation.py).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config.fields import DataArgs, GrpoArgs

from .dataset import DatasetRows, load_rows, tokenize_checked
from .formats import identical_reason, no_usable_pair
from .loading import DEFAULT_SEED
from .records import Problem
from .registry import Guard
from .truncation import Cutoff, Cuts

SHOWN = 20  # problems in the text rendering; --json has them all


@dataclass
class CheckReport:
    name: str
    file: str
    formatting: str
    ranking: bool
    stage: str
    total: int  # records read
    good: int  # rows that can train (kto from pairs: two per record)
    bad: int  # records left out (errors, and records truncation drops or refuses)
    problems: list[Problem]  # errors first
    cutoff_len: int | None = None
    token_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Untruncated token lengths of every row (prompt, chosen, ...), for histograms; not in to_dict.
    lengths: dict[str, list[int]] = field(default_factory=dict)
    truncation: Cuts | None = None  # with a tokenizer: what cutoff_len did
    model: str | None = None  # whose tokenizer counted the tokens (as the caller named it)
    template: str | None = None  # the template that rendered them (None: the tokenizer's own)

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    @property
    def dropped(self) -> int:
        return sum(p.severity == "dropped" for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity == "warning" for p in self.problems)

    @property
    def ok(self) -> bool:
        """No errors and something to train; records cut or dropped by truncation are warnings
        here (dropped ones still count against max_bad_ratio: see can_train)."""
        return self.errors == 0 and self.good > 0

    def can_train(self, max_bad_ratio: float = 0.0) -> bool:
        """Whether a run with this max_bad_ratio would start."""
        return self.good > 0 and (self.bad / max(self.total, 1)) <= max_bad_ratio

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "formatting": self.formatting,
                "ranking": self.ranking, "stage": self.stage, "total": self.total,
                "good": self.good, "bad": self.bad, "errors": self.errors,
                "dropped": self.dropped, "warnings": self.warnings, "ok": self.ok,
                "cutoff_len": self.cutoff_len, "model": self.model, "template": self.template,
                "token_stats": self.token_stats,
                "token_rows": len(next(iter(self.lengths.values()), [])),
                "truncation": self.truncation.to_dict() if self.truncation else None,
                "notes": self.notes, "problems": [p.to_dict() for p in self.problems]}

    def render(self, limit: int = SHOWN) -> str:
        kind = f"{self.formatting}{', ranking' if self.ranking else ''}"
        lines = [f"dataset {self.name}: {self.file} ({kind}), stage {self.stage}",
                 f"records {self.total}, good rows {self.good}, bad records {self.bad}, "
                 f"errors {self.errors}, dropped {self.dropped}, warnings {self.warnings}"]
        if self.model and self.cutoff_len is not None:
            lines.append(f"tokens counted with the tokenizer of {self.model}, template "
                         f"{self.template or 'its own'}")
        if self.token_stats:
            rows = len(next(iter(self.lengths.values()), []))
            lines.append(f"tokens before truncation, all {rows} converted rows (cut and dropped "
                         "ones too):")
            lines.append(" " * 12 + "".join(f"  {k:>6}" for k in STATS))
            for name, s in self.token_stats.items():
                lines.append(f"  {name:<10}" + "".join(f"  {s[k]:>6.0f}" for k in STATS))
        if self.truncation:
            lines.append(self.truncation.summary())
            lines += [f"  cut: {e}" for e in self.truncation.examples]
        lines += [f"note: {n}" for n in self.notes]
        if self.problems:
            lines.append("problems:")
            lines += [f"  {p}" for p in self.problems[:limit]]
            if len(self.problems) > limit:
                lines.append(f"  ... and {len(self.problems) - limit} more (use --json for all)")
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self) -> str:
        """The last line: OK, or what stands in the way (never errors that are not there)."""
        if self.ok:
            return "OK: the data can train"
        if not self.errors:  # e.g. sft on kto_tag data whose answers are all undesirable
            return f"NOT OK: no record gives a row to train stage {self.stage} (see above)"
        whole = any(p.is_error and p.index is None for p in self.problems)
        return "NOT OK: fix the errors above" + (
            "" if whole else " (or raise max_bad_ratio to skip the bad records)")


STATS = ("min", "mean", "p50", "p95", "max")


def check_dataset(name: str, dataset_dir: str | Path | None = "data", stage: str = "dpo",
                  tokenizer: Any = None, template: Any = None,
                  cutoff_len: int = DataArgs.cutoff_len,
                  enable_thinking: bool = True, max_samples: int | None = None,
                  truncation: str = DataArgs.truncation,
                  max_completion_length: int = GrpoArgs.max_completion_length,
                  seed: int = DEFAULT_SEED, guard: Guard | None = None,
                  model: str | None = None) -> CheckReport:
    """Convert `name` for `stage` and report. With a tokenizer, also token lengths and what
    `truncation` does at cutoff_len (grpo: cutoff_len - max_completion_length for the prompt);
    `model` names the tokenizer's model in the report.
    `template` is a template name (None: the tokenizer's own) or a ChatTemplate; `seed`
    draws num_samples as a run with that seed does. `guard`: see core.data.registry (the
    WebUI's confinement)."""
    import numpy as np

    ds = load_rows(name, dataset_dir, stage, max_samples, np.random.RandomState(seed), guard)
    report = CheckReport(ds.name, ds.file, ds.formatting, ds.ranking, stage, ds.total,
                         len(ds.rows), 0, ds.problems)
    if tokenizer is not None or (template is not None and not isinstance(template, str)):
        chat = _template(template, tokenizer, enable_thinking)
        if getattr(chat, "fallback", None):
            report.notes.append(chat.fallback)
        cut = Cutoff(cutoff_len, truncation, max_completion_length if stage == "grpo" else 0)
        tokens = tokenize_checked(ds, chat, cut)
        report.good, report.cutoff_len = len(tokens.features), cutoff_len
        report.model, report.template = model, chat.name
        report.truncation = tokens.cuts
        report.lengths = {k[:-4]: [n[k] for n in tokens.lengths]
                          for k in (tokens.lengths[0] if tokens.lengths else {})}
        report.token_stats = {k: summarize(v) for k, v in report.lengths.items()}
    identical = identical_pairs_problem(ds)
    if identical is not None:  # a run would refuse: say so here too
        ds.problems.insert(0, identical)
    report.bad, report.problems = ds.bad_records(), ds.problems
    return report


def identical_pairs_problem(ds: DatasetRows) -> Problem | None:
    """The dataset error when every pair that converts (and no record error leaves out) has
    identical answers: a run would refuse it (core.data.training)."""
    errors = {(p.file, p.index) for p in ds.errors}
    by_record: dict[int, list] = {}
    for row, at in zip(ds.rows, ds.record_of):
        if ds.keys[at] not in errors:
            by_record.setdefault(at, []).append(row)
    pairs = no_usable_pair(list(by_record.values()), ds.stage)
    if not pairs:
        return None
    chosen = ds.entry.column("chosen") if ds.entry is not None else None
    return Problem(ds.file, None, chosen or "chosen", identical_reason(pairs))


def _template(template: Any, tokenizer: Any, enable_thinking: bool) -> Any:
    from .templates import get_template

    if template is None or isinstance(template, str):
        return get_template(template, tokenizer, enable_thinking)
    return template


def summarize(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    def pct(q: float) -> float:  # nearest rank: a value that occurs in the data
        return float(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))])
    return {"min": float(ordered[0]), "mean": round(statistics.fmean(ordered), 1),
            "p50": pct(0.5), "p95": pct(0.95), "max": float(ordered[-1])}
