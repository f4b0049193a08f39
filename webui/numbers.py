"""Numbers typed into text boxes (gradio's Number box cannot be empty, so optional numbers are
text): one parser with messages that name the field."""
from __future__ import annotations

from typing import Any

from core.errors import UserError


def parse_number(name: str, raw: Any, *, integer: bool = False, optional: bool = False,
                 minimum: float | None = None) -> int | float | None:
    """`raw` as a number; empty is None when optional, else an error naming `name`."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if optional:
            return None
        raise UserError(f"{name}: a number is required")
    try:
        number = float(str(raw).strip())
    except ValueError:
        raise UserError(f"{name}: {raw!r} is not a number") from None
    if integer and not number.is_integer():
        raise UserError(f"{name}: {raw!r} is not a whole number")
    if minimum is not None and number < minimum:
        raise UserError(f"{name}: {raw!r} must be at least {minimum:g}")
    return int(number) if integer else number
