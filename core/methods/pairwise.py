"""Pairwise preference training (stage dpo: DPO and its losses, ORPO, SimPO) on transformers.Trainer.

A batch holds B pairs (PairBatcher, packing.py): with prefix_sharing each pair is one
sequence (prompt, chosen, rejected; rejected never attends to chosen), with packing the pairs
share rows without padding, and with chunked_logps the LM head runs only at the scored answer
tokens, a chunk at a time (head.py); every switch is exact. Switched off, the batch is 2B
right-padded sequences, [chosen_1..B, rejected_1..B]. group_by_length batches pairs of similar
length (SeededLengthGroupedSampler, which stage rm uses too). Only the answer tokens (ending
with the template's end token) are scored. Reference log-probs come precomputed in the
features (see reference.py), so a step is one policy forward. With pref_beta_schedule linear,
beta moves from pref_beta_start to pref_beta_end over the steps (logged as `beta`).
num_tokens counts the pairs' tokens trained so far.

    python -m core train examples/dpo_demo.yaml
"""
from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_pt_utils import (
    LengthGroupedSampler,
    get_length_grouped_indices,
)

from core.config import RunConfig

from .logps import pair_logps
from .losses import LOSSES, preference_loss
from .packing import PairBatcher
from .scoring import accepts_4d_mask, attention_impl, wants_block_mask
from .sharding import is_sharded, mean_over_ranks, sum_over_ranks, zero3_engine

log = logging.getLogger(__name__)


@dataclass
class PairCollator:
    """Pads [prompt+chosen..., prompt+rejected...] and marks the answer tokens."""

    pad_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        seqs = [f["prompt_ids"] + f["chosen_ids"] for f in features]
        seqs += [f["prompt_ids"] + f["rejected_ids"] for f in features]
        answers = [len(f["chosen_ids"]) for f in features] + [len(f["rejected_ids"]) for f in features]
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((len(seqs), width), dtype=torch.long)
        comp = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (seq, n) in enumerate(zip(seqs, answers)):
            ids[i, :len(seq)] = torch.tensor(seq)
            attn[i, :len(seq)] = 1
            comp[i, len(seq) - n:len(seq)] = 1
        batch = {"input_ids": ids, "attention_mask": attn, "completion_mask": comp}
        if all("ref_chosen_logps" in f for f in features):  # else pair_loss says what is wrong
            for key in ("ref_chosen_logps", "ref_rejected_logps"):
                batch[key] = torch.tensor([f[key] for f in features], dtype=torch.float32)
        return batch


class PairwiseTrainer(Trainer):
    """Trainer whose loss is one of losses.LOSSES; logs rewards, margins, accuracies, logps."""

    def __init__(self, *args, run: RunConfig, **kwargs):
        super().__init__(*args, **kwargs)
        self.run = run
        self.loss_spec = LOSSES[run.pref_loss]
        self.beta = run.pref_beta  # a callback may change it (pref_beta_schedule)
        self._metrics: dict[str, dict[str, list[float]]] = {"train": defaultdict(list),
                                                           "eval": defaultdict(list)}
        self._total_train_tokens = 0  # before this process: common.TokenCount restores it
        self._own_tokens = 0  # this process's (one rank's) since it started

    def _get_train_sampler(self, train_dataset=None):
        """group_by_length: pairs of similar length batched together (SeededLengthGroupedSampler);
        otherwise the Trainer's seeded shuffle."""
        if not self.run.group_by_length:
            return super()._get_train_sampler(train_dataset)
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        lengths = pair_lengths(dataset[i] for i in range(len(dataset)))
        return SeededLengthGroupedSampler(global_batch(self.args), lengths, data_seed(self.args))

    def pair_loss(self, model, inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean loss over the batch's pairs and the per-pair metrics."""
        run = self.run
        sums, counts, unweighted = pair_logps(
            model, inputs, run.ld_alpha if not self.loss_spec.average else None)
        averages = unweighted / counts.clamp(min=1)
        logps = averages if self.loss_spec.average else sums
        pc, pr = logps.chunk(2)
        rc = rr = None
        if self.loss_spec.reference:
            if "ref_chosen_logps" not in inputs:  # planned_pairs missed a pair the run trains on
                raise RuntimeError("a training batch holds pairs without reference log-probs "
                                   "(the reference pass covers the pairs max_steps reaches); "
                                   "this is a bug: please report it with the run's config.yaml")
            rc, rr = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
            if self.loss_spec.average:
                cc, cr = counts.clamp(min=1).chunk(2)
                rc, rr = rc / cc, rr / cr
        chosen_nll = -averages.chunk(2)[0]
        losses, chosen_r, rejected_r, extra = preference_loss(
            run.pref_loss, pc, pr, rc, rr, beta=self.beta, eps=run.dpo_label_smoothing,
            gamma=run.simpo_gamma, ftx=run.pref_ftx, chosen_nll=chosen_nll)
        metrics = {"rewards/chosen": chosen_r, "rewards/rejected": rejected_r,
                   "rewards/accuracies": (chosen_r > rejected_r).float(),
                   "rewards/margins": chosen_r - rejected_r,
                   "logps/chosen": pc.detach(), "logps/rejected": pr.detach(), **extra}
        return losses.mean(), metrics

    def compute_loss(self, model, inputs, return_outputs=False,
                     num_items_in_batch=None) -> torch.Tensor | tuple[torch.Tensor, dict]:
        loss, metrics = self.pair_loss(model, inputs)
        mode = "train" if model.training else "eval"
        if mode == "train" and "tokens" in inputs:
            self._own_tokens += int(inputs["tokens"])
        for key, value in metrics.items():
            self._metrics[mode][key].append(float(value.float().mean()))
        return (loss, {"loss": loss}) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only,
                        ignore_keys=None) -> tuple[torch.Tensor, None, None]:
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "eval" if any(k.startswith("eval_") for k in logs) else "train"
        stored = self._metrics[mode]
        prefix = "eval_" if mode == "eval" else ""
        # each rank's means, averaged over the ranks (each saw as many pairs): a rank's own
        # accuracy over its few pairs would read 0 or 1
        means = mean_over_ranks({k: sum(v) / len(v) for k, v in stored.items() if v},
                                self.args.device)
        logs.update({prefix + k: v for k, v in means.items()})
        stored.clear()
        if mode == "train" and "loss" in logs:
            logs["beta"] = self.beta
            logs["num_tokens"] = self._total_train_tokens + int(
                sum_over_ranks(self._own_tokens, self.args.device))
        super().log(logs, start_time)


