"""Batches of preference pairs laid out for one forward pass, with the index of every scored
position and its target.

    collate = PairBatcher(pad_id, prefix_sharing=True, packing=True, pack_len=1024)
    batch = collate(features)          # features: prompt_ids, chosen_ids, rejected_ids

Layouts (each pair's chosen sequence is sequence i, its rejected one B + i, as in
PairCollator):
- plain: two right-padded rows per pair, prompt + chosen and prompt + rejected (2D mask).
- prefix sharing: one segment per pair, prompt + chosen + rejected; rejected tokens attend to
  the prompt and to themselves, never to chosen, and their position ids continue from the
  prompt's end, so each rejected token sees exactly what it sees in its own row. The first
  answer token of both answers is predicted from the prompt's last position.
- packing: segments (pairs, or single sequences without sharing) are placed first-fit
  decreasing into rows of at most `pack_len` tokens (or the longest segment); attention stays
  inside each segment (block-diagonal) and position ids restart at 0 in every segment. The
  batch still holds the same pairs, so the loss and learning rate mean what they did.

With prefix sharing or packing the attention mask is 4D boolean [rows, 1, L, L] (True =
attend); padding positions attend to themselves only, so no softmax row is empty. With
`block_mask` (FlexAttention) the batch carries each token's segment and part instead
("segments", "parts": [rows, L]) and the model gets a BlockMask of the same rule
(`block_mask`), built on the model's device, which skips the blocks the rule masks out. Scored
positions come as flat indices into [rows * L] with their targets, the sequence they belong
to (0..2B-1) and their 1-based place in the answer (LD-DPO weights).

With `pool` (reward models, stage rm) each sequence has one scored position instead: the one
transformers' *ForSequenceClassification head reads on the sequence's own padded row (its
last token whose id is not the pad id, see `pooled`), so score_index holds 2B positions,
chosen_1..B then rejected_1..B (targets 0, places 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

Tensor = torch.Tensor
PROMPT, CHOSEN, REJECTED, PAD = 0, 1, 2, -1


@dataclass
class Segment:
    """One packed unit: token ids, the part of each token (PROMPT/CHOSEN/REJECTED), the
    position ids, and the scored tokens as (index in segment of the position that predicts
    it, target, sequence, place in answer); with `pool`, (position read, 0, sequence, 1)."""

    ids: list[int]
    parts: list[int]
    positions: list[int]
    scored: list[tuple[int, int, int, int]]


def pooled(ids: list[int], pad_id: int) -> int:
    """Where transformers' *ForSequenceClassification reads a sequence's score when it is
    right-padded with `pad_id`: the last token whose id is not the pad id (a trailing token
    that happens to be the pad id is skipped, as the head skips it), 0 when every one is."""
    return next((k for k in range(len(ids) - 1, -1, -1) if ids[k] != pad_id), 0)


def pair_segments(f: dict, pair: int, pairs: int, share: bool,
                  pool: int | None = None) -> list[Segment]:
    """The segments of one pair: one shared segment, or one per answer. `pool` (the pad id):
    score each sequence's pooled position (reward models) instead of its answer tokens."""
    prompt, chosen, rejected = f["prompt_ids"], f["chosen_ids"], f["rejected_ids"]
    p = len(prompt)
    if not share:
        return [_single(prompt, chosen, pair, pool),
                _single(prompt, rejected, pairs + pair, pool)]
    c, r = len(chosen), len(rejected)
    ids = prompt + chosen + rejected
    parts = [PROMPT] * p + [CHOSEN] * c + [REJECTED] * r
    positions = list(range(p + c)) + list(range(p, p + r))
    if pool is not None:  # rejected's token k (k >= p) sits c places later in the segment
        k = pooled(prompt + rejected, pool)
        scored = [(pooled(prompt + chosen, pool), 0, pair, 1),
                  (k + c if k >= p else k, 0, pairs + pair, 1)]
        return [Segment(ids, parts, positions, scored)]
    scored = [(p + j - 1, tok, pair, j + 1) for j, tok in enumerate(chosen)]
    # rejected token j is predicted at its predecessor: the prompt's end for j = 0
    scored += [((p + c + j - 1) if j else p - 1, tok, pairs + pair, j + 1)
               for j, tok in enumerate(rejected)]
    return [Segment(ids, parts, positions, scored)]


def _single(prompt: list[int], answer: list[int], seq: int, pool: int | None) -> Segment:
    p = len(prompt)
    ids = prompt + answer
    scored = [(pooled(ids, pool), 0, seq, 1)] if pool is not None else \
        [(p + j - 1, tok, seq, j + 1) for j, tok in enumerate(answer)]
    return Segment(ids, [PROMPT] * p + [CHOSEN] * len(answer), list(range(len(ids))), scored)


def pack(segments: list[Segment], budget: int) -> list[list[int]]:
    """Rows as lists of segment numbers: first-fit decreasing into rows of `budget` tokens
    (a segment longer than the budget gets a row of its own)."""
    order = sorted(range(len(segments)), key=lambda i: -len(segments[i].ids))
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        size = len(segments[i].ids)
        for r, free in enumerate(room):
            if size <= free:
                rows[r].append(i)
                room[r] -= size
                break
        else:
            rows.append([i])
            room.append(budget - size)
    return rows


