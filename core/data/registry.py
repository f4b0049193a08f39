"""The dataset registry: LLaMA-Factory's dataset_info.json, read and written.

    entry = get_entry("dpo_en_demo", "data")      # Entry: file, formatting, columns, tags
    add_entry("mine", {"file_name": "mine.json", "ranking": True}, "data")

Which registry: `<dataset_dir>/dataset_info.json` when it exists (so a LLaMA-Factory data/
folder works unchanged), otherwise the project root's dataset_info.json. file_name is
relative to dataset_dir (absolute paths allowed; a folder means all its data files).
Writing keeps every other entry byte for byte: the new entry is spliced into the text.

A `guard` (the WebUI's Workspace.readable) is called with every local path an entry would read,
and with the registry itself, before anything is read; it raises UserError to refuse. The CLI
passes none: its user may read any file they name.

Every key of LLaMA-Factory's schema is read. The source is chosen as LLaMA-Factory chooses it:
hf_hub_url (ms_hub_url / om_hub_url when USE_MODELSCOPE_HUB / USE_OPENMIND_HUB is set or
there is no hf_hub_url), then script_url, cloud_file_name, file_name. Sources this project
cannot read (ModelScope, Modelers, loading scripts, cloud files) and image/video/audio
columns are listed like any entry; using such a dataset is a dataset-level error that says
what to do instead (loading.py, formats.py).
"""
from __future__ import annotations

import difflib
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.errors import UserError
from core.paths import PROJECT_ROOT

from .textfile import BOM, decode, parse_json

REGISTRY = "dataset_info.json"
FORMATS = ("alpaca", "sharegpt", "openai")
COLUMN_KEYS = ("prompt", "query", "response", "history", "messages", "system", "tools",
               "chosen", "rejected", "kto_tag")
MEDIA_COLUMN_KEYS = ("images", "videos", "audios")  # LLaMA-Factory multimodal: listed, not trained
# Our own column keys, beyond LLaMA-Factory's (which ignores unknown ones): tie names a
# true/false column of ranking data whose true records are left out of pairwise and kto
# training (chat votes, core/data/votes.py).
OWN_COLUMN_KEYS = ("tie",)
TAG_KEYS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag",
            "function_tag", "system_tag")
# key -> LLaMA-Factory's name for the source (DatasetAttr.load_from), in its order of preference
SOURCE_KEYS = {"hf_hub_url": "hf_hub", "ms_hub_url": "ms_hub", "om_hub_url": "om_hub",
               "script_url": "script", "cloud_file_name": "cloud_file", "file_name": "file"}
SHOWN_SOURCE = {"hf_hub": "hf://", "ms_hub": "ms://", "om_hub": "om://", "script": "script:",
                "cloud_file": ""}
TEXT_KEYS = ("split", "subset", "folder", "revision")
# Every key LLaMA-Factory's registries carry, so its files load unchanged (file_sha1: old ones).
ENTRY_KEYS = tuple(SOURCE_KEYS) + TEXT_KEYS + (
    "formatting", "ranking", "columns", "tags", "num_samples", "file_sha1")
# LLaMA-Factory's defaults. openai data speaks role/content with OpenAI's role names.
DEFAULT_TAGS = {
    "sharegpt": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                 "assistant_tag": "gpt", "observation_tag": "observation",
                 "function_tag": "function_call", "system_tag": "system"},
    "openai": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
               "assistant_tag": "assistant", "observation_tag": "tool",
               "function_tag": "function_call", "system_tag": "system"},
}
# Columns that have a default name. LLaMA-Factory drops these defaults once an entry has a
# "columns" mapping; we keep them, so a mapping that only renames chosen/rejected still finds
# instruction/input/output (a column the record lacks is simply absent).
DEFAULT_COLUMNS = {
    "alpaca": {"prompt": "instruction", "query": "input", "response": "output"},
    "sharegpt": {"messages": "conversations"},
    "openai": {"messages": "messages"},
}
# guard(path, what): returns when the path may be read, raises UserError otherwise.
Guard = Callable[[Path, str], Any]


