"""How a core message becomes a pattern (webui/i18n_core.py): its English template, with
`{name}` for each part that varies, and its 中文 template with the same parts.

    P("below_min", "{key}: {value} is below the minimum {num}", "{key}：{value} 低于最小值 {num}")

A part matches PART[its name without trailing digits] (a config key, a number, ...), else any
text; a part named in `parts` is translated itself by a converter of i18n_core.CONVERT.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# What a part matches: a config key, a whole number, a number, a word, an exception's type, a
# file (with its record index), the doctor's search limit (may be empty); any other text else.
PART = {"key": r"[a-z_][a-z0-9_.]*", "exc": r"[A-Z]\w*(?:Error|Exception)", "n": r"-?\d+",
        "m": r"-?\d+", "step": r"\d+",
        "num": r"-?[\d.]+(?:e[-+]?\d+)?", "id": r"[a-z_]+", "type": r"[A-Za-z_]\w*",
        "where": r"\S+\.\w+(?::\d+)?", "field": r"\S+",
        "searched": r"(?: among the first [\d,]+)?"}


@dataclass(frozen=True)
class Pattern:
    id: str
    en: str
    zh: str
    parts: dict[str, str] = field(default_factory=dict)  # part -> converter name (CONVERT)
    regex: re.Pattern = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", compile_template(self.en))


def compile_template(template: str) -> re.Pattern:
    """`{name}` -> a named group (PART[name without digits] or any text); literal text exact,
    `{{` and `}}` standing for braces as in str.format."""
    out, seen, pos = [], set(), 0
    for m in re.finditer(r"\{\{|\}\}|\{(\w+)\}", template):
        out.append(re.escape(template[pos:m.start()]))
        name = m.group(1)
        if name is None:
            out.append(re.escape(m.group(0)[0]))
        elif name in seen:
            out.append(f"(?P={name})")
        else:
            seen.add(name)
            out.append(f"(?P<{name}>{PART.get(name.rstrip('0123456789'), '.+?')})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out), re.DOTALL)


def P(pattern_id: str, en: str, zh: str, /, **parts: str) -> Pattern:
    """A pattern; `parts`: part name -> converter name (i18n_core.CONVERT, or "say")."""
    return Pattern(pattern_id, en, zh, parts)

