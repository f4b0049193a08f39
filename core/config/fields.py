"""The fields of a run: one dataclass per group, each field with its default, help and limits.

This file is the single source of truth for every training option (with choices.py, the value
sets and ceilings its fields use). The YAML format, the command-line overrides, validation and
the WebUI's Train form are all generated from it.

Field metadata (see `arg`):
  help     one or two sentences for the UI and `--help`
  choices  allowed values (None may be one of them)
  min/max  inclusive numeric range; `gt` / `lt` for a strict lower / upper bound. Every
           number has an upper bound (max, lt or choices; a test checks it), so a typo cannot
           fork a thousand workers, overflow a C integer or run for a century
  max_len  most UTF-8 bytes of a text value
  stages   stages the field applies to (None: every stage)
  when     {other_key: allowed values}: the field only matters in that case
  ui       False for fields a form must never show (remote code)
  path     what a text value names on disk, so forms can confine it: model (a hub id or a
           model folder), paths (comma-separated adapter or run folders), dir (a folder),
           checkpoint (true or a checkpoint folder)
  suggest  values a form offers in a pick list; any other may be typed (model ids)
  pick     a form's multi-select over what the workspace holds: datasets (registered in
           dataset_info.json) or adapters (finished runs' adapters), comma-joined
  main     True for the settings people change most: a form shows them first, the others in
           collapsed groups
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .choices import (
    BATCH_MAX,
    BETA_STAGES,
    COUNT_MAX,
    DEMO_DATASET,
    DEMO_MODEL,
    LAYERS_MAX,
    MIX_STRATEGIES,
    MODEL_SUGGESTIONS,
    NAME_MAX,
    OPTIMIZERS,
    PAIR_STAGES,
    PICKS,
    PREF_STAGES,
    PROCS_MAX,
    REF_STAGES,
    REPORTERS,
    SCHEDULERS,
    SEED_MAX,
    STAGES,
    STEPS_MAX,
    STRATEGIES,
    TEMPLATES,
    TIMEOUT_MAX,
    TOKENS_MAX,
    TRUNCATION,
    WEIGHT_MAX,
    WORKERS_MAX,
)
from .losses import PAIRWISE_LOSSES

def arg(default: Any, help: str, *, choices: tuple | None = None, min: float | None = None,
        max: float | None = None, gt: float | None = None, lt: float | None = None,
        max_len: int | None = None, stages: tuple | None = None, when: dict | None = None,
        ui: bool = True, path: str | None = None, suggest: tuple | None = None,
        pick: str | None = None, main: bool = False) -> Any:
    """A dataclass field carrying the metadata the validator and the WebUI read."""
    if pick not in (None, *PICKS):
        raise ValueError(f"pick={pick!r}: use one of {PICKS}")
    meta = {"help": help, "choices": choices, "min": min, "max": max, "gt": gt, "lt": lt,
            "max_len": max_len, "stages": stages, "when": when, "ui": ui, "path": path,
            "suggest": suggest, "pick": pick, "main": main}
    return field(default=default, metadata=meta)


@dataclass
class ModelArgs:
    model_name_or_path: str = arg(
        DEMO_MODEL, "Hub id (e.g. Qwen/Qwen2.5-0.5B-Instruct), a local folder, or 'demo' for the "
        "bundled tiny model.", path="model", suggest=MODEL_SUGGESTIONS)
    adapter_name_or_path: str | None = arg(
        None, "Adapters to start from, comma-separated (e.g. an SFT run's folder). For DPO the "
        "reference becomes base + these adapters.", path="paths", pick="adapters")
    template: str | None = arg(
        None, "Chat template, as LLaMA-Factory renders it. Empty: the tokenizer's own; qwen: "
        "ChatML with Qwen's default system prompt (Qwen2/2.5); qwen3: ChatML with <think> "
        "blocks; qwen3_nothink: plain ChatML (Qwen3 Instruct-2507); default: Human:/Assistant: "
        "lines ending with the eos; empty: the texts alone, no end token.", choices=TEMPLATES)
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
        "auto", "Attention kernel: auto picks sdpa where available. flex: PyTorch's "
        "FlexAttention, whose block masks skip what prefix sharing and packing mask out "
        "(compiled on first use; needs a CUDA GPU).",
        choices=("auto", "disabled", "sdpa", "fa2", "flex"))


@dataclass
class FinetuningArgs:
    stage: str = arg("dpo", "What to train: sft, dpo (and ORPO/SimPO via pref_loss), kto, rm "
                     "(reward model), grpo.", choices=STAGES, main=True)
    finetuning_type: str = arg(
        "lora", "lora: small adapter; full: every weight; freeze: only the last layers.",
        choices=("lora", "full", "freeze"))
    lora_rank: int = arg(8, "LoRA rank r.", min=1, max=1024, when={"finetuning_type": ("lora",)},
                         main=True)
    lora_alpha: int | None = arg(
        None, "LoRA scaling alpha. Empty: 2 x lora_rank.", min=1, max=4096,
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
        2, "freeze: train the last N decoder layers (negative: the first N; not 0, and at most "
        "the model's layer count).", min=-LAYERS_MAX, max=LAYERS_MAX,
        when={"finetuning_type": ("freeze",)})


@dataclass
class DataArgs:
    dataset: str = arg(DEMO_DATASET, "Dataset names from dataset_info.json, comma-separated.",
                       pick="datasets", main=True)
    eval_dataset: str | None = arg(None, "Datasets for evaluation, comma-separated.",
                                   pick="datasets")
    dataset_dir: str = arg("data", "Folder with the data files. Its own dataset_info.json is used "
                           "when present, so a LLaMA-Factory data/ folder works as it is.",
                           path="dir")
    cutoff_len: int = arg(2048, "Maximum tokens per sequence (prompt + answer). Longer records "
                          "are cut or refused as truncation says.", min=16,
                          max=TOKENS_MAX, main=True)
    truncation: str = arg(
        "llamafactory", "A record longer than cutoff_len: llamafactory cuts it as LLaMA-Factory "
        "does (a short answer stays whole, the prompt keeps its start); keep_recent drops the "
        "oldest turns, then the start of the prompt; drop skips it as a bad record; error stops "
        "the run.", choices=TRUNCATION)
    mix_strategy: str = arg(
        "concat", "Several datasets: concat one after the other; interleave_under stops when the "
        "first runs out; interleave_over repeats the shorter ones; interleave_once uses each "
        "record at most once.", choices=MIX_STRATEGIES)
    interleave_probs: str | None = arg(
        None, "interleave: the share of each dataset, comma-separated (e.g. 0.7,0.3), summing "
        "to 1. Empty: take the datasets in turn.", when={"mix_strategy": MIX_STRATEGIES[1:]})
    max_samples: int | None = arg(None, "Use at most this many records of each dataset.", min=1,
                                  max=COUNT_MAX)
    val_size: float = arg(0.0, "Held-out share (0-1) or count (>=1) of the training data for "
                          "evaluation (not with eval_dataset).", min=0.0, max=COUNT_MAX)
    train_on_prompt: bool = arg(
        False, "sft: also train on the prompt tokens (system and user turns), not only on every "
        "assistant turn.", stages=("sft",))
    packing: bool | None = arg(
        None, "Pack several sequences into each row without padding; attention stays within "
        "each sequence and position ids restart. Empty: on for dpo and rm, off for sft. dpo, "
        "rm: the pairs of a batch share rows of up to 2 x cutoff_len tokens (exact; the batch "
        "still counts pairs); sft: conversations are packed into cutoff_len sequences.",
        choices=(None, True, False),
        stages=("sft", *PAIR_STAGES))
    prefix_sharing: bool = arg(
        True, "dpo, rm: encode each prompt once: one sequence per pair (prompt, chosen, "
        "rejected) in which rejected attends to the prompt but not to chosen. Exact (rm reads "
        "each reward where the plain layout would); off: chosen and rejected as two sequences.",
        stages=PAIR_STAGES)
    group_by_length: bool = arg(
        True, "dpo, rm: batch pairs of similar length (shuffled groups of up to 50 batches, "
        "sorted by length), so packs fill and little padding is computed; off: a plain shuffle.",
        stages=PAIR_STAGES)
    max_bad_ratio: float = arg(
        0.0, "Refuse to train when the share of bad records is above this (0: any bad record "
        "stops the run). Bad records under the limit are skipped and listed in train.log.",
        min=0.0, max=1.0)


@dataclass
class PrefArgs:
    pref_beta: float = arg(
        0.1, "beta: strength of the pull towards the reference (DPO, KTO), the odds-ratio weight "
        "(ORPO) or the reward scale (SimPO).", gt=0.0, max=100.0, stages=BETA_STAGES, main=True)
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
        "simpo.", choices=PAIRWISE_LOSSES, stages=PREF_STAGES, main=True)
    pref_ftx: float = arg(0.0, "Weight of an SFT loss on the chosen answers, added to the "
                          "preference loss.", min=0.0, max=WEIGHT_MAX,
                          stages=PREF_STAGES)
    dpo_label_smoothing: float = arg(
        0.0, "Assumed share of flipped labels (cDPO for sigmoid, robust DPO for robust).",
        min=0.0, max=0.49, stages=PREF_STAGES, when={"pref_loss": ("sigmoid", "robust")})
    simpo_gamma: float = arg(0.5, "SimPO target reward margin gamma.", min=0.0, max=WEIGHT_MAX,
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
        "frozen copy (full).", stages=REF_STAGES, path="model", suggest=MODEL_SUGGESTIONS)
    ref_model_adapters: str | None = arg(
        None, "Adapters applied to ref_model, comma-separated.", stages=REF_STAGES,
        path="paths", pick="adapters")
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
        "to 0 at 0 and at twice the target.", min=1, max=TOKENS_MAX,
        stages=("grpo",))
    reward_model: str | None = arg(
        None, "reward_model: the run directory of an rm run (e.g. saves/rm-demo).",
        stages=("grpo",), path="paths")
    num_generations: int = arg(
        4, "Completions sampled per prompt (the group). per_device_train_batch_size x "
        "gradient_accumulation_steps counts completions and must be a multiple of it.", min=2,
        max=BATCH_MAX, stages=("grpo",))
    max_completion_length: int = arg(
        128, "Most tokens generated per completion.", min=1, max=TOKENS_MAX, stages=("grpo",))
    grpo_beta: float = arg(
        0.0, "KL weight towards the reference (0: no reference pass, faster; DeepSeek-R1 used "
        "0.001).", min=0.0, max=10.0, stages=("grpo",))
    temperature: float = arg(
        1.0, "Sampling temperature of the generations.", gt=0.0, max=10.0, stages=("grpo",))


@dataclass
class OptimArgs:
    learning_rate: float = arg(5e-5, "Peak learning rate.", gt=0.0, max=1.0, main=True)
    num_train_epochs: float = arg(3.0, "Passes over the data (ignored when max_steps > 0).",
                                  gt=0.0, max=10_000.0, main=True)
    max_steps: int = arg(-1, "Stop after this many optimizer steps (-1: use epochs).", min=-1,
                         max=STEPS_MAX)
    per_device_train_batch_size: int = arg(1, "Pairs (or examples) per device per step.", min=1,
                                           max=BATCH_MAX, main=True)
    per_device_eval_batch_size: int = arg(1, "Batch size for evaluation.", min=1,
                                          max=BATCH_MAX)
    gradient_accumulation_steps: int = arg(8, "Batches summed before each optimizer step.", min=1,
                                           max=BATCH_MAX)
    lr_scheduler_type: str = arg("cosine", "Learning-rate schedule after warmup.",
                                 choices=SCHEDULERS)
    min_lr_ratio: float = arg(0.1, "Floor of the cosine schedule as a share of learning_rate "
                              "(e.g. lr/10).", min=0.0, max=1.0,
                              when={"lr_scheduler_type": ("cosine_with_min_lr",)})
    warmup_ratio: float = arg(0.1, "Share of the steps spent warming the learning rate up.",
                              min=0.0, max=1.0)
    warmup_steps: int = arg(0, "Warmup steps (overrides warmup_ratio when > 0).", min=0,
                            max=STEPS_MAX)
    # Ceilings above 1: a bounded float whose range is at most 1 is a 0.01-step slider in the
    # form, which would round weight_decay 0.001.
    weight_decay: float = arg(0.0, "AdamW weight decay.", min=0.0, max=10.0)
    max_grad_norm: float = arg(1.0, "Clip the gradient norm to this (0: no clipping).", min=0.0,
                               max=10_000.0)
    optim: str = arg("adamw_torch", "Optimizer (transformers' names). The 8-bit, paged and lion "
                     "ones need a CUDA GPU with bitsandbytes.", choices=OPTIMIZERS)
    # lt, not max: a float with min and max 1 apart becomes a 0.01-step slider in the form,
    # which would round 0.999.
    adam_beta1: float = arg(0.9, "Adam beta1 (momentum), below 1.", min=0.0, lt=1.0)
    adam_beta2: float = arg(0.999, "Adam beta2 (second-moment decay), below 1.", min=0.0, lt=1.0)
    adam_epsilon: float = arg(1e-8, "Adam epsilon.", gt=0.0, max=1.0)
    lr_scheduler_kwargs: str | None = arg(
        None, "Extra schedule arguments as JSON (a YAML mapping works too), e.g. "
        '{"min_lr": 1e-6} for cosine_with_min_lr or {"num_cycles": 2}. They win over min_lr_ratio.')
    seed: int = arg(42, "Random seed for data order, dropout and initialisation.", min=0,
                    max=SEED_MAX)
    bf16: bool = arg(False, "Train in bfloat16 (GPU). Falls back to fp32 with a warning where "
                     "unsupported.")
    pure_bf16: bool = arg(False, "Keep the weights in bfloat16 and train without mixed "
                          "precision (less memory than bf16, which keeps fp32 master weights).")
    fp16: bool = arg(False, "Train in float16 with loss scaling (CUDA only).")
    chunked_logps: bool = arg(
        True, "Apply the LM head only at the scored (answer) tokens, a chunk at a time, "
        "recomputing instead of keeping the [tokens x vocabulary] logits: far less memory. "
        "Exact; off: dpo computes logits for every position from the batch's first answer "
        "token on, padding and other rows' prompts included; kto uses TRL's fused head, which "
        "leaves LoRA on lm_head out.", stages=("dpo", "kto"))
    gradient_checkpointing: bool = arg(False, "Recompute activations in the backward pass: "
                                       "less memory, ~30% slower.")
    dataloader_num_workers: int = arg(
        0, "Worker processes for data loading: at most one per CPU of this machine (4 where it "
        "has fewer).", min=0, max=WORKERS_MAX)


@dataclass
class DistArgs:
    nproc_per_node: int | None = arg(
        None, "Training processes on this machine, one per GPU. Empty: every visible GPU (1 "
        "on a machine without one). More than 1 launches the run through torchrun.", min=1,
        max=PROCS_MAX)
    nnodes: int = arg(1, "Machines (nodes) the run spans; each runs nproc_per_node processes. "
                      "The command for the other nodes is printed when the run starts.",
                      min=1, max=PROCS_MAX)
    node_rank: int = arg(0, "This machine's number among the nodes (0: the one that writes the "
                         "run folder).", min=0, max=PROCS_MAX - 1)
    master_addr: str = arg("127.0.0.1", "Address of node 0, which every node must reach.",
                           max_len=255)
    master_port: int = arg(29500, "Free TCP port on node 0 for the processes to meet.", min=1,
                           max=65535)
    deepspeed: str | None = arg(
        None, "DeepSpeed ZeRO (CUDA GPUs): a preset (z0, z2, z2_offload, z3, z3_offload; "
        "written into the run folder as deepspeed.json) or the path of a DeepSpeed JSON "
        "config. Empty: plain data parallel (DDP).", max_len=4096, path="config")
    fsdp: str | None = arg(
        None, "PyTorch FSDP (CUDA GPUs), transformers' options separated by spaces, e.g. "
        "full_shard auto_wrap (the Qwen decoder layer is the unit wrapped). Empty: no FSDP.",
        max_len=200)
    fsdp_config: str | None = arg(
        None, "Extra FSDP settings as JSON (a YAML mapping works too) or the path of a JSON "
        "file; they win over what fsdp sets, e.g. {\"version\": 1} for FSDP1. Empty: FSDP2.",
        max_len=65536, path="config")
    ddp_find_unused_parameters: bool = arg(
        False, "DDP: look for parameters without a gradient at every step (slower; needed "
        "only when some trained layers go unused). Off suits LoRA and full training.")
    ddp_timeout: int = arg(1800, "Seconds a multi-process (torchrun) run waits for its other "
                           "processes before failing.", min=1, max=TIMEOUT_MAX, ui=False)


@dataclass
class OutputArgs:
    output_dir: str | None = arg(None, "Run directory. Empty: saves/<run_name>.", path="dir")
    run_name: str | None = arg(
        None, f"Run name, at most {NAME_MAX} bytes. Without output_dir it names the folder "
        "saves/<run_name>, so then it is one folder name (no /). Empty: "
        "<stage>-<dataset>-<date>-<time>.",
        max_len=NAME_MAX)
    logging_steps: int = arg(5, "Write metrics every N optimizer steps.", min=1, max=STEPS_MAX)
    save_strategy: str = arg("steps", "When to save a checkpoint: every save_steps steps, every "
                             "epoch, or no (only the final model; an abort still saves one).",
                             choices=STRATEGIES)
    save_steps: int = arg(100, "Save a resumable checkpoint every N steps.", min=1, max=STEPS_MAX,
                          when={"save_strategy": ("steps",)})
    save_only_model: bool = arg(
        False, "Checkpoints hold only the weights, not the optimizer and schedule: smaller, but "
        "a run cannot resume from them.")
    save_total_limit: int | None = arg(None, "Keep at most this many checkpoints.", min=1,
                                         max=COUNT_MAX)
    eval_strategy: str = arg("steps", "When to evaluate, given val_size or eval_dataset: every "
                             "eval_steps steps, every epoch, or no.", choices=STRATEGIES)
    eval_steps: int | None = arg(None, "Evaluate every N steps (needs val_size or eval_dataset). "
                                 "Empty: logging_steps.", min=1, max=STEPS_MAX,
                                 when={"eval_strategy": ("steps",)})
    plot_loss: bool = arg(False, "At the end, also draw the loss curves (loss, smoothed, "
                          "eval_loss) into training_loss.svg in the run folder.")
    report_to: str = arg("none", "Also log to tensorboard, wandb, swanlab or mlflow (its package "
                         "must be installed; metrics.jsonl is always written).", choices=REPORTERS)
    stop_on_alarm: bool = arg(
        False, "Stop the run when an alarm fires (loss stuck at its start, diverging, NaN, "
        "overfitting, ...): a checkpoint is saved, the run ends as aborted with the alarm as "
        "its reason and resumes with resume_from_checkpoint=true. Off: alarms are only shown.")
    resume_from_checkpoint: bool | str | None = arg(
        None, "true: continue from the newest complete checkpoint in output_dir; a path: from "
        "that checkpoint.", path="checkpoint")
    overwrite_output_dir: bool = arg(
        False, "LLaMA-Factory's key, kept for its YAMLs. Nothing is ever deleted: true or false, a "
        "new run may reuse output_dir only when it holds no checkpoint, no final model and no "
        "completed run (e.g. one that failed before its first save); otherwise resume it or "
        "choose a new output_dir.", ui=False)
