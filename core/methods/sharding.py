"""What a run needs to train as one of several processes (torchrun, core/training/launch.py):
which process this is, the DeepSpeed and FSDP settings the Trainer gets, and agreement between
the processes (a stop decision, metrics averaged over every rank).

    rank(), world_size(), is_main()         # from torchrun's environment; 0, 1, True alone
    deepspeed_settings(cfg, rd.path)        # a preset's dict (also <run>/deepspeed.json), or the file
    fsdp_settings(cfg)                      # transformers' fsdp_config for the model's layers
    any_rank(flag, device)                  # True on every rank when one rank says True
    mean_over_ranks({"k": 0.5}, device)     # each value averaged over the ranks
    zero3_engine(reference_model, args)     # a separate reference's own ZeRO-3 engine

The presets follow DeepSpeed's documented ZeRO settings with "auto" wherever the Trainer knows
the value (batch sizes, clipping, precision), as LLaMA-Factory's examples/deepspeed do.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from core.config import RunConfig
from core.errors import UserError
from core.paths import write_atomic

log = logging.getLogger(__name__)

_COMMON = {
    "train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
    "gradient_accumulation_steps": "auto", "gradient_clipping": "auto",
    "zero_allow_untested_optimizer": True,
    "fp16": {"enabled": "auto", "loss_scale": 0, "loss_scale_window": 1000,
             "initial_scale_power": 16, "hysteresis": 2, "min_loss_scale": 1},
    "bf16": {"enabled": "auto"},
}
_ZERO_12 = {"allgather_partitions": True, "allgather_bucket_size": 5e8, "overlap_comm": False,
            "reduce_scatter": True, "reduce_bucket_size": 5e8, "contiguous_gradients": True,
            "round_robin_gradients": True}
_ZERO_3 = {"overlap_comm": False, "contiguous_gradients": True, "sub_group_size": 1e9,
           "reduce_bucket_size": "auto", "stage3_prefetch_bucket_size": "auto",
           "stage3_param_persistence_threshold": "auto", "stage3_max_live_parameters": 1e9,
           "stage3_max_reuse_distance": 1e9,
           # the final save writes whole 16-bit weights, which plain transformers/peft load
           "stage3_gather_16bit_weights_on_model_save": True}
_OFFLOAD = {"device": "cpu", "pin_memory": True}


def deepspeed_preset(name: str) -> dict[str, Any]:
    """The DeepSpeed config of a preset: z0, z2, z2_offload, z3, z3_offload."""
    stage = int(name[1])
    zero = {"stage": stage, **(_ZERO_3 if stage == 3 else _ZERO_12)}
    if name.endswith("_offload"):
        zero["offload_optimizer"] = dict(_OFFLOAD)
        if stage == 3:
            zero["offload_param"] = dict(_OFFLOAD)
    return {**json.loads(json.dumps(_COMMON)), "zero_optimization": zero}


def deepspeed_settings(cfg: RunConfig, run_path: str | os.PathLike) -> dict | str | None:
    """What TrainingArguments.deepspeed gets: a preset's config (rank 0 also writes it into the
    run folder as deepspeed.json, so the run records what it trained with), or the file's path."""
    from core.config.choices import DEEPSPEED_PRESETS

    if not cfg.deepspeed:
        return None
    if cfg.deepspeed not in DEEPSPEED_PRESETS:
        return str(Path(cfg.deepspeed).resolve())
    config = deepspeed_preset(cfg.deepspeed)
    if is_main():
        write_atomic(Path(run_path) / "deepspeed.json", json.dumps(config, indent=1))
    return config


def decoder_layers(model_name_or_path: str) -> list[str]:
    """The class names FSDP wraps one by one: the model's decoder layer (Qwen2DecoderLayer,
    Qwen3DecoderLayer, ...), from its own _no_split_modules."""
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from core.models.loading import resolve_model_path

    config = AutoConfig.from_pretrained(resolve_model_path(model_name_or_path))
    name = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(config.model_type)
    cls = getattr(transformers, name, None) if name else None
    return list(getattr(cls, "_no_split_modules", None) or [])


def fsdp_settings(cfg: RunConfig) -> dict[str, Any] | None:
    """transformers' fsdp_config (TrainingArguments gets fsdp=True with it): FSDP2 unless
    fsdp_config says version 1, the words of `fsdp` as the settings they stand for (full_shard:
    reshard after forward, shard_grad_op: keep, offload: CPU offload), the decoder layer
    wrapped with auto_wrap, then the user's fsdp_config (JSON or a file) on top."""
    if not cfg.fsdp:
        return None
    given: dict[str, Any] = {}
    if cfg.fsdp_config:
        text = cfg.fsdp_config
        if text.endswith(".json"):
            text = Path(text).read_text(encoding="utf-8")
        given = {k.removeprefix("fsdp_"): v for k, v in json.loads(text).items()}
    version = int(given.get("version", 2))
    out: dict[str, Any] = {"version": version}
    for word in cfg.fsdp.split():
        if word in ("full_shard", "shard_grad_op") and version == 2:
            out["reshard_after_forward"] = word == "full_shard"
        elif word in ("full_shard", "shard_grad_op", "no_shard", "hybrid_shard",
                      "hybrid_shard_zero2"):
            if version == 2:
                raise UserError(f"fsdp: {word} needs FSDP1; use full_shard or shard_grad_op, or "
                                'set fsdp_config {"version": 1}')
            out["reshard_after_forward"] = word
        elif word == "offload":
            out["cpu_offload"] = True
        elif word == "auto_wrap":
            layers = decoder_layers(cfg.model_name_or_path)
            if layers:
                out["transformer_layer_cls_to_wrap"] = layers
    return out | given


def zero3_engine(model, args) -> Any:
    """A separate reference model under ZeRO-3: loaded while the Trainer's DeepSpeed config is
    live, its weights are sharded over the ranks, and only a DeepSpeed engine gathers them for
    a forward. It gets an engine of its own (no optimizer), with the run's ZeRO-3 settings."""
    import copy

    import deepspeed

    config = copy.deepcopy(args.hf_deepspeed_config.config)  # "auto" already filled in
    for key in ("optimizer", "scheduler"):
        config.pop(key, None)
    engine, *_ = deepspeed.initialize(model=model, config=config)
    engine.eval()
    return engine


def is_sharded(model) -> bool:
    """Whether DeepSpeed ZeRO-3 holds the model's weights in shards."""
    return model is not None and any(hasattr(p, "ds_id") for p in model.parameters())


# --- which process this is ---------------------------------------------------------------------
def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Rank 0: the one process that writes the run folder (status, metrics, config)."""
    return rank() == 0


def _distributed() -> bool:
    return (world_size() > 1 and torch.distributed.is_available()
            and torch.distributed.is_initialized())


def any_rank(flag: bool, device: torch.device | str = "cpu") -> bool:
    """Whether any rank says True; every rank must call it at the same point (a step end), so
    they all stop at the same step instead of waiting on each other forever."""
    if not _distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


def sum_over_ranks(value: float, device: torch.device | str = "cpu") -> float:
    """A count summed over the ranks (tokens trained)."""
    if not _distributed():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return float(t.item())


def barrier() -> None:
    """Wait for every rank (a no-op alone)."""
    if _distributed():
        torch.distributed.barrier()


def mean_over_ranks(values: dict[str, float], device: torch.device | str = "cpu") -> dict[str, float]:
    """Each value averaged over the ranks (each rank saw as many pairs); keys in sorted order
    so every rank reduces the same vector."""
    if not _distributed() or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    t /= world_size()
    return dict(zip(keys, t.tolist()))
