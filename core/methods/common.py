"""What every stage shares: TrainingArguments (or a TRL config) from a RunConfig, datasets,
callbacks, resume selection, the training call and the final save. A stage module
(core/methods/<stage>.py) builds its model and trainer and hands over to `fit`."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from core.config import RunConfig
from core.errors import UserError
from core.models.loading import compute_dtype
from core.runs.placement import resume_settings
from core.runs.progress import Phase
from core.runs.rundir import RunDir

from .alarms import AlarmWatch
from .callbacks import CheckpointMarker, GracefulStop, RunFiles, saving
from .finite import FiniteGuard, check_weights
from .sharding import deepspeed_settings, fsdp_settings, world_size

log = logging.getLogger(__name__)


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, items: list[dict]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def to_dataset(rows: list[dict]) -> Any:
    """A datasets.Dataset, which TRL's trainers require (they map over it)."""
    from datasets import Dataset

    return Dataset.from_list(rows)


def training_arguments(cfg: RunConfig, rd: RunDir, has_eval: bool, args_cls: Any = None,
                       **extra: Any) -> Any:
    """HF TrainingArguments (or a TRL subclass such as KTOConfig) for this run. Every value is
    set from the config, so TRL's different defaults (bf16 on, gradient checkpointing on,
    logging every 10 steps) never apply."""
    from transformers import TrainingArguments

    dtype = compute_dtype(cfg)
    evaluates = has_eval and cfg.eval_strategy != "no"
    kwargs = dict(
        output_dir=str(rd.path), run_name=cfg.run_name, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        lr_scheduler_type=cfg.lr_scheduler_type, lr_scheduler_kwargs=scheduler_kwargs(cfg),
        warmup_steps=cfg.warmup_steps if cfg.warmup_steps > 0 else cfg.warmup_ratio,
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm, optim=cfg.optim,
        adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2, adam_epsilon=cfg.adam_epsilon,
        logging_steps=cfg.logging_steps, logging_first_step=False,
        # save_total_limit is applied by CheckpointMarker, once the new checkpoint is complete
        save_strategy=cfg.save_strategy, save_steps=cfg.save_steps, save_total_limit=None,
        save_only_model=cfg.save_only_model,
        logging_nan_inf_filter=False,  # a NaN loss is logged as NaN (finite.FiniteGuard stops)
        eval_strategy=cfg.eval_strategy if evaluates else "no",
        eval_steps=(cfg.eval_steps or cfg.logging_steps) if evaluates else None,
        seed=cfg.seed, data_seed=cfg.seed,
        # pure_bf16: the weights are already bf16 (LoadOptions.of_run), so no autocast
        bf16=dtype == torch.bfloat16 and not cfg.pure_bf16, fp16=dtype == torch.float16,
        report_to=[] if cfg.report_to == "none" else [cfg.report_to],
        remove_unused_columns=False, disable_tqdm=True,
        dataloader_num_workers=cfg.dataloader_num_workers, ddp_timeout=cfg.ddp_timeout,
        use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=False,  # load_policy enables it on the model when asked
        # several processes (torchrun, core/training/launch.py): DDP, DeepSpeed or FSDP
        deepspeed=deepspeed_settings(cfg, rd.path), fsdp=bool(cfg.fsdp),
        fsdp_config=fsdp_settings(cfg), ddp_find_unused_parameters=cfg.ddp_find_unused_parameters,
    )
    kwargs.update(extra)
    return (args_cls or TrainingArguments)(**kwargs)


def scheduler_kwargs(cfg: RunConfig) -> dict[str, Any]:
    """min_lr_ratio for cosine_with_min_lr, then lr_scheduler_kwargs (which win)."""
    out: dict[str, Any] = {}
    given = json.loads(cfg.lr_scheduler_kwargs) if cfg.lr_scheduler_kwargs else {}
    if cfg.lr_scheduler_type == "cosine_with_min_lr" and not {"min_lr", "min_lr_rate"} & set(given):
        out["min_lr_rate"] = cfg.min_lr_ratio
    return out | given


def quiet(trainer) -> None:
    """Our RunFiles callback logs each step; drop the Trainer's own printing of the dicts."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


def callbacks(rd: RunDir, cfg: RunConfig) -> tuple[list, GracefulStop]:
    stop = GracefulStop(rd)
    batch = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * world_size()
    marker = CheckpointMarker(cfg.save_total_limit, resume_settings(cfg))
    pairs = cfg.stage in ("dpo", "rm")  # a sample is a preference pair
    watch = AlarmWatch(rd, cfg, stop)
    return [FiniteGuard(), RunFiles(rd, batch, pairs), marker, stop, watch], stop


def load_model(cfg: RunConfig, rd: RunDir, tokenizer, **kwargs: Any) -> Any:
    """The policy (core.models.policy.load_policy), shown as the run's "model" phase."""
    from core.models.policy import load_policy

    with Phase(rd, "model"):
        model = load_policy(cfg, tokenizer, **kwargs)
    describe(model)
    return model


