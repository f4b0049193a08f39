"""Where PrefStudio keeps things, defined once: the project root, the cache home, and the
atomic file write every run-directory and registry file goes through."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def home() -> Path:
    """$PREFSTUDIO_HOME, default ~/.cache/prefstudio: the built demo model and the reference
    log-prob cache live here, outside any run folder."""
    return Path(os.environ.get("PREFSTUDIO_HOME", Path.home() / ".cache" / "prefstudio"))


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename, so a reader never sees
    half a file and a crash leaves the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
