"""Where PrefStudio keeps things, defined once: the project root, the cache home, the atomic
file write every run-directory and registry file goes through, and what a path typed by a
person may not be (path_problem)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.errors import shown

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NAME_BYTES, PATH_BYTES = 255, 4095  # Linux's NAME_MAX and PATH_MAX (less the final NUL)


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


def path_problem(key: str, text: str) -> str | None:
    """Why `text` cannot name a file or folder on this system (a NUL byte, text the file
    system cannot encode, a name over 255 bytes, a path over 4095), or None. Asked before a
    path meets the file system, whose errors name neither the key nor the fix."""
    if "\0" in text:
        return f"{key}: {shown(text)} contains a NUL byte (\\0); remove it"
    try:
        raw = os.fsencode(text)
    except UnicodeError:
        return f"{key}: {shown(text)} holds characters no file name can (lone surrogates)"
    if len(raw) > PATH_BYTES:
        return f"{key}: the path is {len(raw)} bytes long; paths have at most {PATH_BYTES}"
    longest = max(raw.split(b"/"), key=len)
    if len(longest) > NAME_BYTES:
        name = shown(os.fsdecode(longest))
        return (f"{key}: the name {name} is {len(longest)} bytes long; a file or folder name "
                f"has at most {NAME_BYTES}, so shorten it")
    return None
