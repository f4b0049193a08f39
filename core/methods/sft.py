"""Supervised fine-tuning (stage sft) with TRL's SFTTrainer on our tokenized conversations.

    python -m core train examples/sft_demo.yaml
    python -m core train examples/sft_demo.yaml train_on_prompt=true packing=true

The conversations are tokenized with the run's template (core/data/tokenize.py): the loss
covers every assistant turn, end-of-turn token included, or every token with
train_on_prompt. With packing, conversations are packed into cutoff_len sequences without
padding; attention stays inside each conversation (position ids restart). Logged: loss,
mean_token_accuracy, entropy, num_tokens (and eval_* of them with val_size).
"""
from __future__ import annotations

import logging

from core.config import RunConfig

log = logging.getLogger(__name__)
IGNORE = -100  # label of a token outside the loss


def labelled(features: list[dict], train_on_prompt: bool) -> list[dict]:
    """input_ids + labels (IGNORE outside the loss), the form SFTTrainer uses as it is."""
    return [{"input_ids": f["input_ids"],
             "labels": [t if (m or train_on_prompt) else IGNORE
                        for t, m in zip(f["input_ids"], f["assistant_mask"])]}
            for f in features]


def train(cfg: RunConfig, rd, data, tokenizer, checkpoint: str | None) -> bool:
    """Train stage sft into `rd`; True if stopped early. See the module docstring."""
    from trl import SFTConfig, SFTTrainer

    from core.models.policy import load_policy

    from .common import callbacks, describe, fit, to_dataset, training_arguments

    model = load_policy(cfg, tokenizer)
    describe(model)
    evals = data.eval_features
    args = training_arguments(cfg, rd, bool(evals), SFTConfig, max_length=cfg.cutoff_len,
                              packing=bool(cfg.packing), dataset_num_proc=None)
    cbs, stop = callbacks(rd, cfg)
    trainer = SFTTrainer(
        model=model, args=args, processing_class=tokenizer, callbacks=cbs,
        train_dataset=to_dataset(labelled(data.train_features, cfg.train_on_prompt)),
        eval_dataset=to_dataset(labelled(evals, cfg.train_on_prompt)) if evals else None)
    return fit(trainer, rd, tokenizer, checkpoint, stop)
