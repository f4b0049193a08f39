"""What a side of the side-by-side chat stands for, and which base the engine loads for a pair of
picks. Pure decisions (no weights are read); core/chat/host.py acts on them.

    side_of("saves/my-run")     # Side("adapter", ".../my-run", "my-run", base=..., template=...)
    picks = Picks("demo", a="base", b="saves/my-run")
    base, run = base_for(picks, {s: side_of(p) for s, p in picks.sides.items()})

A pick is "base" (the shared base with adapters off), a LoRA run / checkpoint-N / adapter folder
(an adapter on its base), or a model of its own (hub id, 'demo', a model folder, a full-weights
run). A picked LoRA run decides the base (its own base and template, so base vs tuned compares
like with like); without one the top bar's model is the base. Callers that take picks from
users confine the paths first (the WebUI keeps adapters to its saves/ and data/ folders).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.models.spec import run_folder, run_model_spec

BASE = "base"


@dataclass(frozen=True)
class Side:
    """What a pick stands for. `value` is what the engine takes ("base", the folder, or the
    model id/path); `name` the engine's name for an adapter and the label of a run; `base`,
    `template` and `thinking` the model it runs on and how it renders a chat (None: the
    tokenizer's own template)."""

    kind: str  # base | adapter | model
    value: str
    name: str
    base: str | None = None
    template: str | None = None
    thinking: bool = True


@dataclass(frozen=True)
class Picks:
    """The choices of a side-by-side chat: the base model with its template and quantization
    (the WebUI's top bar), and what sides A and B show (B only when comparing)."""

    model: str
    template: str | None = None
    quantization_bit: int | None = None
    a: str = BASE
    b: str | None = None
    compare: bool = True

    @property
    def sides(self) -> dict[str, str]:
        return {"A": self.a, "B": self.b} if self.compare and self.b else {"A": self.a}


@dataclass(frozen=True)
class Base:
    """The shared base the engine holds: a model, the template its "base" side answers in,
    and its quantization. Only another model or quantization means loading weights again."""

    model: str
    template: str | None
    thinking: bool
    quantization_bit: int | None

    def same_weights(self, other: Base | None) -> bool:
        return other is not None and (same_model(self.model, other.model)
                                      and self.quantization_bit == other.quantization_bit)


def is_tuned(path: str | os.PathLike) -> bool:
    """A run folder, one of its checkpoints, or an adapter folder (what training wrote, as
    opposed to a model folder or hub id)."""
    path = Path(path)
    return path.is_dir() and (run_folder(path) is not None
                              or (path / "adapter_config.json").is_file())


def side_of(pick: str | None) -> Side:
    """What a pick stands for; a run without a final model stands for its newest complete
    checkpoint, a full-weights run for a model of its own (in the run's template)."""
    pick = (pick or "").strip()
    if not pick:
        raise UserError("pick a model for each side: 'base', a run folder or a model")
    if pick == BASE:
        return Side(BASE, BASE, BASE)
    if not is_tuned(pick):  # a hub id, 'demo' or a model folder: loaded as given
        return Side("model", pick, Path(pick).name or pick, base=pick)
    folder = Path(pick)
    run = run_folder(folder)
    name = folder.name if run in (None, folder) else f"{run.name}/{folder.name}"
    name = name if name != BASE else f"{BASE}-run"  # never shadow the base side
    spec = run_model_spec(folder)
    if spec.adapter:
        return Side("adapter", str(folder), name, spec.base, spec.template, spec.enable_thinking)
    return Side("model", str(folder), name, spec.base, spec.template, spec.enable_thinking)


def base_for(picks: Picks, sides: dict[str, Side]) -> tuple[Base, Side | None]:
    """The engine's base for these picks and the LoRA run that decided it (None: the picks'
    model is the base): the first picked adapter's base, in its run's template."""
    run = next((s for s in sides.values() if s.kind == "adapter"), None)
    if run is not None:
        return Base(run.base, run.template, run.thinking, picks.quantization_bit), run
    return Base(picks.model, picks.template, True, picks.quantization_bit), None


def same_model(a: str | None, b: str | None) -> bool:
    """The same model, however its path is written (hub ids compare as text)."""
    return canonical(a) == canonical(b)


def canonical(model: str | None) -> str | None:
    path = Path(model or "")
    return str(path.resolve()) if model and path.exists() else model
