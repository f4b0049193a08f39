"""Chat votes as preference data: one JSON line per vote in a sharegpt ranking dataset that the
next DPO round trains on, and the win rate the votes add up to.

    saved = append_vote(vote, "chat_votes", "data")     # data/chat_votes.jsonl, registered once
    saved.count, saved.registered                        # votes in the file; first vote: True
    t = tally(read_votes("chat_votes", "data"), "demo-dpo", "demo")
    t.rate, t.low, t.high, t.n                           # 0.67, 0.21, 0.94, 3

The file is `<dataset_dir>/<name>.jsonl`; dataset_info.json (the one `data add` writes for
that folder) gets the entry VOTES_ENTRY the first time, every other entry kept byte for byte:

    {"file_name": "<name>.jsonl", "formatting": "sharegpt", "ranking": true,
     "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected",
                 "tie": "tie"}}

One line, one vote (Vote.record() writes it):
    conversations  the conversation so far as the preferred side saw it: an optional system
                   turn (the chat's system prompt), then human/gpt turns, ending with the
                   human turn both answers reply to (multi-turn chats give multi-turn prompts)
    chosen         {"from": "gpt", "value": the preferred answer, as edited before saving}
    rejected       {"from": "gpt", "value": the other answer}
    tie            true: both equally good. A tie keeps side A's answer as chosen and B's as
                   rejected, and the converter leaves it out of dpo/rm/kto rows (the `tie`
                   column, a dataset warning counts them), so it never trains a preference;
                   it counts half a win in the win rate.
    winner         "A", "B" or "tie": the chat side (Model A / Model B picker) that won
    model_a, model_b   what each side ran: the base model, a run's name, a model's folder name
    panes          the sides shown in pane A and pane B: ["B", "A"] when blind swapped them
    blind          whether the model names were hidden while voting
    edited         whether the chosen answer was edited; original: its text before (else null)
    same_history   false when the two sides' earlier answers differed (turn 2 on), so the
                   rejected answer followed another history than the prompt above
    generation     the decoding settings (core.chat.GenConfig's fields, seed included)
    time           when the vote was saved, ISO 8601 UTC

A `guard` (core.data.registry's; the WebUI's keeps writes in data/ and saves/) is called with
the registry and the votes file before either is read or written; the CLI passes none.

Writing is safe under concurrency: an exclusive flock on `<dataset_dir>/.votes.lock` (held by
threads of one server and by other processes alike) covers reading the file, writing it again
through a temporary file and a rename (core.paths.write_atomic: a reader never sees half a
line, a crash leaves the old file), and registering the dataset. Earlier lines are kept byte
for byte, so two users voting at once both find their vote in the file.

The win rate of X over Y counts the votes between X and Y (either side), a tie as half a win,
with the Wilson score interval at 95% (z = 1.96) around it; n counts ties too.
"""
from __future__ import annotations

import fcntl
import json
import logging
import math
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from core.errors import UserError
from core.paths import write_atomic

from .registry import Guard, add_entry, read_registry, resolve_dir, write_target

log = logging.getLogger(__name__)
DEFAULT_NAME = "chat_votes"
WINNERS = ("A", "B", "tie")
Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ROLES = {"system": "system", "user": "human", "assistant": "gpt"}
COLUMNS = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "tie": "tie"}


def votes_entry(name: str) -> dict[str, Any]:
    """The registry entry of a votes dataset."""
    return {"file_name": f"{name}.jsonl", "formatting": "sharegpt", "ranking": True,
            "columns": dict(COLUMNS)}


