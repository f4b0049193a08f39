"""Tokenizer and model loading: dtype, quantization, LoRA/full/freeze, start adapters.

    tokenizer = load_tokenizer(cfg)
    model = load_policy(cfg, tokenizer)       # trainable, start adapters applied

`model_name_or_path` is a hub id (read from the local Hugging Face cache when offline), a local
folder, or `demo`. Start adapters (`adapter_name_or_path`): all but the last are merged into
the base weights, the last one is trained further (LoRA) so the final adapter still loads on
the plain base; with full/freeze (and for a reward model) all are merged. Machine checks
(CUDA and bitsandbytes kernels for 4/8-bit and paged optimizers, report_to packages) run
before any weight is loaded. `head="reward"` loads a sequence-classification model with one
output (stage rm); QLoRA is 4/8-bit weights from bitsandbytes with LoRA on top.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from core.config import DEMO_MODEL, RunConfig
from core.errors import UserError

log = logging.getLogger(__name__)
ATTENTION = {"auto": None, "disabled": "eager", "sdpa": "sdpa", "fa2": "flash_attention_2"}


def resolve_model_path(name: str) -> str:
    """'demo' -> the bundled demo model's folder; anything else (hub id, folder) unchanged."""
    if name != DEMO_MODEL:
        return name
    from .demo import demo_model_path

    return str(demo_model_path())


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
    _require_reporter(cfg.report_to)
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
        from bitsandbytes import cextension
    except Exception as e:  # broken installs raise more than ImportError
        raise UserError(f"{what} needs bitsandbytes, which failed to import ({e}); "
                        "pip install bitsandbytes") from e
    # Without a native library for this CUDA version bitsandbytes imports fine and fails at
    # the first quantized matmul; its stand-in library class says so up front.
    if type(cextension.lib).__name__ == "ErrorHandlerMockBNBNativeLibrary":
        raise UserError(f"{what}: bitsandbytes found no CUDA kernels for this machine (torch "
                        f"CUDA {torch.version.cuda}); install a bitsandbytes build for it "
                        "(`python -m bitsandbytes` shows the details) or remove the key.")


def _require_reporter(report_to: str) -> None:
    import importlib.util

    packages = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",)}
    needs = packages.get(report_to, ())
    if needs and not any(importlib.util.find_spec(name) for name in needs):
        raise UserError(f"report_to: {report_to} needs the {needs[0]} package: pip install "
                        f"{needs[0]} (or set report_to: none; metrics.jsonl is always written)")


def load_tokenizer(cfg: RunConfig, path: str | None = None):
    from transformers import AutoTokenizer

    source = resolve_model_path(path or cfg.model_name_or_path)
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


def load_base(cfg: RunConfig, path: str, quantization_bit: int | None = None,
              head: str = "causal"):
    """A causal LM (head "causal") or a one-score sequence classifier (head "reward") in the
    run's dtype, optionally quantized, on the GPU when there is one."""
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        BitsAndBytesConfig,
    )

    source = resolve_model_path(path)
    dtype = compute_dtype(cfg)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": cfg.trust_remote_code}
    if ATTENTION[cfg.flash_attn]:
        kwargs["attn_implementation"] = ATTENTION[cfg.flash_attn]
    if quantization_bit is not None:
        # QLoRA: nf4/fp4 (+ double quantization) storage, matmuls in the run's compute dtype.
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=quantization_bit == 4, load_in_8bit=quantization_bit == 8,
            bnb_4bit_quant_type=cfg.quantization_type,
            bnb_4bit_use_double_quant=cfg.double_quantization, bnb_4bit_compute_dtype=dtype)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    auto = AutoModelForCausalLM
    if head == "reward":
        auto, kwargs["num_labels"] = AutoModelForSequenceClassification, 1
    try:
        model = auto.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as e:
        raise UserError(_load_hint("model_name_or_path", source, e)) from e
    model.config.use_cache = False
    return model


def merge_adapters(model, adapters: list[str], key: str = "adapter_name_or_path"):
    """Load each adapter and fold it into the weights (base + A1 + A2 ...)."""
    from peft import PeftConfig, PeftModel

    for path in adapters:
        _require_adapter(path, key)
        config = PeftConfig.from_pretrained(path)
        # No task wrapper: a CAUSAL_LM adapter (e.g. from SFT) also merges into a reward model.
        config.task_type = None
        model = PeftModel.from_pretrained(model, path, config=config).merge_and_unload()
        log.info("Merged adapter %s into the base weights.", path)
    return model


def _require_adapter(path: str, key: str) -> None:
    if not (Path(path) / "adapter_config.json").is_file():
        raise UserError(f"{key}: {path} is not a PEFT adapter folder (no adapter_config.json); "
                        "give a run's folder or one of its checkpoint-N folders")


def lora_config(cfg: RunConfig, task_type: str = "CAUSAL_LM"):
    """LoRA settings of the run. SEQ_CLS (reward models) also trains and saves the score head."""
    from peft import LoraConfig

    target = "all-linear" if cfg.lora_target.strip() == "all" else [
        t.strip() for t in cfg.lora_target.split(",") if t.strip()]
    return LoraConfig(
        task_type=task_type, r=cfg.lora_rank, lora_alpha=cfg.lora_alpha or 2 * cfg.lora_rank,
        lora_dropout=cfg.lora_dropout, target_modules=target, use_rslora=cfg.use_rslora,
        use_dora=cfg.use_dora, init_lora_weights="pissa_niter_16" if cfg.pissa_init else True)


def load_policy(cfg: RunConfig, tokenizer=None, head: str = "causal"):
    """The model to train. LoRA models are PeftModels whose trainable adapter is 'default';
    when the run continues a start adapter, a frozen copy of it is loaded as 'ref'. A reward
    model (head "reward") starts from base + every start adapter merged, with a new score head."""
    check_machine(cfg)
    torch.manual_seed(cfg.seed)
    model = load_base(cfg, cfg.model_name_or_path, cfg.quantization_bit, head)
    adapters = cfg.adapters
    merged = adapters if head == "reward" else adapters[:-1]
    if cfg.quantization_bit is not None and merged:
        raise UserError("adapter_name_or_path: adapters cannot be merged into a quantized model "
                        "(a reward model merges every start adapter, other stages all but the "
                        "last); merge them first with `python -m core export`")
    if cfg.finetuning_type != "lora":
        model = merge_adapters(model, adapters)
        if cfg.finetuning_type == "freeze":
            _freeze(model, cfg.freeze_trainable_layers)
            if head == "reward":
                model.score.requires_grad_(True)  # a new head must learn
        return _enable_checkpointing(model, cfg)
    if cfg.quantization_bit is not None:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    model = merge_adapters(model, merged)
    if adapters and head != "reward":
        model = _continue_adapter(model, adapters[-1], cfg)
    else:
        from peft import get_peft_model
        task = "SEQ_CLS" if head == "reward" else "CAUSAL_LM"
        model = get_peft_model(model, lora_config(cfg, task))
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
        model.activation_checkpointing_enable(
            activation_checkpointing_kwargs={"use_reentrant": False})
    return model


def load_reference_model(cfg: RunConfig):
    """The separate reference model named by ref_model (+ adapters, + quantization), frozen."""
    model = load_base(cfg, cfg.ref_model, cfg.ref_model_quantization_bit)
    if cfg.ref_model_adapters:
        from core.config import split_list
        model = merge_adapters(model, split_list(cfg.ref_model_adapters), "ref_model_adapters")
    model.eval().requires_grad_(False)
    return model


def count_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
