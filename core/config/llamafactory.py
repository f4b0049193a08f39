"""LLaMA-Factory's keys: what each one does here, so its YAMLs run unchanged.

Every key LLaMA-Factory 0.9.x accepts for training (the fields of its ModelArguments,
DataArguments, FinetuningArguments, GeneratingArguments and TrainingArguments, which includes
transformers' Seq2SeqTrainingArguments) has one treatment:

  honoured  a RunConfig field with the same name and meaning (or, for `neat_packing`, the
            field that means it here)
  ignored   accepted, with one logged line saying that it has no effect here and why
  refused   an error naming the key and what to use instead, but only for a value that asks
            for the feature: LLaMA-Factory's default (`use_galore: false`) passes silently

Keys that are neither ours nor LLaMA-Factory's stay "unknown key" errors (core.config.run).
The table of docs/llamafactory.md is generated from this one (a test checks they agree):

    python scripts/llamafactory_doc.py        # rewrites the table part of docs/llamafactory.md
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .llamafactory_table import (
    DEFAULT_OFF,
    HONOURED,
    HONOURED_NOTES,
    MULTIMODAL,
    MULTIMODAL_TEMPLATES,
    TABLE,
    VALUE_HINTS,
    Treatment,
)

log = logging.getLogger(__name__)
DOC = "docs/llamafactory.md"
TABLE_MARK = "<!-- The table below is generated: python scripts/llamafactory_doc.py -->"


def treatment(key: str) -> Treatment | None:
    """How a LLaMA-Factory key is treated; None for a key LLaMA-Factory does not have."""
    if key in HONOURED:
        return Treatment("honoured", HONOURED_NOTES.get(key, ""))
    return TABLE.get(key)


def handle(key: str, value: Any) -> tuple[dict[str, Any], str | None]:
    """A non-field LLaMA-Factory key: (field values it sets, problem message or None). An
    ignored key is logged; a refused key with a value that does not ask for it passes."""
    t = TABLE[key]
    if t.kind == "honoured":  # neat_packing: false leaves packing as it is
        return ({t.alias: value} if value else {}), None
    if t.kind == "ignored":
        log.info("LLaMA-Factory key %s=%r has no effect here: %s.", key, value, t.note)
        return {}, None
    if _is_off(value, t.off):
        return {}, None
    return {}, f"{key}: {value!r} (a LLaMA-Factory key): {t.note}"


def _is_off(value: Any, off: tuple) -> bool:
    if isinstance(value, bool):  # True == 1, False == 0: compare booleans as booleans
        return any(o is value for o in off)
    if isinstance(value, (list, dict)):
        return not value
    return any(value == o and not isinstance(o, bool) for o in off) or value is None


def translate(key: str, value: Any) -> Any:
    """LLaMA-Factory's spelling of a field's value, as the field holds it."""
    if key in ("lr_scheduler_kwargs", "fsdp_config") and isinstance(value, dict):
        return _json(key, value)
    if key == "fsdp" and isinstance(value, list | tuple):  # transformers takes both
        return " ".join(map(str, value)) or None
    if key == "report_to" and isinstance(value, list | tuple):
        return value[0] if len(value) == 1 else ",".join(map(str, value)) or "none"
    return value


def _json(key: str, value: dict) -> str:
    """A YAML mapping as JSON text; ValueError naming the key for one JSON cannot hold (a
    date), nests thousands deep or, through YAML aliases, expands beyond any schedule's needs."""
    if _nodes(value) > 10_000:
        raise ValueError(f"{key}: the mapping is far too large for schedule arguments; give a "
                         'few, e.g. {"num_cycles": 2}')
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"{key}: cannot be written as JSON ({e}); give numbers, text and "
                         'lists, e.g. {"min_lr": 1e-6}') from None


def _nodes(value: Any, limit: int = 10_000) -> int:
    """How many values `value` holds, counting stops past `limit` (aliases count each time)."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple):
            stack += item
    return count


def value_hint(key: str, value: Any) -> str | None:
    """Why a value LLaMA-Factory accepts is not one of ours, and what to use instead."""
    if key == "template" and isinstance(value, str):
        if value in MULTIMODAL_TEMPLATES:
            return (f"{value} is LLaMA-Factory's multimodal template; {MULTIMODAL} (qwen for "
                    "Qwen2/2.5, qwen3 or qwen3_nothink for Qwen3)")
        return ("PrefStudio trains Qwen text models: use qwen (Qwen2/2.5), qwen3, "
                "qwen3_nothink (Qwen3 Instruct-2507), default, empty, or leave it empty for the "
                "tokenizer's own")
    return VALUE_HINTS.get((key, value))


def lf_keys() -> list[str]:
    """Every LLaMA-Factory key this table treats, sorted."""
    return sorted(set(HONOURED) | set(TABLE))


def markdown() -> str:
    """docs/llamafactory.md's table: key, treatment, note."""
    from .run import FIELDS

    rows = ["| key | treatment | note |", "| --- | --- | --- |"]
    for key in lf_keys():
        t = treatment(key)
        note = t.note or FIELDS[key].metadata["help"]
        if t.kind == "refused" and t.off != DEFAULT_OFF:
            shown = ", ".join("empty" if o is None else json.dumps(o) for o in t.off)
            note += f" (passes: {shown})"
        rows.append(f"| `{key}` | {t.kind} | {note.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def write_doc(root: Path) -> Path:
    """Rewrite the table part of docs/llamafactory.md (the text above TABLE_MARK stays)."""
    doc = root / DOC
    head = doc.read_text(encoding="utf-8").split(TABLE_MARK)[0] if doc.exists() else ""
    doc.write_text(head + TABLE_MARK + "\n\n" + markdown(), encoding="utf-8")
    return doc
