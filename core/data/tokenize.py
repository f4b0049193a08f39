"""Canonical rows -> token ids, per stage, with the cutoff check that needs the tokens.

One function per stage, all returning (features, problems). `data check` uses them for token
statistics and training uses them to build its dataset, so both see the same lengths.
A feature keeps the untruncated lengths (`*_len`) for statistics.
"""
from __future__ import annotations

from typing import Any, Callable

from .templates import ChatTemplate, encode

Row = dict[str, Any]
Tokenized = tuple[list[dict], list[tuple[int, str, str]]]  # features, (row position, field, reason)


def tokenize_pairwise(rows: list[Row], template: ChatTemplate, cutoff_len: int) -> Tokenized:
    """prompt/chosen/rejected -> prompt_ids, chosen_ids, rejected_ids. Answers are cut to fit
    cutoff_len after the prompt; a prompt that leaves no room for an answer is a problem."""
    features, problems = [], []
    for pos, row in enumerate(rows):
        prompt_ids, (chosen_ids, rejected_ids) = encode(
            template, row["prompt"], [row["chosen"][0], row["rejected"][0]])
        room = cutoff_len - len(prompt_ids)
        if room <= 0:
            problems.append((pos, "prompt", f"prompt has {len(prompt_ids)} tokens, no room for "
                             f"the answer at cutoff_len {cutoff_len}; raise cutoff_len or shorten it"))
            continue
        features.append({
            "prompt_ids": prompt_ids, "chosen_ids": chosen_ids[:room],
            "rejected_ids": rejected_ids[:room], "prompt_len": len(prompt_ids),
            "chosen_len": len(chosen_ids), "rejected_len": len(rejected_ids), "row": pos,
        })
    return features, problems


TOKENIZERS: dict[str, Callable[[list[Row], ChatTemplate, int], Tokenized]] = {
    "dpo": tokenize_pairwise,
    "rm": tokenize_pairwise,
}


def tokenize_rows(stage: str, rows: list[Row], template: ChatTemplate, cutoff_len: int) -> Tokenized:
    if stage not in TOKENIZERS:
        raise ValueError(f"stage {stage!r} has no tokenizer; known: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[stage](rows, template, cutoff_len)