class BetaSchedule(TrainerCallback):
    """Sets the trainer's beta before each step from the step number alone, so a resumed run
    continues the schedule exactly: start at the first step, end at the last."""

    def __init__(self, trainer: PairwiseTrainer, start: float, end: float):
        self.trainer, self.start, self.end = trainer, start, end

    def on_step_begin(self, args, state, control, **kw) -> None:
        share = min(state.global_step / max(state.max_steps - 1, 1), 1.0)
        self.trainer.beta = self.start + (self.end - self.start) * share


def train(cfg: RunConfig, rd, data, tokenizer, checkpoint: str | None) -> bool:
    """Train stage dpo into run directory `rd` (from `checkpoint` when resuming); returns True
    if stopped early (aborted). `data` is core.data.TrainingData with tokenized features."""
    from .common import ListDataset, callbacks, fit, load_model, training_arguments

    model = load_model(cfg, rd, tokenizer)
    collate = pair_batcher(cfg, model, tokenizer.pad_token_id)
    train_features, eval_features = data.train_features, data.eval_features
    args = training_arguments(cfg, rd, has_eval=bool(eval_features))
    if LOSSES[cfg.pref_loss].reference:
        reference_logps(cfg, rd, model, collate, args,
                        [(train_features, planned_pairs(args, cfg, train_features)),
                         (eval_features, None)])
    cbs, stop = callbacks(rd, cfg)
    trainer = PairwiseTrainer(
        model=model, args=args, train_dataset=ListDataset(train_features),
        eval_dataset=ListDataset(eval_features) if eval_features else None,
        data_collator=collate, processing_class=tokenizer, callbacks=cbs, run=cfg)
    if cfg.pref_beta_schedule == "linear":
        trainer.add_callback(BetaSchedule(trainer, cfg.pref_beta_start or cfg.pref_beta,
                                          cfg.pref_beta_end))
    return fit(trainer, rd, tokenizer, checkpoint, stop)