@dataclass
class Vote:
    """One vote: the prompt (canonical role/content messages, may start with system, ends
    with the user turn), the preferred and the other answer, and what the module docstring
    lists about them."""

    prompt: list[dict[str, str]]
    chosen: str
    rejected: str
    winner: str  # A | B | tie
    model_a: str
    model_b: str
    panes: tuple[str, str] = ("A", "B")
    blind: bool = False
    original: str | None = None  # the chosen answer before it was edited
    same_history: bool = True
    generation: dict[str, Any] = field(default_factory=dict)
    time: str = ""  # set when saved

    def problems(self) -> list[str]:
        """What keeps this vote from being a usable pair (empty: none)."""
        out = [] if self.winner in WINNERS else [f"winner {self.winner!r} is not A, B or tie"]
        if not self.prompt or self.prompt[-1].get("role") != "user":
            out.append("the prompt must end with the user's message")
        out += [f"prompt: role {m.get('role')!r} cannot be saved" for m in self.prompt
                if m.get("role") not in ROLES]
        for part in ("chosen", "rejected"):
            if not str(getattr(self, part) or "").strip():
                out.append(f"the {part} answer is empty; a pair needs two answers")
        return out

    def record(self) -> dict[str, Any]:
        """The vote as one line of the dataset."""
        turns = [{"from": ROLES[m["role"]], "value": m["content"]} for m in self.prompt]
        return {"conversations": turns,
                "chosen": {"from": "gpt", "value": self.chosen},
                "rejected": {"from": "gpt", "value": self.rejected},
                "tie": self.winner == "tie", "winner": self.winner,
                "model_a": self.model_a, "model_b": self.model_b, "panes": list(self.panes),
                "blind": self.blind, "edited": self.original is not None,
                "original": self.original, "same_history": self.same_history,
                "generation": dict(self.generation),
                "time": self.time or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


@dataclass(frozen=True)
class Saved:
    """Where a vote went: the file, the registry, the votes now in the file, and whether this
    vote registered the dataset."""

    name: str
    path: Path
    registry: Path
    count: int
    registered: bool


def check_name(name: str) -> str:
    """A dataset name that is also a safe file name (no folders, no leading dot)."""
    name = (name or "").strip()
    if not NAME.match(name):
        raise UserError(f"votes dataset name {name!r}: use letters, digits, '_', '-' or '.' "
                        f"(it names the file <name>.jsonl), e.g. {DEFAULT_NAME}")
    return name


def votes_file(name: str, dataset_dir: str | Path | None = "data",
               guard: Guard | None = None) -> Path:
    """The file of votes dataset `name`: the registered one, else <dataset_dir>/<name>.jsonl.
    A name registered as anything but votes is refused, so other data is never appended to."""
    name = check_name(name)
    registry = write_target(dataset_dir)
    if guard is not None:
        guard(registry, "registry")
    raw = read_registry(registry).get(name)
    if raw is None:
        path = resolve_dir(dataset_dir) / f"{name}.jsonl"
    else:
        path = _registered_file(name, raw, registry, dataset_dir)
    if guard is not None:
        guard(path, f"dataset '{name}'")
    return path


def _registered_file(name: str, raw: Any, registry: Path, dataset_dir: str | Path | None) -> Path:
    ours = votes_entry(name)
    same = isinstance(raw, dict) and all(raw.get(k) == ours[k]
                                         for k in ("formatting", "ranking", "columns"))
    file_name = raw.get("file_name") if same else None
    if not str(file_name or "").endswith(".jsonl"):
        raise UserError(f"dataset '{name}' in {registry} is not a chat-votes dataset; save the "
                        f"votes under another name (e.g. {DEFAULT_NAME})")
    return (resolve_dir(dataset_dir) / file_name).resolve()


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One writer of votes (and of their registry entries) in `folder` at a time, across
    threads and processes: flock locks each open() separately."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".votes.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def append_vote(vote: Vote, name: str = DEFAULT_NAME, dataset_dir: str | Path | None = "data",
                guard: Guard | None = None) -> Saved:
    """Append `vote` to dataset `name` in dataset_dir, registering it the first time. Raises
    UserError (and writes nothing) for an unusable vote or a file that is not votes."""
    problems = vote.problems()
    if problems:
        raise UserError("vote not saved: " + "; ".join(problems))
    name = check_name(name)
    line = json.dumps(vote.record(), ensure_ascii=False) + "\n"
    with _locked(resolve_dir(dataset_dir)):
        path = votes_file(name, dataset_dir, guard)
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        count = len(_parse(text, path))  # a broken file is refused, never written over
        if text and not text.endswith("\n"):
            text += "\n"
        write_atomic(path, text + line)
        registry = write_target(dataset_dir)
        registered = name not in read_registry(registry)
        if registered:
            add_entry(name, {**votes_entry(name), "file_name": _file_name(path, dataset_dir)},
                      dataset_dir)
            log.info("Registered votes dataset %s (%s) in %s.", name, path, registry)
    return Saved(name, path, registry, count + 1, registered)


def _file_name(path: Path, dataset_dir: str | Path | None) -> str:
    try:
        return path.relative_to(resolve_dir(dataset_dir)).as_posix()
    except ValueError:
        return str(path)


def read_votes(name: str = DEFAULT_NAME, dataset_dir: str | Path | None = "data",
               guard: Guard | None = None) -> list[dict]:
    """Every vote of dataset `name` as written ([] before the first vote)."""
    path = votes_file(name, dataset_dir, guard)
    if not path.is_file():
        return []
    return _parse(path.read_text(encoding="utf-8"), path)


def _parse(text: str, path: Path) -> list[dict]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: line {lineno} is not valid JSON ({e.msg}); fix or move the "
                            "file, then vote again") from None
        if not isinstance(record, dict) or "winner" not in record:
            raise UserError(f"{path}: line {lineno} is not a chat vote (no 'winner'); save the "
                            "votes under another name")
        out.append(record)
    return out


# --- the win rate ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Tally:
    """Votes between `model` and `other`: wins, losses and ties of `model`."""

    model: str
    other: str
    wins: int = 0
    losses: int = 0
    ties: int = 0

    @property
    def n(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def rate(self) -> float | None:
        """model's win rate over other, a tie counting half; None without votes."""
        return (self.wins + self.ties / 2) / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.rate, self.n) if self.n else None

    @property
    def low(self) -> float | None:
        return self.interval[0] if self.n else None

    @property
    def high(self) -> float | None:
        return self.interval[1] if self.n else None

    def summary(self) -> str:
        """One line for the terminal."""
        if not self.n:
            return f"no votes yet between {self.model} and {self.other}"
        return (f"{self.model} over {self.other}: win rate {self.rate:.0%} (95% Wilson interval "
                f"{self.low:.0%}-{self.high:.0%}), {self.n} votes, {self.ties} ties")


def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion p seen in n trials:
    (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n). Ties enter as half successes,
    which slightly overstates the spread (a tie varies less than a coin flip)."""
    if n <= 0:
        raise ValueError("n must be positive")
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def tally(votes: list[dict], model: str, other: str) -> Tally:
    """Wins, losses and ties of `model` against `other` over the votes between the two (a
    model against itself says nothing: no votes)."""
    wins = losses = ties = 0
    for v in votes:
        sides = {"A": v.get("model_a"), "B": v.get("model_b")}
        if model == other or set(sides.values()) != {model, other}:
            continue
        if v.get("winner") == "tie":
            ties += 1
        elif sides.get(v.get("winner")) == model:
            wins += 1
        else:
            losses += 1
    return Tally(model, other, wins, losses, ties)


def last_pair(votes: list[dict]) -> tuple[str, str] | None:
    """(model_b, model_a) of the newest vote: the pair a votes panel shows by default."""
    for v in reversed(votes):
        if v.get("model_a") and v.get("model_b"):
            return v["model_b"], v["model_a"]
    return None
