"""Core's messages in the page's language, translated at the UI edge.

core speaks English everywhere (its CLI, train.log, status.json, exceptions), so its messages
keep one wording and one source. What the WebUI shows of them goes through say():

    say("cutoff_len: 8 is below the minimum 16", "zh")   # -> "cutoff_len：8 低于最小值 16"
    say("a message no pattern knows", "zh")               # -> unchanged: English, never lost
    say(anything, "en")                                   # -> unchanged

A message is translated by the first pattern that matches it whole (webui/i18n_patterns.py:
core's message as a template, `{name}` for each part that varies, and its 中文 with the same
parts). A part may be translated too: "say" (a core message inside another: a run's error, a
record's reason, an exception's message), or a converter of CONVERT (type names, run states, an
alarm's name, ...); a part that cannot be translated leaves the whole message English, never
half of it. A text of several lines that no pattern matches whole is translated line by line;
one line of several sentences, sentence by sentence when every sentence is known.
The patterns: webui/i18n_messages.py (values, paths, models, data, uploads, votes),
webui/i18n_runs.py (runs and alarms) and webui/i18n_doctor.py (the run doctor's findings).
tests/test_i18n_core.py (and tests/test_i18n_doctor.py) make every message from core as it is
today and check its pattern translates it, so a message changed in core fails there instead
of showing English in the 中文 UI.
"""
from __future__ import annotations

import functools
import re
from typing import Callable

from .i18n_doctor import CONVERT as DOCTOR_CONVERT
from .i18n_doctor import DOCTOR
from .i18n_messages import MESSAGES
from .i18n_patterns import Pattern
from .i18n_runs import GENERIC, RUNS

ZH = "zh"
PATTERNS: tuple[Pattern, ...] = MESSAGES + RUNS + DOCTOR + GENERIC  # the first that matches wins
# Where a text of several sentences may be cut into known messages: after ". " and ": ".
SENTENCE_END = re.compile(r"[.:] (?=\S)")
MAX_SENTENCES = 24  # a longer text is left as it is (the cuts are tried in pairs)


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


ALARMS = {"stuck": "停滞", "too_easy": "过于简单", "displacement": "似然位移", "diverging": "发散",
          "grad_spike": "梯度尖峰", "not_finite": "数值溢出", "overfitting": "过拟合"}
CONVERT: dict[str, Callable[[str], str | None]] = {
    "types": _types, "state": STATES.get, "what": _what, "nan_names": _nan_names,
    "formula": _formula, "held": lambda text: WORDS.get(text, text), "alarm": ALARMS.get,
    "answer": {"chosen": "优选", "rejected": "劣选"}.get,
    **DOCTOR_CONVERT}


def translate(message: str, used: list[str] | None = None) -> str | None:
    """The 中文 of `message`, or None when no pattern translates it whole (a part to translate
    that no pattern knows makes the whole unknown). A longer text that no pattern matches is
    translated line by line when one of its lines is known, else sentence by sentence when
    every sentence is known (a doctor's finding in one line: "seen meaning Try: advice"; a
    failure's headline: "2 problems: cutoff_len: ..."). `used` collects the ids of the
    patterns that did it, outer first."""
    text, ids = _translated(message)
    if used is not None:
        used += ids
    return text


@functools.lru_cache(maxsize=4096)
def _translated(message: str) -> tuple[str | None, tuple[str, ...]]:
    """translate() remembered: the sentence-by-sentence search asks for the same pieces (and
    their parts) again and again."""
    used: list[str] = []
    return _translate(message, used), tuple(used)


def _translate(message: str, used: list[str]) -> str | None:
    text = _whole(message, used)
    if text is not None:
        return text
    if "\n" in message:
        lines = [_line(line, used) for line in message.split("\n")]
        if any(text is not None for text in lines):
            return "\n".join(line if text is None else text
                             for line, text in zip(message.split("\n"), lines))
        return None
    return _sentences(message, used)


def _whole(message: str, used: list[str]) -> str | None:
    """The first pattern that matches all of `message` and translates all of its parts."""
    for pattern in PATTERNS:
        m = pattern.regex.fullmatch(message)
        if m is None:
            continue
        inner: list[str] = []
        parts = {name: _part(pattern.parts.get(name), value, inner)
                 for name, value in m.groupdict().items()}
        if None not in parts.values():
            used += [pattern.id] + inner
            return pattern.zh.format(**parts)
    return None


def _sentences(message: str, used: list[str]) -> str | None:
    """`message` cut after ". " or ": " into pieces each a known message whole, the longest
    pieces first; their 中文 joined without spaces. None unless every piece is known."""
    cuts = [m.end() for m in SENTENCE_END.finditer(message)]
    if not cuts or len(cuts) > MAX_SENTENCES:
        return None
    bounds = [0, *cuts, len(message)]
    done: list[tuple[str, list[str]] | None] = [None] * len(bounds)
    done[-1] = ("", [])
    for i in range(len(bounds) - 2, -1, -1):  # done[i]: the 中文 of message[bounds[i]:]
        for j in range(len(bounds) - 1, i, -1):
            if done[j] is None or (i == 0 and j == len(bounds) - 1):
                continue  # the whole message is no known message (translate tried it)
            inner: list[str] = []
            text = _whole(message[bounds[i]:bounds[j]].rstrip(" "), inner)
            if text is not None:
                done[i] = (text + done[j][0], inner + done[j][1])
                break
    if done[0] is None:
        return None
    used += done[0][1]
    return done[0][0]


def _part(converter: str | None, value: str, used: list[str]) -> str | None:
    if converter is None:
        return value
    if converter == "say":  # a core message inside another
        return translate(value, used)
    return CONVERT[converter](value)


def _line(line: str, used: list[str]) -> str | None:
    head, rest = re.match(r"(\s*(?:- )?)(.*)", line, re.DOTALL).groups()
    text = translate(rest, used) if rest else None
    return None if text is None else head + text


def say(message: str | None, lang: str) -> str:
    """`message` from core in `lang`: unchanged in English, and when no pattern knows it."""
    if not message or lang != ZH:
        return message or ""
    return translate(message) or message

