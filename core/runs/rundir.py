"""The run directory contract (DESIGN.md): config.yaml, status.json, metrics.jsonl, train.log,
checkpoint-N/ (complete when its COMPLETE marker exists), the final model, env.json.

Both the training process (writer) and the RunManager/WebUI (readers) use this class, so the
file names and formats live in one place.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.paths import write_atomic

STATES = ("queued", "running", "completed", "failed", "aborted")
FINAL_STATES = ("completed", "failed", "aborted")
# Written last into a checkpoint folder: {"step", "files": {name: size}, "blake2b": {name:
# hex digest}, "config_hash", "config": the run's settings}; older markers lack "blake2b" (their
# files are checked by size only) and the settings.
MARKER = "COMPLETE"
CHUNK = 1 << 20
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class Checkpoint:
    path: Path
    step: int
    complete: bool
    problem: str = ""
    config: dict[str, Any] | None = None  # the settings of the run that saved it (its marker)
    config_hash: str | None = None


class RunDir:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    config = property(lambda self: self.path / "config.yaml")
    status_file = property(lambda self: self.path / "status.json")
    metrics_file = property(lambda self: self.path / "metrics.jsonl")
    log_file = property(lambda self: self.path / "train.log")
    env_file = property(lambda self: self.path / "env.json")
    stop_file = property(lambda self: self.path / "STOP")
    lock_file = property(lambda self: self.path / ".lock")

    # --- status -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return {}  # no run yet (a file standing where its folder would be is none either)

    def update_status(self, **fields: Any) -> dict[str, Any]:
        with self.status_lock():
            status = {**self.status(), **fields, "updated_at": time.time()}
            write_atomic(self.status_file, json.dumps(status, indent=1))
        return status

    @contextlib.contextmanager
    def status_lock(self) -> Iterator[None]:
        """Held around every read-merge-write of status.json: the trainer and the RunManager
        both update it, and without the lock one could drop the other's fields (an abort
        request, a final state). Not re-entrant; readers need no lock (writes are atomic)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".status.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    # --- metrics ------------------------------------------------------------------------
    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def reset_metrics(self, after_step: int = 0) -> None:
        """Drop records past `after_step`: a resumed run logs those steps again, a fresh start
        (after_step 0) begins an empty file."""
        kept = [r for r in self.metrics() if after_step and r.get("step", 0) <= after_step
                and "train_runtime" not in r]  # the stopped process's end-of-training summary
        write_atomic(self.metrics_file, "".join(json.dumps(r) + "\n" for r in kept))

    def metrics(self) -> list[dict[str, Any]]:
        """Every complete line (a line being written right now is skipped)."""
        if not self.metrics_file.exists():
            return []
        out = []
        for line in self.metrics_file.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def log_tail(self, lines: int = 200) -> str:
        if not self.log_file.exists():
            return ""
        with open(self.log_file, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 200 * lines))
            text = f.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # --- checkpoints --------------------------------------------------------------------
    def checkpoints(self) -> list[Checkpoint]:
        """All checkpoint folders, oldest first, each checked against its marker's sizes (the
        content hashes are read only where a checkpoint is loaded: verify_checkpoint)."""
        found = []
        if not self.path.is_dir():
            return found
        for child in self.path.iterdir():
            match = CHECKPOINT.match(child.name)
            if match and child.is_dir():
                found.append(inspect_checkpoint(child, int(match.group(1))))
        return sorted(found, key=lambda c: c.step)

    def has_final_model(self) -> bool:
        return any((self.path / n).exists() for n in
                   ("adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json"))

    def holds_run(self) -> bool:
        """True when earlier training left something here that a new run could overwrite."""
        return (self.status().get("state") not in (None, "queued") or bool(self.checkpoints())
                or self.has_final_model())


def mark_complete(folder: Path, step: int, config: dict[str, Any] | None = None) -> None:
    """Write the marker last: it lists every file with its size (truncation shows at a glance)
    and its blake2b digest (corruption at the same size shows where the checkpoint is loaded),
    and `config` (the run's settings, JSON values) with its hash, so a resume can tell what
    changed since."""
    paths = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MARKER]
    files = {str(p.relative_to(folder)): p.stat().st_size for p in paths}
    digests = {str(p.relative_to(folder)): file_digest(p) for p in paths}
    marker: dict[str, Any] = {"step": step, "files": files, "blake2b": digests}
    if config is not None:
        marker.update(config_hash=config_hash(config), config=config)
    write_atomic(folder / MARKER, json.dumps(marker, indent=1))


def file_digest(path: Path) -> str:
    """blake2b of a file's bytes, read in 1 MiB chunks (checkpoints can be gigabytes)."""
    h = hashlib.blake2b()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the settings as canonical JSON: equal settings, equal hash."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def inspect_checkpoint(folder: Path, step: int, verify: bool = False) -> Checkpoint:
    """The checkpoint as its marker describes it: every file present at its size, and with
    `verify` (before a checkpoint is loaded) with its content digest, where the marker has one."""
    marker = folder / MARKER
    if not marker.is_file():
        return Checkpoint(folder, step, False, "no COMPLETE marker (interrupted while saving)")
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        files, digests = data["files"], data.get("blake2b") or {}
        if not isinstance(files, dict) or not isinstance(digests, dict):
            raise TypeError("files and blake2b must be mappings")
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        return Checkpoint(folder, step, False, f"unreadable marker: {e}")
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return Checkpoint(folder, step, False, f"{name} is missing")
        if path.stat().st_size != size:
            return Checkpoint(folder, step, False, f"{name} has {path.stat().st_size} bytes, "
                              f"the marker says {size}")
    for name, digest in digests.items() if verify else ():
        if file_digest(folder / name) != digest:
            return Checkpoint(folder, step, False, f"{name} is corrupt: its content differs from "
                              "what was saved (same size, another checksum)")
    return Checkpoint(folder, step, True, config=data.get("config"),
                      config_hash=data.get("config_hash"))


def verify_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """`checkpoint` checked again with its files' content digests (see inspect_checkpoint)."""
    return inspect_checkpoint(checkpoint.path, checkpoint.step, verify=True)
