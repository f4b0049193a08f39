"""Text and JSON of data files, read one way everywhere (records, `data list`, the registry).

    text = read_text(path)                   # UTF-8, with or without a byte order mark
    value = parse_json(text, path, line=3)   # json.loads, every failure a UserError

One reader, so a file that trains is never called broken by the table that lists it (a
JSON lines file saved with a BOM by Windows tools, say). Whatever a file holds, reading it
ends in its data or in a UserError naming the file, the line and what to do: bytes that are
not UTF-8, invalid JSON, brackets nested deeper than Python's recursion allows, a number too
long to convert.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import UserError

BOM = "\ufeff"


def read_text(path: Path) -> str:
    """The file's text: UTF-8, a leading byte order mark dropped."""
    return decode(path.read_bytes(), path)


def decode(raw: bytes, path: Path | str) -> str:
    """`raw` as UTF-8 text (a BOM dropped); a UserError with the line and byte that are not
    UTF-8 otherwise."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise UserError(f"{path}: not UTF-8 text: line {line}, byte {column} of that line "
                        f"(0x{raw[e.start]:02x}) cannot be decoded; save the file as UTF-8 (e.g. "
                        "`iconv -f latin1 -t utf-8 IN > OUT`, or \"Save as UTF-8\" in an "
                        "editor)") from None


def split_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each non-empty line. Only \\n (and \\r\\n) end a line: JSON
    strings may hold U+2028 and the like, which str.splitlines() would cut at."""
    return [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def parse_json(text: str, path: Path | str, line: int | None = None,
               fix: str = "a record is an object of text columns: fix or remove that record"
               ) -> Any:
    """json.loads(text). `line`: the line `text` is (JSON lines), for the messages; `fix`:
    what to do about brackets nested too deeply."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if line:
            raise UserError(f"{path}: line {line} is not valid JSON (column {e.colno}: {e.msg}); "
                            "expected a list of records or one record per line") from None
        raise UserError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno}: "
                        f"{e.msg}") from None
    except RecursionError:
        depth, deepest = nesting(text)
        at = line or deepest
        raise UserError(f"{path}: line {at}: brackets nested {depth} deep, more than can be "
                        f"read; {fix}") from None
    except ValueError as e:  # an integer of more than 4,300 digits (Python's limit)
        where = f"{path}: line {line}" if line else str(path)
        raise UserError(f"{where}: a value cannot be read ({e}); write long numbers as text "
                        "(in quotes)") from None


def nesting(text: str) -> tuple[int, int]:
    """(deepest bracket nesting, the line where it is first reached), brackets inside JSON
    strings not counted. Only called after a failure: it is a slow character loop."""
    depth = deepest = 0
    line = at = 1
    quoted = escaped = False
    for char in text:
        if char == "\n":
            line += 1
        if quoted:  # inside a string: only its end matters
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest, at = depth, line
        elif char in "]}":
            depth -= 1
    return deepest, at
