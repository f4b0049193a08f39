"""Convert a preference file (e.g. a downloaded HF dataset) to LLaMA-Factory JSON.

examples:
  python -m core data convert ultrafeedback.parquet --to sharegpt --where language=en \\
      --limit 2000 --val-ratio 0.1 --out data/uf --register uf_2k
  python -m core data convert pairs.jsonl --to alpaca --out data --name my_pairs

SRC layouts: conversational chosen/rejected columns holding whole conversations (as in
argilla/ultrafeedback-binarized: the shared leading turns become the prompt), TRL's
prompt/chosen/rejected (strings or messages), and anything `data add` recognises. Output is
alpaca-ranking (instruction, input, chosen, rejected, + system/history) or sharegpt-ranking.
The registry is touched only with --register; existing files only with --force.
"""
from __future__ import annotations

import json
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

from .dataset import file_name_for
from .detect import detect_entry
from .formats import convert
from .loading import Record, display, read_file
from .records import Problem, RecordError, text
from .registry import add_entry, make_entry, read_registry, write_target

SHARE_GPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}
ROLES = tuple(SHARE_GPT_ROLES)


@dataclass
class ConvertResult:
    read: int = 0
    matched: int = 0  # after --where
    used: int = 0  # after --limit
    written: dict[str, int] = field(default_factory=dict)  # split -> rows
    files: dict[str, str] = field(default_factory=dict)  # split -> path
    chars: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)

    def render(self, limit: int = 20) -> str:
        lines = [f"records read {self.read}, matching --where {self.matched}, used "
                 f"{self.used}, skipped {sum(p.is_error for p in self.problems)}"]
        lines += [f"wrote {n} rows to {self.files[s]} ({s})" for s, n in self.written.items()]
        for part, s in self.chars.items():
            lines.append(f"  {part:<8} characters: mean {s['mean']:.0f}, max {s['max']:.0f}")
        lines += [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        lines += [f"registered {name}" for name in self.registered]
        return "\n".join(lines)


def convert_file(src: str | Path, to: str, out: str | Path, where: list[str] | None = None,
                 limit: int | None = None, val_ratio: float = 0.0, seed: int = 42,
                 name: str | None = None, register: str | None = None, force: bool = False,
                 dataset_dir: str | Path | None = "data") -> ConvertResult:
    """Read SRC, filter, convert to pairs, split, write JSON; with `register`, add the files
    to dataset_dir's registry (the train file as `register`, the val file as `register`_val)."""
    if to not in ("alpaca", "sharegpt"):
        raise UserError(f"--to must be alpaca or sharegpt, got {to!r}")
    if not 0 <= val_ratio < 1:
        raise UserError(f"--val-ratio must be at least 0 and below 1, got {val_ratio}")
    src, out = Path(src), Path(out).resolve()
    if not src.is_file():
        raise UserError(f"SRC not found: {src}")
    result = ConvertResult()
    records = _select(src, where or [], limit, result)
    rows, sources, result.problems = to_pairs(records, src)
    writer = to_alpaca if to == "alpaca" else to_sharegpt
    pairs = []  # (canonical row, written record)
    for row, (file, index) in zip(rows, sources):
        try:
            pairs.append((row, writer(row)))
        except RecordError as e:
            result.problems.append(Problem(file, index, e.field, e.reason))
    result.problems.sort(key=lambda p: not p.is_error)
    splits = {s: [w for _, w in part] for s, part in split_rows(pairs, val_ratio, seed).items()}
    base = name or register or src.stem.split(".")[0]
    paths = {s: out / (f"{base}.json" if s == "train" else f"{base}_{s}.json") for s in splits}
    entries = {(register if s == "train" else f"{register}_{s}"):
               output_entry(file_name_for(paths[s], dataset_dir), to, splits[s])
               for s in splits} if register else {}
    _refuse_overwrite(list(paths.values()), list(entries), dataset_dir, force)
    from core.paths import write_atomic
    for s, written in splits.items():
        write_atomic(paths[s], json.dumps(written, indent=2, ensure_ascii=False) + "\n")
        result.written[s], result.files[s] = len(written), display(paths[s])
    result.chars = char_stats([r for r, _ in pairs])
    for reg_name, entry in entries.items():
        add_entry(reg_name, entry, dataset_dir, force=force)
        result.registered.append(reg_name)
    return result


def _select(src: Path, where: list[str], limit: int | None, result: ConvertResult) -> list[Record]:
    """SRC's records that match every --where, the first `limit` of them."""
    data = read_file(src)
    conditions = _conditions(where, data)
    shown = display(src)
    records = [Record(shown, i, d) for i, d in enumerate(data) if matches(d, conditions)]
    result.read, result.matched = len(data), len(records)
    records = records[:limit] if limit else records
    result.used = len(records)
    return records


def _refuse_overwrite(paths: list[Path], names: list[str], dataset_dir: Any, force: bool) -> None:
    """Check before writing anything, so a refusal leaves no half-done conversion."""
    if force:
        return
    taken = [str(p) for p in paths if p.exists()]
    if taken:
        raise UserError(f"{', '.join(taken)} already exists; pass --force to overwrite")
    target = write_target(dataset_dir)
    registered = [n for n in names if n in read_registry(target)]
    if registered:
        raise UserError(f"{', '.join(registered)} already in {target}; pass --force to replace")


def _conditions(where: list[str], data: list) -> list[tuple[str, str]]:
    out = []
    columns = list(dict.fromkeys(k for r in data[:100] if isinstance(r, dict) for k in r))
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--where {item!r} is not column=value (e.g. --where language=en)")
        if key not in columns:
            raise UserError(f"--where: no column {key!r}; the records have: {', '.join(columns)}")
        out.append((key, value))
    return out


def matches(record: Any, conditions: list[tuple[str, str]]) -> bool:
    """Whether every column equals its value, compared as text (true/false for booleans)."""
    if not isinstance(record, dict):
        return not conditions
    for key, value in conditions:
        have = record.get(key)
        shown = str(have).lower() if isinstance(have, bool) else "" if have is None else str(have)
        if shown != (value.lower() if isinstance(have, bool) else value):
            return False
    return True


def to_pairs(records: list[Record], src: Path) -> tuple[list[dict], list, list[Problem]]:
    """Canonical pairwise rows, their (file, index), and the problems, whatever SRC's layout."""
    first = next((r.data for r in records if isinstance(r.data, dict)), {})
    if _full_conversations(first):
        rows, sources, problems = [], [], []
        for rec in records:
            try:
                row = split_conversation(rec.data)
            except RecordError as e:
                problems.append(Problem(rec.file, rec.index, e.field, e.reason))
                continue
            if row["chosen"] == row["rejected"]:
                problems.append(Problem(rec.file, rec.index, "chosen", "identical to rejected: "
                                        "this pair trains nothing", "warning"))
            rows.append(row)
            sources.append((rec.file, rec.index))
        return rows, sources, problems
    raw = detect_entry([r.data for r in records], src.name)
    if not raw.get("ranking"):
        raise UserError(f"{src}: no chosen/rejected pairs found (columns: {', '.join(first)}); "
                        "convert handles preference data; register other data with `data add`")
    entry = make_entry(src.stem, raw, src, src.parent)
    out = convert(records, entry, "dpo")
    return out.rows, out.sources, out.problems


def _full_conversations(first: dict) -> bool:
    chosen = first.get("chosen")
    return isinstance(chosen, list) and len(chosen) > 1 and all(isinstance(m, dict) for m in chosen)


def split_conversation(rec: Any) -> dict:
    """chosen/rejected as whole conversations -> prompt (their shared leading turns) and the
    one assistant message where they differ."""
    if not isinstance(rec, dict):
        raise RecordError("record", f"expected an object, got {type(rec).__name__}")
    chosen, rejected = (_messages(rec.get(k), k) for k in ("chosen", "rejected"))
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    if n == len(chosen) == len(rejected):  # identical: kept, with a warning from the caller
        n -= 1
    tail_c, tail_r = chosen[n:], rejected[n:]
    if len(tail_c) != 1 or len(tail_r) != 1 or {tail_c[0]["role"], tail_r[0]["role"]} != {"assistant"}:
        raise RecordError("chosen", "chosen and rejected must be the same conversation up to one "
                          f"final assistant message; they differ from turn {n} on")
    if not chosen[:n] or chosen[n - 1]["role"] not in ("user", "tool"):
        raise RecordError("chosen", "the shared turns must end with a user turn")
    return {"prompt": chosen[:n], "chosen": tail_c, "rejected": tail_r}


def _messages(value: Any, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise RecordError(field, f"expected a list of messages, got {type(value).__name__}")
    out = []
    for i, m in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise RecordError(where, f"expected a message with role ({', '.join(ROLES)}) and content")
        out.append({"role": m["role"], "content": text(m.get("content"), where)})
    return out


def split_rows(rows: list, val_ratio: float, seed: int) -> dict[str, list]:
    """{"train": ..., "val": ...}: val_ratio of the rows, picked with the seed, order kept."""
    if val_ratio <= 0 or len(rows) < 2:
        return {"train": rows}
    k = min(len(rows) - 1, max(1, round(len(rows) * val_ratio)))
    held = set(random.Random(seed).sample(range(len(rows)), k))
    return {"train": [r for i, r in enumerate(rows) if i not in held],
            "val": [r for i, r in enumerate(rows) if i in held]}


def to_alpaca(row: dict) -> dict:
    prompt = list(row["prompt"])
    system = prompt.pop(0)["content"] if prompt[0]["role"] == "system" else None
    roles = [m["role"] for m in prompt]
    if roles != ["user", "assistant"] * (len(roles) // 2) + ["user"]:
        raise RecordError("prompt", f"alpaca cannot hold this turn order ({', '.join(roles)}); "
                          "use --to sharegpt")
    out: dict[str, Any] = {"instruction": prompt[-1]["content"], "input": "",
                           "chosen": row["chosen"][0]["content"],
                           "rejected": row["rejected"][0]["content"]}
    if system:
        out["system"] = system
    if len(prompt) > 1:
        out["history"] = [[prompt[i]["content"], prompt[i + 1]["content"]]
                          for i in range(0, len(prompt) - 1, 2)]
    return out


def to_sharegpt(row: dict) -> dict:
    def turn(m: dict) -> dict:
        return {"from": SHARE_GPT_ROLES[m["role"]], "value": m["content"]}
    return {"conversations": [turn(m) for m in row["prompt"]],
            "chosen": turn(row["chosen"][0]), "rejected": turn(row["rejected"][0])}


def output_entry(file_name: str, to: str, written: list[dict]) -> dict:
    """The registry entry for a file this module wrote."""
    if to == "sharegpt":
        columns = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
        return {"file_name": file_name, "formatting": "sharegpt", "ranking": True,
                "columns": columns}
    columns = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}
    for key in ("system", "history"):
        if any(key in w for w in written):
            columns[key] = key
    return {"file_name": file_name, "formatting": "alpaca", "ranking": True, "columns": columns}


def char_stats(rows: list[dict]) -> dict[str, dict[str, float]]:
    """mean/max characters of the prompt (all its turns), chosen and rejected."""
    if not rows:
        return {}
    lengths = {"prompt": [sum(len(m["content"]) for m in r["prompt"]) for r in rows],
               "chosen": [len(r["chosen"][0]["content"]) for r in rows],
               "rejected": [len(r["rejected"][0]["content"]) for r in rows]}
    return {k: {"mean": statistics.fmean(v), "max": max(v)} for k, v in lengths.items()}
