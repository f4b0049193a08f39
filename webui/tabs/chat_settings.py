"""The Chat tab's generation settings, generated from core.chat.GenConfig's fields: its
defaults are the widgets' values, its checks (__post_init__) the validation.

    boxes = widgets("en")                 # name -> component, in GenConfig field order
    gen = gen_config(dict(zip(boxes, values)))   # -> GenConfig, or UserError naming the field

Widgets follow the type as in the Train form: numbers are gr.Number, an optional number a
textbox (empty = None), text a textbox, the optional switch (enable_thinking) a radio with
"as trained" for None.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import gradio as gr

from core.chat.engine import GenConfig
from core.config import parse_number, type_members

from ..i18n import TEXT, t

FIELDS = {f.name: f for f in dataclasses.fields(GenConfig)}
SWITCH = {"default": None, "on": True, "off": False}  # radio value -> optional bool


def _types(name: str) -> tuple[type, ...]:
    return type_members(FIELDS[name].type)


def kind(name: str) -> str:
    types = _types(name)
    plain = tuple(tp for tp in types if tp is not type(None))
    if plain == (bool,):
        return "switch"
    if plain in ((int,), (float,)):
        return "optnumber" if type(None) in types else "number"
    return "text"


def _shown(value: Any, lang: str) -> str:
    if value is None or value == "":
        return t("empty_choice", lang)
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def info(name: str, lang: str) -> str:
    """A hint (when i18n has one) and the default, as the Train form's fields say it."""
    default = FIELDS[name].default
    if kind(name) == "switch":  # the radio's own word for it ("As trained")
        shown = next(label for label, key in switch_choices(lang) if SWITCH[key] is default)
        tail = t("default_is", lang, value=shown)
    elif default is None or default == "":
        tail = t("default_empty", lang)
    else:
        tail = t("default_is", lang, value=_shown(default, lang))
    hint = t(f"gen_{name}_info", lang) if f"gen_{name}_info" in TEXT else ""
    return t("field_info", lang, help=hint, tail=tail).strip()


def label(name: str, lang: str) -> str:
    return t(f"gen_{name}", lang) if f"gen_{name}" in TEXT else name


def switch_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(f"thinking_{key}", lang), key) for key in SWITCH]


def widgets(lang: str) -> dict[str, Any]:
    """One component per GenConfig field, in two rows: the numbers, then the texts and
    switches (created inside the caller's layout)."""
    out: dict[str, Any] = {}
    numbers = [n for n in FIELDS if kind(n) in ("number", "optnumber")]
    with gr.Row():
        out.update(_widgets(numbers, lang))
    with gr.Row():
        out.update(_widgets([n for n in FIELDS if n not in numbers], lang))
    return {name: out[name] for name in FIELDS}


def _widgets(names: list[str], lang: str) -> dict[str, Any]:
    out = {}
    for name in names:
        f = FIELDS[name]
        common = dict(label=label(name, lang), info=info(name, lang), elem_id=f"gen-{name}",
                      min_width=150)
        k, default = kind(name), f.default
        if k == "switch":
            value = next(key for key, v in SWITCH.items() if v is default)
            out[name] = gr.Radio(switch_choices(lang), value=value, **common)
        elif k == "number":
            integer = int in _types(name)
            out[name] = gr.Number(value=default, precision=0 if integer else None, **common)
        elif k == "optnumber":
            out[name] = gr.Textbox(value="" if default is None else str(default),
                                   placeholder=t("empty_choice", lang), **common)
        else:
            out[name] = gr.Textbox(value=default, lines=1, max_lines=6, scale=3, **common)
    return out


def relabel(name: str, lang: str) -> dict:
    update = dict(label=label(name, lang), info=info(name, lang))
    if kind(name) == "switch":
        update["choices"] = switch_choices(lang)
    return update


def _value(name: str, raw: Any) -> Any:
    k, types = kind(name), _types(name)
    if k == "switch":
        return SWITCH.get(raw)
    if k in ("number", "optnumber"):
        return parse_number(name, raw, integer=int in types, optional=k == "optnumber")
    return "" if raw is None else str(raw)


def gen_config(values: dict[str, Any]) -> GenConfig:
    """Widget values (name -> value; missing names keep GenConfig's defaults) as a GenConfig."""
    return GenConfig(**{name: _value(name, raw) for name, raw in values.items() if name in FIELDS})
