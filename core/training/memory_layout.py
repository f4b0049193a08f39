"""The batch a dpo run meets, laid out as its trainer lays it out, and what its LM head keeps:
the shapes core.training.memory counts bytes on.

    layout = run_layout(cfg)                         # the run's PairBatcher switches
    batch = longest_batch(features, 4, layout=layout)  # Batch(rows, width, kept, scored, ...)
    kept, workspace = head_bytes(shape, batch, 2, head_trains=False)

Layouts (core.methods.packing): plain (two padded rows per pair), prefix sharing (one
sequence per pair: prompt, chosen, rejected) and packing (the pairs' sequences placed first-fit
decreasing into rows of up to 2 x cutoff_len tokens); the shapes come from packing's own
pair_segments and pack on the pairs' tokens, so they are the trainer's. With either switch the
batch carries a 4D bool attention mask [rows, 1, width, width], except under flash_attn flex,
whose BlockMask holds a few bytes per 128 x 128 block (not counted; its attention kernels are
counted as sdpa's, unmeasured: FlexAttention has no backward pass on the CPU).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.data.truncation import budget
from core.methods.head import chunk_rows
from core.methods.packing import PairBatcher, Segment, pack, pair_segments

PLAIN = PairBatcher(0, prefix_sharing=False, packing=False, chunked=False)  # PairCollator's


@dataclass(frozen=True)
class Batch:
    """The longest batch a run meets: `sequences` rows of `width` tokens (padding included).
    The plain LM head computes logits for the last `kept` positions of every row
    (logits_to_keep); the chunked head only at the `scored` answer tokens (kept is then 0).
    `pairs`: the pairs it holds (0: sequences // 2, two rows per pair); `masked`: it carries a
    4D bool attention mask [sequences, 1, width, width]."""

    sequences: int
    width: int
    kept: int
    scored: int = 0
    pairs: int = 0
    masked: bool = False

    @property
    def pair_count(self) -> int:
        return self.pairs or self.sequences // 2


def run_layout(cfg: Any) -> PairBatcher:
    """The layout a run of `cfg` trains with (core.methods.pairwise.batch_layout), decided from
    the config alone: flash_attn 'auto' loads sdpa (Qwen's default), which takes a 4D mask."""
    from core.methods.pairwise import batch_layout
    from core.methods.scoring import MASK_IMPLEMENTATIONS
    from core.models.loading import ATTENTION

    attention = ATTENTION[cfg.flash_attn] or "sdpa"
    return batch_layout(cfg, 0, attention in MASK_IMPLEMENTATIONS,
                        block=attention == "flex_attention")


def size(f: dict, cutoff: int | None = None) -> int:
    """Tokens of a pair's longer sequence as the collator pads it (prompt + answer, cut at
    cutoff_len); `cutoff` replays another cutoff_len on the untruncated lengths."""
    if cutoff:
        return min(f["prompt_len"] + max(f["chosen_len"], f["rejected_len"]), cutoff)
    return len(f["prompt_ids"]) + max(len(f["chosen_ids"]), len(f["rejected_ids"]))


def full_size(f: dict) -> int:
    """Untruncated tokens of a pair's longer sequence."""
    return f["prompt_len"] + max(f["chosen_len"], f["rejected_len"])


def longest_pairs(features: list[dict], pairs: int, cutoff: int | None = None) -> list[dict]:
    """The `pairs` pairs with the longest sequences: the worst batch a shuffle can draw."""
    return sorted(features, key=lambda f: size(f, cutoff), reverse=True)[:pairs]


def replay(f: dict, cutoff: int) -> dict:
    """A pair's tokens (placeholders) as another cutoff_len would cut its untruncated lengths
    (truncation.budget, the rule of the cutting modes; the longer answer sets the answers'
    room)."""
    c, r = f["chosen_len"], f["rejected_len"]
    keep, room = budget(f["prompt_len"], max(c, r), cutoff)
    room = max(room, 1)  # tokenize drops a pair with an empty answer: never a batch of none
    return {"prompt_ids": [0] * keep, "chosen_ids": [0] * min(c, room),
            "rejected_ids": [0] * min(r, room)}


class Shapes:
    """Batch shapes under one layout, each pair's segments built once per cutoff (the GPU fit
    search lays out the same pairs many times)."""

    def __init__(self, layout: PairBatcher | None = None) -> None:
        self.layout = layout or PLAIN
        self._segments: dict[tuple[int, int | None], list[Segment]] = {}

    def segments(self, f: dict, cutoff: int | None) -> list[Segment]:
        key = (id(f), cutoff)
        if key not in self._segments:  # the pair's number only names its scored sequences
            self._segments[key] = pair_segments(replay(f, cutoff) if cutoff else f, 0, 1,
                                                self.layout.prefix_sharing)
        return self._segments[key]

    def batch(self, features: list[dict], cutoff: int | None = None) -> Batch:
        """The shape of one batch of `features` (a run at cutoff_len `cutoff` if given: its
        pairs cut, its packed rows 2 x cutoff tokens)."""
        layout = self.layout
        segments = [s for f in features for s in self.segments(f, cutoff)]
        if layout.packing:
            room = 2 * cutoff if cutoff else layout.pack_len
            rows = pack(segments, max(room, max(len(s.ids) for s in segments)))
        else:
            rows = [[i] for i in range(len(segments))]
        width = max(sum(len(segments[i].ids) for i in row) for row in rows)
        masked = (layout.prefix_sharing or layout.packing) and not layout.block_mask
        if layout.chunked:
            return Batch(len(rows), width, 0, sum(len(s.scored) for s in segments),
                         len(features), masked)
        # scoring.kept_logps (and logps.token_logps): logits for every row from the batch's
        # earliest scored position on, which is in a row's first segment
        first = min(min((k for k, *_ in segments[row[0]].scored), default=0) for row in rows)
        return Batch(len(rows), width, width - max(first, 0), 0, len(features), masked)


def longest_batch(features: list[dict], pairs: int, cutoff: int | None = None,
                  layout: PairBatcher | None = None) -> Batch:
    """The shape of the longest batch of `pairs` pairs (longest_pairs) under `layout` (None:
    PLAIN, PairCollator's padded rows and the plain head)."""
    return Shapes(layout).batch(longest_pairs(features, pairs, cutoff), cutoff)


def head_bytes(shape: Any, batch: Batch, s: int, head_trains: bool) -> tuple[int, int]:
    """(kept for the backward pass, transient workspace) of the LM head at `batch`, in bytes
    (`s`: compute bytes; `head_trains`: a head weight needs its gradient, e.g. full training).

    Plain head: the fp32 log-softmax rows autograd keeps, [sequences, kept, vocab] x 4, and the
    logits in the compute dtype, then their gradient. Chunked head (core.methods.head): the
    gather's index (8 bytes per scored token) and what _ScoredLogps saves: d log p / d x in
    fp32 [N, hidden] when only its input needs a gradient, else targets, log-sum-exp and its
    input [N, hidden] for the recomputing backward; transient are the gathered hidden states
    [N, hidden], one [chunk, vocab] fp32 block of logits (with its compute-dtype source), and
    for a training head its fp32 weight gradient [vocab, hidden] and input gradient."""
    h, v, n = shape.hidden, shape.vocab, batch.scored
    if not n:
        logits = batch.sequences * batch.kept * v
        return logits * 4, logits * s
    chunk = min(chunk_rows(v), n)
    workspace = n * h * s + chunk * v * (4 + (s if s < 4 else 0))
    if head_trains:
        return 8 * n + 8 * n + 4 * n + n * h * s, workspace + 4 * v * h + 4 * n * h
    return 8 * n + 4 * n * h, workspace
