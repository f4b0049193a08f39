"""Non-finite numbers stop a run as `failed`: they never train on silently, and never reach a
checkpoint marked complete or a final model.

- FiniteGuard (a Trainer callback, every stage): before each optimizer step the trainable
  parameters' gradients must be finite, so NaN never reaches the weights; every logged `loss`
  and `grad_norm` must be finite too (the Trainer's own logging_nan_inf_filter, which hid a
  NaN loss behind the average of the earlier ones, is off: training_arguments).
  Under fp16 the loss scaler skips a step whose gradients overflow and lowers its scale, on
  purpose: there an infinite gradient (with a finite loss) passes; a non-finite loss fails.
- check_weights: CheckpointMarker and save_final call it on the model just saved; a trainable
  weight that is NaN or infinite stops the run before any COMPLETE marker or final model.
"""
from __future__ import annotations

import logging
import math

import torch
from transformers import TrainerCallback

from core.errors import UserError

log = logging.getLogger(__name__)
HINT = ("lower learning_rate, use bf16 instead of fp16, or a smaller per_device_train_batch_size "
        "or cutoff_len, then start again (or resume from a checkpoint saved before this step)")


class NotFiniteError(UserError):
    """A NaN or infinity in training; its message starts with the key to change."""


def stop(what: str, step: int) -> NotFiniteError:
    log.error("%s at step %d: stopping the run.", what, step)
    return NotFiniteError(f"learning_rate: {what} at step {step}; the run stopped, nothing "
                          f"after it is saved. To fix it, {HINT}")


def trainable_tensors(model, grads: bool) -> list[tuple[str, torch.Tensor]]:
    out = []
    for name, p in model.named_parameters():
        if p.requires_grad:
            t = p.grad if grads else p
            if t is not None:
                out.append((name, t.detach()))
    return out


def first_not_finite(named: list[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first tensor holding a NaN or an infinity; None when all are finite.
    One fused check over all of them first (cheap on a GPU), names only on failure."""
    if not named:
        return None
    total = torch.nn.utils.get_total_norm([t for _, t in named], norm_type=2.0)
    if torch.isfinite(total):  # a NaN or inf anywhere makes the total norm non-finite
        return None
    return next((n for n, t in named if not torch.isfinite(t).all()), "a trainable weight")


def check_weights(model, refused: str, step: int) -> None:
    """Raise NotFiniteError (its text starting with `refused`, what is not done) when a trainable
    weight of `model` is NaN or infinite."""
    bad = first_not_finite(trainable_tensors(model, grads=False))
    if bad is not None:
        raise stop(f"{refused}: the weight {bad} is NaN or infinite", step)


class FiniteGuard(TrainerCallback):
    def on_pre_optimizer_step(self, args, state, control, model=None, **kw) -> None:
        if args.fp16 or model is None:  # the loss scaler skips overflowing steps itself
            return
        bad = first_not_finite(trainable_tensors(model, grads=True))
        if bad is not None:
            raise stop(f"the gradient of {bad} is NaN or infinite", state.global_step + 1)

    def on_log(self, args, state, control, logs=None, **kw) -> None:
        logs = logs or {}
        for key in ("loss", "grad_norm"):
            value = logs.get(key)
            if not isinstance(value, (int, float)) or math.isfinite(value):
                continue
            if key == "grad_norm" and args.fp16 and math.isfinite(logs.get("loss", 0.0)):
                log.info("grad_norm %s at step %d: fp16 loss scaling skipped the step.", value,
                         state.global_step)
                continue
            raise stop(f"the logged {key} is {value}", state.global_step)