def describe(model) -> None:
    from core.models.loading import count_parameters

    trainable, total = count_parameters(model)
    log.info("Model: %s trainable of %s parameters (%.2f%%).", f"{trainable:,}", f"{total:,}",
             100 * trainable / max(total, 1))


class TokenCount(TrainerCallback):
    """TRL's trainers count num_tokens from zero in every process; a resumed run continues the
    count from the checkpoint's log history, so metrics.jsonl reads as one run."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kw) -> None:
        counts = [h["num_tokens"] for h in state.log_history if "num_tokens" in h]
        if counts and hasattr(self.trainer, "_total_train_tokens"):
            self.trainer._total_train_tokens = int(counts[-1])


def fit(trainer, rd: RunDir, tokenizer, checkpoint: str | None, stop: GracefulStop) -> bool:
    """Train (from `checkpoint` when resuming), save the final model; True if stopped early.
    An abort's SIGTERM during the final save is noted by GracefulStop and the save finishes:
    the run is complete then, and a half-written final model would block its folder."""
    quiet(trainer)
    trainer.add_callback(TokenCount(trainer))
    # optimizer, data loader and a resumed checkpoint's state load before the first step;
    # RunFiles clears the phase when training begins
    Phase(rd, "start").start()
    try:
        _train(trainer, checkpoint)
        # a stop requested during the last step: training is over anyway, save the final model
        stopped = stop.stopping and trainer.state.global_step < trainer.state.max_steps
        if stopped:  # no final model: the run is resumable from the checkpoint just saved
            log.info("Stopped early at step %d; resume with resume_from_checkpoint=true.",
                     trainer.state.global_step)
        else:
            saving(rd)
            save_trained(trainer, tokenizer, rd)
    finally:
        stop.restore()
    return stopped


def _train(trainer, checkpoint: str | None) -> None:
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
    except Exception as e:  # a torn file torch could not read: name it (never torch's advice)
        bad = unreadable_file(Path(checkpoint)) if checkpoint and not isinstance(e, UserError) \
            else None
        if bad is None:
            raise
        raise UserError(f"resume_from_checkpoint: {Path(checkpoint) / bad[0]} is corrupt and "
                        f"cannot be read safely ({bad[1]}); resume from another checkpoint, or "
                        "start fresh in a new output_dir") from None


def unreadable_file(folder: Path) -> tuple[str, str] | None:
    """The first file of a checkpoint that does not load safely (torch files with
    weights_only, safetensors by their header), with a short reason; None when all load."""
    from safetensors import safe_open
    from transformers.trainer_pt_utils import (
        safe_globals,  # numpy's RNG state, as HF loads it
    )

    for path in sorted(folder.iterdir()):
        try:  # training_args.bin is a pickle the Trainer saves but never loads
            if path.suffix in (".pt", ".pth", ".bin") and path.name != "training_args.bin":
                with safe_globals():
                    torch.load(path, map_location="cpu", weights_only=True)
            elif path.suffix == ".safetensors":
                with safe_open(str(path), "pt") as f:
                    for name in f.keys():
                        f.get_tensor(name)
        except Exception as e:  # any reason it cannot be read is the answer
            text = str(e).strip()
            if "weights only" in text.lower() or "weights_only" in text:
                text = "it holds something other than plain tensors"  # not torch's advice
            return path.name, (text.splitlines()[0][:200] if text else type(e).__name__)
    return None


def save_trained(trainer, tokenizer, rd: RunDir) -> None:
    """The trainer's final model. Sharded (DeepSpeed ZeRO-3, FSDP): the Trainer gathers the
    weights and rank 0 writes them; DDP: rank 0 writes the folder (save_final)."""
    if trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled:
        trainer.save_model(str(rd.path))
        if trainer.args.should_save:
            tokenizer.save_pretrained(rd.path)
        return
    if trainer.args.should_save:
        save_final(trainer.model, tokenizer, rd, trainer.state.global_step)


def save_final(model, tokenizer, rd: RunDir, step: int) -> None:
    """The final adapter (LoRA; only the trained one) or full weights, plus the tokenizer;
    refused (NotFiniteError) when a trainable weight is NaN or infinite."""
    check_weights(model, "the final model not saved", step)
    unwrapped = model
    if hasattr(unwrapped, "peft_config"):
        unwrapped.save_pretrained(rd.path, selected_adapters=["default"])
    else:
        unwrapped.save_pretrained(rd.path)
    tokenizer.save_pretrained(rd.path)
    log.info("Final model saved to %s", rd.path)
