"""TRL's fused-LM-head call served by our scored-only head (head.py): stage kto.

TRL's KTOTrainer patches the policy's forward (trl's add_fused_lm_head) so that
`model(..., labels=labels, fused_lm_head=True)` returns each position's log-prob of its label,
entropy and mean logit without [rows, length, vocab] logits. Off a Triton device its kernel
still projects every position (prompt and padding included), and it reads `lm_head.weight`
itself, so LoRA on lm_head is left out of the log-probs and never trains. `install(model)`
puts this forward in front of it: the backbone as before, then head.head_logps at the
labelled positions only, through the head module's own LoRA terms, a chunk at a time.
Calls it does not cover (no fused_lm_head, pre-shifted labels, MoE router logits, FSDP's
DTensor weights) go to the forward it replaces.

    install(model)                          # after KTOTrainer.__init__ patched it
    out = model(input_ids=..., attention_mask=..., labels=labels, fused_lm_head=True)
    out.log_probs, out.entropy, out.mean_logits, out.label_mask    # [rows, length - 1]
"""
from __future__ import annotations

import functools
import logging
import types

import torch

from .head import head_logps

log = logging.getLogger(__name__)
# logit transforms TRL's kernel applies and this head does not (none of them is set on Qwen)
SCALED = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
          "logits_scaling")


def supported(model) -> bool:
    """Whether the model's logits are its head's output as they are (no scale or softcap)."""
    config = model.config.get_text_config()
    return all(getattr(config, key, None) is None for key in SCALED)


def install(model) -> bool:
    """Serve `fused_lm_head=True` calls of `model` (a causal LM, not a PeftModel) with the
    scored-only head; False (and nothing changed) where its logits are scaled."""
    if not supported(model):
        log.info("the scored-only head does not apply %s's logit scaling: TRL's fused head "
                 "scores this model", type(model).__name__)
        return False
    from trl.trainer.utils import FusedCausalLMOutput

    previous = model.forward

    @functools.wraps(type(model).forward)  # generate() validates kwargs against this signature
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None,
                num_items_in_batch=None, **kwargs):
        head = self.get_output_embeddings()
        if not fused_lm_head or labels is None or shift_labels is not None \
                or kwargs.get("output_router_logits") \
                or getattr(self.config, "output_router_logits", False) \
                or any(type(p).__name__ == "DTensor" for p in head.parameters()):
            return previous(*args, fused_lm_head=fused_lm_head, labels=labels,
                            shift_labels=shift_labels, num_items_in_batch=num_items_in_batch,
                            **kwargs)
        kwargs["use_cache"] = False
        body = getattr(self, self.base_model_prefix)(*args, **kwargs)
        device = next(head.parameters()).device
        hidden = body.last_hidden_state[:, :-1].to(device)
        labels = labels[:, 1:].to(device)
        mask = labels != -100
        stats: dict[str, torch.Tensor] = {}
        picked = head_logps(head, hidden[mask], labels[mask], stats=stats)
        if not picked.requires_grad and hidden.requires_grad:  # no label: keep the graph whole
            picked = picked + hidden.sum() * 0

        def spread(values: torch.Tensor) -> torch.Tensor:  # [N] -> [rows, length - 1], 0 elsewhere
            return values.new_zeros(mask.shape).masked_scatter(mask, values)

        log_probs = spread(picked)
        count = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(loss=-log_probs.sum() / count, log_probs=log_probs,
                                   entropy=spread(stats["entropy"]),
                                   mean_logits=spread(stats["mean_logits"]), label_mask=mask)

    model.forward = types.MethodType(forward, model)
    return True
