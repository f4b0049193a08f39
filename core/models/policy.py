"""The model a run trains: LoRA, full or freeze on the base, start adapters, QLoRA, and the
separate reference model.

    model = load_policy(cfg, tokenizer)       # trainable, start adapters applied

Start adapters (`adapter_name_or_path`): all but the last are merged into the base weights,
the last one is trained further (LoRA) so the final adapter still loads on the plain base;
with full/freeze (and for a reward model) all are merged. Machine checks (CUDA and
bitsandbytes kernels for 4/8-bit and paged optimizers, report_to packages) run before any
weight is loaded. `head="reward"` loads a sequence-classification model with one output
(stage rm); QLoRA is 4/8-bit weights from bitsandbytes with LoRA on top.
"""
from __future__ import annotations

import logging
from typing import Any

import torch

from core.config import RunConfig, split_list
from core.errors import UserError

from .loading import LoadOptions, check_machine, load_model, require_adapter

log = logging.getLogger(__name__)


def lora_config(cfg: RunConfig, task_type: str = "CAUSAL_LM") -> Any:
    """LoRA settings of the run. SEQ_CLS (reward models) also trains and saves the score head."""
    from peft import LoraConfig

    target = "all-linear" if cfg.lora_target.strip() == "all" else [
        t.strip() for t in cfg.lora_target.split(",") if t.strip()]
    return LoraConfig(
        task_type=task_type, r=cfg.lora_rank, lora_alpha=cfg.lora_alpha or 2 * cfg.lora_rank,
        lora_dropout=cfg.lora_dropout, target_modules=target, use_rslora=cfg.use_rslora,
        use_dora=cfg.use_dora, init_lora_weights="pissa_niter_16" if cfg.pissa_init else True)


def load_policy(cfg: RunConfig, tokenizer: Any = None, head: str = "causal") -> Any:
    """The model to train. LoRA models are PeftModels whose trainable adapter is 'default';
    when the run continues a start adapter, a frozen copy of it is loaded as 'ref'. A reward
    model (head "reward") starts from base + every start adapter merged, with a new score head."""
    check_machine(cfg)
    torch.manual_seed(cfg.seed)
    adapters = cfg.adapters
    merged = adapters if head == "reward" or cfg.finetuning_type != "lora" else adapters[:-1]
    if cfg.quantization_bit is not None and merged:
        raise UserError("adapter_name_or_path: adapters cannot be merged into a quantized model "
                        "(a reward model merges every start adapter, other stages all but the "
                        "last); merge them first with `python -m core export`")
    model = load_model(LoadOptions.of_run(cfg, adapters=tuple(merged)), head)
    if cfg.finetuning_type != "lora":
        if cfg.finetuning_type == "freeze":
            _freeze(model, cfg.freeze_trainable_layers)
            if head == "reward":
                model.score.requires_grad_(True)  # a new head must learn
        return _enable_checkpointing(model, cfg)
    if cfg.quantization_bit is not None:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    if adapters and head != "reward":
        model = _continue_adapter(model, adapters[-1], cfg)
    else:
        from peft import get_peft_model
        task = "SEQ_CLS" if head == "reward" else "CAUSAL_LM"
        # ZeRO-3: fp32 adapters on a bf16 base fail DeepSpeed's one-dtype flat buffers
        model = get_peft_model(model, lora_config(cfg, task),
                               autocast_adapter_dtype=not _zero3(cfg))
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    return _enable_checkpointing(model, cfg)


def _continue_adapter(model: Any, path: str, cfg: RunConfig) -> Any:
    from peft import PeftModel

    require_adapter(path, "adapter_name_or_path")
    model = PeftModel.from_pretrained(model, path, is_trainable=True,
                                      autocast_adapter_dtype=not _zero3(cfg))
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


def _enable_checkpointing(model: Any, cfg: RunConfig) -> Any:
    """Non-reentrant checkpointing, except for LoRA under ZeRO-3, where the non-reentrant kind
    meets parameters DeepSpeed has already released (transformers and peft issues); LoRA's
    inputs require grad (enable_input_require_grads), which the reentrant kind needs."""
    if cfg.gradient_checkpointing:
        reentrant = _zero3(cfg) and cfg.finetuning_type == "lora"
        model.activation_checkpointing_enable(
            activation_checkpointing_kwargs={"use_reentrant": reentrant})
    return model


def _zero3(cfg: RunConfig) -> bool:
    from core.config.validate import zero_stage

    return zero_stage(cfg.deepspeed) == 3


def load_reference_model(cfg: RunConfig) -> Any:
    """The separate reference model named by ref_model (+ adapters, + quantization), frozen."""
    opts = LoadOptions.of_run(cfg, model=cfg.ref_model, key="ref_model",
                              quantization_bit=cfg.ref_model_quantization_bit,
                              adapters=tuple(split_list(cfg.ref_model_adapters)))
    return load_model(opts).eval().requires_grad_(False)