@dataclass
class Entry:
    """One registry entry, validated, with paths resolved."""

    name: str
    raw: dict[str, Any]
    registry: Path
    dataset_dir: Path
    formatting: str = "alpaca"
    ranking: bool = False
    columns: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    guard: Guard | None = field(default=None, repr=False, compare=False)

    @property
    def load_from(self) -> str:
        """hf_hub, ms_hub, om_hub, script, cloud_file or file, as LLaMA-Factory decides."""
        raw, hf = self.raw, bool(self.raw.get("hf_hub_url"))
        if raw.get("ms_hub_url") and (_env_flag("USE_MODELSCOPE_HUB") or not hf):
            return "ms_hub"
        if raw.get("om_hub_url") and (_env_flag("USE_OPENMIND_HUB") or not hf):
            return "om_hub"
        return next(kind for key, kind in SOURCE_KEYS.items() if raw.get(key))

    @property
    def location(self) -> str:
        """The value of the source key in use (a hub id, a script folder, a URL, a file)."""
        key = next(k for k, kind in SOURCE_KEYS.items() if kind == self.load_from)
        return str(self.raw[key])

    @property
    def file_name(self) -> str | None:
        return self.location if self.load_from == "file" else None

    @property
    def hub_id(self) -> str | None:
        """The Hugging Face hub id, for datasets read from the hub."""
        return self.location if self.load_from == "hf_hub" else None

    @property
    def split(self) -> str:
        return self.raw.get("split") or "train"

    @property
    def path(self) -> Path | None:
        """The data file or folder (None for other sources)."""
        if self.file_name is None:
            return None
        return (self.dataset_dir / self.file_name).resolve()

    @property
    def source(self) -> str:
        """The file, or hf://<id> and the like: what the user sees as 'where it lives'."""
        if self.path is not None:
            return display(self.path)
        return SHOWN_SOURCE[self.load_from] + self.location

    def column(self, key: str) -> str | None:
        """The record's column name for a LLaMA-Factory column key (prompt, chosen, ...)."""
        return self.columns.get(key) or DEFAULT_COLUMNS[self.formatting].get(key)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "0").lower() in ("true", "y", "1")


def display(path: Path) -> str:
    """A path as problems show it: relative to the current directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def resolve_dir(dataset_dir: str | Path | None) -> Path:
    """A relative dataset_dir is looked up in the current directory first, then in the
    project root, so `dataset_dir: data` works wherever the command is started."""
    path = Path(dataset_dir or "data").expanduser()
    if path.is_absolute():
        return path
    here = Path.cwd() / path
    if here.exists():
        return here.resolve()
    return (PROJECT_ROOT / path).resolve()


def registry_path(dataset_dir: str | Path | None) -> Path:
    """The registry used for reading: the folder's own dataset_info.json, else the root one."""
    own = resolve_dir(dataset_dir) / REGISTRY
    return own if own.is_file() else PROJECT_ROOT / REGISTRY


def write_target(dataset_dir: str | Path | None) -> Path:
    """The registry that `data add` writes: the one reading would use, except that a folder
    other than the project's data/ gets its own file (file names are relative to it)."""
    folder = resolve_dir(dataset_dir)
    path = registry_path(folder)
    if path == PROJECT_ROOT / REGISTRY and folder != (PROJECT_ROOT / "data").resolve():
        return folder / REGISTRY
    return path


