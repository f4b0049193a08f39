"""Errors the user can fix. The CLI prints them as one line (no traceback) and exits 2."""
from __future__ import annotations

import reprlib


class UserError(Exception):
    """Bad input: a file, record, field or key that the message names, and what to do."""


def shown(value: object, limit: int = 60) -> str:
    """`value` as a message quotes it: its repr, clipped to about `limit` characters and a few
    levels of nesting, so a megabyte of text or 5,000 nested lists make a readable line."""
    r = reprlib.Repr()
    r.maxstring = r.maxother = r.maxlong = limit
    r.maxlevel = 3
    try:
        return r.repr(value)
    except (ValueError, RecursionError):  # an int of more than 4,300 digits cannot print
        kind = "number" if isinstance(value, int) else type(value).__name__
        return f"a {kind} too long to show"
