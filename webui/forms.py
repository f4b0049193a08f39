"""The Train form, generated from core.config.FIELDS: one widget per field, values both ways.

    spec = SPECS["pref_beta"]             # kind, default, choices, range, group
    widget(spec, value, "en")             # the gradio component
    cfg, found = build_config(values, ws) # form values -> RunConfig + (key, message) problems

Nothing here names a hyperparameter's default, choice, range or help: they come from the
field metadata (help, choices, min/max/gt, stages, when, ui), so a field added to core appears
in the form. Numbers are gr.Number/gr.Slider, booleans checkboxes, choices dropdowns (None
shows as "(empty)"), optional text an empty textbox. Fields whose metadata says so get a pick
list: `suggest` (model ids, any other may be typed), `pick` (registered datasets, finished
runs' adapters). Fields marked `main` come first in the Train form; the others sit in collapsed
groups whose titles count the values that differ from the defaults (changed()).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr
import yaml

from core.config import (
    FIELDS,
    RunConfig,
    coerce,
    field_group,
    problems,
    split_list,
    type_members,
)

from .i18n import field_label, t
from .i18n_core import say
from .i18n_fields import help_text
from .workspace import Workspace

# The top bar's fields (shared by every tab); the Train tab shows all the others.
TOPBAR_KEYS = ("model_name_or_path", "template", "finetuning_type", "adapter_name_or_path",
               "quantization_bit")
SLIDER_SPAN = 1.0  # a bounded float whose range is at most this wide gets a slider


@dataclass
class Spec:
    key: str
    group: str
    kind: str  # dropdown | checkbox | number | optnumber | slider | text | yaml | model |
    #            datasets | adapters
    default: Any
    types: tuple
    meta: dict

    @property
    def optional(self) -> bool:
        return type(None) in self.types

    @property
    def integer(self) -> bool:
        return int in self.types and float not in self.types


def _kind(types: tuple, meta: dict) -> str:
    plain = tuple(t for t in types if t is not type(None))
    if meta.get("pick"):
        return meta["pick"]  # datasets | adapters
    if meta.get("suggest"):
        return "model"
    if meta.get("choices") is not None:
        return "dropdown"
    if plain == (bool,):
        return "checkbox"
    if plain in ((int,), (float,)) and type(None) in types:
        return "optnumber"  # gr.Number cannot be empty (it shows and sends 0): a checked textbox
    if plain in ((int,), (float,)):
        lo, hi = meta.get("min"), meta.get("max")
        bounded = lo is not None and hi is not None and hi - lo <= SLIDER_SPAN
        return "slider" if plain == (float,) and bounded and len(plain) == len(types) else "number"
    if all(t in (bool, int, float, str) for t in plain):
        return "text"
    return "yaml"  # lists, dicts: edited as YAML text


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def build_specs() -> dict[str, Spec]:
    out = {}
    for key, f in FIELDS.items():
        if f.metadata.get("ui") is False:
            continue  # never in a form (trust_remote_code)
        types = type_members(f.type)
        out[key] = Spec(key, field_group(key), _kind(types, f.metadata), _default(f), types,
                        dict(f.metadata))
    return out


SPECS = build_specs()
DRIVERS = sorted({"stage"} | {k for s in SPECS.values() for k in (s.meta.get("when") or {})})
# The Train form's first block: the settings people change most (metadata `main`).
MAIN_KEYS = tuple(k for k, s in SPECS.items() if s.meta.get("main") and k not in TOPBAR_KEYS)


def path_kinds() -> dict[str, str]:
    """Fields holding paths and how each is confined (core.config metadata `path`)."""
    return {k: f.metadata["path"] for k, f in FIELDS.items() if f.metadata.get("path")}


# --- labels and help -----------------------------------------------------------------------
# gradio renders a field's `info` with a few Markdown rules of its own (`code`, [text](url),
# **bold**, *em*, _em_) and no escapes, so `^<think>.*?</think>\s*\S` would lose its stars.
# Help is plain text: the characters those rules eat become lookalikes they leave alone.
_MARKUP = (("*", "\u2217"), ("`", "\u02cb"), ("](", "]\u200b("))
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # all but snake_case


def plain(text: str) -> str:
    """`text` with lookalikes for what gradio's info line would read as markup."""
    for char, lookalike in _MARKUP:
        text = text.replace(char, lookalike)
    return _EDGE_UNDERSCORE.sub("\uff3f", text)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def shown(value: Any, lang: str = "en") -> str:
    """A config value as the form's texts show it: 5e-05, true, (empty)."""
    if value in (None, ""):
        return t("empty_choice", lang)
    if isinstance(value, bool):
        return t("bool_true" if value else "bool_false", lang)
    return _number(value) if isinstance(value, (int, float)) else str(value)


