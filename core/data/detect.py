"""Guess a registry entry from a file's records: formatting, ranking, columns, tags.

    entry = detect_entry(read_file(path), "mine.json")   # what `data add` would write

Layouts recognised: alpaca (instruction/input/output, also TRL's prompt/chosen/rejected
strings and prompt/completion/label), sharegpt (conversations of from/value turns), openai
(messages of role/content), TRL's conversational pairs (prompt messages + one-message
chosen/rejected lists), LLaMA-Factory's older ranking form (output = [chosen, rejected]),
and a true/false column as kto_tag. What the caller passes wins over the guess.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import UserError

from .registry import DEFAULT_TAGS, data_command

CONVERSATION_KEYS = ("conversations", "messages", "conversation", "dialog", "prompt")
PROMPT_KEYS = ("instruction", "prompt", "question")
RESPONSE_KEYS = ("output", "response", "completion", "answer")
LABEL_KEYS = ("kto_tag", "label")
LABEL_WORDS = ("label", "tag", "desirable")  # other true/false columns are left alone
SAMPLE = 20  # records looked at


def detect_entry(records: list, file_name: str, formatting: str | None = None,
                 ranking: bool | None = None, columns: dict[str, str] | None = None,
                 tags: dict[str, str] | None = None, path: Path | None = None,
                 dataset_dir: Any = None) -> dict[str, Any]:
    """The registry entry for these records, as `data add` writes it. `path` and
    `dataset_dir`: the file and the registry's folder, for the commands a refusal suggests."""
    sample = [r for r in records[:SAMPLE] if isinstance(r, dict)]
    if not sample:
        raise UserError(f"{file_name}: no records to detect the layout from (expected a list of "
                        "objects); give --formatting and --columns")
    keys = list(dict.fromkeys(k for r in sample for k in r))
    _refuse_full_conversations(sample, file_name, path, dataset_dir)
    conv = _conversation_key(sample, keys) if formatting in (None, "sharegpt", "openai") else None
    if formatting is None:
        formatting = "alpaca" if conv is None else _conversation_format(sample, conv)
    found: dict[str, str] = {}
    found_tags: dict[str, str] = {}
    if formatting == "alpaca":
        found = _alpaca_columns(sample, keys)
    elif conv is not None:
        found["messages"] = conv
        found_tags = _tags(sample, conv, formatting)
    pair = "chosen" in keys and "rejected" in keys
    if pair:
        found.update(chosen="chosen", rejected="rejected")
    older = formatting == "alpaca" and _all(sample, found.get("response"), _is_pair)
    if ranking is None:
        ranking = pair or older
    if not ranking:
        label = next((k for k in LABEL_KEYS if _all(sample, k, _is_bool)), None)
        label = label or next((k for k in keys if any(w in k.lower() for w in LABEL_WORDS)
                               and _all(sample, k, _is_bool)), None)
        if label:
            found["kto_tag"] = label
    found.update(columns or {})
    found_tags.update(tags or {})
    return build_entry(file_name, formatting, ranking, found, found_tags)


def build_entry(file_name: str, formatting: str, ranking: bool, columns: dict[str, str],
                tags: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"file_name": file_name, "formatting": formatting}
    if ranking:
        entry["ranking"] = True
    if columns:
        entry["columns"] = columns
    defaults = DEFAULT_TAGS.get(formatting, {})
    changed = {k: v for k, v in tags.items() if defaults.get(k) != v}
    if changed:
        entry["tags"] = changed
    return entry


def _conversation_key(sample: list[dict], keys: list[str]) -> str | None:
    """The column holding lists of message objects (prompt only when it holds messages)."""
    ordered = [k for k in CONVERSATION_KEYS if k in keys] + [k for k in keys
                                                              if k not in ("chosen", "rejected")]
    for key in ordered:
        if _all(sample, key, lambda v: isinstance(v, list) and bool(v)
                and all(isinstance(m, dict) for m in v)):
            return key
    return None


def _conversation_format(sample: list[dict], key: str) -> str:
    first = sample[0][key][0]
    return "sharegpt" if "from" in first or "value" in first else "openai"


def _tags(sample: list[dict], key: str, formatting: str) -> dict[str, str]:
    """The dataset's role names: known names first, else by position (first turn: user,
    second: assistant)."""
    tags = dict(DEFAULT_TAGS[formatting])
    first = sample[0][key][0]
    for role_key, content_key in (("from", "value"), ("role", "content")):
        if role_key in first and content_key in first:
            tags.update(role_tag=role_key, content_tag=content_key)
    roles = {role for r in sample for role in _roles(r[key], tags["role_tag"])}
    for tag, names in (("user_tag", ("human", "user")), ("assistant_tag", ("gpt", "assistant")),
                       ("observation_tag", ("observation", "tool")),
                       ("system_tag", ("system",))):
        if tags[tag] not in roles:
            tags[tag] = next((n for n in names if n in roles), tags[tag])
    turns = [role for role in _roles(sample[0][key], tags["role_tag"])
             if role != tags["system_tag"]]
    for tag, pos in (("user_tag", 0), ("assistant_tag", 1)):
        if tags[tag] not in roles and len(turns) > pos:
            tags[tag] = turns[pos]
    return tags


def _roles(messages: list, role_tag: str) -> list[str]:
    """The role names of these messages; a role that is not text names nothing (the
    conversion reports it per record)."""
    return [m[role_tag] for m in messages if isinstance(m, dict)
            and isinstance(m.get(role_tag), str)]


def _alpaca_columns(sample: list[dict], keys: list[str]) -> dict[str, str]:
    found = {}
    prompt = next((k for k in PROMPT_KEYS if k in keys), None)
    if prompt is None:
        raise UserError(f"cannot tell the layout: no instruction/prompt/question column and no "
                        f"conversation column; the records have: {', '.join(keys)}. Give "
                        "--formatting and --columns (e.g. --columns prompt=my_question)")
    found["prompt"] = prompt
    if "input" in keys:
        found["query"] = "input"
    response = next((k for k in RESPONSE_KEYS if k in keys), None)
    if response:
        found["response"] = response
    for key in ("system", "history"):
        if key in keys:
            found[key] = key
    return found


def _refuse_full_conversations(sample: list[dict], file_name: str, path: Path | None,
                               dataset_dir: Any) -> None:
    value = sample[0].get("chosen")
    if isinstance(value, list) and len(value) > 1:
        command = data_command("convert", str(path or file_name), "--to", "sharegpt", "--out",
                               "DIR", "--register", "NAME", dataset_dir=dataset_dir)
        raise UserError(f"{file_name}: chosen/rejected hold whole conversations (prompt turns "
                        f"included); turn them into prompt + answers first with `{command}`")


def _all(sample: list[dict], key: str | None, test) -> bool:
    return key is not None and all(key in r and test(r[key]) for r in sample)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))


def _is_pair(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value)
