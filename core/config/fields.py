"""The fields of a run: one dataclass per group, each field with its default, help and limits.

This file is the single source of truth for every training option. The YAML format, the
command-line overrides, validation and the WebUI's Train form are all generated from it.

Field metadata (see `arg`):
  help     one or two sentences for the UI and `--help`
  choices  allowed values (None may be one of them)
  min/max  inclusive numeric range; `gt` for a strict lower bound
  stages   stages the field applies to (None: every stage)
  when     {other_key: allowed values}: the field only matters in that case
  ui       False for fields a form must never show (remote code)
  path     what a text value names on disk, so forms can confine it: model (a hub id or a
           model folder), paths (comma-separated adapter or run folders), dir (a folder),
           checkpoint (true or a checkpoint folder)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STAGES = ("sft", "dpo", "kto", "rm", "grpo")
PREF_STAGES = ("dpo",)
REF_STAGES = ("dpo", "kto")  # stages that train against a reference model
BETA_STAGES = ("dpo", "kto")  # pref_beta is DPO's and KTO's beta
PAIRWISE_LOSSES = ("sigmoid", "hinge", "ipo", "kto_pair", "robust", "orpo", "simpo")
REFERENCE_FREE_LOSSES = ("orpo", "simpo")
TEMPLATES = (None, "qwen", "qwen3", "default")
SCHEDULERS = ("linear", "cosine", "cosine_with_min_lr", "constant", "constant_with_warmup",
              "polynomial", "inverse_sqrt")
OPTIMIZERS = ("adamw_torch", "paged_adamw_32bit", "paged_adamw_8bit", "sgd")
REWARD_FUNCS = ("answer_match", "format", "length", "reward_model")
DEMO_MODEL = "demo"
DEMO_DATASET = "demo_pref_en"


def arg(default: Any, help: str, *, choices: tuple | None = None, min: float | None = None,
        max: float | None = None, gt: float | None = None, stages: tuple | None = None,
        when: dict | None = None, ui: bool = True, path: str | None = None) -> Any:
    """A dataclass field carrying the metadata the validator and the WebUI read."""
    meta = {"help": help, "choices": choices, "min": min, "max": max, "gt": gt,
            "stages": stages, "when": when, "ui": ui, "path": path}
    return field(default=default, metadata=meta)


@dataclass
class ModelArgs:
    model_name_or_path: str = arg(
        DEMO_MODEL, "Hub id (e.g. Qwen/Qwen2.5-0.5B-Instruct), a local folder, or 'demo' for the "
        "bundled tiny model.", path="model")
    adapter_name_or_path: str | None = arg(
        None, "Adapters to start from, comma-separated (e.g. an SFT run's folder). For DPO the "
        "reference becomes base + these adapters.", path="paths")
    template: str | None = arg(
        None, "Chat template. Empty: the tokenizer's own; qwen: ChatML; qwen3: ChatML with "
        "thinking; default: plain User:/Assistant: text.", choices=TEMPLATES)
    enable_thinking: bool = arg(
        True, "Qwen3 only: let the model think (<think>...</think>) before answering.",
        when={"template": ("qwen3",)})
    trust_remote_code: bool = arg(
        False, "Run Python code shipped with the model. Only set it in a YAML you trust.", ui=False)
    quantization_bit: int | None = arg(
        None, "Load the base model in 4 or 8 bits with bitsandbytes (QLoRA). Needs a CUDA GPU.",
        choices=(None, 4, 8))
    quantization_type: str = arg(
        "nf4", "4-bit data type.", choices=("nf4", "fp4"), when={"quantization_bit": (4,)})
    double_quantization: bool = arg(
        True, "Quantize the 4-bit quantization constants too (saves ~0.4 bit per weight).",
        when={"quantization_bit": (4,)})
    flash_attn: str = arg(
        "auto", "Attention kernel: auto picks sdpa where available.",
        choices=("auto", "disabled", "sdpa", "fa2"))


@dataclass
class FinetuningArgs:
    stage: str = arg("dpo", "What to train: sft, dpo (and ORPO/SimPO via pref_loss), kto, rm "
                     "(reward model), grpo.", choices=STAGES)
    finetuning_type: str = arg(
        "lora", "lora: small adapter; full: every weight; freeze: only the last layers.",
        choices=("lora", "full", "freeze"))
    lora_rank: int = arg(8, "LoRA rank r.", min=1, max=1024, when={"finetuning_type": ("lora",)})
    lora_alpha: int | None = arg(
        None, "LoRA scaling alpha. Empty: 2 x lora_rank.", min=1,
        when={"finetuning_type": ("lora",)})
    lora_dropout: float = arg(0.0, "Dropout on the LoRA input.", min=0.0, max=0.9,
                              when={"finetuning_type": ("lora",)})
    lora_target: str = arg(
        "all", "Modules that get LoRA, comma-separated (q_proj,v_proj), or 'all' linear layers.",
        when={"finetuning_type": ("lora",)})
    use_rslora: bool = arg(False, "Rank-stabilised LoRA scaling (alpha / sqrt(r)).",
                           when={"finetuning_type": ("lora",)})
    use_dora: bool = arg(False, "Weight-decomposed LoRA (DoRA).",
                         when={"finetuning_type": ("lora",)})
    pissa_init: bool = arg(False, "Initialise LoRA from the principal singular vectors (PiSSA).",
                           when={"finetuning_type": ("lora",)})
    freeze_trainable_layers: int = arg(
        2, "freeze: train the last N decoder layers (negative: the first N).",
        when={"finetuning_type": ("freeze",)})


@dataclass
class DataArgs:
    dataset: str = arg(DEMO_DATASET, "Dataset names from dataset_info.json, comma-separated.")
    eval_dataset: str | None = arg(None, "Datasets for evaluation, comma-separated.")
    dataset_dir: str = arg("data", "Folder with the data files. Its own dataset_info.json is used "
                           "when present, so a LLaMA-Factory data/ folder works as it is.",
                           path="dir")
    cutoff_len: int = arg(2048, "Maximum tokens per sequence (prompt + answer). Longer answers "
                          "are cut; a prompt that leaves no room is a bad record.", min=16)
    max_samples: int | None = arg(None, "Use at most this many records of each dataset.", min=1)
    val_size: float = arg(0.0, "Held-out share (0-1) or count (>=1) of the training data for "
                          "evaluation.", min=0.0)
    train_on_prompt: bool = arg(
        False, "sft: also train on the prompt tokens (system and user turns), not only on every "
        "assistant turn.", stages=("sft",))
    packing: bool | None = arg(
        None, "Pack several sequences into each row without padding; attention stays within "
        "each sequence and position ids restart. Empty: on for dpo, off for sft. dpo: the pairs "
        "of a batch share rows of up to 2 x cutoff_len tokens (exact; the batch still counts "
        "pairs); sft: conversations are packed into cutoff_len sequences.",
        choices=(None, True, False),
        stages=("sft", "dpo"))
    prefix_sharing: bool = arg(
        True, "dpo: encode each prompt once: one sequence per pair (prompt, chosen, rejected) in "
        "which rejected attends to the prompt but not to chosen. Exact; off: chosen and rejected "
        "as two sequences.", stages=PREF_STAGES)
    group_by_length: bool = arg(
        True, "dpo: batch pairs of similar length (shuffled groups of up to 50 batches, sorted by "
        "length), so packs fill and little padding is computed; off: a plain shuffle.",
        stages=PREF_STAGES)
    max_bad_ratio: float = arg(
        0.0, "Refuse to train when the share of bad records is above this (0: any bad record "
        "stops the run). Bad records under the limit are skipped and listed in train.log.",
        min=0.0, max=1.0)


@dataclass
class PrefArgs:
    pref_beta: float = arg(
        0.1, "beta: strength of the pull towards the reference (DPO, KTO), the odds-ratio weight "
        "(ORPO) or the reward scale (SimPO).", gt=0.0, max=100.0, stages=BETA_STAGES)
    pref_beta_schedule: str = arg(
        "constant", "constant: pref_beta throughout; linear: from pref_beta_start to "
        "pref_beta_end over the run's steps.", choices=("constant", "linear"), stages=PREF_STAGES)
    pref_beta_start: float | None = arg(
        None, "linear schedule: beta at the first step. Empty: pref_beta.", gt=0.0, max=100.0,
        stages=PREF_STAGES, when={"pref_beta_schedule": ("linear",)})
    pref_beta_end: float | None = arg(
        None, "linear schedule: beta at the last step (required for linear).", gt=0.0, max=100.0,
        stages=PREF_STAGES, when={"pref_beta_schedule": ("linear",)})
    pref_loss: str = arg(
        "sigmoid", "Pairwise loss: sigmoid (DPO), hinge (SLiC), ipo, kto_pair, robust, orpo, "
        "simpo.", choices=PAIRWISE_LOSSES, stages=PREF_STAGES)
    pref_ftx: float = arg(0.0, "Weight of an SFT loss on the chosen answers, added to the "
                          "preference loss.", min=0.0, stages=PREF_STAGES)
    dpo_label_smoothing: float = arg(
        0.0, "Assumed share of flipped labels (cDPO for sigmoid, robust DPO for robust).",
        min=0.0, max=0.49, stages=PREF_STAGES, when={"pref_loss": ("sigmoid", "robust")})
    simpo_gamma: float = arg(0.5, "SimPO target reward margin gamma.", min=0.0,
                             stages=PREF_STAGES, when={"pref_loss": ("simpo",)})
    ld_alpha: float | None = arg(
        None, "LD-DPO: weight of answer tokens beyond the shorter answer's length (0-1). Empty: "
        "off.", min=0.0, max=1.0, stages=PREF_STAGES)
    kto_chosen_weight: float = arg(
        1.0, "KTO: weight of the desirable examples' loss. Keep chosen_weight x desirable / "
        "(rejected_weight x undesirable) between 1 and 4/3; the run suggests values.", gt=0.0,
        max=100.0, stages=("kto",))
    kto_rejected_weight: float = arg(
        1.0, "KTO: weight of the undesirable examples' loss.", gt=0.0, max=100.0,
        stages=("kto",))
    ref_model: str | None = arg(
        None, "Separate reference model. Empty: the policy with its adapter off (LoRA) or a "
        "frozen copy (full).", stages=REF_STAGES, path="model")
    ref_model_adapters: str | None = arg(
        None, "Adapters applied to ref_model, comma-separated.", stages=REF_STAGES,
        path="paths")
    ref_model_quantization_bit: int | None = arg(
        None, "Load ref_model in 4 or 8 bits (CUDA).", choices=(None, 4, 8), stages=REF_STAGES)


@dataclass
class GrpoArgs:
    """GRPO: the policy samples, the rewards score, no reference unless grpo_beta > 0."""

    reward_funcs: str = arg(
        "answer_match", "Built-in rewards, comma-separated: answer_match (final answer equals "
        "the dataset column), format (matches a regex), length (near a target length), "
        "reward_model (an rm run's score). Your own functions: --reward-func module:function "
        "on the command line.", stages=("grpo",))
    reward_weights: str | None = arg(
        None, "Weights of the rewards, comma-separated, in the order of reward_funcs then the "
        "--reward-func functions. Empty: 1 each.", stages=("grpo",))
    reward_answer_column: str = arg(
        "answer", "answer_match: the dataset column holding the expected answer.",
        stages=("grpo",))
    reward_format_regex: str = arg(
        r"^<think>.*?</think>\s*\S", "format: a completion scores 1 when this regular "
        "expression matches its start (dot matches newlines).", stages=("grpo",))
    reward_length_target: int = arg(
        64, "length: the completion length in tokens that scores 1; the score falls linearly "
        "to 0 at 0 and at twice the target.", min=1, stages=("grpo",))
    reward_model: str | None = arg(
        None, "reward_model: the run directory of an rm run (e.g. saves/rm-demo).",
        stages=("grpo",), path="paths")
    num_generations: int = arg(
        4, "Completions sampled per prompt (the group). per_device_train_batch_size x "
        "gradient_accumulation_steps counts completions and must be a multiple of it.", min=2,
        stages=("grpo",))
    max_completion_length: int = arg(
        128, "Most tokens generated per completion.", min=1, stages=("grpo",))
    grpo_beta: float = arg(
        0.0, "KL weight towards the reference (0: no reference pass, faster; DeepSeek-R1 used "
        "0.001).", min=0.0, max=10.0, stages=("grpo",))
    temperature: float = arg(
        1.0, "Sampling temperature of the generations.", gt=0.0, max=10.0, stages=("grpo",))


@dataclass
class OptimArgs:
    learning_rate: float = arg(5e-5, "Peak learning rate.", gt=0.0, max=1.0)
    num_train_epochs: float = arg(3.0, "Passes over the data (ignored when max_steps > 0).",
                                  gt=0.0)
    max_steps: int = arg(-1, "Stop after this many optimizer steps (-1: use epochs).", min=-1)
    per_device_train_batch_size: int = arg(1, "Pairs (or examples) per device per step.", min=1)
    per_device_eval_batch_size: int = arg(1, "Batch size for evaluation.", min=1)
    gradient_accumulation_steps: int = arg(8, "Batches summed before each optimizer step.", min=1)
    lr_scheduler_type: str = arg("cosine", "Learning-rate schedule after warmup.",
                                 choices=SCHEDULERS)
    min_lr_ratio: float = arg(0.1, "Floor of the cosine schedule as a share of learning_rate "
                              "(e.g. lr/10).", min=0.0, max=1.0,
                              when={"lr_scheduler_type": ("cosine_with_min_lr",)})
    warmup_ratio: float = arg(0.1, "Share of the steps spent warming the learning rate up.",
                              min=0.0, max=1.0)
    warmup_steps: int = arg(0, "Warmup steps (overrides warmup_ratio when > 0).", min=0)
    weight_decay: float = arg(0.0, "AdamW weight decay.", min=0.0)
    max_grad_norm: float = arg(1.0, "Clip the gradient norm to this (0: no clipping).", min=0.0)
    optim: str = arg("adamw_torch", "Optimizer. The paged ones need a CUDA GPU.",
                     choices=OPTIMIZERS)
    seed: int = arg(42, "Random seed for data order, dropout and initialisation.", min=0)
    bf16: bool = arg(False, "Train in bfloat16 (GPU). Falls back to fp32 with a warning where "
                     "unsupported.")
    fp16: bool = arg(False, "Train in float16 with loss scaling (CUDA only).")
    chunked_logps: bool = arg(
        True, "Apply the LM head only at the scored (answer) tokens, a chunk at a time, "
        "recomputing instead of keeping the [tokens x vocabulary] logits: far less memory. "
        "Exact; off: logits for every position from the batch's first answer token on, padding "
        "and other rows' prompts included.", stages=PREF_STAGES)
    gradient_checkpointing: bool = arg(False, "Recompute activations in the backward pass: "
                                       "less memory, ~30% slower.")
    dataloader_num_workers: int = arg(0, "Worker processes for data loading.", min=0)


@dataclass
class OutputArgs:
    output_dir: str | None = arg(None, "Run directory. Empty: saves/<run_name>.", path="dir")
    run_name: str | None = arg(None, "Run name. Empty: <stage>-<dataset>-<date>-<time>.")
    logging_steps: int = arg(5, "Write metrics every N optimizer steps.", min=1)
    save_steps: int = arg(100, "Save a resumable checkpoint every N steps.", min=1)
    save_total_limit: int | None = arg(None, "Keep at most this many checkpoints.", min=1)
    eval_steps: int | None = arg(None, "Evaluate every N steps (needs val_size or eval_dataset). "
                                 "Empty: logging_steps.", min=1)
    report_to: str = arg("none", "Also log to tensorboard or wandb (metrics.jsonl is always "
                         "written).", choices=("none", "tensorboard", "wandb"))
    resume_from_checkpoint: bool | str | None = arg(
        None, "true: continue from the newest complete checkpoint in output_dir; a path: from "
        "that checkpoint.", path="checkpoint")


# LLaMA-Factory keys that a copied YAML may carry and that have no effect here. They are
# accepted (so its YAMLs run unchanged) and named in the log, never silently.
COMPAT_KEYS = {
    "do_train": "training always runs with `python -m core train`",
    "plot_loss": "curves are in metrics.jsonl and the WebUI's Runs tab",
    "overwrite_cache": "tokenised data is rebuilt for every run",
    "preprocessing_num_workers": "tokenisation runs in the training process",
    "overwrite_output_dir": "a run never overwrites checkpoints; use resume or a new output_dir",
    "ddp_timeout": "set by accelerate's launcher",
}
