"""Per-sequence log-probs of a PairBatcher batch: one body forward, the LM head only at the
scored positions (head.py), sums per sequence (with LD-DPO weights).

    tokens = token_logps(model, batch)                 # [N] log p of every scored token
    sums, counts, plain = sequence_logps(tokens, batch, ld_alpha)

The body runs through the model's own forward (so DDP/FSDP wrappers and peft adapters apply)
with `logits_to_keep` selecting no position, so the head is never applied to the whole
sequence; the final hidden states come back as the last entry of `hidden_states`.
"""
from __future__ import annotations

import torch

from .head import head_logps

Tensor = torch.Tensor
# attention that takes the layouts' masks: a dense 4D mask (sdpa, eager) or a BlockMask (flex)
MASK_IMPLEMENTATIONS = ("sdpa", "eager", "flex_attention")


def attention_impl(model) -> str | None:
    config = getattr(getattr(model, "module", model), "config", None)
    return getattr(config, "_attn_implementation", None)


def accepts_4d_mask(model) -> bool:
    """Whether prefix sharing and packing can run: the model's attention takes a dense 4D mask
    (sdpa, eager) or a BlockMask (flex_attention). flash_attention_2 takes neither."""
    return attention_impl(model) in MASK_IMPLEMENTATIONS


def wants_block_mask(model) -> bool:
    """FlexAttention: the layouts come as a BlockMask (packing.block_mask), not a dense mask."""
    return attention_impl(model) == "flex_attention"


def model_mask(model, batch: dict[str, Tensor]):
    """The batch's attention mask as the model's attention takes it: a BlockMask built from
    the batch's segments and parts (flex); eager adds a 4D mask to the scores, so True/False
    become 0/-inf-like; sdpa takes the bool mask as it is."""
    if "segments" in batch:
        from .packing import block_mask

        return block_mask(batch["segments"], batch["parts"])
    mask = batch["attention_mask"]
    if mask.dim() == 4 and attention_impl(model) == "eager":
        dtype = next(model.parameters()).dtype
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            ~mask, torch.finfo(dtype).min)
    return mask


def final_hidden(model, batch: dict[str, Tensor]) -> Tensor:
    """[rows, L, hidden] final (normed) hidden states of the batch's rows."""
    mask = model_mask(model, batch)
    ids = batch["input_ids"]
    out = model(input_ids=ids, attention_mask=mask, position_ids=batch.get("position_ids"),
                use_cache=False, output_hidden_states=True,
                logits_to_keep=torch.zeros(ids.shape, dtype=torch.bool, device=ids.device))
    return out.hidden_states[-1]


def token_logps(model, batch: dict[str, Tensor], chunked: bool | None = None) -> Tensor:
    """[N] fp32 log-prob of each scored target (batch["score_index"], ["score_target"]).
    `chunked` (default: the batch's "chunked", else True): the head only at the scored
    positions, a chunk at a time (head.py); off: the plain head (`kept_logps`)."""
    chunked = batch.get("chunked", True) if chunked is None else chunked
    hidden = final_hidden(model, batch)
    head = getattr(model, "module", model).get_output_embeddings()
    if not chunked:
        return kept_logps(head, hidden, batch["score_index"], batch["score_target"])
    picked = hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch["score_index"])
    return head_logps(head, picked, batch["score_target"])


def kept_logps(head, hidden: Tensor, index: Tensor, targets: Tensor) -> Tensor:
    """chunked_logps off, the head as logps.token_logps applies it: logits for every position
    of every row from the batch's earliest scored one on ([rows, kept, vocab], padding and
    other rows' prompts included), log-softmax one row at a time in fp32."""
    length = hidden.shape[1]
    first = int((index % length).min())
    logits = head(hidden[:, first:])
    lse = torch.stack([torch.logsumexp(row.float(), dim=-1) for row in logits])
    row, pos = index // length, index % length - first
    # one logit per scored token: autograd keeps the indices, not a [N, vocab] copy
    picked = logits[row, pos, targets].float()
    return picked - lse[row, pos]


def sequence_logps(tokens: Tensor, batch: dict[str, Tensor], ld_alpha: float | None = None
                   ) -> tuple[Tensor, Tensor, Tensor]:
    """(summed log-probs, token counts, unweighted sums) per sequence, [chosen..., rejected...].
    With LD-DPO's ld_alpha the summed log-probs weigh the tokens beyond the shorter answer of
    their pair ld_alpha times: sum_j w_j log p_j with w_j = 1 if j <= min(|y_w|, |y_l|) else
    ld_alpha; the unweighted sums serve the per-token averages."""
    seq = batch["score_seq"]
    n = 2 * int(batch["pairs"])
    plain = tokens.new_zeros(n).index_add(0, seq, tokens)
    counts = tokens.new_zeros(n).index_add(0, seq, torch.ones_like(tokens))
    if ld_alpha is None:
        return plain, counts, plain
    half = n // 2
    shared = torch.minimum(counts[:half], counts[half:]).repeat(2)
    weight = torch.where(batch["score_pos"].to(tokens.dtype) <= shared[seq], 1.0, ld_alpha)
    return tokens.new_zeros(n).index_add(0, seq, tokens * weight), counts, plain
