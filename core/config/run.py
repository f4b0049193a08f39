"""RunConfig: the flat union of the field groups, with YAML load/save and key=value overrides.

    cfg = RunConfig.load("examples/dpo_lora.yaml", overrides=["pref_beta=0.2"])
    cfg.save("saves/x/config.yaml")      # round-trips exactly
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import UserError, shown
from core.paths import path_problem, write_atomic

from . import llamafactory
from .fields import (
    DataArgs,
    DistArgs,
    FinetuningArgs,
    GrpoArgs,
    ModelArgs,
    OptimArgs,
    OutputArgs,
    PrefArgs,
)
from .losses import needs_reference
from .values import convert, type_members

log = logging.getLogger(__name__)

MAX_NESTING = 100  # bracket levels a config file may hold (a flat config needs one or two)
GROUPS = {"model": ModelArgs, "finetuning": FinetuningArgs, "data": DataArgs,
          "preference": PrefArgs, "grpo": GrpoArgs, "optimisation": OptimArgs,
          "devices": DistArgs, "output": OutputArgs}


class ConfigError(UserError, ValueError):
    """A config the user must fix; the message names the key, the value and the fix."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        head = f"{source}: " if source else ""
        if len(problems) == 1:
            super().__init__(head + problems[0])
        else:
            super().__init__(head + f"{len(problems)} problems:\n  - " + "\n  - ".join(problems))


@dataclass
class RunConfig(OutputArgs, DistArgs, OptimArgs, GrpoArgs, PrefArgs, DataArgs, FinetuningArgs, ModelArgs):
    """Every option of a run, flat, in the order of GROUPS (dataclass inheritance lists the
    fields of the last base class first)."""

    # --- reading and writing -------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> "RunConfig":
        """Build from a flat mapping: unknown keys and wrong types are errors; LLaMA-Factory's
        keys are honoured, logged as having no effect, or refused (core.config.llamafactory)."""
        if not isinstance(data, dict):
            raise ConfigError([f"expected a mapping of key: value, got {type(data).__name__}"], source)
        problems, raw_values, implied = [], {}, {}
        for key, raw in data.items():
            if not isinstance(key, str):  # `1: 2`, `true: x`, `null: x` in YAML
                problems.append(f"key {shown(key)} is not a name; each line is name: value, "
                                "with names such as learning_rate")
            elif key in FIELDS:
                try:
                    raw_values[key] = llamafactory.translate(key, raw)
                except ValueError as e:
                    problems.append(str(e))
            elif key in llamafactory.TABLE:
                sets, problem = llamafactory.handle(key, raw)
                problems += [problem] if problem else []
                implied.update(sets)
            else:
                problems.append(unknown_key_message(key))
        raw_values.update(implied)  # neat_packing: true means packing, as in LLaMA-Factory
        values = {}
        for key, raw in raw_values.items():
            try:
                values[key] = coerce(key, raw)
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ConfigError(problems, source)
        return cls(**values)

    @classmethod
    def load(cls, path: str | os.PathLike, overrides: list[str] | None = None) -> "RunConfig":
        """Read a YAML file, then apply `key=value` overrides (command-line strings)."""
        path = Path(path)
        data = read_mapping(path)
        data.update(parse_overrides(overrides or []))
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically, so a reader never sees half a file."""
        write_atomic(Path(path), self.to_yaml())

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    # --- derived values ------------------------------------------------------------------
    @property
    def datasets(self) -> list[str]:
        return split_list(self.dataset)

    @property
    def eval_datasets(self) -> list[str]:
        return split_list(self.eval_dataset)

    @property
    def adapters(self) -> list[str]:
        return split_list(self.adapter_name_or_path)

    @property
    def uses_reference(self) -> bool:
        return self.stage == "dpo" and needs_reference(self.pref_loss)

    def relevant(self, key: str) -> bool:
        """Whether a field matters for this config's stage, loss, finetuning type, ..."""
        meta = FIELDS[key].metadata
        if meta["stages"] and self.stage not in meta["stages"]:
            return False
        return all(getattr(self, other) in allowed for other, allowed in (meta["when"] or {}).items())


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(RunConfig)}


def read_mapping(path: Path) -> dict[Any, Any]:
    """A config file's key: value mapping (empty for an empty file); ConfigError naming the
    file for one that cannot be read, is not YAML, or holds a list or a single value."""
    problem = path_problem("config", str(path))
    if problem:
        raise ConfigError([problem])
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ConfigError([f"config file not found: {path}"]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([f"not UTF-8 text (byte {e.start}); save the file as UTF-8"],
                          str(path)) from None
    except OSError as e:
        raise ConfigError([f"cannot read it: {e.strerror or e}"], str(path)) from None
    data = parse_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"expected key: value lines (a mapping), got {type(data).__name__} "
                           f"{shown(data)}"], str(path))
    return data


def parse_yaml(text: str, source: str | None = None) -> Any:
    """YAML text as data; ConfigError for anything PyYAML cannot read, its line when known."""
    if nesting(text) > MAX_NESTING:  # PyYAML takes seconds per thousand levels, then recurses
        raise ConfigError([f"not a config: brackets nested more than {MAX_NESTING} deep; a "
                           "config is flat key: value lines"], source)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"not valid YAML{where}: {getattr(e, 'problem', e)}"], source) from None
    except RecursionError:  # thousands of nested brackets
        raise ConfigError(["not a config: nested too deeply; a config is flat key: value lines"],
                          source) from None
    except ValueError as e:  # a date like 2020-13-45, an integer of more than 4,300 digits
        why = "a number has more than 4300 digits" if "digits" in str(e) else str(e)
        raise ConfigError([f"not valid YAML: a value cannot be read ({why})"], source) from None


def nesting(text: str) -> int:
    """How deep [ and { brackets nest in `text` (quotes not told apart: an upper bound)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    return deepest


def field_group(key: str) -> str:
    for group, cls in GROUPS.items():
        if key in cls.__dataclass_fields__:
            return group
    raise KeyError(key)


def split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, list(FIELDS), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "run `python -m core train --keys` to list them"
    return f"unknown key '{key}': {hint}"


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`key=value` strings to a dict; values are read as YAML scalars (1e-5, true, null)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"override '{item}' is not key=value (e.g. pref_beta=0.2)"])
        try:
            if nesting(value) > MAX_NESTING:
                raise RecursionError
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except (yaml.YAMLError, ValueError, RecursionError):  # not YAML: the text itself
            out[key.strip()] = value
    return out


def coerce(key: str, value: Any) -> Any:
    """Convert a YAML or command-line value to the field's type, or explain what is expected."""
    return convert(key, value, type_members(FIELDS[key].type))
