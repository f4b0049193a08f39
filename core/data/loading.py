"""Read a dataset's records: json (a list, or JSON lines), jsonl, parquet, csv, or the hub.

    records = load_records(get_entry("dpo_en_demo"))   # [Record(file, index, data), ...]

Records stay plain dicts with their 0-based index in their file, so every problem found
later can name `file:index`. pyarrow, pandas and datasets are imported only when needed.

As in LLaMA-Factory: `split` picks the hub split; a local file or folder is one split,
"train", which a slice narrows (`train[:1000]`, `train[10%:20%]`, datasets' syntax).
`num_samples` then draws that many records: a random order of all records cut to
num_samples, plus records drawn with repetition when num_samples is larger. The draws come
from numpy's legacy generator seeded with the run's seed and shared by the datasets of a run
in order (train datasets, then eval ones), as LLaMA-Factory's global numpy seed is, so the
same seed picks the same records.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config.fields import OptimArgs
from core.errors import UserError

from .registry import REGISTRY, Entry, data_command, display
from .textfile import parse_json, read_text, split_lines

EXTENSIONS = (".json", ".jsonl", ".parquet", ".csv")


@dataclass
class Record:
    file: str  # shown in problems: relative to the current directory when inside it
    index: int
    data: Any  # a dict for well-formed data; anything else is reported by formats.py


def data_files(entry: Entry) -> list[Path]:
    """The entry's files: the file itself, or every data file of a folder (sorted). With a
    guard, each is checked before it is read (a folder's files too: one may be a link)."""
    path = entry.path
    if path is None:
        return []
    what = f"dataset '{entry.name}': file_name {entry.file_name!r} in {display(entry.registry)}"
    if entry.guard is not None:  # before exists(): a refused path is not even probed
        entry.guard(path, what)
    if not path.exists():
        raise UserError(f"dataset '{entry.name}': file not found: {path} (file_name "
                        f"{entry.file_name!r} in {entry.registry}, relative to {entry.dataset_dir})")
    files = files_of(path, f"dataset '{entry.name}': ")
    if entry.guard is not None and files != [path]:
        for file in files:
            entry.guard(file, f"{what}, file {file.name}")
    return files


def files_of(path: Path, context: str = "") -> list[Path]:
    """[path] for a file; the data files of a folder, sorted."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in EXTENSIONS
                   and p.name != REGISTRY and not p.name.startswith("."))
    if not files:
        raise UserError(f"{context}folder {path} has no data files ({', '.join(EXTENSIONS)})")
    return files


def read_path(path: Path) -> list[Record]:
    """The records of a file or of every data file in a folder."""
    if not path.exists():
        raise UserError(f"file not found: {path}")
    return read_files(files_of(path))


def read_files(files: list[Path]) -> list[Record]:
    """The records of these files, in order."""
    records = []
    for file in files:
        shown = display(file)
        records += [Record(shown, i, data) for i, data in enumerate(read_file(file))]
    return records


def read_file(path: Path) -> list[Any]:
    """The records of one file, by extension (.json may hold JSON lines)."""
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        return _read_json(path)
    if suffix not in EXTENSIONS:
        raise UserError(f"{path}: unsupported file type {suffix!r}; use {', '.join(EXTENSIONS)}")
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq
            return pq.read_table(path).to_pylist()
        import pandas as pd
        # Decoded as JSON is (read_text: UTF-8, a BOM dropped, the line of a bad byte named).
        # Every cell as text: a numeric-looking answer stays a string, an empty cell is "".
        return pd.read_csv(io.StringIO(read_text(path)), dtype=str,
                           keep_default_na=False).to_dict("records")
    except (OSError, ValueError) as e:  # pyarrow and pandas parse errors are ValueErrors
        raise UserError(f"{path}: cannot read it as {suffix[1:]}: {e}") from None


def _read_json(path: Path) -> list[Any]:
    """A JSON list of records, or JSON lines (one record per non-empty line)."""
    text = read_text(path)
    if text.lstrip().startswith("["):
        return parse_json(text, path)
    return [parse_json(line, path, n) for n, line in split_lines(text)]


UNSUPPORTED = {
    "ms_hub": "ModelScope datasets are not read here; use its Hugging Face copy (hf_hub_url) or "
              "download it and set file_name",
    "om_hub": "Modelers (openMind) datasets are not read here; use a Hugging Face copy "
              "(hf_hub_url) or download it and set file_name",
    "script": "the datasets library no longer runs loading scripts; convert the data to json, "
              "jsonl, parquet or csv and set file_name",
    "cloud_file": "cloud storage (s3://, gs://) is not read here; download the file and set "
                  "file_name",
}
KEYS = {"ms_hub": "ms_hub_url", "om_hub": "om_hub_url", "script": "script_url",
        "cloud_file": "cloud_file_name"}
DEFAULT_SEED = OptimArgs.seed  # a check samples num_samples as a run with the default seed


def load_records(entry: Entry, rng: Any = None) -> list[Record]:
    """Every record of the dataset's split, then num_samples drawn with `rng` (a
    numpy.random.RandomState; None: a fresh one seeded with DEFAULT_SEED)."""
    kind = entry.load_from
    if kind == "hf_hub":
        records = load_hub(entry)
    elif kind == "file":
        # data_files: the error for a missing file names the dataset and the registry, and
        # the guard (the WebUI's) checks each file before it is read
        records = select_split(read_files(data_files(entry)), entry)
    else:
        raise UserError(f"dataset '{entry.name}': {KEYS[kind]} is not supported "
                        f"({entry.location} in {entry.registry}): {UNSUPPORTED[kind]}")
    return sample(records, entry.raw.get("num_samples"), rng)


def split_ranges(entry: Entry, total: int) -> list[tuple[int, int]]:
    """(start, end) ranges of a local dataset's split: "train" with datasets' slicing."""
    if entry.split == "train":
        return [(0, total)]
    import datasets

    try:
        parts = datasets.ReadInstruction.from_spec(entry.split).to_absolute({"train": total})
    except (ValueError, AssertionError) as e:
        raise UserError(f"dataset '{entry.name}': split {entry.split!r}: {e}; a local file is "
                        "one split, 'train' (slice it like train[:1000] or train[10%:20%])") from None
    return [(p.from_, p.to) for p in parts]


def select_split(records: list[Record], entry: Entry) -> list[Record]:
    return [r for start, end in split_ranges(entry, len(records)) for r in records[start:end]]


def sample(records: list[Record], num: int | None, rng: Any = None) -> list[Record]:
    """LLaMA-Factory's num_samples: a permutation of every record cut to num, plus draws with
    repetition when num is larger."""
    if num is None or not records:
        return records
    import numpy as np

    rng = rng if rng is not None else np.random.RandomState(DEFAULT_SEED)
    order = list(rng.permutation(len(records))[:num])
    if num > len(order):
        order += list(rng.choice(len(records), num - len(order)))
    return [records[int(i)] for i in order]


def load_hub(entry: Entry) -> list[Record]:
    """Records from the Hugging Face hub (or its local cache); any failure, offline mode
    included, becomes one message saying how to use the data locally instead."""
    offline = any(os.environ.get(k, "").lower() in ("1", "true", "yes")
                  for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    guard_hub(entry)
    add = data_command("add", entry.name, "--file", "PATH", "--force",
                       dataset_dir=entry.dataset_dir)
    advice = (f"download it (e.g. `huggingface-cli download --repo-type dataset {entry.hub_id}`) "
              f"and register the local file with `{add}`")
    try:
        import datasets
        ds = datasets.load_dataset(entry.hub_id, entry.raw.get("subset"),
                                   data_dir=entry.raw.get("folder"), split=entry.split,
                                   revision=entry.raw.get("revision"))
    except Exception as e:  # noqa: BLE001 - connection, offline, missing repo: same advice
        why = "the hub is offline (HF_HUB_OFFLINE=1)" if offline else f"{type(e).__name__}: {e}"
        raise UserError(f"dataset '{entry.name}': cannot load {entry.hub_id} from the "
                        f"Hugging Face hub ({why}); {advice}")
    name = f"hf://{entry.hub_id}"
    return [Record(name, i, row) for i, row in enumerate(ds.to_list())]


def guard_hub(entry: Entry) -> None:
    """datasets.load_dataset reads a local folder when the id names one: with a guard, such
    an id (and its `folder`) must pass it like a file_name."""
    if entry.guard is None or not entry.hub_id:
        return
    local = Path(entry.hub_id).expanduser()
    if local.is_absolute() or local.exists() or ".." in local.parts:
        what = f"dataset '{entry.name}': hf_hub_url {entry.hub_id!r} in {display(entry.registry)}"
        entry.guard(local.resolve(), what)
        if entry.raw.get("folder"):
            entry.guard((local / entry.raw["folder"]).resolve(), f"{what}, folder")


def peek(entry: Entry) -> tuple[int | None, Any]:
    """(record count, first record) without converting anything: parquet counts from its
    metadata, jsonl by lines. (None, None) for datasets that are not local files."""
    if entry.load_from != "file":
        if entry.load_from == "hf_hub":  # nothing is read, but the table says at once that
            guard_hub(entry)            # it would be refused
        return None, None
    if entry.split != "train":  # a slice: read it (rare)
        data_files(entry)
        records = select_split(read_path(entry.path), entry)
        return entry.raw.get("num_samples") or len(records), records[0].data if records else None
    total, first = 0, None
    for path in data_files(entry):
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            import pyarrow.parquet as pq
            pf = pq.ParquetFile(path)
            total += pf.metadata.num_rows
            if first is None and pf.metadata.num_rows:
                first = pf.read_row_group(0).slice(0, 1).to_pylist()[0]
        elif suffix == ".jsonl":  # counted by lines; only the first is parsed
            lines = split_lines(read_text(path))
            total += len(lines)
            if first is None and lines:
                first = parse_json(lines[0][1], path, lines[0][0])
        else:
            records = read_file(path)
            total += len(records)
            first = first if first is not None or not records else records[0]
    return entry.raw.get("num_samples") or total, first


def fingerprint(entries: list[Entry]) -> str:
    """sha256 over the registry entries and the bytes of their files: two runs with the same
    fingerprint read the same data."""
    h = hashlib.sha256()
    for entry in entries:
        h.update(json.dumps([entry.name, entry.raw], sort_keys=True).encode())
        for path in data_files(entry):
            h.update(path.name.encode())
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()
