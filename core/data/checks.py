"""`data check`: is a dataset fit to train a stage? Counts, every problem, token lengths.

    report = check_dataset("dpo_en_demo", "data", "dpo", tokenizer=tok, cutoff_len=1024)
    print(report.render()); report.ok; report.to_dict()   # the WebUI and --json use to_dict
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dataset import load_rows, tokenize_checked
from .records import Problem
from .registry import Guard

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
    bad: int  # records with an error
    problems: list[Problem]  # errors first
    cutoff_len: int | None = None
    token_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Untruncated token lengths per row (prompt, chosen, ...), for histograms; not in to_dict.
    lengths: dict[str, list[int]] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(p.is_error for p in self.problems)

    @property
    def warnings(self) -> int:
        return len(self.problems) - self.errors

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.good > 0

    def can_train(self, max_bad_ratio: float = 0.0) -> bool:
        """Whether a run with this max_bad_ratio would start."""
        return self.good > 0 and (self.bad / max(self.total, 1)) <= max_bad_ratio

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "formatting": self.formatting,
                "ranking": self.ranking, "stage": self.stage, "total": self.total,
                "good": self.good, "bad": self.bad, "errors": self.errors,
                "warnings": self.warnings, "ok": self.ok, "cutoff_len": self.cutoff_len,
                "token_stats": self.token_stats, "notes": self.notes,
                "problems": [p.to_dict() for p in self.problems]}

    def render(self, limit: int = SHOWN) -> str:
        kind = f"{self.formatting}{', ranking' if self.ranking else ''}"
        lines = [f"dataset {self.name}: {self.file} ({kind}), stage {self.stage}",
                 f"records {self.total}, good rows {self.good}, bad records {self.bad}, "
                 f"errors {self.errors}, warnings {self.warnings}"]
        if self.token_stats:
            lines.append(f"tokens (cutoff_len {self.cutoff_len}):")
            lines.append(" " * 12 + "".join(f"  {k:>6}" for k in ("min", "mean", "p50", "p95",
                                                                   "max")))
            for name, s in self.token_stats.items():
                lines.append(f"  {name:<10}" + "".join(f"  {s[k]:>6.0f}" for k in
                                                      ("min", "mean", "p50", "p95", "max")))
        lines += [f"note: {n}" for n in self.notes]
        if self.problems:
            lines.append("problems:")
            lines += [f"  {p}" for p in self.problems[:limit]]
            if len(self.problems) > limit:
                lines.append(f"  ... and {len(self.problems) - limit} more (use --json for all)")
        whole = any(p.is_error and p.index is None for p in self.problems)
        lines.append("OK: the data can train" if self.ok else "NOT OK: fix the errors above"
                     + ("" if whole else " (or raise max_bad_ratio to skip the bad records)"))
        return "\n".join(lines)


def check_dataset(name: str, dataset_dir: str | Path | None = "data", stage: str = "dpo",
                  tokenizer: Any = None, template: Any = None, cutoff_len: int = 2048,
                  enable_thinking: bool = True, max_samples: int | None = None,
                  guard: Guard | None = None) -> CheckReport:
    """Convert `name` for `stage` and report. With a tokenizer, also token lengths and the
    prompts that leave no room at cutoff_len. `template` is a template name (None: the
    tokenizer's own) or a ChatTemplate. `guard`: see core.data.registry (the WebUI's)."""
    ds = load_rows(name, dataset_dir, stage, max_samples, guard)
    good, stats, notes, lengths = len(ds.rows), {}, [], {}
    if tokenizer is not None or (template is not None and not isinstance(template, str)):
        chat = _template(template, tokenizer, enable_thinking)
        features, note = tokenize_checked(ds, chat, cutoff_len)
        if features is None:
            notes.append(note)
        else:
            good, stats = len(features), token_stats(features)
            lengths = {k[:-4]: [f[k] for f in features]
                       for k in (features[0] if features else {}) if k.endswith("_len")}
    return CheckReport(ds.name, ds.file, ds.formatting, ds.ranking, stage, ds.total, good,
                       ds.bad_records(), ds.problems, cutoff_len if stats else None, stats, notes,
                       lengths)


def _template(template: Any, tokenizer: Any, enable_thinking: bool) -> Any:
    from .templates import get_template

    if template is None or isinstance(template, str):
        return get_template(template, tokenizer, enable_thinking)
    return template


def token_stats(features: list[dict]) -> dict[str, dict[str, float]]:
    """min/mean/p50/p95/max of every untruncated length (*_len) the features carry."""
    keys = [k for k in (features[0] if features else {}) if k.endswith("_len")]
    return {k[:-4]: summarize([f[k] for f in features]) for k in keys}


def summarize(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    def pct(q: float) -> float:  # nearest rank: a value that occurs in the data
        return float(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))])
    return {"min": float(ordered[0]), "mean": round(statistics.fmean(ordered), 1),
            "p50": pct(0.5), "p95": pct(0.95), "max": float(ordered[-1])}
