"""Tokenizer and model loading: dtype, quantization, LoRA/full/freeze, start adapters.

    tokenizer = load_tokenizer(cfg)
    model = load_policy(cfg, tokenizer)       # trainable, start adapters applied

`model_name_or_path` is a hub id (read from the local Hugging Face cache when offline), a local
folder, or `demo`. Start adapters (`adapter_name_or_path`): all but the last are merged into
the base weights, the last one is trained further (LoRA) so the final adapter still loads on
the plain base; with full/freeze all are merged. Machine checks (CUDA for 4/8-bit, bf16
support) run before any weight is loaded.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from .config import RunConfig
from .demo import resolve_model_path
from .errors import UserError

log = logging.getLogger(__name__)
ATTENTION = {"auto": None, "disabled": "eager", "sdpa": "sdpa", "fa2": "flash_attention_2"}


def compute_dtype(cfg: RunConfig) -> torch.dtype:
    """The dtype asked for, or fp32 with a warning where the machine cannot do it."""
    if cfg.bf16:
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        log.warning("bf16: true but this machine has no bf16-capable GPU; training in fp32 "
                    "instead (set bf16: false to silence this).")
    if cfg.fp16:
        if torch.cuda.is_available():
            return torch.float16
        log.warning("fp16: true needs a CUDA GPU; training in fp32 instead (set fp16: false).")
    return torch.float32


def check_machine(cfg: RunConfig) -> None:
    """Fail before loading anything when the config needs hardware or packages we lack."""
    bits = {"quantization_bit": cfg.quantization_bit,
            "ref_model_quantization_bit": cfg.ref_model_quantization_bit}
    for key, value in bits.items():
        if value is not None:
            _require_bitsandbytes(f"{key}: {value}")
    if cfg.optim.startswith("paged_"):
        _require_bitsandbytes(f"optim: {cfg.optim}")
    if cfg.flash_attn == "fa2":
        import importlib.util
        if not torch.cuda.is_available() or importlib.util.find_spec("flash_attn") is None:
            raise UserError("flash_attn: fa2 needs a CUDA GPU and the flash-attn package; use "
                            "flash_attn: auto")


def _require_bitsandbytes(what: str) -> None:
    if not torch.cuda.is_available():
        raise UserError(f"{what} needs a CUDA GPU with bitsandbytes, and this machine has no "
                        "CUDA device. Remove the key (train in 16/32 bits with LoRA) or run on "
                        "a GPU machine.")
    try:
        import bitsandbytes  # noqa: F401
    except Exception as e:  # broken installs raise more than ImportError
        raise UserError(f"{what} needs bitsandbytes, which failed to import ({e}); "
                        "pip install bitsandbytes") from e


def model_path(name: str) -> str:
    return resolve_model_path(name)


def load_tokenizer(cfg: RunConfig, path: str | None = None):
    from transformers import AutoTokenizer

    source = model_path(path or cfg.model_name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError) as e:
        raise UserError(_load_hint("model_name_or_path", source, e)) from e
    if tok.pad_token is None:  # Qwen ships one; other tokenizers may not
        tok.pad_token = tok.eos_token
    return tok


def _load_hint(key: str, source: str, error: Exception) -> str:
    if Path(source).exists():
        return f"{key}: cannot load {source}: {error}"
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    return (f"{key}: {source!r} is not a local folder and could not be loaded from the Hugging "
            f"Face hub{' (HF_HUB_OFFLINE=1)' if offline else ''}. Download it where the hub is "
            f"reachable (`hf download {source}`) and copy the cache, or give a local folder.")


def load_base(cfg: RunConfig, path: str, quantization_bit: int | None = None):
    """A causal LM in the run's dtype, optionally quantized, on the GPU when there is one."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    source = model_path(path)
    dtype = compute_dtype(cfg)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": cfg.trust_remote_code}
    if ATTENTION[cfg.flash_attn]:
        kwargs["attn_implementation"] = ATTENTION[cfg.flash_attn]
    if quantization_bit is not None:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=quantization_bit == 4, load_in_8bit=quantization_bit == 8,
            bnb_4bit_quant_type=cfg.quantization_type,
            bnb_4bit_use_double_quant=cfg.double_quantization,
            bnb_4bit_compute_dtype=dtype if dtype != torch.float32 else torch.float16)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as e:
        raise UserError(_load_hint("model_name_or_path", source, e)) from e
    model.config.use_cache = False
    return model


