"""PrefStudio's cache in its home folder ($PREFSTUDIO_HOME, default ~/.cache/prefstudio),
outside saves/: what it holds, per kind, and clearing it. One home for the CLI
(`python -m core cache`) and the WebUI's Runs tab.

    for u in usage(): print(u.kind, u.path, u.bytes)
    freed = clear(["ref-logps"])            # bytes removed

Everything here is rebuilt on demand: reference log-probs are computed again by the next run
that needs them, the demo model is built again, benchmark workloads are generated again.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.paths import home

log = logging.getLogger(__name__)
# kind -> (glob under home(), what it is)
KINDS = {
    "ref-logps": ("ref-logps", "reference log-probs of DPO-style runs (core/methods/reference.py)"),
    "demo-model": ("demo-model-*", "the bundled demo model, built from its recipe"),
    "bench": ("bench", "benchmark workloads (python -m core bench)"),
}


@dataclass(frozen=True)
class Usage:
    kind: str
    what: str
    paths: tuple[Path, ...]
    bytes: int
    files: int


def _size(path: Path) -> tuple[int, int]:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size, 1
    total = count = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total, count = total + p.stat().st_size, count + 1
    return total, count


def usage() -> list[Usage]:
    """Each kind's folders in the cache home with their size (absent kinds: 0 bytes)."""
    out = []
    for kind, (pattern, what) in KINDS.items():
        paths = tuple(sorted(home().glob(pattern)))
        sizes = [_size(p) for p in paths]
        out.append(Usage(kind, what, paths, sum(s for s, _ in sizes), sum(n for _, n in sizes)))
    return out


def clear(kinds: list[str]) -> int:
    """Remove the cache of each kind in `kinds` ("all": every kind); returns the bytes freed."""
    unknown = [k for k in kinds if k != "all" and k not in KINDS]
    if unknown:
        raise UserError(f"cache: unknown kind {', '.join(unknown)}; use one of "
                        f"{', '.join(KINDS)} or all")
    chosen = set(KINDS) if "all" in kinds else set(kinds)
    freed = 0
    for u in usage():
        if u.kind in chosen:
            for path in u.paths:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                log.info("Cache: removed %s.", path)
            freed += u.bytes
    return freed


def human(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
