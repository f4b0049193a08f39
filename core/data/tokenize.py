"""Canonical rows -> token ids, per stage, with the cutoff check that needs the tokens.

One function per stage, all returning (features, problems). `data check` uses them for token
statistics and training uses them to build its dataset, so both see the same lengths.
A feature keeps the untruncated lengths (`*_len`) for statistics. grpo has no tokenizer here:
its prompts are rendered at training time and the completions do not exist yet.
"""
from __future__ import annotations

from typing import Any, Callable

from .templates import ChatTemplate, encode, encode_conversation

Row = dict[str, Any]
Tokenized = tuple[list[dict], list[tuple[int, str, str]]]  # features, (row position, field, reason)


def _no_room(prompt_ids: list[int], cutoff_len: int) -> str | None:
    """Why a prompt cannot be trained at cutoff_len, or None when an answer fits after it."""
    if cutoff_len - len(prompt_ids) > 0:
        return None
    return (f"prompt has {len(prompt_ids)} tokens, no room for the answer at cutoff_len "
            f"{cutoff_len}; raise cutoff_len or shorten it")


def tokenize_pairwise(rows: list[Row], template: ChatTemplate, cutoff_len: int) -> Tokenized:
    """prompt/chosen/rejected -> prompt_ids, chosen_ids, rejected_ids. Answers are cut to fit
    cutoff_len after the prompt; a prompt that leaves no room for an answer is a problem."""
    features, problems = [], []
    for pos, row in enumerate(rows):
        prompt_ids, (chosen_ids, rejected_ids) = encode(
            template, row["prompt"], [row["chosen"][0], row["rejected"][0]])
        reason = _no_room(prompt_ids, cutoff_len)
        if reason:
            problems.append((pos, "prompt", reason))
            continue
        room = cutoff_len - len(prompt_ids)
        features.append({
            "prompt_ids": prompt_ids, "chosen_ids": chosen_ids[:room],
            "rejected_ids": rejected_ids[:room], "prompt_len": len(prompt_ids),
            "chosen_len": len(chosen_ids), "rejected_len": len(rejected_ids), "row": pos,
        })
    return features, problems


def tokenize_kto(rows: list[Row], template: ChatTemplate, cutoff_len: int) -> Tokenized:
    """prompt/completion/label -> prompt_ids, completion_ids (cut to fit cutoff_len), label."""
    features, problems = [], []
    for pos, row in enumerate(rows):
        prompt_ids, (completion_ids,) = encode(template, row["prompt"], [row["completion"][0]])
        reason = _no_room(prompt_ids, cutoff_len)
        if reason:
            problems.append((pos, "prompt", reason))
            continue
        features.append({
            "prompt_ids": prompt_ids,
            "completion_ids": completion_ids[:cutoff_len - len(prompt_ids)],
            "label": bool(row["label"]), "prompt_len": len(prompt_ids),
            "completion_len": len(completion_ids), "row": pos,
        })
    return features, problems


def tokenize_sft(rows: list[Row], template: ChatTemplate, cutoff_len: int) -> Tokenized:
    """messages -> input_ids and assistant_mask (1 on every assistant turn's tokens, end token
    included), cut to cutoff_len. A conversation whose first answer starts beyond cutoff_len
    trains nothing: a problem. train_on_prompt is applied by the sft stage, not here, so the
    same features serve both settings."""
    features, problems = [], []
    for pos, row in enumerate(rows):
        ids, mask = encode_conversation(template, row["messages"])
        if not any(mask[:cutoff_len]):
            problems.append((pos, "messages", f"the first answer starts after token "
                             f"{mask.index(1) if 1 in mask else len(ids)}, beyond cutoff_len "
                             f"{cutoff_len}; raise cutoff_len or shorten the conversation"))
            continue
        features.append({"input_ids": ids[:cutoff_len], "assistant_mask": mask[:cutoff_len],
                         "sequence_len": len(ids), "answer_len": sum(mask), "row": pos})
    return features, problems


TOKENIZERS: dict[str, Callable[[list[Row], ChatTemplate, int], Tokenized]] = {
    "dpo": tokenize_pairwise,
    "rm": tokenize_pairwise,
    "kto": tokenize_kto,
    "sft": tokenize_sft,
}


def tokenize_rows(stage: str, rows: list[Row], template: ChatTemplate, cutoff_len: int) -> Tokenized:
    if stage not in TOKENIZERS:
        raise ValueError(f"stage {stage!r} has no tokenizer; known: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[stage](rows, template, cutoff_len)
