"""env.json: what is needed to reproduce a run (versions, machine, seed, data fingerprint)."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from core.config import RunConfig
from core.paths import write_atomic

PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "tokenizers",
            "bitsandbytes")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def environment() -> dict:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "cuda": torch.version.cuda if cuda else None,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "prefstudio_commit": _git_commit(), "command": sys.argv,
    }


def write_env(rd, cfg: RunConfig, data_fingerprint: str | None) -> None:
    record = {**environment(), "seed": cfg.seed, "data_fingerprint": data_fingerprint}
    write_atomic(rd.env_file, json.dumps(record, indent=1))
