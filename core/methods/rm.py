"""Reward modelling (stage rm) with TRL's RewardTrainer on our tokenized pairs.

    python -m core train examples/rm_demo.yaml

The model is the base (+ every start adapter, merged) with a one-output score head; the loss
is -log sigmoid(r_chosen - r_rejected). A batch holds B pairs laid out as the dpo stage lays
them (PairBatcher, packing.py): with prefix_sharing each pair is one sequence (prompt, chosen,
rejected; rejected never attends to chosen and its position ids continue from the prompt's
end), with packing the pairs share rows without padding (block-diagonal 4D mask). The model's
own forward runs on that layout; a forward hook keeps the score head's output at every
position and each sequence's reward is read at the one position the head pools in the plain
layout (its last token whose id is not the pad id, packing.pooled), so every switch is exact.
Both off (or attention that cannot take a 4D mask: flash_attention_2), a batch is TRL's: 2B
right-padded rows [prompt+chosen_1..B, prompt+rejected_1..B], TRL's collator and loss.
group_by_length batches pairs of similar length, as dpo does (the same sampler and lengths,
whatever the layout), so packs fill; off: TRL's shuffle.

Logged: loss, rewards/accuracies (share of pairs ranked right), rewards/margins (mean
r_chosen - r_rejected), min_reward, mean_reward, max_reward, num_tokens (each answer with its
prompt, whatever the layout) and eval_* of them with val_size. The run directory holds a
SEQ_CLS LoRA adapter whose score head is saved with it (or full weights); GRPO
(`reward_model: saves/<run>`) and the evaluation judge score with it through reward_model.py
(RewardScorer), which does not import TRL.
"""
from __future__ import annotations

import logging

import torch
from torch.nn import functional as F
from trl import RewardTrainer

from core.config import RunConfig

from .pairwise import (
    SeededLengthGroupedSampler,
    data_seed,
    global_batch,
    pair_batcher,
    pair_lengths,
)
from .scoring import model_mask

log = logging.getLogger(__name__)
Tensor = torch.Tensor
# TRL's names -> the names every preference stage logs (DESIGN.md, metrics.jsonl)
RENAMED = {"accuracy": "rewards/accuracies", "margin": "rewards/margins"}


