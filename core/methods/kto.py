"""KTO (stage kto) with TRL's KTOTrainer on our tokenized prompt/completion/label rows.

    python -m core train examples/kto_demo.yaml
    python -m core train examples/kto_demo.yaml kto_chosen_weight=0.8

The log-probs come from the scored-only LM head (chunked_logps, fused_head.py): the head
runs at the answer tokens only, LoRA on lm_head included. Unpaired data (LLaMA-Factory's
kto_tag column) trains as it is; paired data arrives already split into one desirable and
one undesirable row per pair (core/data). Desirable losses are
weighted by kto_chosen_weight and undesirable ones by kto_rejected_weight; when the classes
are unbalanced the run suggests weights (KTO paper, Eq. 8). The reference is the policy with
its adapter off (LoRA; base + a start adapter when continuing one), an explicit ref_model, or
a frozen copy of the initial weights (full/freeze). The KL estimate pairs each prompt with
another answer of its batch, so batches keep the data order and hold 2 or more rows.
Logged: loss, kl, rewards/chosen, rewards/rejected, rewards/margins, logps/*, logits/*.
"""
from __future__ import annotations

import copy
import logging

from trl import KTOTrainer

from core.config import RunConfig

log = logging.getLogger(__name__)
# chosen_weight * n_desirable / (rejected_weight * n_undesirable) should lie in [1, 4/3]
BALANCE = (1.0, 4 / 3)


def balance_warning(n_desirable: int, n_undesirable: int, chosen_weight: float,
                    rejected_weight: float) -> str | None:
    """A warning with suggested weights when the weighted class ratio leaves [1, 4/3]."""
    if not n_desirable or not n_undesirable:
        which = "desirable (label true)" if not n_desirable else "undesirable (label false)"
        return f"kto: the training data has no {which} examples; KTO needs both"
    ratio = chosen_weight * n_desirable / (rejected_weight * n_undesirable)
    if BALANCE[0] <= ratio <= BALANCE[1]:
        return None
    chosen = [rejected_weight * n_undesirable * b / n_desirable for b in BALANCE]
    rejected = [chosen_weight * n_desirable / (n_undesirable * b) for b in reversed(BALANCE)]
    return (f"kto: {n_desirable} desirable and {n_undesirable} undesirable examples with "
            f"kto_chosen_weight {chosen_weight:g} and kto_rejected_weight {rejected_weight:g} "
            f"give a weighted ratio of {ratio:.2f}, outside [1, 1.33] (KTO paper, Eq. 8); set "
            f"kto_chosen_weight between {chosen[0]:.2f} and {chosen[1]:.2f}, or "
            f"kto_rejected_weight between {rejected[0]:.2f} and {rejected[1]:.2f}")


class PretokenizedKTOTrainer(KTOTrainer):
    """KTOTrainer fed our features, so the run's template and cutoff_len apply as in every
    other stage; only TRL's KL completions are added (each row's answer moves to the next row
    of its batch, as TRL does). With `scored_head` (chunked_logps) the policy's and the
    reference's log-probs come from our scored-only head (fused_head.py) instead of TRL's."""

    def __init__(self, *args, scored_head: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if scored_head:  # after TRL patched the same models with its own fused head
            from .fused_head import install

            install(self.model.get_base_model() if hasattr(self.model, "get_base_model")
                    else self.model)
            if self.ref_model is not None:
                install(self.ref_model)

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        if not self.calculate_KL:
            return dataset

        def rotate(batch: dict) -> dict:
            answers = batch["completion_ids"]
            return {"KL_completion_ids": answers[-1:] + answers[:-1]}

        return dataset.map(rotate, batched=True, batch_size=args.per_device_train_batch_size)


def train(cfg: RunConfig, rd, data, tokenizer, checkpoint: str | None) -> bool:
    """Train stage kto into `rd`; True if stopped early. See the module docstring."""
    from trl import KTOConfig

    from core.models.policy import load_reference_model
    from core.runs.progress import Phase

    from .common import callbacks, fit, load_model, to_dataset, training_arguments

    labels = [f["label"] for f in data.train_features]
    warning = balance_warning(sum(labels), len(labels) - sum(labels), cfg.kto_chosen_weight,
                              cfg.kto_rejected_weight)
    if warning:
        log.warning("%s", warning)
    model = load_model(cfg, rd, tokenizer)
    reference = None
    if cfg.ref_model:
        with Phase(rd, "ref_model"):
            reference = load_reference_model(cfg)
    elif cfg.finetuning_type != "lora":  # TRL would reload the bare base, without start adapters
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    evals = data.eval_features
    args = training_arguments(
        cfg, rd, bool(evals), KTOConfig, beta=cfg.pref_beta, max_length=cfg.cutoff_len,
        desirable_weight=cfg.kto_chosen_weight, undesirable_weight=cfg.kto_rejected_weight,
        **kto_batches(cfg))
    cbs, stop = callbacks(rd, cfg)
    with Phase(rd, "trainer"):  # TRL prepares its datasets here
        trainer = PretokenizedKTOTrainer(
            model=model, ref_model=reference, args=args, processing_class=tokenizer,
            callbacks=cbs, train_dataset=to_dataset(_columns(data.train_features)),
            eval_dataset=to_dataset(_columns(evals)) if evals else None,
            scored_head=cfg.chunked_logps)
    return fit(trainer, rd, tokenizer, checkpoint, stop)


def kto_batches(cfg: RunConfig) -> dict:
    """Batches of 2 or more rows, which the KL estimate needs: LLaMA-Factory's KTO examples
    use 1 x 8, trained here as 2 x 4, the same rows per optimizer step (validation refuses
    1 x an odd count)."""
    if cfg.per_device_train_batch_size > 1:
        return {}
    steps = cfg.gradient_accumulation_steps // 2
    log.warning("kto: per_device_train_batch_size 1 x gradient_accumulation_steps %d trains as "
                "2 x %d (the same %d rows per step): the KL estimate pairs each prompt with "
                "another answer of its batch.", cfg.gradient_accumulation_steps, steps,
                cfg.gradient_accumulation_steps)
    return {"per_device_train_batch_size": 2, "gradient_accumulation_steps": steps}


def _columns(features: list[dict]) -> list[dict]:
    return [{k: f[k] for k in ("prompt_ids", "completion_ids", "label")} for f in features]
