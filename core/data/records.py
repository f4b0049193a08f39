"""Shared pieces of record conversion: Problem, Sample, and the checks on one value.

A conversion step raises RecordError(field, reason) at the first thing wrong with a record;
formats.convert turns it into a Problem naming the file and record index, so no record is
dropped without a line that says why.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Message = dict[str, str]
Row = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """What is wrong with one record (index None: with the whole dataset)."""

    file: str
    index: int | None
    field: str
    reason: str
    # "error": the record is not used; "dropped": not used either, because it is too long
    # for cutoff_len (truncation); "warning": it is used, but look
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file if self.index is None else f"{self.file}:{self.index}"
        mark = f" ({self.severity})" if self.severity != "error" else ""
        return f"{where} {self.field}: {self.reason}{mark}"

    @property
    def is_error(self) -> bool:
        """Whether the record is left out (an error, or dropped by truncation)."""
        return self.severity != "warning"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RecordError(Exception):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass
class Sample:
    """A record in LLaMA-Factory's terms, before a stage shapes it into rows."""

    prompt: list[Message]
    answer: Message | None = None  # plain and kto_tag data
    chosen: Message | None = None  # ranking data
    rejected: Message | None = None
    label: bool | None = None  # kto_tag data
    ranked: list[Message] | None = None  # more than two answers, best first (evaluation)
    extras: dict[str, Any] = field(default_factory=dict)  # unused columns, for grpo rewards


def text(value: Any, field: str) -> str:
    """The value as message text: a non-empty string, or a RecordError that says why not."""
    if value is None:
        raise RecordError(field, "empty (null)")
    if not isinstance(value, str):
        raise RecordError(field, f"expected text, got {type(value).__name__}: {short(value)}")
    if not value.strip():
        raise RecordError(field, "empty text")
    return value


def column(record: dict, name: str | None, key: str) -> Any:
    """record[name], or a RecordError listing the columns the record does have."""
    if name is None or name not in record:
        have = ", ".join(map(str, record)) or "no columns"
        raise RecordError(name or key, f"column '{name or key}' (columns.{key}) is missing; "
                          f"the record has: {have}")
    return record[name]


def label(value: Any, field: str) -> bool:
    """A kto_tag value: a boolean (or "true"/"false" text, as csv files hold it)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise RecordError(field, f"expected true or false, got {short(value)}")


def user(content: str) -> Message:
    return {"role": "user", "content": content}


def assistant(content: str) -> Message:
    return {"role": "assistant", "content": content}


def short(value: Any, limit: int = 60) -> str:
    """The value as a problem shows it: repr, cut at `limit` characters."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit] + "..."
