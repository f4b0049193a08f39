"""Values as people type them (YAML, `key=value` overrides, form text boxes) converted to a
field's type, in one place for RunConfig, the Chat tab's GenConfig and any other form.

    type_members(int | None)                     # (int, NoneType)
    convert("max_steps", "7", (int,))            # 7; ValueError naming the key otherwise
    parse_number("top_k", "x", integer=True)     # UserError: top_k: 'x' is not a whole number
"""
from __future__ import annotations

import types
import typing
from typing import Any

from core.errors import UserError, shown

NONE = type(None)
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on"), ("false", "no", "off")


def type_members(tp: Any) -> tuple[type, ...]:
    """The types an annotation allows: `int | None` -> (int, NoneType), `float` -> (float,).
    String annotations (`from __future__ import annotations`) are evaluated first."""
    if isinstance(tp, str):
        tp = eval(tp, {"typing": typing})  # noqa: S307 - only our own dataclasses' annotations
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return tuple(typing.get_args(tp))
    return (tp,)


def convert(key: str, value: Any, allowed: tuple[type, ...]) -> Any:
    """`value` as one of the `allowed` types, or a ValueError that names `key` and what is
    expected. Text is read as the types allow: "" / "none" / "null" is None, "true"/"off" a
    bool, "8" or "8.0" a whole number, "1e-5" a number."""
    blank = isinstance(value, str) and value.strip().lower() in ("", "none", "null")
    if value is None or (blank and (NONE in allowed or str not in allowed)):
        if NONE in allowed:
            return None
        raise ValueError(f"{key}: a value is required (expected {type_names(allowed)})")
    if isinstance(value, bool):
        if bool in allowed:
            return value
    elif isinstance(value, str):
        found = _from_text(value.strip(), allowed)
        if found is not None:
            return found
        if str in allowed:
            return value
    elif isinstance(value, int) and int in allowed:
        if value.bit_length() > 256:  # past every bound; YAML could not even write it out
            raise ValueError(f"{key}: {shown(value)} is far too large (more than 77 digits)")
        return value
    elif isinstance(value, (int, float)) and float in allowed:
        try:
            return float(value)
        except OverflowError:  # an int beyond 1.8e308
            raise ValueError(f"{key}: {shown(value)} is too large for a number") from None
    elif isinstance(value, float) and int in allowed and value.is_integer():
        return int(value)
    elif str in allowed and isinstance(value, (int, float)):
        try:
            return str(value)
        except ValueError:  # an int of more than 4,300 digits
            raise ValueError(f"{key}: {shown(value)} is not {type_names(allowed)}") from None
    raise ValueError(f"{key}: {shown(value)} is not {type_names(allowed)}")


def _from_text(text: str, allowed: tuple[type, ...]) -> bool | int | float | None:
    """A bool or number read from text, when the allowed types take one; None otherwise."""
    if bool in allowed and text.lower() in TRUE_WORDS + FALSE_WORDS:
        return text.lower() in TRUE_WORDS
    for tp in (int, float):
        if tp in allowed:
            try:
                return tp(text)
            except ValueError:
                pass
    if int in allowed:  # "8.0" for a whole number, as YAML's 8.0 is taken
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if number.is_integer() else None
    return None


def type_names(allowed: tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "a whole number", float: "a number", str: "text",
             NONE: "empty"}
    return " or ".join(names.get(t, getattr(t, "__name__", str(t))) for t in allowed)


def parse_number(name: str, raw: Any, *, integer: bool = False, optional: bool = False,
                 minimum: float | None = None) -> int | float | None:
    """A number typed into a form (`raw` text or a number); empty is None when `optional`.
    Raises UserError naming `name` when it is missing, not a number, or below `minimum`."""
    allowed = ((int,) if integer else (float,)) + ((NONE,) if optional else ())
    try:
        number = convert(name, raw, allowed)
    except ValueError as e:
        raise UserError(str(e)) from None
    if minimum is not None and number is not None and number < minimum:
        raise UserError(f"{name}: {shown(raw)} must be at least {minimum:g}")
    return number
