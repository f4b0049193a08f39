"""Reward modelling (stage rm) with TRL's RewardTrainer on our tokenized pairs.

    python -m core train examples/rm_demo.yaml

The model is the base (+ every start adapter, merged) with a one-output score head reading
the last token; the loss is -log sigmoid(r_chosen - r_rejected). Logged: loss,
rewards/accuracies (share of pairs ranked right), rewards/margins (mean r_chosen -
r_rejected), min_reward, mean_reward, max_reward (and eval_* of them with val_size). The run
directory holds a SEQ_CLS LoRA adapter whose score head is saved with it (or full weights);
GRPO (`reward_model: saves/<run>`) and the evaluation judge score with it through
reward_model.py (RewardScorer), which does not import TRL.
"""
from __future__ import annotations

import logging

from trl import RewardTrainer

from core.config import RunConfig

log = logging.getLogger(__name__)
# TRL's names -> the names every preference stage logs (DESIGN.md, metrics.jsonl)
RENAMED = {"accuracy": "rewards/accuracies", "margin": "rewards/margins"}


class PairwiseRewardTrainer(RewardTrainer):
    """RewardTrainer logging accuracy and margin under the preference stages' names."""

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        for stored in self._metrics.values():
            for old, new in RENAMED.items():
                if old in stored:
                    stored[new] = stored.pop(old)
        super().log(logs, start_time)


def train(cfg: RunConfig, rd, data, tokenizer, checkpoint: str | None) -> bool:
    """Train stage rm into `rd`; True if stopped early. See the module docstring."""
    from trl import RewardConfig

    from core.runs.progress import Phase

    from .common import callbacks, fit, load_model, to_dataset, training_arguments

    model = load_model(cfg, rd, tokenizer, head="reward")
    model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-pad token
    evals = data.eval_features
    # cutoff_len already bounds prompt + answer; TRL would drop longer pairs silently.
    args = training_arguments(cfg, rd, bool(evals), RewardConfig, max_length=None)
    cbs, stop = callbacks(rd, cfg)
    with Phase(rd, "trainer"):  # TRL prepares the datasets here
        trainer = PairwiseRewardTrainer(
            model=model, args=args, processing_class=tokenizer, callbacks=cbs,
            train_dataset=to_dataset(_sequences(data.train_features)),
            eval_dataset=to_dataset(_sequences(evals)) if evals else None)
    return fit(trainer, rd, tokenizer, checkpoint, stop)


def _sequences(features: list[dict]) -> list[dict]:
    return [{"chosen_ids": f["prompt_ids"] + f["chosen_ids"],
             "rejected_ids": f["prompt_ids"] + f["rejected_ids"]} for f in features]