def merge_adapters(model, adapters: list[str], key: str = "adapter_name_or_path"):
    """Load each adapter and fold it into the weights (base + A1 + A2 ...)."""
    from peft import PeftModel

    for path in adapters:
        _require_adapter(path, key)
        model = PeftModel.from_pretrained(model, path).merge_and_unload()
        log.info("Merged adapter %s into the base weights.", path)
    return model


def _require_adapter(path: str, key: str) -> None:
    if not (Path(path) / "adapter_config.json").is_file():
        raise UserError(f"{key}: {path} is not a PEFT adapter folder (no adapter_config.json); "
                        "give a run's folder or one of its checkpoint-N folders")


def lora_config(cfg: RunConfig):
    from peft import LoraConfig

    target = "all-linear" if cfg.lora_target.strip() == "all" else [
        t.strip() for t in cfg.lora_target.split(",") if t.strip()]
    return LoraConfig(
        task_type="CAUSAL_LM", r=cfg.lora_rank, lora_alpha=cfg.lora_alpha or 2 * cfg.lora_rank,
        lora_dropout=cfg.lora_dropout, target_modules=target, use_rslora=cfg.use_rslora,
        use_dora=cfg.use_dora, init_lora_weights="pissa_niter_16" if cfg.pissa_init else True)


def load_policy(cfg: RunConfig, tokenizer=None):
    """The model to train. LoRA models are PeftModels whose trainable adapter is 'default';
    when the run continues a start adapter, a frozen copy of it is loaded as 'ref'."""
    check_machine(cfg)
    torch.manual_seed(cfg.seed)
    model = load_base(cfg, cfg.model_name_or_path, cfg.quantization_bit)
    adapters = cfg.adapters
    if cfg.quantization_bit is not None and len(adapters) > 1:
        raise UserError("adapter_name_or_path: several adapters cannot be merged into a "
                        "quantized model; merge them first (`python -m core export`) or give one")
    if cfg.finetuning_type != "lora":
        model = merge_adapters(model, adapters)
        if cfg.finetuning_type == "freeze":
            _freeze(model, cfg.freeze_trainable_layers)
        return _enable_checkpointing(model, cfg)
    if cfg.quantization_bit is not None:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    model = merge_adapters(model, adapters[:-1])
    if adapters:
        model = _continue_adapter(model, adapters[-1], cfg)
    else:
        from peft import get_peft_model
        model = get_peft_model(model, lora_config(cfg))
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    return _enable_checkpointing(model, cfg)


def _continue_adapter(model, path: str, cfg: RunConfig):
    from peft import PeftModel

    _require_adapter(path, "adapter_name_or_path")
    model = PeftModel.from_pretrained(model, path, is_trainable=True)
    if cfg.uses_reference and not cfg.ref_model:
        # The reference is base + this adapter as it was before training.
        model.load_adapter(path, adapter_name="ref", is_trainable=False)
        model.set_adapter("default")
    log.info("Continuing to train adapter %s (its rank and targets are kept).", path)
    return model


def _freeze(model, layers: int) -> None:
    blocks = model.get_decoder().layers
    chosen = blocks[-layers:] if layers > 0 else blocks[:-layers]
    for p in model.parameters():
        p.requires_grad_(False)
    for block in chosen:
        for p in block.parameters():
            p.requires_grad_(True)
    log.info("freeze: training %d of %d decoder layers.", len(chosen), len(blocks))


def _enable_checkpointing(model, cfg: RunConfig):
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def load_reference_model(cfg: RunConfig):
    """The separate reference model named by ref_model (+ adapters, + quantization), frozen."""
    model = load_base(cfg, cfg.ref_model, cfg.ref_model_quantization_bit)
    if cfg.ref_model_adapters:
        from .config import split_list
        model = merge_adapters(model, split_list(cfg.ref_model_adapters), "ref_model_adapters")
    model.eval().requires_grad_(False)
    return model


def count_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