class PairwiseRewardTrainer(RewardTrainer):
    """RewardTrainer logging accuracy and margin under the preference stages' names; batches
    from PairBatcher(pool=True) (they hold score_index) get the fast, exact loss. `lengths`
    (pairwise.pair_lengths of the train pairs): batch pairs of similar length; None: TRL's
    shuffle."""

    def __init__(self, *args, lengths: list[int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lengths = lengths

    def _get_train_sampler(self, train_dataset=None):
        if self.lengths is None:
            return super()._get_train_sampler(train_dataset)
        return SeededLengthGroupedSampler(global_batch(self.args), self.lengths,
                                          data_seed(self.args))

    def compute_loss(self, model, inputs, return_outputs=False,
                     num_items_in_batch=None) -> Tensor | tuple[Tensor, dict]:
        if "score_index" not in inputs:  # TRL's padded rows: TRL's loss
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        rewards = pooled_rewards(model, inputs)  # [2B, 1], as TRL's outputs.logits
        chosen, rejected = rewards.squeeze(-1).chunk(2)
        loss = -F.logsigmoid(chosen - rejected).mean()
        self._record(inputs["tokens"], rewards, chosen, rejected)
        return (loss, {"logits": rewards}) if return_outputs else loss

    def _record(self, tokens: Tensor, rewards: Tensor, chosen: Tensor, rejected: Tensor) -> None:
        """TRL's metrics for one batch, gathered over the processes as TRL gathers them."""
        mode = "train" if self.model.training else "eval"
        metrics, gather = self._metrics[mode], self.accelerator
        if mode == "train":  # the pairs' tokens as padded rows would hold them, not padding
            self._total_train_tokens += gather.gather_for_metrics(tokens).sum().item() \
                // self._tp_size
        metrics["num_tokens"] = [self._total_train_tokens]
        with torch.no_grad():
            every = gather.gather(rewards)
            metrics["min_reward"].append(every.min().item())
            metrics["mean_reward"].append(every.mean().item())
            metrics["max_reward"].append(every.max().item())
            accuracy = (chosen > rejected).float().mean()
            metrics["accuracy"].append(gather.gather_for_metrics(accuracy).mean().item())
            margin = (chosen - rejected).mean()
            metrics["margin"].append(gather.gather_for_metrics(margin).mean().item())

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        for stored in self._metrics.values():
            for old, new in RENAMED.items():
                if old in stored:
                    stored[new] = stored.pop(old)
        super().log(logs, start_time)


def pooled_rewards(model, batch: dict[str, Tensor]) -> Tensor:
    """[2B, 1] the score head's output at each sequence's pooled position (batch["score_index"],
    flat into [rows * L]), through the model's own forward, so PEFT (its modules_to_save copy
    of the head), DDP and ZeRO wrappers apply. The head's own pooling (last non-pad token of
    each packed row) is computed by the model and ignored."""
    head = score_head(model)
    seen: list[Tensor] = []
    hook = head.register_forward_hook(lambda module, args, out: seen.append(out))
    try:
        model(input_ids=batch["input_ids"], position_ids=batch.get("position_ids"), use_cache=False,
              attention_mask=model_mask(model, batch))
    finally:
        hook.remove()
    scores = seen[-1]  # [rows, L, 1]
    return scores.reshape(-1, scores.shape[-1]).index_select(0, batch["score_index"])


def score_head(model) -> torch.nn.Module:
    """The score module of a (DDP/DeepSpeed-wrapped, PEFT) sequence classifier: with LoRA it is
    PEFT's ModulesToSaveWrapper, whose output is the trained copy's."""
    model = getattr(model, "module", model)
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model.score


def train(cfg: RunConfig, rd, data, tokenizer, checkpoint: str | None) -> bool:
    """Train stage rm into `rd`; True if stopped early. See the module docstring."""
    from trl import RewardConfig

    from core.runs.progress import Phase

    from .common import callbacks, fit, load_model, to_dataset, training_arguments

    model = load_model(cfg, rd, tokenizer, head="reward")
    model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-pad token
    batcher = pair_batcher(cfg, model, tokenizer.pad_token_id, pool=True)
    fast = batcher.prefix_sharing or batcher.packing
    log.info("rm batches: prefix sharing %s, packing %s.", *(
        "on" if on else "off" for on in (batcher.prefix_sharing, batcher.packing)))
    rows = _pairs if fast else _sequences
    evals = data.eval_features
    # cutoff_len already bounds prompt + answer; TRL would drop longer pairs silently.
    args = training_arguments(cfg, rd, bool(evals), RewardConfig, max_length=None)
    cbs, stop = callbacks(rd, cfg)
    with Phase(rd, "trainer"):  # TRL prepares the datasets here
        trainer = PairwiseRewardTrainer(
            model=model, args=args, processing_class=tokenizer, callbacks=cbs,
            data_collator=batcher if fast else None,  # None: TRL's DataCollatorForPreference
            lengths=pair_lengths(data.train_features) if cfg.group_by_length else None,
            train_dataset=to_dataset(rows(data.train_features)),
            eval_dataset=to_dataset(rows(evals)) if evals else None)
    return fit(trainer, rd, tokenizer, checkpoint, stop)


def _sequences(features: list[dict]) -> list[dict]:
    """TRL's rows: each answer with its prompt."""
    return [{"chosen_ids": f["prompt_ids"] + f["chosen_ids"],
             "rejected_ids": f["prompt_ids"] + f["rejected_ids"]} for f in features]


def _pairs(features: list[dict]) -> list[dict]:
    """PairBatcher's rows: the prompt once, the answers alone (TRL sees chosen_ids and
    rejected_ids and leaves the rows as they are)."""
    return [{"prompt_ids": f["prompt_ids"], "chosen_ids": f["chosen_ids"],
             "rejected_ids": f["rejected_ids"]} for f in features]
