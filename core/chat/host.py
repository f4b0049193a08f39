"""ChatHost: a server's one ChatEngine, kept loaded for the picks of a side-by-side chat.

    host = ChatHost()                                       # one per app
    done = host.prepare(Picks("demo", a="base", b="saves/my-run"))
    done.reloaded, done.run_base                            # what the caller should tell the user
    host.loaded()                                           # Loaded(model, adapters, own)

prepare() loads only what the picks need and nothing twice: A = base and B = tuned share one
base load; a picked LoRA run decides the base (sides.base_for); another base model or
quantization unloads everything first, while another template on the same weights only
re-labels the base side; an adapter is attached once per name and folder.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .engine import ChatEngine
from .sides import BASE, Base, Picks, Side, base_for, same_model, side_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """What prepare() did that the user should hear about."""

    reloaded: str | None = None  # the new base model, when it replaced another one
    run_base: Side | None = None  # the picked run whose base is not the picks' model


@dataclass(frozen=True)
class Loaded:
    """What the engine holds: the base, the adapters on it, and models loaded on their own."""

    model: str
    adapters: tuple[str, ...]
    own: tuple[str, ...]


@dataclass
class ChatHost:
    """One ChatEngine and what it holds; `lock` is held around every change, `stopping` set by
    stop() until the next turn begins."""

    engine: ChatEngine | None = None
    base: Base | None = None
    adapters: dict[str, str] = field(default_factory=dict)  # engine name -> folder
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def prepare(self, picks: Picks) -> Prepared:
        """Load what the picks need (nothing when it is loaded) and point the sides at it.
        Raises UserError on a pick that stands for nothing loadable."""
        sides = {name: side_of(pick) for name, pick in picks.sides.items()}
        base, run = base_for(picks, sides)
        with self.lock:
            reloaded = self._load_base(base)
            for name, side in sides.items():
                if side.kind == "adapter" and self.adapters.get(side.name) != side.value:
                    self.engine.add_adapter(side.name, side.value)
                    self.adapters[side.name] = side.value
                self.engine.set_side(name, side.value if side.kind == "model" else side.name)
        other = run if run is not None and not same_model(run.base, picks.model) else None
        return Prepared(reloaded, other)

    def _load_base(self, base: Base) -> str | None:
        """Make `base` the engine's base; returns its model when it replaced another one."""
        self.engine = self.engine or ChatEngine()
        if self.base == base:
            return None
        old, self.base = self.base, None  # stays None when loading fails: the next try reloads
        reloaded = None
        if not base.same_weights(old):
            if old is not None:
                reloaded = base.model
                log.info("Chat base changes from %s to %s: unloading.", old.model, base.model)
            self.engine.unload()
            self.adapters = {}
        self.engine.load_base(base.model, base.template, base.thinking, base.quantization_bit)
        self.base = base
        return reloaded

    def loaded(self) -> Loaded | None:
        """What is loaded (None: nothing)."""
        if self.base is None or self.engine is None:
            return None
        model = self.base.model
        own = sorted({Path(v).name or v for v in self.engine.sides.values()
                      if v != BASE and v not in self.adapters and not same_model(v, model)})
        return Loaded(model, tuple(self.adapters), tuple(own))

    def unload(self) -> None:
        """Drop every model and give the memory back."""
        with self.lock:
            if self.engine is not None:
                self.engine.unload()
            self.base, self.adapters = None, {}

    def stop(self) -> None:
        """End the answer being generated (and the turn's other side) at the next token."""
        self.stopping.set()
        if self.engine is not None:
            self.engine.stop()
