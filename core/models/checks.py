"""What a run asks of its model, checked before any weight is read: the tokenizer can pad a
batch, every lora_target names a layer LoRA can wrap, freeze_trainable_layers fits the
model's decoder layers. The preflight (`python -m core train --check`, the WebUI's Preview)
and the training flow (core/training/run.py, before load_policy) ask the same function:

    found = model_problems(cfg, tokenizer)     # [(key, message), ...], empty when it fits

The module names come from the model's skeleton: its config.json built into modules on the
meta device, which allocates no memory and reads no weight file.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import RunConfig, split_list
from core.errors import UserError, shown

from .loading import LoadOptions, load_hint, resolve_model_path

log = logging.getLogger(__name__)
LISTED = 12  # module names offered in a message


@dataclass(frozen=True)
class Layout:
    """The part of a model's module tree the checks read."""

    model: str  # as the config names it
    wrappable: tuple[str, ...]  # full names of the modules LoRA can wrap (linear, embedding)
    others: tuple[str, ...]  # full names of every other module (blocks, norms, ...)
    layers: int | None  # decoder layers, as finetuning_type freeze counts them


def model_problems(cfg: RunConfig, tokenizer: Any) -> list[tuple[str, str]]:
    """Every way the tokenizer and the model's layout do not fit the run, as (key, message).
    A model whose config cannot be read is a UserError (training would fail the same way)."""
    found = tokenizer_problems(tokenizer, cfg.model_name_or_path)
    if not _needs_layout(cfg):
        return found
    layout = model_layout(LoadOptions.of_run(cfg), head_of(cfg))
    if layout is None:
        return found
    return found + lora_target_problems(cfg, layout) + freeze_problems(cfg, layout)


def check_model(cfg: RunConfig, tokenizer: Any) -> None:
    """model_problems as one UserError, for the training flow."""
    from core.config import ConfigError

    found = model_problems(cfg, tokenizer)
    if found:
        raise ConfigError([message for _, message in found])


def head_of(cfg: RunConfig) -> str:
    """The head the stage trains: a one-score classifier for rm, the LM head otherwise."""
    return "reward" if cfg.stage == "rm" else "causal"


def tokenizer_problems(tokenizer: Any, model: str) -> list[tuple[str, str]]:
    """load_tokenizer pads with the eos when a tokenizer has no pad token; one with neither
    cannot pad a batch or end an answer."""
    if getattr(tokenizer, "pad_token", None) is not None:
        return []
    return [("model_name_or_path", f"model_name_or_path: the tokenizer of {shown(model)} has "
             "neither a pad token nor an eos token, which training needs to pad batches and end "
             "answers; set \"eos_token\" (and \"pad_token\") in its tokenizer_config.json, e.g. "
             "<|im_end|> and <|endoftext|> for Qwen, or use a model whose tokenizer has them")]


def _needs_layout(cfg: RunConfig) -> bool:
    if cfg.finetuning_type == "freeze":
        return True
    continues = bool(cfg.adapters) and head_of(cfg) != "reward"  # keeps its own targets
    return cfg.finetuning_type == "lora" and cfg.lora_target.strip() != "all" and not continues


def lora_target_problems(cfg: RunConfig, layout: Layout) -> list[tuple[str, str]]:
    """Each lora_target must name modules LoRA can wrap, matched as PEFT matches them (the
    full name or its last parts: q_proj matches model.layers.0.self_attn.q_proj)."""
    if cfg.finetuning_type != "lora" or not _needs_layout(cfg):
        return []
    missing, blocks = [], []
    for target in split_list(cfg.lora_target):
        if any(_matches(name, target) for name in layout.wrappable):
            continue
        if any(_matches(name, target) for name in layout.others):
            blocks.append(target)  # PEFT: "Target module Qwen2MLP() is not supported"
        else:
            missing.append(target)
    if not missing and not blocks:
        return []
    leaves = sorted({name.rsplit(".", 1)[-1] for name in layout.wrappable})
    offer = ", ".join(leaves[:LISTED]) + (", ..." if len(leaves) > LISTED else "")
    parts = []
    if missing:
        parts.append(f"{', '.join(map(shown, missing))} names no module of {layout.model}")
    if blocks:
        parts.append(f"{', '.join(map(shown, blocks))} names blocks, not layers LoRA can wrap")
    return [("lora_target", f"lora_target: {'; '.join(parts)}; use all, or some of: {offer}")]


def freeze_problems(cfg: RunConfig, layout: Layout) -> list[tuple[str, str]]:
    """freeze_trainable_layers N trains the last N layers (-N: the first N); past the model's
    layer count it would silently train them all."""
    n = cfg.freeze_trainable_layers
    if cfg.finetuning_type != "freeze" or layout.layers is None or abs(n) <= layout.layers:
        return []
    k = layout.layers
    return [("freeze_trainable_layers", f"freeze_trainable_layers: {n} but {layout.model} has "
             f"{k} decoder layers; give 1 to {k} (the last N) or -1 to -{k} (the first N)")]


def _matches(name: str, target: str) -> bool:
    return name == target or name.endswith(f".{target}")


def model_layout(opts: LoadOptions, head: str = "causal") -> Layout | None:
    """The module names of `opts.model` with `head`, from its config alone; None (logged)
    when the skeleton cannot be built here, so a model the checks do not know still trains."""
    source = resolve_model_path(opts.model)
    config_file = Path(source) / "config.json"
    stamp = config_file.stat().st_mtime_ns if config_file.is_file() else None
    layout = _layout(source, head, opts.trust_remote_code, opts.key, stamp)
    return layout and dataclasses.replace(layout, model=opts.model)


@functools.lru_cache(maxsize=8)
def _layout(source: str, head: str, trust_remote_code: bool, key: str,
            stamp: int | None) -> Layout | None:
    """Cached per model folder and config.json version (`stamp`): the WebUI's Preview asks on
    every click."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise UserError(load_hint(key, source, e)) from e
    try:
        model = _skeleton(config, head, trust_remote_code)
    except Exception as e:  # noqa: BLE001 - an architecture we cannot build bare: skip the checks
        log.warning("Cannot list the modules of %s without its weights (%s: %s); lora_target "
                    "and freeze_trainable_layers are checked when it loads.", source,
                    type(e).__name__, e)
        return None
    return _summary(model, source)


def _skeleton(config: Any, head: str, trust_remote_code: bool) -> Any:
    """The model's modules on the meta device: shapes without memory, no weights read."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto = AutoModelForSequenceClassification if head == "reward" else AutoModelForCausalLM
    if head == "reward":
        config.num_labels = 1
    with torch.device("meta"):
        return auto.from_config(config, trust_remote_code=trust_remote_code)


def _summary(model: Any, source: str) -> Layout:
    import torch

    wrappable_types = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d,
                       torch.nn.Conv3d)
    try:
        from transformers.pytorch_utils import Conv1D
        wrappable_types += (Conv1D,)
    except ImportError:
        pass
    wrappable, others = [], []
    for name, module in model.named_modules():
        if name:
            (wrappable if isinstance(module, wrappable_types) else others).append(name)
    try:
        layers = len(model.get_decoder().layers)
    except (AttributeError, TypeError):
        layers = None
    return Layout(source, tuple(wrappable), tuple(others), layers)
