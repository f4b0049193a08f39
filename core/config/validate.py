"""Validation of a RunConfig, in one place.

`problems(cfg)` returns (key, message) pairs for the WebUI to show next to the form;
`validate(cfg)` raises ConfigError with all of them. Each message names the key, the value
and what to do. Checks that need the machine (CUDA for 4-bit) live in core.models, where
they run before any weight is loaded.
"""
from __future__ import annotations

from .fields import REFERENCE_FREE_LOSSES
from .run import FIELDS, ConfigError, RunConfig


def _field_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    out = []
    for key, f in FIELDS.items():
        meta, value = f.metadata, getattr(cfg, key)
        if meta["choices"] is not None and value not in meta["choices"]:
            shown = ", ".join("empty" if c is None else str(c) for c in meta["choices"])
            out.append((key, f"{key}: {value!r} is not one of: {shown}"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if meta["min"] is not None and value < meta["min"]:
                out.append((key, f"{key}: {value} is below the minimum {meta['min']}"))
            if meta["max"] is not None and value > meta["max"]:
                out.append((key, f"{key}: {value} is above the maximum {meta['max']}"))
            if meta["gt"] is not None and value <= meta["gt"]:
                out.append((key, f"{key}: {value} must be greater than {meta['gt']}"))
    return out


def _combination_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    out = []

    def bad(key: str, message: str) -> None:
        out.append((key, f"{key}: {message}"))

    if cfg.dpo_label_smoothing > 0 and cfg.pref_loss not in ("sigmoid", "robust"):
        bad("dpo_label_smoothing", f"{cfg.dpo_label_smoothing} only applies to pref_loss sigmoid "
            f"or robust, not {cfg.pref_loss}; set it to 0 or change pref_loss")
    if cfg.pref_loss == "robust" and cfg.dpo_label_smoothing == 0 and cfg.stage == "dpo":
        bad("dpo_label_smoothing", "pref_loss robust needs a label-noise rate; set "
            "dpo_label_smoothing between 0 and 0.5 (e.g. 0.1), or use pref_loss sigmoid")
    if cfg.stage == "dpo" and cfg.pref_loss in REFERENCE_FREE_LOSSES:
        for key in ("ref_model", "ref_model_adapters", "ref_model_quantization_bit"):
            if getattr(cfg, key) is not None:
                bad(key, f"{getattr(cfg, key)!r} is set but pref_loss {cfg.pref_loss} uses no "
                    "reference model; remove it or pick a loss with a reference (sigmoid, ...)")
    if cfg.ld_alpha is not None and cfg.pref_loss in ("ipo", "orpo", "simpo"):
        bad("ld_alpha", f"{cfg.ld_alpha} applies to losses on summed log-probs (sigmoid, hinge, "
            f"kto_pair, robust); {cfg.pref_loss} averages per token, so remove ld_alpha")
    if cfg.ref_model is None:
        for key in ("ref_model_adapters", "ref_model_quantization_bit"):
            if getattr(cfg, key) is not None:
                bad(key, f"{getattr(cfg, key)!r} needs ref_model to be set")
    if cfg.quantization_bit is not None and cfg.finetuning_type != "lora":
        bad("quantization_bit", f"{cfg.quantization_bit}-bit weights cannot be trained directly; "
            f"use finetuning_type lora (QLoRA) instead of {cfg.finetuning_type}")
    if cfg.bf16 and cfg.fp16:
        bad("fp16", "bf16 and fp16 are both true; keep one")
    if cfg.use_dora and cfg.pissa_init:
        bad("pissa_init", "PiSSA initialisation does not combine with DoRA; turn one off")
    if cfg.val_size >= 1 and not float(cfg.val_size).is_integer():
        bad("val_size", f"{cfg.val_size} must be a share below 1 or a whole number of records")
    if not cfg.datasets:
        bad("dataset", "no dataset given; name one from dataset_info.json "
            "(`python -m core data list`)")
    return out


def problems(cfg: RunConfig) -> list[tuple[str, str]]:
    """Every problem with the config as (key, message); empty when it is valid."""
    return _field_checks(cfg) + _combination_checks(cfg)


def validate(cfg: RunConfig, source: str | None = None) -> RunConfig:
    found = problems(cfg)
    if found:
        raise ConfigError([message for _, message in found], source)
    return cfg
