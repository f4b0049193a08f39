"""Core's messages in the page's language, translated at the UI edge.

core speaks English everywhere (its CLI, train.log, status.json, exceptions), so its messages
keep one wording and one source. What the WebUI shows of them goes through say():

    say("cutoff_len: 8 is below the minimum 16", "zh")   # -> "cutoff_len：8 低于最小值 16"
    say("a message no pattern knows", "zh")               # -> unchanged: English, never lost
    say(anything, "en")                                   # -> unchanged

A message is translated by the first pattern that matches it whole. A pattern is core's
message as a template, `{name}` standing for each part that varies, and its 中文 template
with the same parts; a part can be translated too: `say` (a core message itself), `types`
(core.config's type names), `state` (a run state), `what` (an answer's cut). A text of
several lines that no pattern matches whole is translated line by line.
tests/test_i18n_core.py produces each message from core as it is today and checks its
pattern matches it, so a changed message in core fails there instead of showing English.
"""
from __future__ import annotations

import re
from typing import Callable

from .i18n_messages import MESSAGES
from .i18n_patterns import Pattern
from .i18n_runs import GENERIC, RUNS

ZH = "zh"
PATTERNS: tuple[Pattern, ...] = MESSAGES + RUNS + GENERIC  # the first that matches wins


TYPES = {"true/false": "true/false", "a whole number": "整数", "a number": "数字", "text": "文本",
         "empty": "空"}
STATES = {"created": "已创建", "queued": "排队中", "running": "训练中", "completed": "已完成",
          "failed": "已失败", "aborted": "已中止"}
WORDS = {"its first logged value": "首次记录的值", "a final model": "最终模型",
         "a completed run": "已完成的运行"}


def _types(text: str) -> str | None:
    """core.config.values.type_names: "a whole number or empty" -> "整数或空"."""
    parts = text.split(" or ")
    return "或".join(TYPES[p] for p in parts) if all(p in TYPES for p in parts) else None


def _what(text: str) -> str | None:
    """A cut's parts: "prompt -12, answer -3" -> "提示 -12，回答 -3"."""
    names = {"prompt": "提示", "answer": "回答"}
    parts = [re.fullmatch(r"(prompt|answer) (-\d+)", p) for p in text.split(", ")]
    return "，".join(f"{names[m.group(1)]} {m.group(2)}" for m in parts) if all(parts) else None


def _nan_names(text: str) -> str:
    return text.replace(" (2 logged steps in a row)", "（连续 2 个记录步）")


def _formula(text: str) -> str:
    """An alarm's name of a start value: "ln 2", "1/(4 beta^2)", "its first logged value"."""
    return WORDS.get(text, text.replace("beta", "β"))


CONVERT: dict[str, Callable[[str], str | None]] = {
    "say": lambda text: translate(text)[0], "types": _types, "state": STATES.get,
    "what": _what, "nan_names": _nan_names, "formula": _formula,
    "held": lambda text: WORDS.get(text, text)}


def translate(message: str) -> tuple[str | None, Pattern | None]:
    """(the 中文 of `message`, the pattern that made it); (None, None) when no pattern
    translates it whole (a part to translate that no pattern knows counts as unknown). Lines
    of a longer text are translated one by one (pattern None) when one of them is known."""
    for pattern in PATTERNS:
        m = pattern.regex.fullmatch(message)
        if m is None:
            continue
        parts = {}
        for name, value in m.groupdict().items():
            parts[name] = CONVERT[pattern.parts[name]](value) if name in pattern.parts else value
            if parts[name] is None:
                break
        else:
            return pattern.zh.format(**parts), pattern
    if "\n" in message:
        lines = [_line(line) for line in message.split("\n")]
        if any(known for _, known in lines):
            return "\n".join(text for text, _ in lines), None
    return None, None


def _line(line: str) -> tuple[str, bool]:
    head, rest = re.match(r"(\s*(?:- )?)(.*)", line, re.DOTALL).groups()
    text = translate(rest)[0] if rest else None
    return (line, False) if text is None else (head + text, True)


def say(message: str | None, lang: str) -> str:
    """`message` from core in `lang`: unchanged in English, and when no pattern knows it."""
    if not message or lang != ZH:
        return message or ""
    return translate(message)[0] or message

