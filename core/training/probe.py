"""The time probe: two real optimizer steps of a dpo run, timed, and what they kept in memory.

    result = probe(cfg, tokenizer, data)    # result.per_step, result.eta_s, result.measured

It loads the policy as training does (core.models.policy.load_policy), computes the reference
log-probs of one optimizer step's pairs (the first per_device_train_batch_size x
gradient_accumulation_steps training pairs, the real first batch), and trains two steps on
them with the run's own trainer (PairwiseTrainer) and batch layout (pairwise.pair_batcher:
prefix sharing, packing, the chunked head) in a temporary folder: nothing is written to
the run folder or the reference cache. The second step is the one timed for the ETA (the first
also allocates the optimizer's state). Then it measures, without timing: the bytes of the
weights, gradients and optimizer state after an optimizer step, the bytes autograd keeps for
the backward pass of the longest batch, and the peak GPU memory (CUDA) or the process's peak
resident memory (CPU), to set beside core.training.memory's estimate.
"""
from __future__ import annotations

import logging
import math
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Any

from transformers import TrainerCallback

from core.config import RunConfig

log = logging.getLogger(__name__)


@dataclass
class Probe:
    step_seconds: list[float]  # both steps, the first with its warm-up
    total_steps: int
    reference_s: float | None  # the run's reference pass (None: no reference or cached)
    measured: dict[str, int] = field(default_factory=dict)  # bytes

    @property
    def per_step(self) -> float:
        return self.step_seconds[-1]

    @property
    def eta_s(self) -> float:
        """The run's training time at the probe's pace, its reference pass included."""
        return self.per_step * self.total_steps + (self.reference_s or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "per_step": self.per_step, "eta_s": self.eta_s}


def total_steps(cfg: RunConfig, pairs: int) -> int:
    """Optimizer steps of the run, counted as transformers.Trainer counts them."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    batches = math.ceil(pairs / cfg.per_device_train_batch_size)
    ga = cfg.gradient_accumulation_steps
    per_epoch = max(batches // ga + int(batches % ga > 0), 1)
    return math.ceil(cfg.num_train_epochs * per_epoch)


def probe(cfg: RunConfig, tokenizer: Any, data: Any) -> Probe:
    """Two timed training steps of `cfg` on its first batch (see the module docstring)."""
    import torch

    from core.methods.common import ListDataset, quiet, training_arguments
    from core.methods.pairwise import PairwiseTrainer, pair_batcher
    from core.models.policy import load_policy

    from .memory_layout import longest_pairs

    train = data.train_features
    features = [dict(f) for f in train[:cfg.per_device_train_batch_size *
                                        cfg.gradient_accumulation_steps]]
    model = load_policy(cfg, tokenizer)
    collate = pair_batcher(cfg, model, tokenizer.pad_token_id)  # the run's own layout
    timer = StepTimer()
    with tempfile.TemporaryDirectory(prefix="prefstudio-probe-") as tmp:
        args = training_arguments(cfg, SimpleNamespace(path=tmp), has_eval=False, max_steps=2,
                                  save_strategy="no", logging_strategy="no", report_to=[])
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        reference_s = _reference(cfg, model, features, train, collate, args.device)
        trainer = PairwiseTrainer(model=model, args=args, train_dataset=ListDataset(features),
                                  data_collator=collate, processing_class=tokenizer,
                                  callbacks=[timer], run=cfg)
        quiet(trainer)
        trainer.train()
    longest = longest_pairs(train, cfg.per_device_train_batch_size)  # memory's longest batch
    measured = {"state": timer.state_bytes,
                "activations": saved_bytes(model, collate(longest), args.device)}
    if torch.cuda.is_available():
        measured["cuda_peak"] = int(torch.cuda.max_memory_allocated())
    else:  # ru_maxrss: KiB on Linux, bytes on macOS
        scale = 1 if sys.platform == "darwin" else 1024
        measured["rss_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return Probe(timer.seconds, total_steps(cfg, len(train)), reference_s, measured)


def _reference(cfg: RunConfig, model: Any, features: list[dict], train: list[dict],
               collate: Any, device: Any) -> float | None:
    """Reference log-probs for the probe's pairs (never cached); returns the time the run's
    reference pass would take, None when the loss has no reference or the cache holds it."""
    from core.methods.losses import LOSSES
    from core.methods.reference import build_reference, precompute

    if not LOSSES[cfg.pref_loss].reference:
        return None
    reference, ident = build_reference(cfg, model)
    for m in (model, reference.model):
        if m is not None and not getattr(m, "is_loaded_in_4bit", False) \
                and not getattr(m, "is_loaded_in_8bit", False):
            m.to(device)
    dtype = next(model.parameters()).dtype
    start = time.perf_counter()
    precompute(reference, features, collate, cfg.per_device_eval_batch_size, device,
               cfg.ld_alpha, ident, dtype, use_cache=False)
    per_pair = (time.perf_counter() - start) / len(features)
    del reference
    return per_pair * missing if (missing := _uncached(cfg, collate, ident, train, dtype)) else None


def _uncached(cfg: RunConfig, collate: Any, ident: str, train: list[dict], dtype: Any) -> int:
    """How many of the pairs the run will reach (max_steps) its reference pass computes: those
    the cache lacks under the run's own key (its batch layout included)."""
    from core.methods.common import training_arguments
    from core.methods.pairwise import planned_pairs
    from core.methods.reference import missing_pairs

    layout = collate.describe()
    with tempfile.TemporaryDirectory(prefix="prefstudio-probe-") as tmp:
        args = training_arguments(cfg, SimpleNamespace(path=tmp), has_eval=False)
    needed = planned_pairs(args, cfg, train)
    reached = train if needed is None else [train[i] for i in needed]
    return missing_pairs(f"{ident}|{layout}", reached, cfg.ld_alpha, dtype)


def saved_bytes(model: Any, batch: dict, device: Any) -> int:
    """Bytes autograd keeps for the backward pass of `batch` (a PairBatcher or PairCollator
    batch; parameters excluded: they are weights), measured with saved-tensor hooks on one
    forward pass of the trainer's log-probs (logps.pair_logps); no backward, no step."""
    import torch

    from core.methods.logps import pair_logps

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            kept[storage.data_ptr()] = storage.nbytes()
        return t

    model.train()
    moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        sums = pair_logps(model, moved)
    del sums
    return sum(kept.values())


class StepTimer(TrainerCallback):
    """A Trainer callback: seconds per optimizer step, and the bytes of weights, gradients and
    optimizer state right after an optimizer step (before the gradients are cleared)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.state_bytes = 0
        self._start = 0.0

    def _sync(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kw) -> None:
        self._sync()
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kw) -> None:
        self._sync()
        self.seconds.append(time.perf_counter() - self._start)

    def on_optimizer_step(self, args, state, control, model=None, optimizer=None, **kw) -> None:
        self.state_bytes = max(self.state_bytes, state_bytes(model, optimizer))


def state_bytes(model: Any, optimizer: Any) -> int:
    """Bytes of every parameter, gradient and optimizer state tensor (shared storage once)."""
    import torch

    seen: dict[int, int] = {}

    def add(t: Any) -> None:
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()

    for p in model.parameters():
        add(p)
        add(p.grad)
    for per_param in getattr(optimizer, "state", {}).values():
        for value in per_param.values():
            add(value)
    return sum(seen.values())
