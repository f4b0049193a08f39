"""The value sets and ceilings the run's fields use (core/config/fields.py): stages, templates,
optimizers, schedulers and the other choices, the demo's names, and the upper bound of every
number, so a typo cannot fork a thousand workers or overflow a C integer."""
from __future__ import annotations

import os

STAGES = ("sft", "dpo", "kto", "rm", "grpo")
PREF_STAGES = ("dpo",)
PAIR_STAGES = ("dpo", "rm")  # stages whose batches are pairs laid out by core/methods/packing.py
REF_STAGES = ("dpo", "kto")  # stages that train against a reference model
BETA_STAGES = ("dpo", "kto")  # pref_beta is DPO's and KTO's beta
# LLaMA-Factory's names for Qwen text models (core/data/templates.py renders them as it does);
# None: the tokenizer's own chat template.
TEMPLATES = (None, "qwen", "qwen3", "qwen3_nothink", "default", "empty")
TRUNCATION = ("llamafactory", "keep_recent", "drop", "error")
MIX_STRATEGIES = ("concat", "interleave_under", "interleave_over", "interleave_once")
SCHEDULERS = ("linear", "cosine", "cosine_with_min_lr", "constant", "constant_with_warmup",
              "polynomial", "inverse_sqrt")
# transformers' optimizer names; the bitsandbytes ones need a CUDA GPU (core.models.loading).
BNB_OPTIMIZERS = ("adamw_8bit", "adamw_bnb_8bit", "paged_adamw_32bit", "paged_adamw_8bit",
                  "lion_8bit", "lion_32bit", "paged_lion_8bit", "paged_lion_32bit")
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop",
              *BNB_OPTIMIZERS)
STRATEGIES = ("no", "steps", "epoch")
REPORTERS = ("none", "tensorboard", "wandb", "swanlab", "mlflow")
REWARD_FUNCS = ("answer_match", "format", "length", "reward_model")
DEMO_MODEL = "demo"
DEMO_DATASET = "demo_pref_en"
# Offered for the model fields; any hub id or local model folder may be typed instead.
MODEL_SUGGESTIONS = (DEMO_MODEL, "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct",
                     "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B",
                     "Qwen/Qwen3-8B")
PICKS = ("datasets", "adapters")


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


# Ceilings: generous for anything that trains here, far below what breaks a machine.
CPUS = _usable_cpus()
WORKERS_MAX = max(CPUS, 4)  # one worker per CPU; 4 anywhere, as LLaMA-Factory's examples use
TOKENS_MAX = 1_048_576  # 4 x Qwen3-2507's 262,144-token context
STEPS_MAX = 100_000_000
COUNT_MAX = 1_000_000_000  # records, checkpoints
BATCH_MAX = 4096
LAYERS_MAX = 1024
WEIGHT_MAX = 100.0  # loss weights, betas and margins
SEED_MAX = 2**32 - 1  # numpy's seed range (transformers' set_seed seeds numpy too)
TIMEOUT_MAX = 2**31 - 1  # seconds; LLaMA-Factory's examples use 180000000
NAME_MAX = 200  # bytes of a run name, which names a folder (255 at most, less "-rerun-N")
PROCS_MAX = 1024  # processes per node, nodes (a node has at most a few dozen GPUs)
# DeepSpeed presets the engine writes into the run folder (core/training/distributed.py),
# LLaMA-Factory's examples/deepspeed/ds_z{0,2,3}[_offload]_config.json.
DEEPSPEED_PRESETS = ("z0", "z2", "z2_offload", "z3", "z3_offload")


def names_file(value: str) -> bool:
    """A `path: config` value (deepspeed, fsdp_config) that names a file to read, rather than
    a preset or inline JSON/YAML settings."""
    text = str(value).strip()
    return bool(text) and text not in DEEPSPEED_PRESETS and not text.startswith("{")