def read_registry(path: Path) -> dict[str, Any]:
    """The registry as a dict ({} when the file does not exist)."""
    if not path.is_file():
        return {}
    text = decode(path.read_bytes(), path)  # as the data files: UTF-8, a BOM allowed
    data = parse_json(text, path, fix="the registry is an object of dataset entries") \
        if text.strip() else {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected an object of dataset entries, got {type(data).__name__}")
    return data


def entry_problems(raw: Any) -> list[str]:
    """What is wrong with one entry; empty when it is valid."""
    if not isinstance(raw, dict):
        return [f"expected an object, got {type(raw).__name__}"]
    out = [f"unknown key '{k}'" + _did_you_mean(k, ENTRY_KEYS) for k in raw if k not in ENTRY_KEYS]
    if not any(raw.get(k) for k in SOURCE_KEYS):
        out.append("needs file_name (a file or folder in dataset_dir) or hf_hub_url")
    for key in tuple(SOURCE_KEYS) + TEXT_KEYS:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            out.append(f"{key} must be text, got {raw[key]!r}")
    if raw.get("formatting", "alpaca") not in FORMATS:
        out.append(f"formatting {raw['formatting']!r} is not one of {', '.join(FORMATS)}")
    if not isinstance(raw.get("ranking", False), bool):
        out.append(f"ranking must be true or false, got {raw['ranking']!r}")
    columns = COLUMN_KEYS + OWN_COLUMN_KEYS + MEDIA_COLUMN_KEYS
    for group, known in (("columns", columns), ("tags", TAG_KEYS)):
        mapping = raw.get(group, {})
        if not isinstance(mapping, dict):
            out.append(f"{group} must be an object, got {type(mapping).__name__}")
            continue
        for k, v in mapping.items():
            if k not in known:
                out.append(f"{group}: unknown key '{k}'" + _did_you_mean(k, known))
            elif v is not None and not isinstance(v, str):
                out.append(f"{group}.{k} must be a name (text), got {v!r}")
    num = raw.get("num_samples")
    if num is not None and (not isinstance(num, int) or isinstance(num, bool) or num < 1):
        out.append(f"num_samples must be a whole number >= 1, got {num!r}")
    return out


def make_entry(name: str, raw: Any, registry: Path, dataset_dir: str | Path | None,
               guard: Guard | None = None) -> Entry:
    problems = entry_problems(raw)
    if problems:
        raise UserError(f"{registry}: dataset '{name}': " + "; ".join(problems))
    formatting = raw.get("formatting", "alpaca")
    columns = {k: v for k, v in raw.get("columns", {}).items()
               if v and k in COLUMN_KEYS + OWN_COLUMN_KEYS}
    tags = dict(DEFAULT_TAGS.get(formatting, {}))
    tags.update({k: v for k, v in raw.get("tags", {}).items() if v})
    return Entry(name, raw, registry, resolve_dir(dataset_dir), formatting,
                 bool(raw.get("ranking", False)), columns, tags, guard)


def get_entry(name: str, dataset_dir: str | Path | None = "data",
              guard: Guard | None = None) -> Entry:
    """The named entry; an unknown name lists the registered ones, closest first."""
    path = guarded_registry(dataset_dir, guard)
    registry = read_registry(path)
    if name not in registry:
        raise UserError(unknown_name_message(name, list(registry), path, dataset_dir))
    return make_entry(name, registry[name], path, dataset_dir, guard)


def guarded_registry(dataset_dir: str | Path | None, guard: Guard | None) -> Path:
    """registry_path(), refused by `guard` before it is read (a link out of data/, say)."""
    path = registry_path(dataset_dir)
    if guard is not None:
        guard(path, "registry")
    return path


def check_names(names: list[str], dataset_dir: str | Path | None, key: str = "dataset",
                guard: Guard | None = None) -> None:
    """Refuse, naming the config `key`, the first of `names` the registry does not have; the
    message lists the registered ones. Nothing is read for an empty list."""
    if not names:
        return
    path = guarded_registry(dataset_dir, guard)
    registry = read_registry(path)
    for name in names:
        if name not in registry:
            raise UserError(f"{key}: " + unknown_name_message(name, list(registry), path,
                                                              dataset_dir))


def unknown_name_message(name: str, names: list[str], path: Path,
                         dataset_dir: str | Path | None = None) -> str:
    if not names:
        add = data_command("add", "NAME", "--file", "PATH", dataset_dir=dataset_dir)
        return (f"unknown dataset '{name}': {path} has no datasets (or does not exist); "
                f"register one with `{add}`")
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.3)
    ordered = close + [n for n in names if n not in close]
    shown = ", ".join(ordered[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"unknown dataset '{name}' in {path}.{hint} Available: {shown}"


def data_command(action: str, *args: str, dataset_dir: str | Path | None = None) -> str:
    """`python -m core data ACTION ARGS`, ready to paste: with --dataset_dir (absolute) unless
    `dataset_dir` is the folder the command finds by default."""
    parts = ["python", "-m", "core", "data", action, *args]
    if dataset_dir is not None and resolve_dir(dataset_dir) != resolve_dir("data"):
        parts += ["--dataset_dir", str(resolve_dir(dataset_dir))]
    return " ".join(shlex.quote(str(p)) for p in parts)


def _did_you_mean(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"


# --- writing ---------------------------------------------------------------------------

def add_entry(name: str, raw: dict[str, Any], dataset_dir: str | Path | None = "data",
              force: bool = False) -> Path:
    """Register `name` atomically; returns the registry path. Other entries keep their bytes
    and order; an existing name is replaced only with force."""
    from core.paths import write_atomic

    name = name.strip()
    if not name or "," in name:
        raise UserError(f"dataset name {name!r} must be non-empty and contain no comma "
                        "(dataset lists are comma-separated)")
    problems = entry_problems(raw)
    if problems:
        raise UserError(f"dataset '{name}': " + "; ".join(problems))
    path = write_target(dataset_dir)
    old = read_registry(path)  # raises on a malformed registry: never write over it
    if name in old and not force:
        raise UserError(f"dataset '{name}' is already in {path}; pass --force to replace it")
    raw_bytes = path.read_bytes() if path.is_file() else b""
    text = decode(raw_bytes, path)  # a BOM is dropped here and written back below
    new_text = splice(text, name, raw)
    expected = dict(old)
    expected[name] = raw
    if json.loads(new_text) != expected:  # the splice must not change anything else
        raise UserError(f"{path}: could not add '{name}' without changing other entries; "
                        "the file was left as it was")
    write_atomic(path, (BOM if raw_bytes.startswith(BOM.encode()) else "") + new_text)
    return path


def splice(text: str, name: str, raw: dict[str, Any]) -> str:
    """`text` (a JSON object) with `name` set to `raw`, touching no other byte."""
    spans = top_level_spans(text) if text.strip() else None
    if spans is None or not spans[0]:
        return json.dumps({name: raw}, indent=2, ensure_ascii=False) + "\n"
    entries, close = spans
    indent = _indent_of(text, entries[0][1])
    value = json.dumps(raw, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)
    for key, _, start, end in entries:
        if key == name:
            return text[:start] + value + text[end:]
    last_end = entries[-1][3]
    addition = ",\n" + indent + json.dumps(name, ensure_ascii=False) + ": " + value
    return text[:last_end] + addition + text[last_end:]


def top_level_spans(text: str) -> tuple[list[tuple[str, int, int, int]], int]:
    """(key, key_start, value_start, value_end) of each top-level entry, and the position of
    the closing brace. The text must already be known to be valid JSON."""
    decoder, ws = json.JSONDecoder(), " \t\r\n"
    i = len(text) - len(text.lstrip(ws)) + 1  # just after "{"
    entries = []
    while True:
        while text[i] in ws or text[i] == ",":
            i += 1
        if text[i] == "}":
            return entries, i
        key, after_key = decoder.raw_decode(text, i)
        j = after_key
        while text[j] in ws + ":":
            j += 1
        _, end = decoder.raw_decode(text, j)
        entries.append((key, i, j, end))
        i = end


def _indent_of(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    prefix = text[line_start:pos]
    return prefix if not prefix.strip() else "  "
