"""The server's one core.chat.ChatEngine for the Chat tab (HOLDER): what a side's pick stands
for, loading what a request needs (once), and the status line saying what is loaded.

    req = Request(model="demo", a="base", b="saves/my-run")
    note = prepare(HOLDER, ws, req, "en")    # loads demo once, attaches my-run's adapter
    status_text(HOLDER, "en")                # "Loaded demo as the base; adapters: my-run"

A = base and B = tuned share one base load. A LoRA run picked on either side decides the base
(its own base and template, so base vs tuned compares like with like); a run on another base
than the loaded one reloads the engine, and the note says so.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from core.chat.engine import ChatEngine
from core.errors import UserError
from core.models.spec import run_folder, run_model_spec

from .. import runlists
from ..i18n import t
from ..render import message_html
from ..workspace import Workspace

BASE = "base"


@dataclass
class Target:
    """What a side's pick stands for: the base, a LoRA run/checkpoint/adapter on a base, or a
    model of its own (hub id, model folder, full-weights run)."""

    kind: str  # base | adapter | model
    value: str  # "base", the folder, or the model id/path as the engine takes it
    name: str  # the engine's name for it, and the pane's label
    base: str | None = None
    template: str | None = None
    thinking: bool = True


@dataclass
class Request:
    """The page's choices: the top bar's model/template/quantization and the two pickers."""

    model: str
    template: str | None = None
    quantization_bit: int | None = None
    a: str = BASE
    b: str | None = None
    compare: bool = True

    @property
    def sides(self) -> dict[str, str]:
        return {"A": self.a, "B": self.b} if self.compare and self.b else {"A": self.a}


@dataclass
class Holder:
    """The server's one ChatEngine and what it holds (a lock around every change)."""

    engine: ChatEngine | None = None
    key: tuple | None = None  # (base model, template, thinking, quantization_bit)
    adapters: dict[str, str] = field(default_factory=dict)  # engine name -> folder
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


HOLDER = Holder()


def target(ws: Workspace, value: str | None) -> Target:
    """Resolve a pick: base, a run folder/checkpoint/adapter (confined to saves/ and data/), or
    a model (hub id, 'demo', a local model folder)."""
    value = (value or "").strip()
    if not value:
        raise UserError(t("chat_pick_model"))
    if value == BASE:
        return Target(BASE, BASE, BASE)
    path = ws.absolute(value)
    if path.is_dir() and (run_folder(path) or (path / "adapter_config.json").is_file()):
        folder = runlists.source(ws, value, "model")
        run = run_folder(folder)
        name = folder.name if run in (None, folder) else f"{run.name}/{folder.name}"
        name = name if name != BASE else f"{BASE}-run"
        spec = run_model_spec(folder)
        if spec.adapter:
            return Target("adapter", str(folder), name, spec.base, spec.template,
                          spec.enable_thinking)
        return Target("model", str(folder), name)  # full weights: the engine reads the run
    ws.check_model(value, "model")
    return Target("model", str(path) if path.is_dir() else value, value)


def _base(req: Request, targets: dict[str, Target]) -> tuple[tuple, Target | None]:
    """The engine's base: the first picked LoRA run's base (so base vs tuned compares like with
    like, in the run's template), else the top bar's model."""
    run = next((tg for tg in targets.values() if tg.kind == "adapter"), None)
    if run is not None:
        return (run.base, run.template, run.thinking, req.quantization_bit), run
    return (req.model, req.template, True, req.quantization_bit), None


def prepare(holder: Holder, ws: Workspace, req: Request, lang: str) -> str:
    """Load what the request needs (nothing when it is loaded) and point the sides at it.
    Returns a note when the base had to change; raises UserError on a bad pick."""
    targets = {side: target(ws, value) for side, value in req.sides.items()}
    key, run = _base(req, targets)
    notes = []
    with holder.lock:
        holder.engine = holder.engine or ChatEngine()
        engine = holder.engine
        if holder.key != key:
            old, holder.key = holder.key, None
            if old is None or (old[0], old[3]) != (key[0], key[3]):  # another model: reload
                if old is not None:
                    notes.append(t("chat_reloaded", lang, model=key[0]))
                engine.unload()
                holder.adapters = {}
            engine.load_base(*key)  # the same model: only its template or thinking change
            holder.key = key
        if run is not None and not _same(run.base, req.model):
            notes.append(t("chat_run_base", lang, run=run.name, model=run.base, top=req.model))
        for side, tg in targets.items():
            if tg.kind == "adapter" and holder.adapters.get(tg.name) != tg.value:
                engine.add_adapter(tg.name, tg.value)
                holder.adapters[tg.name] = tg.value
            engine.set_side(side, tg.value if tg.kind == "model" else tg.name)
    return " ".join(notes)


def _same(a: str | None, b: str | None) -> bool:
    def norm(x):
        p = Path(x or "")
        return str(p.resolve()) if x and p.exists() else x
    return norm(a) == norm(b)


def status_text(holder: Holder, lang: str, note: str = "") -> str:
    """What is loaded, as the line above the panes says it."""
    if holder.key is None:
        return message_html(t("chat_not_loaded", lang), "info")
    text = t("chat_loaded", lang, model=holder.key[0])
    if holder.adapters:
        text += " " + t("chat_adapters", lang, names=", ".join(holder.adapters))
    own = sorted({Path(v).name or v for v in holder.engine.sides.values()
                  if v != BASE and v not in holder.adapters and not _same(v, holder.key[0])})
    if own:  # models of their own (full weights, another model): a second load
        text += " " + t("chat_own_models", lang, names=", ".join(own))
    return message_html((note + " " if note else "") + text, "info")


def unload(holder: Holder) -> None:
    with holder.lock:
        if holder.engine is not None:
            holder.engine.unload()
        holder.key, holder.adapters = None, {}


def stop(holder: Holder) -> None:
    holder.stopping.set()
    if holder.engine is not None:
        holder.engine.stop()