def info(spec: Spec, lang: str) -> str:
    """Help, default and range, all from the metadata (the help in `lang`: i18n_fields)."""
    m, parts = spec.meta, []
    if m.get("gt") is not None:
        parts.append(f"> {_number(m['gt'])}")
    if m.get("min") is not None:
        parts.append(f"≥ {_number(m['min'])}")
    if m.get("max") is not None:
        parts.append(f"≤ {_number(m['max'])}")
    if m.get("lt") is not None:
        parts.append(f"< {_number(m['lt'])}")
    default = spec.default
    if default in (None, ""):
        tail = t("default_empty", lang)
    else:
        tail = t("default_is", lang, value=shown(default, lang))
    if parts:
        tail += " · " + t("list_sep", lang).join(parts)
    return plain(t("field_info", lang, help=help_text(spec.key, lang), tail=tail))


def dropdown_choices(spec: Spec, lang: str) -> list[tuple[str, Any]]:
    return [(t("empty_choice", lang), "") if c is None else (str(c), c)
            for c in spec.meta["choices"]]


def suggestions(spec: Spec, lang: str, local: list[str] | tuple = ()) -> list:
    """A model field's pick list (metadata `suggest`, then the `local` model folders the
    server was started with), with "(empty)" first when optional."""
    suggest = list(spec.meta["suggest"])
    return (([(t("empty_choice", lang), "")] if spec.optional else []) + suggest
            + [m for m in local if m not in suggest])


# --- values both ways ----------------------------------------------------------------------
def to_widget(spec: Spec, value: Any) -> Any:
    """A config value as its widget holds it."""
    if spec.kind in ("datasets", "adapters"):
        return split_list(value)
    if spec.kind in ("number", "slider", "checkbox"):
        return value
    if spec.kind == "optnumber":
        return "" if value is None else _number(value)
    if spec.kind == "yaml":
        return "" if value is None else yaml.safe_dump(value, default_flow_style=True).strip()
    if value is None:
        return ""
    if isinstance(value, bool) and spec.kind == "text":
        return str(value).lower()
    return value


def from_widget(spec: Spec, value: Any) -> Any:
    """A widget's value as coerce() takes it (None for an empty optional)."""
    if isinstance(value, (list, tuple)) and spec.kind != "yaml":
        return ",".join(str(v).strip() for v in value if str(v).strip()) or None
    if spec.kind == "yaml":
        return yaml.safe_load(value) if isinstance(value, str) and value.strip() else None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def config_values(cfg: RunConfig) -> dict[str, Any]:
    return {key: to_widget(spec, getattr(cfg, key)) for key, spec in SPECS.items()}


def build_config(values: dict[str, Any], ws: Workspace) -> tuple[RunConfig | None, list[tuple[str, str]]]:
    """Form values -> RunConfig, with every problem as (key, message). Fields hidden for this
    config (irrelevant to its stage, loss, ...) take their defaults, so nothing unseen runs.
    A value that does not parse is reported with the rest (the others are still checked) and
    the config is None."""
    data, found = {}, []
    for key, raw in values.items():
        try:
            data[key] = coerce(key, from_widget(SPECS[key], raw))
        except (ValueError, yaml.YAMLError) as e:
            found.append((key, str(e)))
    cfg = RunConfig(**data)
    hidden = {k: SPECS[k].default for k in values if not cfg.relevant(k)}
    cfg = cfg.replace(**hidden)
    unparsed = {k for k, _ in found}
    more = problems(cfg)
    # Confinement reads the file system: only for paths validation passed (no NUL, no name
    # over 255 bytes, which the file system refuses with errors naming no field).
    checked = {k: kind for k, kind in path_kinds().items() if k not in {k for k, _ in more}}
    more += ws.path_problems(cfg.to_dict(), checked)
    found += [(k, m) for k, m in more if k not in unparsed]
    return (None if unparsed else cfg), found


def typed(values: dict[str, Any]) -> dict[str, Any]:
    """The form values that parse, as config values (the others are left out)."""
    out = {}
    for key, raw in values.items():
        try:
            out[key] = coerce(key, from_widget(SPECS[key], raw))
        except (ValueError, yaml.YAMLError):
            pass
    return out