def reference_logps(cfg: RunConfig, rd, model, collate: PairBatcher, args,
                    parts: list[tuple[list[dict], list[int] | None]]) -> None:
    """Add the reference's log-probs to the pairs of each part (train, eval), each a list of
    features and the indices of the pairs the run needs (None: all): the run's "ref_model"
    phase when it loads one, then its "reference" phase, n/N pairs of all parts. The separate
    reference model is freed on return. `args`: the run's TrainingArguments (its device, and
    its processes when there are several)."""
    from core.runs.progress import Phase

    from .reference import build_reference, precompute

    with Phase(rd, "ref_model") if cfg.ref_model else contextlib.nullcontext():
        reference, ident = build_reference(cfg, model)
    for m in (model, reference.model):
        if m is not None and not getattr(m, "is_loaded_in_4bit", False) \
                and not getattr(m, "is_loaded_in_8bit", False):
            m.to(args.device)  # the Trainer would move the policy anyway
    del m  # the loop variable would otherwise keep the reference model alive
    if is_sharded(reference.model):  # ZeRO-3 sharded it at load: it needs an engine
        reference.model = zero3_engine(reference.model, args)
    total = sum(len(f) if needed is None else len(set(needed)) for f, needed in parts)
    # FSDP would hide the PeftModel (and its disable_adapter) inside its wrapper: the
    # reference log-probs are computed here, before the Trainer wraps anything. Several
    # processes: the first of each machine computes and caches, the others read the cache.
    with args.main_process_first(local=True, desc="reference log-probs"), \
            Phase(rd, "reference", total=total) as phase:
        for features, needed in parts:
            precompute(reference, features, collate, cfg.per_device_eval_batch_size,
                       args.device, cfg.ld_alpha, f"{ident}|{collate.describe()}",
                       next(model.parameters()).dtype, needed=needed, on_batch=phase.advance)


class SeededLengthGroupedSampler(LengthGroupedSampler):
    """HF's LengthGroupedSampler whose order in epoch e depends on (seed, e) alone (HF's draws
    from the global random state): a resume draws the same order, and the reference pass
    knows before training which pairs the run's steps reach (planned_pairs). The Trainer
    calls set_epoch at the start of every epoch. `batch_size` is the global batch: every rank
    takes its share of the same megabatches, so the order does not depend on how many
    processes train."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return get_length_grouped_indices(self.lengths, self.batch_size, generator=generator)

    def __iter__(self):
        return iter(self.order(self.epoch))


def pair_lengths(features) -> list[int]:
    """What group_by_length sorts pairs by: each pair's tokens with the prompt once (the same
    whatever layout the pairs train in)."""
    return [len(f["prompt_ids"]) + len(f["chosen_ids"]) + len(f["rejected_ids"])
            for f in features]


def data_seed(args) -> int:
    return args.data_seed if args.data_seed is not None else args.seed


def global_batch(args) -> int:
    """Pairs per optimizer step over all processes."""
    return args.train_batch_size * args.gradient_accumulation_steps * args.world_size


def planned_pairs(args, cfg: RunConfig, features: list[dict]) -> list[int] | None:
    """The train pairs a run with max_steps reaches, in its sampler's order (None: every pair):
    step s takes the next global_batch pairs of epoch 0's order, which is
    SeededLengthGroupedSampler's with group_by_length, else the Trainer's shuffle
    (accelerate's seedable sampler: torch.randperm from a generator seeded with data_seed)."""
    n = len(features)
    used = args.max_steps * global_batch(args)
    if args.max_steps <= 0 or used >= n:
        return None
    if cfg.group_by_length:
        return SeededLengthGroupedSampler(global_batch(args), pair_lengths(features),
                                          data_seed(args)).order(0)[:used]
    generator = torch.Generator().manual_seed(data_seed(args))
    return torch.randperm(n, generator=generator).tolist()[:used]


def pair_batcher(cfg: RunConfig, model, pad_id: int, pool: bool = False) -> PairBatcher:
    """The run's batch layout (batch_layout; `pool`: a reward model's, stage rm) for `model`'s
    attention; where it cannot take a 4D mask (flash_attention_2) pairs run as padded rows,
    with a warning."""
    masks = accepts_4d_mask(model)
    if (cfg.prefix_sharing or cfg.packing is not False) and not masks:
        log.warning("prefix_sharing and packing need attention that takes a 4D mask (sdpa, "
                    "eager); %s does not, so chosen and rejected run as padded rows. Set "
                    "flash_attn: auto for them.", attention_impl(model))
    return batch_layout(cfg, pad_id, masks, pool, wants_block_mask(model))


def batch_layout(cfg: RunConfig, pad_id: int, masks: bool = True, pool: bool = False,
                 block: bool = False) -> PairBatcher:
    """The layout of `cfg`'s switches: prefix sharing and packing only where the attention
    takes the layouts' masks (`masks`; `block`: as a FlexAttention BlockMask); packed rows hold
    up to 2 x cutoff_len tokens. The memory estimate (core.training.memory_layout) lays out
    batches with it too."""
    share, packing = cfg.prefix_sharing and masks, cfg.packing is not False and masks
    return PairBatcher(pad_id, share, packing, 2 * cfg.cutoff_len, cfg.chunked_logps, pool,
                       block)
