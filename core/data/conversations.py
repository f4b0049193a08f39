"""sharegpt and openai records -> Sample, with LLaMA-Factory's rules for turns.

A leading system turn (or the system column) becomes the system message. The other turns
alternate: user or observation (-> role "tool"), then assistant or function_call (-> role
"assistant"). Ranking data ends with a user turn that chosen and rejected answer; plain
data ends with the assistant answer. openai records may also carry `tool_calls` on
assistant turns and several tool results in a row, which are merged as LLaMA-Factory does.
Tool definitions and function calls are written in Qwen's format (tools.py).
"""
from __future__ import annotations

import json
from typing import Any

from .records import RecordError, Sample, assistant, column, label, short, text
from .registry import Entry
from .tools import call_text, system_with_tools


def parse_conversation(rec: dict, entry: Entry, stage: str) -> Sample:
    name = entry.column("messages")
    turns = column(rec, name, "messages")
    if not isinstance(turns, (list, tuple)) or not turns:
        raise RecordError(name, f"expected a non-empty list of messages, got "
                          f"{type(turns).__name__ if turns else 'nothing'}")
    indexed = list(enumerate(turns))
    if entry.formatting == "openai":
        indexed = _openai_turns(indexed, entry.tags, name)
    prompt, indexed = _system(rec, entry, indexed, name)
    turns_ = _align(indexed, entry.tags, name)
    if not turns_:
        raise RecordError(name, "no user turn, only a system turn")
    used = {name, entry.column("system"), entry.column("tools")}
    sample = Sample(prompt, extras={k: v for k, v in rec.items() if k not in used})
    last = f"{name}[{indexed[-1][0]}]" if indexed else name
    if stage == "grpo":  # the prompt is everything up to the last user turn
        sample.prompt += turns_ if len(turns_) % 2 else turns_[:-1]
        return sample
    if entry.ranking:
        if len(turns_) % 2 == 0:
            raise RecordError(last, "ranking data: the conversation must end with a user turn "
                              "that chosen and rejected answer; it ends with an assistant turn")
        sample.prompt += turns_
        sample.chosen, sample.rejected = _reply(rec, entry, "chosen"), _reply(rec, entry, "rejected")
        return sample
    if len(turns_) % 2:
        raise RecordError(last, "the conversation must end with an assistant turn (the answer); "
                          "it ends with a user turn")
    sample.prompt += turns_[:-1]
    sample.answer = turns_[-1]
    kto_tag = entry.column("kto_tag")
    if kto_tag:
        sample.label = label(column(rec, kto_tag, "kto_tag"), kto_tag)
    return sample


def _system(rec: dict, entry: Entry, indexed: list, name: str) -> tuple[list[dict], list]:
    """The system message (from a leading system turn, else the system column) and the
    remaining turns."""
    tags = entry.tags
    first = indexed[0][1] if indexed else None
    if isinstance(first, dict) and first.get(tags["role_tag"]) == tags["system_tag"]:
        value, indexed = first.get(tags["content_tag"]), indexed[1:]
        where = f"{name}[0]"
    else:
        where = entry.column("system")
        value = rec.get(where) if where else None
    system = "" if value is None or value == "" else text(value, where)
    tools = entry.column("tools")
    system = system_with_tools(system, rec.get(tools) if tools else None, tools or "tools")
    return ([{"role": "system", "content": system}] if system else []), indexed