def changed(values: dict[str, Any]) -> set[str]:
    """The fields that matter for these values and differ from their defaults (a value that
    does not parse counts as changed)."""
    shown, parsed = visibility(values), typed(values)
    return {k for k in values if shown[k] and (k not in parsed or parsed[k] != SPECS[k].default)}


def restore(saved: Any, current: dict[str, Any]) -> dict[str, Any]:
    """Form values kept in a browser (key -> widget value) merged into `current`: unknown keys
    are dropped, and a value its widget could not hold (a choice that no longer exists) keeps
    the current one. Text that does not parse is kept: the form then names the problem."""
    out = dict(current)
    if not isinstance(saved, dict):
        return out
    for key, value in saved.items():
        spec = SPECS.get(key)
        if spec is None or key not in current:
            continue
        if spec.kind == "dropdown":
            if value in [v for _, v in dropdown_choices(spec, "en")]:
                out[key] = value
        elif spec.kind in ("datasets", "adapters"):
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                out[key] = value
        elif spec.kind == "checkbox":
            if isinstance(value, bool):
                out[key] = value
        elif spec.kind in ("number", "slider"):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = value
        elif isinstance(value, str):
            out[key] = value
    return out


def visibility(values: dict[str, Any]) -> dict[str, bool]:
    """Which fields matter for these values (a value that does not parse counts as default)."""
    data = {}
    for key in DRIVERS:
        if key in values:
            try:
                data[key] = coerce(key, from_widget(SPECS[key], values[key]))
            except (ValueError, yaml.YAMLError):
                pass
    cfg = RunConfig(**data)
    return {key: cfg.relevant(key) for key in values}


# --- widgets -------------------------------------------------------------------------------
def widget(spec: Spec, value: Any, lang: str, options: dict[str, list] | None = None,
           render: bool = True, visible: bool = True) -> gr.Component:
    """The component for one field; `options` holds the pick lists (datasets, adapters)."""
    options = options or {}
    common = dict(label=field_label(spec.key, lang), info=info(spec, lang), render=render,
                  visible=visible, min_width=200, elem_id=f"field-{spec.key}",
                  elem_classes=["ps-field"])
    kind, shown = spec.kind, to_widget(spec, value)
    if kind == "dropdown":
        return gr.Dropdown(dropdown_choices(spec, lang), value=shown, **common)
    if kind == "checkbox":
        return gr.Checkbox(value=bool(shown), **common)
    if kind == "slider":
        return gr.Slider(spec.meta["min"], spec.meta["max"], value=shown, step=0.01, **common)
    if kind == "number":
        return gr.Number(value=shown, precision=0 if spec.integer else None, **common)
    if kind == "optnumber":  # coerce() turns the text into an int/float, or names the problem
        return gr.Textbox(value=shown, placeholder=t("empty_choice", lang), **common)
    if kind == "model":
        return gr.Dropdown(suggestions(spec, lang, options.get("models", [])), value=shown,
                           allow_custom_value=True, **common)
    if kind in ("datasets", "adapters"):
        choices = sorted(set(options.get(kind, [])) | set(shown))
        return gr.Dropdown(choices, value=shown, multiselect=True, allow_custom_value=True, **common)
    empty = t("empty_choice", lang) if spec.optional else None
    return gr.Textbox(value=shown, placeholder=empty, **common)


def relabel(spec: Spec, lang: str, models: list[str] | tuple = ()) -> dict:
    """The update that re-labels a field for a language (dropdowns re-label '(empty)');
    `models`: the local model folders a model field also suggests."""
    update = dict(label=field_label(spec.key, lang), info=info(spec, lang))
    if spec.kind == "dropdown":
        update["choices"] = dropdown_choices(spec, lang)
    elif spec.kind in ("optnumber", "text", "yaml") and spec.optional:
        update["placeholder"] = t("empty_choice", lang)
    elif spec.kind == "model":
        update["choices"] = suggestions(spec, lang, models)
    return update


def mark(spec: Spec, lang: str, message: str | None) -> dict:
    """The update that shows (or clears) a field's problem in place of its help."""
    if message:
        return gr.update(info=plain(f"⚠ {say(message, lang)}"),
                         elem_classes=["ps-field", "ps-invalid"])
    return gr.update(info=info(spec, lang), elem_classes=["ps-field"])