@dataclass
class PairBatcher:
    """Collates pairs into one of the layouts above (see the module docstring)."""

    pad_id: int
    prefix_sharing: bool = True
    packing: bool = True
    pack_len: int = 0  # tokens per packed row; 0: the longest segment of the batch
    chunked: bool = True  # the LM head a chunk at a time (scoring.token_logps)
    pool: bool = False  # one scored position per sequence, the reward head's (stage rm)
    block_mask: bool = False  # segments and parts for a FlexAttention BlockMask, no dense mask

    def describe(self) -> str:
        """What changes the numbers (in the last bits): part of the reference cache key."""
        return (f"share={self.prefix_sharing}|pack={self.packing}:{self.pack_len}|"
                f"chunked={self.chunked}" + ("|block" if self.block_mask else ""))

    def __call__(self, features: list[dict]) -> dict[str, Tensor]:
        n = len(features)
        segments = [s for i, f in enumerate(features)
                    for s in pair_segments(f, i, n, self.prefix_sharing,
                                           self.pad_id if self.pool else None)]
        if self.packing:
            budget = max(self.pack_len, max(len(s.ids) for s in segments))
            rows = pack(segments, budget)
        else:
            rows = [[i] for i in range(len(segments))]
        batch = self.layout(segments, rows)
        batch["pairs"] = torch.tensor(n)
        batch["chunked"] = self.chunked
        # the pairs' tokens as the data holds them (each answer with its prompt), whatever the
        # layout: the tokens/s every trainer can be compared on
        batch["tokens"] = torch.tensor(sum(2 * len(f["prompt_ids"]) + len(f["chosen_ids"])
                                           + len(f["rejected_ids"]) for f in features))
        if all("ref_chosen_logps" in f for f in features):  # else pair_loss says what is wrong
            for key in ("ref_chosen_logps", "ref_rejected_logps"):
                batch[key] = torch.tensor([f[key] for f in features], dtype=torch.float32)
        return batch

    def layout(self, segments: list[Segment], rows: list[list[int]]) -> dict[str, Tensor]:
        width = max(sum(len(segments[i].ids) for i in row) for row in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        parts = torch.full((len(rows), width), PAD, dtype=torch.long)
        owner = torch.full((len(rows), width), -1, dtype=torch.long)  # segment of each token
        scored = []
        for r, row in enumerate(rows):
            at = 0
            for i in row:
                seg = segments[i]
                end = at + len(seg.ids)
                ids[r, at:end] = torch.tensor(seg.ids)
                positions[r, at:end] = torch.tensor(seg.positions)
                parts[r, at:end] = torch.tensor(seg.parts)
                owner[r, at:end] = i
                scored += [(r * width + at + k, t, s, j) for k, t, s, j in seg.scored]
                at = end
        scored.sort(key=lambda x: (x[2], x[3]))  # by sequence, then place in the answer
        index, target, seq, place = (torch.tensor(c, dtype=torch.long) for c in zip(*scored))
        batch = {"input_ids": ids, "score_index": index, "score_target": target,
                 "score_seq": seq, "score_pos": place}
        if not self.prefix_sharing and not self.packing:
            batch["attention_mask"] = (parts != PAD).long()
            return batch
        batch["position_ids"] = positions
        if self.block_mask:
            batch["segments"], batch["parts"] = owner, parts
        else:
            batch["attention_mask"] = attention_mask(owner, parts)
        return batch


def mask_rule(owner: Tensor, parts: Tensor):
    """The layouts' attention rule as a FlexAttention mask_mod over [rows, L] segment numbers
    (-1: padding) and parts: causal within a segment, rejected never sees chosen; padding
    attends to itself only. The one home of the rule: the dense mask and the BlockMask are
    both made from it."""
    def attends(b: Tensor, h: Tensor, q: Tensor, kv: Tensor) -> Tensor:
        segment = owner[b, q]
        inside = (segment == owner[b, kv]) & (segment >= 0) & (kv <= q)
        hidden = (parts[b, q] == REJECTED) & (parts[b, kv] == CHOSEN)
        return (inside & ~hidden) | ((q == kv) & (segment < 0))
    return attends


def attention_mask(owner: Tensor, parts: Tensor) -> Tensor:
    """[rows, 1, L, L] bool (True = attend): mask_rule at every (query, key) at once, its
    indices broadcast against each other (what FlexAttention's create_mask does with vmap,
    without vmap's cost)."""
    rows, length = owner.shape
    at = torch.arange(length, device=owner.device)
    rows_at = torch.arange(rows, device=owner.device).view(-1, 1, 1, 1)
    return mask_rule(owner, parts)(rows_at, None, at.view(1, 1, -1, 1), at.view(1, 1, 1, -1))


def block_mask(owner: Tensor, parts: Tensor):
    """mask_rule as FlexAttention's BlockMask for [rows, L] tokens, on their device."""
    from torch.nn.attention.flex_attention import create_block_mask

    rows, length = owner.shape
    return create_block_mask(mask_rule(owner, parts), rows, None, length, length,
                             device=owner.device)