def _align(indexed: list[tuple[int, Any]], tags: dict[str, str], name: str) -> list[dict]:
    """Turns -> canonical messages, checking that roles alternate as LLaMA-Factory requires."""
    roles = {tags["user_tag"]: "user", tags["observation_tag"]: "tool",
             tags["assistant_tag"]: "assistant", tags["function_tag"]: "assistant"}
    expected = ((tags["user_tag"], tags["observation_tag"]),
                (tags["assistant_tag"], tags["function_tag"]))
    out = []
    for n, (i, message) in enumerate(indexed):
        where = f"{name}[{i}]"
        role, content = _message(message, tags, where)
        allowed = expected[n % 2]
        if role not in allowed:
            if role in roles or role == tags["system_tag"]:
                reason = (f"wrong role order: expected {' or '.join(allowed)} here, got {role!r} "
                          "(turns alternate user, assistant; a system turn may only come first)")
            else:
                reason = (f"unknown role {role!r}; this dataset's roles are "
                          f"{', '.join(repr(r) for r in roles)} (set \"tags\" in dataset_info.json)")
            raise RecordError(where, reason)
        content = call_text(content, where) if role == tags["function_tag"] else text(content, where)
        out.append({"role": roles[role], "content": content})
    return out


def _message(message: Any, tags: dict[str, str], where: str) -> tuple[Any, Any]:
    role_tag, content_tag = tags["role_tag"], tags["content_tag"]
    if not isinstance(message, dict):
        raise RecordError(where, f"expected a message with '{role_tag}' and '{content_tag}', "
                          f"got {type(message).__name__}")
    for tag, key in ((role_tag, "role_tag"), (content_tag, "content_tag")):
        if tag not in message:
            raise RecordError(where, f"message has no '{tag}' key; it has: "
                              f"{', '.join(map(str, message)) or 'nothing'} (set tags.{key} "
                              "in dataset_info.json)")
    role = message[role_tag]
    if not isinstance(role, str):  # a list or an object is no role (and cannot be looked up)
        raise RecordError(f"{where}.{role_tag}", f"expected a role name (text), got "
                          f"{type(role).__name__}: {short(role)}")
    return role, message[content_tag]


def _reply(rec: dict, entry: Entry, key: str) -> dict:
    """chosen/rejected: a message with the dataset's tags, plain text, or TRL's one-message
    list."""
    name = entry.column(key) or key
    value = column(rec, name, key)
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise RecordError(name, f"expected one assistant message, got a list of {len(value)} "
                              "(full conversations? turn them into prompt + answers with "
                              "`python -m core data convert`)")
        value = value[0]
    if isinstance(value, dict):
        tags = entry.tags
        role, content = _message(value, tags, name)
        if role not in (tags["assistant_tag"], tags["function_tag"]):
            raise RecordError(name, f"expected a {tags['assistant_tag']!r} message, got role "
                              f"{role!r}")
        if role == tags["function_tag"]:
            return assistant(call_text(content, name))
        return assistant(text(content, name))
    return assistant(text(value, name))


def _openai_turns(indexed: list[tuple[int, Any]], tags: dict[str, str],
                  name: str) -> list[tuple[int, Any]]:
    """tool_calls become a function_call turn holding their JSON; consecutive tool results
    become one observation turn."""
    role_tag, content_tag = tags["role_tag"], tags["content_tag"]
    out: list[tuple[int, Any]] = []
    for i, m in indexed:
        if isinstance(m, dict) and m.get("tool_calls") and m.get(role_tag) == tags["assistant_tag"]:
            if not isinstance(m["tool_calls"], list):
                raise RecordError(f"{name}[{i}].tool_calls", "expected a list of calls, got "
                                  f"{type(m['tool_calls']).__name__}: {short(m['tool_calls'])}")
            calls = [c.get("function", c) if isinstance(c, dict) else c for c in m["tool_calls"]]
            m = {role_tag: tags["function_tag"],
                 content_tag: json.dumps(calls, ensure_ascii=False, default=str)}
        prev = out[-1][1] if out else None
        observation = tags["observation_tag"]
        if (isinstance(m, dict) and isinstance(prev, dict) and m.get(role_tag) == observation
                and prev.get(role_tag) == observation
                and isinstance(m.get(content_tag), str) and isinstance(prev.get(content_tag), str)):
            merged = prev[content_tag] + "\n</tool_response>\n<tool_response>\n" + m[content_tag]
            out[-1] = (out[-1][0], {role_tag: observation, content_tag: merged})
            continue
        out.append((i, m))
    return out
