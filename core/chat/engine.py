"""ChatEngine: one base model, adapters switched on and off, streaming; base vs tuned side by side.
The command line (`python -m core chat`) is core/cli/chat.py; what a side's pick stands for is
sides.py, and host.py keeps one engine loaded for a server's picks.

    engine = ChatEngine()
    engine.add_adapter("tuned", "saves/demo-dpo")     # loads the run's base once
    engine.set_side("A", "base"); engine.set_side("B", "tuned")
    for text in engine.stream("B", [{"role": "user", "content": "Hi"}], GenConfig(seed=1)):
        print(text)                                    # the whole answer so far

A and B share one PeftModel: "base" runs with the adapters disabled, a tuned side with its
adapter active. Generation is serialised by a lock, and the adapter is chosen inside it, so two
threads streaming A and B never see each other's adapter.
"""
from __future__ import annotations

import gc
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from core.chat.sides import canonical, side_of
from core.errors import UserError
from core.models.loading import DTYPES
from core.models.spec import run_folder, run_model_spec

log = logging.getLogger(__name__)
SIDES = ("A", "B")
GEN_FLAGS = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed")
__all__ = ["ChatEngine", "ChatSession", "GenConfig"]


@dataclass
class GenConfig:
    """Decoding settings. temperature 0 is greedy; the same seed on both sides gives comparable
    sampling (torch is seeded right before each generate). enable_thinking None keeps the
    side's own (the run's) setting; system is prepended to every prompt, not stored."""

    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.0
    seed: int | None = 42
    system: str = ""
    enable_thinking: bool | None = None

    def __post_init__(self) -> None:
        checks = [(self.max_new_tokens >= 1, "max_new_tokens must be at least 1"),
                  (self.temperature >= 0, "temperature must be 0 (greedy) or more"),
                  (0 < self.top_p <= 1, "top_p must be in (0, 1]"),
                  (self.top_k >= 0, "top_k must be 0 (off) or more"),
                  (self.repetition_penalty > 0, "repetition_penalty must be above 0")]
        for ok, message in checks:
            if not ok:
                raise UserError(f"generation: {message}")

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens,
                                  "repetition_penalty": self.repetition_penalty}
        if self.temperature == 0:  # override sampling defaults shipped in generation_config
            return {**kwargs, "do_sample": False, "temperature": None, "top_p": None,
                    "top_k": None}
        return {**kwargs, "do_sample": True, "temperature": self.temperature,
                "top_p": self.top_p, "top_k": self.top_k or None}


@dataclass
class _Backbone:
    """One loaded model (base + merged start adapters); a PeftModel once it holds adapters."""

    model: Any
    tokenizer: Any
    adapters: set[str]


@dataclass
class _Entry:
    """What a side name stands for: a backbone, an adapter on it (None: adapters off), and the
    template the answers are rendered with."""

    key: tuple
    adapter: str | None
    template: str | None
    enable_thinking: bool


