"""Log-probabilities of the scored (completion) tokens of a padded batch.

Only the logits from the first scored position onwards are computed (`logits_to_keep`), and
the log-softmax is taken one row at a time in fp32, so a 150k-token vocabulary does not
materialise a [batch, length, vocab] fp32 tensor. This is the plain path; PairBatcher batches
take the fast one (scoring.py: prompts encoded once, pairs packed, the head only at scored
tokens), and `pair_logps` serves both. `score_pairs` is the one no-grad loop over a list of
pairs (reference pass, evaluation, bench).
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor


def token_logps(model, input_ids: Tensor, attention_mask: Tensor,
                completion_mask: Tensor) -> tuple[Tensor, Tensor]:
    """(per-token log-probs, mask) over the positions that can hold a scored token: both are
    [batch, kept] where kept covers every completion token of the batch."""
    first = int(completion_mask.float().argmax(dim=1).min())  # earliest scored position
    first = max(first, 1)
    keep = input_ids.shape[1] - first + 1
    out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                logits_to_keep=keep)
    logits = out.logits[:, :-1]  # predictions for positions first .. T-1
    labels = input_ids[:, first:]
    mask = completion_mask[:, first:].to(logits.dtype if logits.is_floating_point() else torch.float32)
    rows = []
    for row_logits, row_labels in zip(logits, labels):
        row_logits = row_logits.float()
        picked = row_logits.gather(-1, row_labels.unsqueeze(-1)).squeeze(-1)
        rows.append(picked - torch.logsumexp(row_logits, dim=-1))
    return torch.stack(rows) * mask.float(), mask.float()


def pair_logps(model, batch: dict, ld_alpha: float | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(summed log-probs, token counts, unweighted sums) per sequence, [chosen..., rejected...],
    of a PairBatcher batch (the fast path: scoring.py) or a PairCollator batch (the plain
    path, kept as the reference the fast one is tested against). The sums weigh tokens by
    LD-DPO's ld_alpha; the unweighted sums serve per-token averages."""
    if "score_index" in batch:
        from .scoring import sequence_logps as scored_sequences
        from .scoring import token_logps as scored_tokens
        return scored_sequences(scored_tokens(model, batch), batch, ld_alpha)
    per_token, mask = token_logps(model, batch["input_ids"], batch["attention_mask"],
                                  batch["completion_mask"])
    sums, counts = sequence_logps(per_token, mask, ld_alpha)
    return sums, counts, per_token.sum(dim=1)


def batch_logps(model, batch: dict, device, ld_alpha: float | None = None) -> tuple[Tensor, Tensor]:
    """(summed log-prob, token count) of every sequence of a PairBatcher or PairCollator batch."""
    moved = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
    sums, counts, _ = pair_logps(model, moved, ld_alpha)
    return sums, counts


def sequence_logps(per_token: Tensor, mask: Tensor, ld_alpha: float | None = None,
                   pairs: int | None = None) -> tuple[Tensor, Tensor]:
    """(summed log-prob, token count) per sequence. With LD-DPO's ld_alpha the tokens beyond the
    shorter answer of each pair (rows i and i+pairs) count ld_alpha times."""
    counts = mask.sum(dim=1)
    if ld_alpha is None:
        return per_token.sum(dim=1), counts
    pairs = pairs or per_token.shape[0] // 2
    position = mask.cumsum(dim=1)  # 1-based index within the answer
    chosen_len, rejected_len = counts[:pairs], counts[pairs:]
    shared = torch.minimum(chosen_len, rejected_len).repeat(2).unsqueeze(1)
    weight = torch.where(position <= shared, 1.0, ld_alpha) * mask
    return (per_token * weight).sum(dim=1), counts


@torch.no_grad()
def score_pairs(model, features: list[dict], collate, batch_size: int, device,
                ld_alpha: float | None = None) -> dict[str, Tensor]:
    """Summed log-probs and token counts of every pair's answers, without gradients.

    `features` hold prompt_ids, chosen_ids and rejected_ids; `collate` (a PairBatcher, or a
    PairCollator for the plain path) lays out `batch_size` of them at a time. Returns float32 CPU tensors of len(features) under
    "chosen", "rejected" (summed log-probs, LD-DPO weighted with ld_alpha) and "n_chosen",
    "n_rejected" (answer tokens). Dropout is off while scoring; the model's mode is restored.
    The reference pass, evaluation and the bench all score pairs here.
    """
    keys = ("chosen", "rejected", "n_chosen", "n_rejected")
    parts: dict[str, list[Tensor]] = {k: [torch.zeros(0)] for k in keys}
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(features), batch_size):
            sums, counts = batch_logps(model, collate(features[start:start + batch_size]), device,
                                       ld_alpha)
            chosen, rejected = sums.float().cpu().chunk(2)
            n_chosen, n_rejected = counts.float().cpu().chunk(2)
            for key, value in zip(keys, (chosen, rejected, n_chosen, n_rejected)):
                parts[key].append(value)
    finally:
        model.train(was_training)
    return {k: torch.cat(v) for k, v in parts.items()}
