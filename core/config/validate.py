"""Validation of a RunConfig, in one place.

`problems(cfg)` returns (key, message) pairs for the WebUI to show next to the form;
`validate(cfg)` raises ConfigError with all of them. Each message names the key, the value
and what to do. Checks that need the machine (CUDA for 4-bit) live in core.models, where
they run before any weight is loaded.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from core.errors import shown
from core.paths import path_problem

from .choices import DEEPSPEED_PRESETS, REWARD_FUNCS, names_file
from .llamafactory import value_hint
from .losses import LOSS_TRAITS, SUMMED_LOSSES, needs_reference
from .run import FIELDS, ConfigError, RunConfig, split_list


def _field_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    """Each value against its own field's metadata: choices, range, text limits (at most one
    problem per key)."""
    out = []
    for key, f in FIELDS.items():
        meta, value = f.metadata, getattr(cfg, key)
        if meta["choices"] is not None and value not in meta["choices"]:
            problem = _choice_problem(key, value, meta["choices"])
        elif isinstance(value, str):
            problem = _text_problem(key, value, meta)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            problem = _number_problem(key, value, meta, f.default)
        else:
            problem = None
        if problem:
            out.append((key, problem))
    return out


def _choice_problem(key: str, value: Any, choices: tuple) -> str:
    none = "null" if "empty" in choices else "empty"  # template has a choice named `empty`
    listed = ", ".join(none if c is None else str(c) for c in choices)
    hint = value_hint(key, value)
    return f"{key}: {shown(value)} is not one of: {listed}" + (f" ({hint})" if hint else "")


def _number_problem(key: str, value: float, meta: dict, default: Any) -> str | None:
    """NaN and infinity first: every comparison with NaN is false, so no range catches it."""
    if isinstance(value, float) and not math.isfinite(value):
        fix = "leave it empty" if default is None else f"give {_num(default)} (the default)"
        return f"{key}: {value} is not a finite number; {fix} or another number in range"
    if meta["min"] is not None and value < meta["min"]:
        return f"{key}: {shown(value)} is below the minimum {_num(meta['min'])}"
    if meta["max"] is not None and value > meta["max"]:
        return f"{key}: {shown(value)} is above the maximum {_num(meta['max'])}"
    if meta["gt"] is not None and value <= meta["gt"]:
        return f"{key}: {shown(value)} must be greater than {_num(meta['gt'])}"
    if meta["lt"] is not None and value >= meta["lt"]:
        return f"{key}: {shown(value)} must be below {_num(meta['lt'])}"
    return None


def _text_problem(key: str, value: str, meta: dict) -> str | None:
    """Text no file, YAML or log can hold, paths the file system would refuse, over-long."""
    if "\0" in value:
        return f"{key}: {shown(value)} contains a NUL byte (\\0); remove it"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return f"{key}: {shown(value)} holds characters that are not text (lone surrogates)"
    if meta["path"] and (meta["path"] != "config" or names_file(value)):
        parts = split_list(value) if meta["path"] == "paths" else [value]
        found = next(filter(None, (path_problem(key, part) for part in parts)), None)
        if found:
            return found
    if meta["max_len"] is not None and size > meta["max_len"]:
        return f"{key}: {size} bytes long; shorten it to at most {meta['max_len']}"
    return None


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


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
    if cfg.stage == "dpo" and not needs_reference(cfg.pref_loss):
        for key in ("ref_model", "ref_model_adapters", "ref_model_quantization_bit"):
            if getattr(cfg, key) is not None:
                bad(key, f"{getattr(cfg, key)!r} is set but pref_loss {cfg.pref_loss} uses no "
                    "reference model; remove it or pick a loss with a reference (sigmoid, ...)")
    traits = LOSS_TRAITS.get(cfg.pref_loss)
    if cfg.ld_alpha is not None and traits is not None and traits.average:
        bad("ld_alpha", f"{cfg.ld_alpha} applies to losses on summed log-probs "
            f"({', '.join(SUMMED_LOSSES)}); {cfg.pref_loss} averages per token, so remove "
            "ld_alpha")
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
    if math.isfinite(cfg.val_size) and cfg.val_size >= 1 and not float(cfg.val_size).is_integer():
        bad("val_size", f"{cfg.val_size} must be a share below 1 or a whole number of records")
    if not cfg.datasets:
        bad("dataset", "no dataset given; name one from dataset_info.json "
            "(`python -m core data list`)")
    return (out + _model_checks(cfg) + _optimiser_checks(cfg) + _mix_checks(cfg)
            + _stage_checks(cfg) + _name_checks(cfg) + _dist_checks(cfg))


def _model_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    """What the finetuning type asks of its fields (the model's own module names and layer
    count are checked by core.models.checks, on the model's config, before any weight)."""
    out = []

    def bad(key: str, message: str) -> None:
        out.append((key, f"{key}: {message}"))

    targets = split_list(cfg.lora_target)
    if cfg.relevant("lora_target") and not targets:
        bad("lora_target", "empty; give module names, comma-separated (q_proj,v_proj), or all")
    elif cfg.relevant("lora_target") and "all" in targets and len(targets) > 1:
        bad("lora_target", f"{shown(cfg.lora_target)}: all stands for every linear layer; give "
            "it alone or list module names without it")
    if cfg.relevant("freeze_trainable_layers") and cfg.freeze_trainable_layers == 0:
        bad("freeze_trainable_layers", "0 trains no layer; give N to train the last N decoder "
            "layers or -N for the first N (e.g. 2)")
    return out


def _name_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    """run_name names the folder saves/<run_name> when output_dir is empty: one folder name."""
    name = cfg.run_name
    if cfg.output_dir is not None or name is None:
        return []
    if name.strip() in (".", "..") or any(c in name for c in "/\\"):
        why = "cannot hold / or \\" if name.strip() not in (".", "..") else "is not a folder name"
        return [("run_name", f"run_name: {shown(name)} names the run's folder in saves/ and "
                 f"{why}; use a plain name (e.g. dpo-qwen-1), or set output_dir")]
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return [("run_name", f"run_name: {shown(name)} holds a control character (a line break, "
                 "tab, ...); use a plain name")]
    return []


def _optimiser_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    """Precision, optimizer, schedule and checkpoint settings that do not go together."""
    out = []

    def bad(key: str, message: str) -> None:
        out.append((key, f"{key}: {message}"))

    if cfg.pure_bf16 and cfg.fp16:
        bad("fp16", "pure_bf16 and fp16 are both true; keep one")
    if cfg.save_only_model and cfg.resume_from_checkpoint not in (None, False):
        bad("save_only_model", "true saves no optimizer or schedule state, which resuming "
            "needs; set it to false to resume")
    if cfg.lr_scheduler_kwargs is not None and not _is_json_object(cfg.lr_scheduler_kwargs):
        bad("lr_scheduler_kwargs", f"{cfg.lr_scheduler_kwargs!r} is not a JSON object; write "
            'e.g. {"min_lr": 1e-6} (or a YAML mapping)')
    return out


def _mix_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    """Several datasets and the held-out data, as LLaMA-Factory accepts them."""
    out = []
    if cfg.val_size and cfg.eval_datasets:
        out.append(("val_size", f"val_size: {cfg.val_size} holds out training data but "
                    "eval_dataset is set too (LLaMA-Factory refuses both); keep one"))
    probs = split_list(cfg.interleave_probs)
    if not probs or cfg.mix_strategy == "concat":
        return out
    if not all(_is_number(p) for p in probs):
        return out + [("interleave_probs", f"interleave_probs: {cfg.interleave_probs!r} must be "
                       "numbers, comma-separated")]
    for key, names in (("dataset", cfg.datasets), ("eval_dataset", cfg.eval_datasets)):
        if len(names) > 1 and len(names) != len(probs):  # one dataset is not mixed
            out.append(("interleave_probs", f"interleave_probs: {len(probs)} values for "
                        f"{len(names)} datasets in {key}; give one per dataset"))
    if abs(sum(float(p) for p in probs) - 1) > 1e-6:
        out.append(("interleave_probs", f"interleave_probs: {cfg.interleave_probs} sum to "
                    f"{sum(float(p) for p in probs):g}, not 1"))
    return out


def _stage_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    """Settings that only a particular stage can get wrong."""
    out = []

    def bad(key: str, message: str) -> None:
        out.append((key, f"{key}: {message}"))

    if cfg.stage == "dpo" and cfg.pref_beta_schedule == "linear" and cfg.pref_beta_end is None:
        bad("pref_beta_end", "pref_beta_schedule linear needs the last step's beta; set "
            "pref_beta_end (e.g. 0.5), or use pref_beta_schedule constant")
    if cfg.stage == "kto" and cfg.per_device_train_batch_size < 2 and \
            cfg.gradient_accumulation_steps % 2:  # even: kto trains 2 x half (kto_batches)
        bad("per_device_train_batch_size", f"{cfg.per_device_train_batch_size} is too small for "
            "kto: its KL estimate pairs each prompt with another answer of the same batch; set 2 "
            "or more (or an even gradient_accumulation_steps)")
    if cfg.stage == "grpo":
        out += _grpo_checks(cfg)
    return out


def _grpo_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    out = []

    def bad(key: str, message: str) -> None:
        out.append((key, f"{key}: {message}"))

    names = split_list(cfg.reward_funcs)
    for name in names:
        if name not in REWARD_FUNCS:
            bad("reward_funcs", f"unknown reward {name!r}; use {', '.join(REWARD_FUNCS)} "
                "(your own functions go on the command line: --reward-func module:function)")
    if ("reward_model" in names) != bool(cfg.reward_model):
        bad("reward_model", "reward_funcs lists reward_model but no rm run is given; set "
            "reward_model: saves/<rm run>" if "reward_model" in names else
            f"{cfg.reward_model!r} is set but reward_funcs does not list reward_model; add it")
    if not all(_is_number(w) for w in split_list(cfg.reward_weights)):
        bad("reward_weights", f"{cfg.reward_weights!r} must be numbers, comma-separated")
    if cfg.max_completion_length >= cfg.cutoff_len:
        bad("max_completion_length", f"{cfg.max_completion_length} leaves no room for the prompt "
            f"within cutoff_len {cfg.cutoff_len}; raise cutoff_len or lower it")
    batch = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps
    groups = cfg.num_generations > 0  # below its minimum the field check has said so
    if groups and batch % cfg.num_generations:
        bad("num_generations", f"{cfg.num_generations} must divide per_device_train_batch_size "
            f"x gradient_accumulation_steps ({batch}, the completions of a step); change one "
            "of them")
    evaluates = cfg.val_size > 0 or bool(cfg.eval_datasets)
    if groups and evaluates and cfg.per_device_eval_batch_size % cfg.num_generations:
        bad("per_device_eval_batch_size", f"{cfg.per_device_eval_batch_size} must be a multiple "
            f"of num_generations ({cfg.num_generations}) to evaluate grpo")
    if "format" in names and (error := _regex_error(cfg.reward_format_regex)):
        bad("reward_format_regex", f"{shown(cfg.reward_format_regex)} is not a regular "
            f"expression ({error}); fix it or drop format from reward_funcs")
    if cfg.grpo_beta > 0 and cfg.finetuning_type != "lora" and cfg.adapters:
        bad("grpo_beta", f"{cfg.grpo_beta} with finetuning_type {cfg.finetuning_type} and start "
            "adapters would use the bare base model as the reference; merge the adapters first "
            "(`python -m core export`), use finetuning_type lora, or set grpo_beta 0")
    return out


# transformers' FSDPOption values (training_args.fsdp accepts them space-separated)
FSDP_OPTIONS = ("full_shard", "shard_grad_op", "no_shard", "hybrid_shard", "hybrid_shard_zero2",
                "offload", "auto_wrap")


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        return False


def _regex_error(pattern: str) -> str | None:
    try:
        re.compile(pattern, re.DOTALL)  # as core.methods.rewards compiles it
    except (re.error, OverflowError, RecursionError) as e:
        return str(e) or type(e).__name__
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def zero_stage(deepspeed: str | None) -> int | None:
    """The ZeRO stage of a `deepspeed` value: a preset's (z3_offload: 3), a JSON file's
    zero_optimization.stage (0 when it names none); None without DeepSpeed or when the file
    cannot be read (the launch names that problem)."""
    if not deepspeed:
        return None
    if deepspeed in DEEPSPEED_PRESETS:
        return int(deepspeed[1])
    try:
        with open(deepspeed, encoding="utf-8") as f:
            config = json.load(f)
        return int(config.get("zero_optimization", {}).get("stage", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _dist_checks(cfg: RunConfig) -> list[tuple[str, str]]:
    """Combinations of the launch keys that cannot work (the machine's side, GPUs and the
    deepspeed package, is core.models.loading.check_machine's)."""
    out = []

    def bad(key: str, message: str) -> None:
        out.append((key, f"{key}: {message}"))

    if cfg.node_rank >= cfg.nnodes:
        bad("nnodes", f"{cfg.nnodes} has no node_rank {cfg.node_rank} (nodes count from 0); "
            "raise nnodes or lower node_rank")
    if cfg.deepspeed and cfg.deepspeed not in DEEPSPEED_PRESETS:
        if not cfg.deepspeed.endswith(".json"):
            bad("deepspeed", f"{cfg.deepspeed!r} is neither a preset "
                f"({', '.join(DEEPSPEED_PRESETS)}) nor a .json file")
        elif zero_stage(cfg.deepspeed) is None:
            bad("deepspeed", f"{cfg.deepspeed!r} is not a readable DeepSpeed JSON file; give its "
                f"path or a preset ({', '.join(DEEPSPEED_PRESETS)})")
    if cfg.deepspeed and cfg.fsdp:
        bad("fsdp", f"{cfg.fsdp!r} and deepspeed {cfg.deepspeed!r} both shard the model; keep one")
    if zero_stage(cfg.deepspeed) == 3 and cfg.quantization_bit is not None:
        bad("deepspeed", f"ZeRO-3 cannot shard {cfg.quantization_bit}-bit (bitsandbytes) "
            "weights; use deepspeed z2 or drop quantization_bit")
    if cfg.fsdp:
        unknown = [w for w in cfg.fsdp.split() if w not in FSDP_OPTIONS]
        if unknown:
            bad("fsdp", f"{' '.join(unknown)!r} is not an FSDP option; use words of: "
                f"{', '.join(FSDP_OPTIONS)} (e.g. full_shard auto_wrap)")
        if cfg.quantization_bit is not None:
            bad("fsdp", f"FSDP cannot shard a {cfg.quantization_bit}-bit (quantized) base; "
                "drop quantization_bit, or use deepspeed z2 or plain DDP for QLoRA")
    if cfg.fsdp_config and not cfg.fsdp:
        bad("fsdp_config", "is set but fsdp is empty; set fsdp (e.g. full_shard auto_wrap)")
    elif cfg.fsdp_config and not (cfg.fsdp_config.endswith(".json")
                                  or _is_json_object(cfg.fsdp_config)):
        bad("fsdp_config", f"{cfg.fsdp_config!r} is neither a JSON object nor a .json file")
    return out


def problems(cfg: RunConfig) -> list[tuple[str, str]]:
    """Every problem with the config as (key, message); empty when it is valid."""
    return _field_checks(cfg) + _combination_checks(cfg)


def validate(cfg: RunConfig, source: str | None = None) -> RunConfig:
    found = problems(cfg)
    if found:
        raise ConfigError([message for _, message in found], source)
    return cfg
