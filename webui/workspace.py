"""Where the WebUI may read and write: the data and saves folders, and path confinement.

    ws = Workspace()                      # <project>/data and <project>/saves (or $PREFSTUDIO_SAVES)
    ws.confine("data/mine.json")          # -> absolute Path, or UserError with the reason
    ws.check_model("Qwen/Qwen3-0.6B")     # 'demo', hub ids, model folders in ws.model_roots

Every path typed into a form goes through here. Relative paths are read from the project root
(the folder `python -m core train` runs in), symlinks are resolved before the check, so
`../etc/passwd` or a link out of data/ is refused with a message that names the allowed
folders. Model fields (model_name_or_path, ref_model, the Chat's and the Data check's model)
take 'demo', a hub id (read from the local Hugging Face cache), or a model folder (one with
config.json) inside data/, saves/, the bundled assets/ or a folder the server was started
with (`python -m webui --model-dir DIR`, or $PREFSTUDIO_MODEL_DIRS, os.pathsep-separated).

What a registry names is confined too: `ws.readable` is the guard core.data calls for the
registry and for every file an entry would read (list, preview, check), and
`ws.check_datasets` refuses, before training or evaluation starts, a dataset whose entry
reads files outside these folders. Run names are confined by the RunManager the WebUI builds
(`RunManager(..., confined=True)`): a run is a folder inside saves/.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterable

from core.config.choices import names_file
from core.data.registry import REGISTRY
from core.errors import UserError
from core.paths import PROJECT_ROOT, path_problem

log = logging.getLogger(__name__)
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
MODEL_DIRS = "PREFSTUDIO_MODEL_DIRS"


class Workspace:
    def __init__(self, saves_dir: str | os.PathLike | None = None,
                 data_dir: str | os.PathLike | None = None,
                 model_dirs: Iterable[str | os.PathLike] = ()):
        """`model_dirs`: folders models may also load from, besides data/, saves/ and assets/
        (with those in $PREFSTUDIO_MODEL_DIRS); each must be a folder (UserError)."""
        self.root = PROJECT_ROOT
        saves = saves_dir or os.environ.get("PREFSTUDIO_SAVES") or "saves"
        self.saves_dir = self.absolute(saves)
        self.data_dir = self.absolute(data_dir or "data")
        self.examples_dir = self.root / "examples"
        self.assets_dir = self.root / "assets"
        given = [*model_dirs, *os.environ.get(MODEL_DIRS, "").split(os.pathsep)]
        self.model_dirs = list(dict.fromkeys(self.absolute(d) for d in given if str(d).strip()))
        for folder in self.model_dirs:
            if not folder.is_dir():
                raise UserError(f"--model-dir / {MODEL_DIRS}: {folder} is not a folder")
        self.saves_dir.mkdir(parents=True, exist_ok=True)
        self._tokenizers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def absolute(self, path: str | os.PathLike) -> Path:
        path = Path(path).expanduser()
        return (path if path.is_absolute() else self.root / path).resolve()

    # --- confinement ---------------------------------------------------------------------
    def confine(self, value: str | os.PathLike, key: str = "path", readonly: bool = False) -> Path:
        """The resolved path when it lies in data/ or saves/ (examples/ too when readonly)."""
        text = str(value).strip()
        if not text:
            raise UserError(f"{key}: give a path inside {self.shown(self.data_dir)}/ or "
                            f"{self.shown(self.saves_dir)}/")
        if problem := path_problem(key, text):  # NUL, over-long: before the file system sees it
            raise UserError(problem)
        path = self.absolute(text)  # resolve(): symlinks and .. are gone before the check
        roots = [self.data_dir, self.saves_dir] + ([self.examples_dir] if readonly else [])
        if any(path == r or path.is_relative_to(r) for r in roots):
            return path
        allowed = " or ".join(f"{self.shown(r)}/" for r in roots)
        unresolved = Path(text).expanduser()
        link = "" if path in (unresolved, self.root / unresolved) else f" (it leads to {path})"
        raise UserError(f"{key}: {text}{link} is outside the folders the WebUI may use "
                        f"({allowed}); move the file there or give a path inside them")

    def readable(self, path: str | os.PathLike, key: str = "path") -> Path:
        """The guard core.data calls before reading a registry or an entry's file: inside
        data/, saves/ or examples/ (links resolved), or the project's own dataset_info.json."""
        if self.absolute(path) == self.root / REGISTRY:  # read when the folder has none
            return self.root / REGISTRY
        return self.confine(path, key, readonly=True)

    def check_datasets(self, names: list[str], dataset_dir: str | os.PathLike,
                       key: str = "dataset") -> None:
        """Refuse (UserError) a dataset whose registry entry reads a file outside the allowed
        folders: for flows that read it later or in another process (training, evaluation).
        Other problems (an unknown name, a missing file) are left to those flows to report."""
        from core.data.loading import data_files, guard_hub
        from core.data.registry import get_entry

        folder = self.confine(dataset_dir or "data", "dataset_dir")
        refused: list[UserError] = []

        def guard(path: Path, what: str) -> Path:
            try:
                return self.readable(path, what)
            except UserError as e:
                refused.append(e)
                raise

        for name in names:
            try:
                entry = get_entry(name, folder, guard)
                guard_hub(entry)
                data_files(entry)  # every file, each through the guard
            except UserError:
                if refused:
                    raise UserError(f"{key}: {refused[0]}") from None

    def shown(self, path: Path) -> str:
        """A path as the UI shows it: relative to the project root when inside it."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    @property
    def model_roots(self) -> list[Path]:
        """The folders a model folder typed into the WebUI may lie in (links resolved)."""
        return [self.data_dir, self.saves_dir, self.assets_dir, *self.model_dirs]

    def check_model(self, value: str, key: str = "model_name_or_path") -> None:
        """'demo', a hub id (nothing local by that name), or a model folder (config.json)
        inside model_roots. A path outside them is refused whether it exists or not."""
        text = value.strip()
        if problem := path_problem(key, text):
            raise UserError(problem)
        if text == "demo":
            return
        path = self.absolute(text)  # resolve(): a link leads where it leads
        if text and HUB_ID.match(text) and ".." not in text and not path.exists():
            return  # a hub id: read from the Hugging Face cache
        allowed = ", ".join(f"{self.shown(r)}/" for r in self.model_roots)
        if not text:
            raise UserError(f"{key}: give 'demo', a hub id (like Qwen/Qwen2.5-0.5B-Instruct) "
                            f"or a model folder inside {allowed}")
        inside = any(path == r or path.is_relative_to(r) for r in self.model_roots)
        if not path.exists() and (inside or "/" not in text):  # a typo, not a path elsewhere
            raise UserError(f"{key}: {text} is neither a hub id (like Qwen/Qwen2.5-0.5B-Instruct) "
                            "nor a model folder on this machine")
        if not inside:
            raise UserError(self._outside_models(key, text, path, allowed))
        if not (path / "config.json").is_file():
            raise UserError(f"{key}: {text} is not a model folder (no config.json in it)")

    def _outside_models(self, key: str, text: str, path: Path, allowed: str) -> str:
        """Why a model path outside model_roots is refused, and the --model-dir that allows it."""
        unresolved = Path(text).expanduser()
        link = "" if path in (unresolved, self.root / unresolved) else f" (it leads to {path})"
        return (f"{key}: {text}{link} is outside the folders the WebUI loads models from "
                f"({allowed}); give 'demo' or a hub id, move the model into one of them, or "
                f"start the WebUI with --model-dir {path.parent}")

    def check_adapters(self, value: str, key: str) -> None:
        """Each comma-separated adapter: a folder in data/ or saves/, or a hub id."""
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            if HUB_ID.match(part) and ".." not in part and not self.absolute(part).exists():
                continue  # nothing local by that name: a hub id
            self.confine(part, key)

    def path_problems(self, values: dict[str, Any], kinds: dict[str, str]) -> list[tuple[str, str]]:
        """(key, message) for every path value that may not be used from a form."""
        out = []
        for key, kind in kinds.items():
            value = values.get(key)
            if value in (None, "", True, False):
                continue
            try:
                if kind == "model":
                    self.check_model(str(value), key)
                elif kind == "paths":
                    self.check_adapters(str(value), key)
                elif kind == "config":  # a preset or inline JSON/YAML, else a file to read
                    if names_file(str(value)):
                        self.confine(str(value), key, readonly=True)
                else:
                    self.confine(str(value), key)
            except UserError as e:
                out.append((key, str(e)))
        return out

    # --- pick lists ------------------------------------------------------------------------
    def local_models(self) -> list[str]:
        """The model folders (config.json) the --model-dir folders hold, themselves or one
        level down, for the model fields' pick lists."""
        found = []
        for folder in self.model_dirs:
            try:
                inside = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError as e:  # unmounted since the start: typed paths say why
                log.warning("Cannot list %s: %s", folder, e)
                continue
            found += [str(p) for p in [folder, *inside] if (p / "config.json").is_file()]
        return list(dict.fromkeys(found))

    def pick_lists(self, runs: Any, dataset_dir: str = "data") -> dict[str, list[str]]:
        """Registered dataset names and finished runs' adapters (for the multiselect fields),
        and the --model-dir folders' models (for the model fields); `runs` is a
        core.runs.RunManager."""
        from core.data import list_datasets

        try:
            datasets = [d.name for d in list_datasets(self.confine(dataset_dir, "dataset_dir"),
                                                      self.readable)]
        except Exception as e:  # a broken registry must not stop the page; the Data tab says why
            log.warning("Cannot list datasets: %s", e)
            datasets = []
        adapters = [self.shown(i.path) for i in runs.list()
                    if i.state == "completed" and (i.path / "adapter_config.json").is_file()]
        return {"datasets": datasets, "adapters": adapters, "models": self.local_models()}

    # --- tokenizers for token statistics ---------------------------------------------------
    def tokenizer(self, model: str) -> Any:
        """The model's tokenizer, loaded once per model ('demo' builds the demo model once)."""
        with self._lock:
            if model not in self._tokenizers:
                from core.models.loading import LoadOptions, load_tokenizer

                self._tokenizers[model] = load_tokenizer(LoadOptions(model))
            return self._tokenizers[model]
