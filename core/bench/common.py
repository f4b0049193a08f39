"""What every benchmark shares: the data it reads and one JSON line per measurement."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any


def emit(name: str, **values: Any) -> dict[str, Any]:
    """Print one measurement as a JSON line (so results can be collected) and return it."""
    record = {"bench": name, **values}
    print(json.dumps(record), flush=True)
    return record


def dataset_source(args: argparse.Namespace) -> tuple[str, str]:
    """(dataset name, dataset_dir): a registered dataset, or with --file any data file,
    registered as it is detected in a temporary registry (e.g. LLaMA-Factory's
    dpo_en_demo.json read from where it lies, never copied into the project)."""
    if not getattr(args, "file", None):
        return args.dataset, args.dataset_dir
    from core.data.dataset import register_file

    path = Path(args.file).expanduser().resolve()
    name = path.stem
    folder = Path(tempfile.mkdtemp(prefix="prefstudio-bench-"))
    register_file(name, path, folder)
    return name, str(folder)