class ChatEngine:
    """One base model, adapters switched on and off, streaming generation for sides A and B."""

    def __init__(self, dtype: str = "auto", device: str | None = None):
        if dtype not in DTYPES:
            raise UserError(f"dtype: {dtype!r} is not one of {', '.join(DTYPES)}")
        self.dtype, self.device = dtype, device
        self.sides: dict[str, str] = {"A": "base", "B": "base"}
        self._backbones: dict[tuple, _Backbone] = {}
        self._entries: dict[str, _Entry] = {}
        self._main: tuple | None = None
        self._lock = threading.Lock()  # held by the generating thread for a whole answer
        self._running: set[threading.Event] = set()

    # --- loading -------------------------------------------------------------------------
    def load_base(self, model: str, template: str | None = None, enable_thinking: bool = True,
                  quantization_bit: int | None = None) -> None:
        """Load the shared base (once; a different model replaces it) and name it "base"."""
        key = (canonical(model), ())
        if self._main != key:
            if self._main is not None:
                self.unload()
            self._load(key, model, [], quantization_bit)
            self._main = key
        self._entries["base"] = _Entry(key, None, template, enable_thinking)

    def add_adapter(self, name: str, path: str) -> str:
        """Attach a LoRA adapter (run folder, checkpoint-N or adapter folder) under `name`. It
        joins the shared base unless the run sits on merged start adapters or another base;
        with no base loaded yet, the run's base becomes the shared one."""
        spec = run_model_spec(path)
        if spec.adapter is None:
            raise UserError(f"{path} holds full weights, not an adapter; give it as a model path "
                            "(a side of its own)")
        if self._main is None:
            self.load_base(spec.base, spec.template, spec.enable_thinking)
        self.remove(name)
        key = (canonical(spec.base), tuple(canonical(p) for p in spec.merged))
        if key not in self._backbones:
            log.info("Loading %s + merged %s for adapter %s.", spec.base, list(spec.merged), name)
            self._load(key, spec.base, list(spec.merged), None)
        base = self._entries["base"]  # a bare adapter (no run) answers in the base's template
        template, thinking = ((spec.template, spec.enable_thinking) if run_folder(path)
                              else (base.template, base.enable_thinking))
        peft_name = re.sub(r"\W", "_", name) or "adapter"
        with self._lock:
            backbone = self._backbones[key]
            backbone.model = _attach(backbone.model, str(spec.adapter), peft_name, backbone.adapters)
            backbone.adapters.add(peft_name)
        self._entries[name] = _Entry(key, peft_name, template, thinking)
        log.info("Adapter %s ready (%s).", name, spec.adapter)
        return name

    def _load(self, key: tuple, model: str, merged: list[str], quantization_bit: int | None) -> None:
        from core.models.loading import LoadOptions, load_model, load_tokenizer

        opts = LoadOptions(model, adapters=tuple(merged), dtype=self.dtype,
                           quantization_bit=quantization_bit)
        tokenizer = load_tokenizer(opts)
        weights = load_model(opts)
        if quantization_bit is None:
            import torch
            weights.to(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        weights.config.use_cache = True  # load_model turns it off for training
        weights.eval()
        self._backbones[key] = _Backbone(weights, tokenizer, set())

    def remove(self, name: str) -> None:
        """Forget an adapter or model side name (frees a second model nobody uses any more)."""
        entry = None if name == "base" else self._entries.pop(name, None)
        if entry is None:
            return
        with self._lock:
            backbone = self._backbones.get(entry.key)
            if entry.adapter and backbone and entry.adapter not in {
                    e.adapter for e in self._entries.values() if e.key == entry.key}:
                backbone.model.delete_adapter(entry.adapter)
                backbone.adapters.discard(entry.adapter)
            if entry.key != self._main and all(e.key != entry.key for e in self._entries.values()):
                self._backbones.pop(entry.key, None)
        gc.collect()

    # --- sides ---------------------------------------------------------------------------
    def set_side(self, side: str, spec: str) -> None:
        """Point a side at "base", an adapter name, a run/adapter folder (attached to the
        shared base) or another model's path (loaded once, only then)."""
        _check_side(side)
        if spec not in self._entries:
            self._resolve(spec)
        old, self.sides[side] = self.sides[side], spec
        if old != spec and old not in self.sides.values() and self._is_model_side(old):
            self.remove(old)

    def _resolve(self, spec: str) -> None:
        if spec == "base":
            raise UserError("no base model loaded: call load_base (or --model) first")
        side = side_of(spec)
        if side.kind == "adapter":
            self.add_adapter(spec, spec)
            return
        key = (canonical(side.base), ())
        if key not in self._backbones:
            self._load(key, side.base, [], None)
        self._entries[spec] = _Entry(key, None, side.template, side.thinking)

    def _is_model_side(self, name: str) -> bool:
        entry = self._entries.get(name)
        return entry is not None and entry.adapter is None and name != "base"

    def swap(self) -> None:
        self.sides["A"], self.sides["B"] = self.sides["B"], self.sides["A"]

    def label(self, side: str) -> str:
        return self.sides[side]

    def model_name(self, side: str) -> str:
        """What `side` runs, as votes name it: the base model (its folder's name for a local
        one), an adapter's name (a run's name), or another model's folder name or hub id."""
        _check_side(side)
        name = self.sides[side]
        entry = self._entries.get(name)
        if name == "base":
            return _short(self._main[0]) if self._main else name
        return name if entry is not None and entry.adapter else _short(name)

    @property
    def loaded(self) -> bool:
        return self._main is not None

    # --- generation ----------------------------------------------------------------------
    def stream(self, side: str, messages: list[dict], gen: GenConfig | None = None) -> Iterator[str]:
        """Yield the whole answer so far (not deltas) as tokens arrive, special tokens stripped.
        `messages` is the conversation up to the new user turn (no system: use gen.system)."""
        from transformers import TextIteratorStreamer

        _check_side(side)
        gen = gen or GenConfig()
        name = self.sides[side]
        entry = self._entries.get(name)
        if entry is None:
            raise UserError(f"side {side}: {name!r} is not loaded; known: {', '.join(self._entries)}")
        backbone = self._backbones[entry.key]
        template, ids = self._encode(backbone.tokenizer, entry, messages, gen)
        streamer = TextIteratorStreamer(backbone.tokenizer, skip_prompt=True,
                                        skip_special_tokens=True)
        stop, failure = threading.Event(), []
        self._running.add(stop)
        worker = threading.Thread(target=self._generate, daemon=True,
                                  args=(entry, template, ids, gen, streamer, stop, failure))
        worker.start()
        text = ""
        try:
            for delta in streamer:
                if delta:
                    text += delta
                    yield text
        finally:  # also when the caller drops the generator: stop the worker, free the lock
            stop.set()
            worker.join()
            self._running.discard(stop)
        if failure:
            raise failure[0]

    def _encode(self, tokenizer, entry: _Entry, messages: list[dict], gen: GenConfig):
        """(the side's template, the prompt's ids)."""
        from core.data.templates import get_template

        thinking = entry.enable_thinking if gen.enable_thinking is None else gen.enable_thinking
        template = get_template(entry.template, tokenizer, thinking)
        system = [{"role": "system", "content": gen.system}] if gen.system else []
        text = template.prompt_text(system + list(messages))
        return template, tokenizer(text, return_tensors="pt", add_special_tokens=False)

    def _generate(self, entry: _Entry, template, ids, gen: GenConfig, streamer, stop,
                  failure) -> None:
        import contextlib

        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool,
                                  device=input_ids.device)

        try:
            with self._lock:
                backbone = self._backbones.get(entry.key)
                if backbone is None:
                    raise UserError("the model was unloaded; load it again")
                if stop.is_set():
                    return
                model, tok = backbone.model, backbone.tokenizer
                context = contextlib.nullcontext()
                if entry.adapter is not None:
                    model.set_adapter(entry.adapter)
                elif backbone.adapters:
                    context = model.disable_adapter()
                if gen.seed is not None:
                    torch.manual_seed(gen.seed)  # seeds every CUDA device too
                with context, torch.inference_mode():
                    model.generate(**ids.to(model.device), **gen.generate_kwargs(),
                                   eos_token_id=template.stop_token_ids(model.generation_config),
                                   pad_token_id=tok.pad_token_id, streamer=streamer,
                                   stopping_criteria=StoppingCriteriaList([Stop()]))
        except Exception as e:  # re-raised in the caller's thread
            failure.append(e)
        finally:
            streamer.end()  # never leave the reader blocked (a second end is harmless)

    def generate(self, side: str, messages: list[dict], gen: GenConfig | None = None) -> str:
        """The whole answer at once."""
        text = ""
        for text in self.stream(side, messages, gen):
            pass
        return text

    def stop(self) -> None:
        """Interrupt the running generation (and any queued behind it) at the next token."""
        for event in list(self._running):
            event.set()

    def unload(self) -> None:
        """Drop every model and adapter and give the memory back (GPU cache too)."""
        self.stop()
        with self._lock:
            self._backbones.clear()
            self._entries.clear()
            self._main = None
            self.sides = {"A": "base", "B": "base"}
        gc.collect()
        import torch
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class ChatSession:
    """Multi-turn chat over both sides: history["A"], history["B"] are message lists (the
    format Gradio's Chatbot shows); the answer being streamed is updated in place."""

    def __init__(self, engine: ChatEngine, sides: tuple[str, ...] = SIDES):
        self.engine, self.sides = engine, tuple(sides)
        self.history: dict[str, list[dict]] = {s: [] for s in SIDES}

    def send(self, text: str, gen: GenConfig | None = None) -> Iterator[tuple[str, str]]:
        """Stream side A then side B; yields (side, whole answer so far), first (side, "")."""
        for side in self.sides:
            prompt = self.history[side] + [{"role": "user", "content": text}]
            answer = {"role": "assistant", "content": ""}
            self.history[side] = prompt + [answer]
            yield side, ""  # a side starts (its answer may stay empty)
            for answer["content"] in self.engine.stream(side, prompt, gen):
                yield side, answer["content"]

    def clear(self) -> None:
        self.history = {s: [] for s in SIDES}

    def swap(self) -> None:
        self.engine.swap()
        self.history["A"], self.history["B"] = self.history["B"], self.history["A"]


def _attach(model, path: str, name: str, existing: set[str]):
    from peft import PeftModel

    if not existing and not isinstance(model, PeftModel):
        return PeftModel.from_pretrained(model, path, adapter_name=name)
    model.load_adapter(path, adapter_name=name)
    return model


def _short(model: str) -> str:
    path = Path(model)
    return path.name if path.is_absolute() or path.exists() else model


def _check_side(side: str) -> None:
    if side not in SIDES:
        raise UserError(f"side must be A or B, not {side!r}")
