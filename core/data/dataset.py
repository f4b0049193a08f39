"""One registered dataset as canonical rows; the registry as a table; registering a file.

    ds = load_rows("demo_pref_en", "data", "dpo")   # ds.rows, ds.sources, ds.problems
    tokens = tokenize_checked(ds, template, Cutoff(1024))   # features, lengths, cuts
    for info in list_datasets("data"): print(info.name, info.stages, info.records)
    register_file("mine", "data/mine.json", "data")  # detect, validate, write the entry
    register_upload("/tmp/up.json", "mine", "data/mine.json", "data")  # copy, then register
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import UserError

from .formats import convert, suited_stages
from .loading import load_records, peek, read_path
from .records import Problem, Row
from .registry import (
    Guard,
    add_entry,
    display,
    get_entry,
    guarded_registry,
    make_entry,
    read_registry,
    resolve_dir,
    write_target,
)
from .truncation import EXAMPLES, Cutoff, Cuts


@dataclass
class DatasetRows:
    """A dataset converted for one stage."""

    name: str
    stage: str
    rows: list[Row]
    sources: list[tuple[str, int]]  # (file, record index) of each row
    problems: list[Problem]
    file: str  # the file or folder (hf://id for the hub)
    formatting: str
    ranking: bool
    total: int  # records read (after num_samples and max_samples)
    entry: Any = field(default=None, repr=False)
    keys: list[tuple[str, int]] = field(default_factory=list)  # (file, index) of every record read
    record_of: list[int] = field(default_factory=list)  # position in `keys` of each row

    @property
    def indices(self) -> list[int]:
        return [index for _, index in self.sources]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    def bad_records(self) -> int:
        """Records not used: all of them after a dataset-level error."""
        if any(p.index is None for p in self.errors):
            return self.total
        return len({(p.file, p.index) for p in self.errors})


def load_rows(name: str, dataset_dir: str | Path | None = "data", stage: str = "dpo",
              max_samples: int | None = None, rng: Any = None,
              guard: Guard | None = None) -> DatasetRows:
    """Read and convert one registered dataset; bad records are in .problems, not .rows.
    `rng` draws num_samples (loading.sample); max_samples then keeps the first records.
    `guard`: see core.data.registry (the WebUI's confinement)."""
    entry = get_entry(name, dataset_dir, guard)
    records = load_records(entry, rng)
    if max_samples:
        records = records[:max_samples]
    ds = converted(name, entry, records, stage, _shown(entry))
    ds.problems[:0] = _ignored_keys(entry)
    return ds


def converted(name: str, entry: Any, records: list, stage: str, file: str) -> DatasetRows:
    """`records` (loading.Record) of `entry` converted for `stage`; `file` as shown."""
    out = convert(records, entry, stage)
    return DatasetRows(name, stage, out.rows, out.sources, out.problems, file, entry.formatting,
                       entry.ranking, len(records), entry, [(r.file, r.index) for r in records],
                       out.record_of)


def _ignored_keys(entry: Any) -> list[Problem]:
    """Keys that only mean something for the hub; LLaMA-Factory ignores them for a local file."""
    if entry.load_from != "file":
        return []
    return [Problem(entry.source, None, key, f"{key} {entry.raw[key]!r} only applies to hub "
                    "datasets; a local file ignores it (as in LLaMA-Factory)", "warning")
            for key in ("subset", "folder") if entry.raw.get(key)]


@dataclass
class TokenizedRows:
    """ds.rows as token ids: features of the kept rows (each with its "row" position), the
    untruncated lengths of every row, and what truncation did."""

    features: list[dict]
    lengths: list[dict[str, int]]
    cuts: Cuts


def tokenize_checked(ds: DatasetRows, template: Any, cut: Cutoff,
                     on_rows: Any = None) -> TokenizedRows:
    """Token ids for ds.rows within cut.length. Records that truncation drops or refuses are
    added to ds.problems and their rows get no feature. `on_rows(n)`: n more rows done."""
    from .tokenize import tokenize_rows

    out = tokenize_rows(ds.stage, ds.rows, template, cut, on_rows)
    seen = set(ds.problems)
    for pos, fld, reason, severity in out.problems:
        problem = Problem(*ds.sources[pos], fld, reason, severity)
        if problem not in seen:  # kto's two rows of a pair share one prompt: say it once
            seen.add(problem)
            ds.problems.append(problem)
    ds.problems.sort(key=lambda p: (not p.is_error, p.index is not None))
    return TokenizedRows(out.features, out.lengths, count_cuts(ds, out, cut))


def count_cuts(ds: DatasetRows, out: Any, cut: Cutoff) -> Cuts:
    """Per record (kto's two rows of a pair are one record; a record num_samples repeats
    counts each time): what was cut, dropped, refused."""
    cuts = Cuts(cut.mode, cut.length, records=len(set(ds.record_of)))
    per_record: dict[int, list[int]] = {}
    for pos, prompt, answer, turns in out.cuts:
        sums = per_record.setdefault(ds.record_of[pos], [0, 0, 0])
        for i, n in enumerate((prompt, answer, turns)):
            sums[i] += n
    for at, (prompt, answer, turns) in per_record.items():
        cuts.prompts_cut += prompt > 0
        cuts.answers_cut += answer > 0
        cuts.turns_dropped += turns
        cuts.tokens_removed += prompt + answer
        if len(cuts.examples) < EXAMPLES:
            what = [f"prompt -{prompt}" if prompt else "", f"answer -{answer}" if answer else ""]
            turned = f" ({turns} turns dropped)" if turns else ""
            file, index = ds.keys[at]
            cuts.examples.append(f"{file}:{index}: {', '.join(w for w in what if w)} tokens{turned}")
    for severity, key in (("dropped", "dropped"), ("error", "refused")):
        found = {ds.record_of[pos] for pos, _, _, s in out.problems if s == severity}
        setattr(cuts, key, len(found))
    return cuts


@dataclass
class DatasetInfo:
    """A registry entry as the `data list` table and the WebUI show it."""

    name: str
    formatting: str
    ranking: bool
    stages: list[str]
    records: int | None
    file: str
    error: str | None = None  # why the entry or its file cannot be read

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_datasets(dataset_dir: str | Path | None = "data",
                  guard: Guard | None = None) -> list[DatasetInfo]:
    """Every registered dataset with the stages it suits and its record count (cheap: no
    conversion). A broken entry, or one whose file `guard` refuses, is listed with its error
    instead of failing the list."""
    path = guarded_registry(dataset_dir, guard)
    out = []
    for name, raw in read_registry(path).items():
        formatting = raw.get("formatting", "alpaca") if isinstance(raw, dict) else "?"
        ranking = bool(raw.get("ranking")) if isinstance(raw, dict) else False
        file = str(raw.get("file_name") or raw.get("hf_hub_url")) if isinstance(raw, dict) else ""
        try:
            entry = make_entry(name, raw, path, dataset_dir, guard)
            file = _shown(entry)
            count, first = peek(entry)
            out.append(DatasetInfo(name, formatting, ranking, suited_stages(entry, first), count,
                                   file))
        except (UserError, OSError, ValueError) as e:
            out.append(DatasetInfo(name, formatting, ranking, [], None, file, str(e)))
    return out


def default_stage(name: str, dataset_dir: str | Path | None = "data") -> str:
    """The first stage a registered dataset suits (what `data check` checks by default)."""
    entry = get_entry(name, dataset_dir)
    return suited_stages(entry, peek(entry)[1])[0]


def _shown(entry: Any) -> str:
    return entry.source


@dataclass
class Registration:
    """What `register_file` found and did: the entry, the stage it was validated for, how
    many rows converted, the problems, the registry written (None: not written), and the
    rows themselves (`converted`: how the file reads once registered, e.g. for a preview)."""

    name: str
    entry: dict[str, Any]
    stage: str
    stages: list[str]
    rows: int
    problems: list[Problem]
    registry: Path | None = None
    converted: DatasetRows | None = field(default=None, repr=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]


def register_file(name: str, path: str | Path, dataset_dir: str | Path | None = "data",
                  formatting: str | None = None, ranking: bool | None = None,
                  columns: dict[str, str] | None = None, tags: dict[str, str] | None = None,
                  force: bool = False, allow_bad: bool = False,
                  dry_run: bool = False) -> Registration:
    """Detect a file's entry (what is given wins), convert every record to validate it, and
    register it unless records fail (or only when allow_bad and some rows converted)."""
    from .detect import detect_entry

    path = Path(path).expanduser().resolve()
    records = read_path(path)
    raw = detect_entry([r.data for r in records], file_name_for(path, dataset_dir), formatting,
                       ranking, columns, tags, path=path, dataset_dir=dataset_dir)
    entry = make_entry(name, raw, write_target(dataset_dir), dataset_dir)
    stages = suited_stages(entry, records[0].data if records else None)
    rows = converted(name, entry, records, stages[0], display(path))
    result = Registration(name, raw, stages[0], stages, len(rows.rows), rows.problems,
                          converted=rows)
    if not dry_run and rows.rows and (allow_bad or not result.errors):
        result.registry = add_entry(name, raw, dataset_dir, force=force)
    return result


def register_upload(src: str | Path, name: str, save_as: str | Path,
                    dataset_dir: str | Path | None = "data", formatting: str | None = None,
                    ranking: bool | None = None, columns: dict[str, str | None] | None = None,
                    tags: dict[str, str] | None = None,
                    allow_bad: bool = False) -> Registration:
    """Copy an uploaded file to `save_as` inside the data folder and register it as `name`.
    The copy stays only when it registers: bad records (without allow_bad), a name already
    taken or any other failure remove it again, so the folder and the registry are as before.
    `save_as` must be inside dataset_dir (where dataset_info.json finds its files) and new."""
    folder = resolve_dir(dataset_dir)
    target = Path(save_as).expanduser().resolve()
    if not target.is_relative_to(folder.resolve()):
        raise UserError(f"save_as: {save_as} must be inside {folder}/, where dataset_info.json "
                        "finds its files")
    if target.exists():
        raise UserError(f"save_as: {target} exists already; choose another file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    try:
        reg = register_file(name, target, folder, formatting=formatting, ranking=ranking,
                            columns=columns, tags=tags, allow_bad=allow_bad)
    except BaseException:  # also an interrupt: never leave an unregistered copy behind
        target.unlink(missing_ok=True)
        raise
    if reg.registry is None:
        target.unlink(missing_ok=True)
    return reg


def file_name_for(path: Path, dataset_dir: str | Path | None) -> str:
    """file_name for the registry: relative to dataset_dir when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return path.relative_to(resolve_dir(dataset_dir)).as_posix()
    except ValueError:
        return str(path)
