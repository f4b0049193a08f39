"""Pairs exactly as the model sees them: the token ids training feeds it, each token's text
and whether the loss scores it.

    shown = show_pairs(features, tokenizer)      # [ShownPair(first), ShownPair(longest)]
    shown[0].chosen.scored                        # per token: does the loss use it?

The scored flags come from the trainer's own collator (core.methods.packing.PairBatcher,
whose score_index holds the position that predicts each scored token): every answer token,
the template's end of turn included (<|im_end|> and its newline for ChatML), which teaches
the model to stop; every layout scores the same tokens. Tokens cut at
cutoff_len are not shown, only counted.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .token_checks import special_tokens


@dataclass
class Shown:
    """One sequence (prompt + one answer) as the model receives it."""

    side: str  # "chosen" or "rejected"
    ids: list[int]
    tokens: list[str]  # each token's text ("" for the leading bytes of a split character)
    scored: list[bool]
    prompt_len: int  # the first prompt_len tokens are the prompt
    cut: int  # answer tokens cut at cutoff_len (not shown)
    special: list[bool]  # special tokens (<|im_end|>, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ShownPair:
    row: int  # position among the training rows
    why: str  # "first", "longest" (then "long" for further pairs)
    chosen: Shown
    rejected: Shown

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "why": self.why, "chosen": self.chosen.to_dict(),
                "rejected": self.rejected.to_dict()}


def pick_pairs(features: list[dict], count: int = 2) -> list[tuple[dict, str]]:
    """The first pair and the longest one (untruncated prompt + longer answer), the pair a
    cut is most likely to show in; more when asked, by length."""
    if not features:
        return []
    picked = [(features[0], "first")]
    by_length = sorted(features[1:], key=lambda f: -(f["prompt_len"] +
                                                     max(f["chosen_len"], f["rejected_len"])))
    picked += [(f, "longest" if i == 0 else "long") for i, f in enumerate(by_length)]
    return picked[:count]


def show_pairs(features: list[dict], tokenizer: Any, count: int = 2) -> list[ShownPair]:
    """`count` pairs (pick_pairs) rendered token by token with their scored flags."""
    return [show_pair(f, tokenizer, why) for f, why in pick_pairs(features, count)]


def show_pair(feature: dict, tokenizer: Any, why: str = "") -> ShownPair:
    flags = scored_flags(feature, tokenizer.pad_token_id or 0)
    special = set(special_tokens(tokenizer))
    sides = []
    for side, scored in zip(("chosen", "rejected"), flags):
        ids = feature["prompt_ids"] + feature[f"{side}_ids"]
        sides.append(Shown(side, ids, token_texts(tokenizer, ids), scored,
                           len(feature["prompt_ids"]),
                           max(feature[f"{side}_len"] - len(feature[f"{side}_ids"]), 0),
                           [i in special for i in ids]))
    return ShownPair(feature["row"], why, *sides)


def scored_flags(feature: dict, pad_id: int) -> tuple[list[bool], list[bool]]:
    """(chosen, rejected) per-token flags of the loss, from the training collator's scored
    positions (its padded-rows layout: sequence 0 is row 0, sequence 1 row 1)."""
    from core.methods.packing import PairBatcher

    batch = PairBatcher(pad_id, prefix_sharing=False, packing=False)([feature])
    width = batch["input_ids"].shape[1]
    out = []
    for seq, ids in enumerate(("chosen_ids", "rejected_ids")):
        flags = [False] * (len(feature["prompt_ids"]) + len(feature[ids]))
        for index, owner in zip(batch["score_index"].tolist(), batch["score_seq"].tolist()):
            if owner == seq:
                flags[index % width + 1] = True  # the token the position predicts
        out.append(flags)
    return out[0], out[1]


def token_texts(tokenizer: Any, ids: list[int]) -> list[str]:
    """Each token's text. A character split over several byte tokens is given to its last
    token (the others get ""), so the texts join to the decoded sequence."""
    out: list[str] = []
    start = 0
    for i in range(len(ids)):
        text = tokenizer.decode(ids[start:i + 1], skip_special_tokens=False,
                                clean_up_tokenization_spaces=False)
        if text.endswith("\ufffd") and i - start < 3 and i + 1 < len(ids):
            out.append("")  # wait for the rest of the character
            continue
        out.append(text)
        start = i + 1
    return out


# --- terminal ----------------------------------------------------------------------------
OPEN, CLOSE = "⟦", "⟧"
UNDERLINE, DIM, RESET = "\033[4m", "\033[2m", "\033[0m"


def visible(text: str) -> str:
    """Whitespace a reader must see: newlines as ↵ (and the line break), tabs as →."""
    return text.replace("\n", "↵\n").replace("\t", "→")


def marked(shown: Shown, ansi: bool = False) -> str:
    """The sequence as text with the scored tokens marked: ⟦...⟧ around each scored run, or
    (ansi) each scored token underlined, every other one dimmed so token edges show."""
    parts, inside = [], False
    for n, (text, scored) in enumerate(zip(shown.tokens, shown.scored)):
        text = visible(text)
        if ansi:
            style = (UNDERLINE + (DIM if n % 2 else "")) if scored else ""
            parts.append(f"{style}{text}{RESET}" if style else text)
            continue
        if scored != inside:
            parts.append(OPEN if scored else CLOSE)
            inside = scored
        parts.append(text)
    if inside:
        parts.append(CLOSE)
    tail = f" [+{shown.cut} tokens cut at cutoff_len]" if shown.cut else ""
    return "".join(parts) + tail
