"""Canonical rows -> token ids, per stage, with cutoff_len applied as `truncation` says.

    out = tokenize_rows("dpo", rows, template, Cutoff(256, "llamafactory"))
    out.features, out.problems, out.lengths, out.cuts

One function per stage; `data check` uses them for token statistics and training uses them to
build its dataset, so both see the same ids. `lengths` holds the untruncated lengths of every
row (cut, dropped or not) for statistics. The rules for cutting are in truncation.py:
  dpo, rm  the prompt and the longer answer share cutoff_len; both answers get the same budget
  kto      the prompt and the completion share cutoff_len
  sft      LLaMA-Factory's multi-turn rule: turns are taken in order, each (prompt part, answer)
           pair shares what earlier turns left of cutoff_len; once it is used up the later
           turns are left out. keep_recent instead drops the oldest turns and keeps the end.
  grpo     the prompt gets cutoff_len - max_completion_length tokens; a cut prompt is given to
           TRL as the decoded text of the kept tokens
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .templates import ChatTemplate, encode
from .truncation import CUTTING, Cutoff, Encoded, budget, drop_turns, fit

Row = dict[str, Any]
SLICE = 256  # rows tokenized between two progress reports


@dataclass
class Tokenized:
    features: list[dict] = field(default_factory=list)  # kept rows, each with its "row" position
    # (row, field, reason, severity) of the rows truncation drops or refuses
    problems: list[tuple[int, str, str, str]] = field(default_factory=list)
    lengths: list[dict[str, int]] = field(default_factory=list)  # every row, before truncation
    # (row, prompt tokens removed, answer tokens removed, turns dropped) of the rows cut
    cuts: list[tuple[int, int, int, int]] = field(default_factory=list)

    def extend(self, other: Tokenized, offset: int) -> None:
        """Append the result of rows[offset:...] tokenized on their own (row numbers shift)."""
        self.features += [{**f, "row": f["row"] + offset} for f in other.features]
        self.problems += [(pos + offset, *rest) for pos, *rest in other.problems]
        self.lengths += other.lengths
        self.cuts += [(pos + offset, *rest) for pos, *rest in other.cuts]

    def refuse(self, pos: int, fld: str, total: int, cut: Cutoff) -> None:
        """A record longer than the limit under truncation drop or error."""
        limit = (f"cutoff_len {cut.length} - max_completion_length {cut.completion}"
                 if cut.completion else f"cutoff_len {cut.length}")
        severity = "dropped" if cut.mode == "drop" else "error"
        self.problems.append((pos, fld, f"{total} tokens, longer than {limit} (truncation "
                              f"{cut.mode}); raise cutoff_len or set truncation llamafactory or "
                              "keep_recent to cut it", severity))

    def empty_answer(self, pos: int, fld: str, cut: Cutoff) -> None:
        self.problems.append((pos, fld, f"no answer token would remain within cutoff_len "
                              f"{cut.length} (the prompt takes it all); raise cutoff_len or "
                              "shorten the prompt", "dropped"))


def _fit(out: Tokenized, pos: int, prompt: list[dict], encoded: Encoded,
         enc: Callable[[list[dict]], Encoded], cut: Cutoff,
         limit: int) -> Encoded | None:
    """`encoded` (the ids of `prompt` and of the answers) within `limit` tokens, or None (a
    problem recorded). keep_recent re-encodes the prompt without its oldest turns with `enc`."""
    prompt_ids, answers = encoded
    total = len(prompt_ids) + max(map(len, answers), default=0)
    if total <= limit:
        return prompt_ids, answers
    if cut.mode not in CUTTING:
        out.refuse(pos, "prompt", total, cut)
        return None
    shorter = None
    if cut.mode == "keep_recent":
        def shorter(n: int):
            fewer = drop_turns(prompt, n)
            return None if fewer is None else enc(fewer)
    kept, kept_answers, turns = fit(prompt_ids, answers, limit, cut.mode, shorter)
    if answers and not all(kept_answers):
        out.empty_answer(pos, "prompt", cut)
        return None
    removed = sum(map(len, answers)) - sum(map(len, kept_answers))
    out.cuts.append((pos, len(prompt_ids) - len(kept), max(removed, 0), turns))
    return kept, kept_answers


def tokenize_pairwise(rows: list[Row], template: ChatTemplate, cut: Cutoff) -> Tokenized:
    """prompt/chosen/rejected -> prompt_ids, chosen_ids, rejected_ids within cutoff_len."""
    out = Tokenized()
    for pos, row in enumerate(rows):
        answers = [row["chosen"][0], row["rejected"][0]]
        enc = lambda prompt, answers=answers: encode(template, prompt, answers)  # noqa: E731
        encoded = enc(row["prompt"])
        prompt_ids, (chosen, rejected) = encoded
        out.lengths.append({"prompt_len": len(prompt_ids), "chosen_len": len(chosen),
                            "rejected_len": len(rejected)})
        fitted = _fit(out, pos, row["prompt"], encoded, enc, cut, cut.length)
        if fitted is not None:
            prompt_ids, (chosen_ids, rejected_ids) = fitted
            out.features.append({"prompt_ids": prompt_ids, "chosen_ids": chosen_ids,
                                 "rejected_ids": rejected_ids, **out.lengths[-1], "row": pos})
    return out


def tokenize_kto(rows: list[Row], template: ChatTemplate, cut: Cutoff) -> Tokenized:
    """prompt/completion/label -> prompt_ids, completion_ids within cutoff_len, label."""
    out = Tokenized()
    for pos, row in enumerate(rows):
        answer = [row["completion"][0]]
        enc = lambda prompt, answer=answer: encode(template, prompt, answer)  # noqa: E731
        encoded = enc(row["prompt"])
        prompt_ids, (completion,) = encoded
        out.lengths.append({"prompt_len": len(prompt_ids), "completion_len": len(completion)})
        fitted = _fit(out, pos, row["prompt"], encoded, enc, cut, cut.length)
        if fitted is not None:
            prompt_ids, (completion_ids,) = fitted
            out.features.append({"prompt_ids": prompt_ids, "completion_ids": completion_ids,
                                 "label": bool(row["label"]), **out.lengths[-1], "row": pos})
    return out


def tokenize_grpo(rows: list[Row], template: ChatTemplate, cut: Cutoff) -> Tokenized:
    """prompt -> prompt_ids and prompt_text (what TRL generates from) within cutoff_len -
    max_completion_length; a cut prompt's text is the decoded kept tokens."""
    out = Tokenized()
    tok = template.tokenizer

    def enc(prompt: list[dict]) -> Encoded:
        return tok(template.prompt_text(prompt), add_special_tokens=False)["input_ids"], []

    for pos, row in enumerate(rows):
        encoded = enc(row["prompt"])
        prompt_ids = encoded[0]
        out.lengths.append({"prompt_len": len(prompt_ids)})
        fitted = _fit(out, pos, row["prompt"], encoded, enc, cut, cut.room)
        if fitted is not None:
            kept = fitted[0]
            text = (template.prompt_text(row["prompt"]) if kept == prompt_ids
                    else tok.decode(kept, skip_special_tokens=False))
            out.features.append({"prompt_ids": kept, "prompt_text": text, **out.lengths[-1],
                                 "row": pos})
    return out


Pairs = list[tuple[list[int], list[int]]]  # (prompt part, answer) ids per turn


def conversation_turns(template: ChatTemplate, messages: list[dict]) -> Pairs:
    """(prompt part, answer) ids for each assistant message, as LLaMA-Factory pairs the turns of
    a conversation: concatenated they are the whole conversation. A history the template
    renders differently (qwen3 strips earlier think blocks) starts the pairs again."""
    pairs: Pairs = []
    ids: list[int] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt_ids, (answer_ids,) = encode(template, messages[:i], [message])
        if prompt_ids[:len(ids)] == ids:
            pairs.append((prompt_ids[len(ids):], answer_ids))
        else:
            pairs = [(prompt_ids, answer_ids)]
        ids = prompt_ids + answer_ids
    return pairs


def _flat(pairs: Pairs) -> tuple[list[int], list[int]]:
    ids, mask = [], []
    for source, target in pairs:
        ids += source + target
        mask += [0] * len(source) + [1] * len(target)
    return ids, mask


def lf_turns(pairs: Pairs, cutoff_len: int) -> tuple[list[int], list[int]]:
    """LLaMA-Factory's multi-turn cut: each turn's pair shares what the earlier turns left."""
    ids, mask = [], []
    for source, target in pairs:
        if len(ids) >= cutoff_len:
            break
        keep, room = budget(len(source), len(target), cutoff_len - len(ids))
        ids += source[:keep] + target[:room]
        mask += [0] * keep + [1] * room
    return ids, mask


def recent_turns(template: ChatTemplate, messages: list[dict],
                 cutoff_len: int) -> tuple[list[int], list[int], int]:
    """keep_recent for a conversation: everything before the last answer is its prompt part
    (earlier answers keep their mask); drop the oldest exchanges while that part would be cut,
    then keep its end. (ids, mask, turns dropped)"""
    turns, current = 0, messages
    while True:
        pairs = conversation_turns(template, current)
        head, head_mask = _flat(pairs[:-1])
        head, head_mask = head + pairs[-1][0], head_mask + [0] * len(pairs[-1][0])
        answer = pairs[-1][1]
        keep, room = budget(len(head), len(answer), cutoff_len)
        fewer = drop_turns(messages, turns + 1) if len(head) > keep else None
        if fewer is None:
            start = len(head) - keep
            return head[start:] + answer[:room], head_mask[start:] + [1] * room, turns
        current, turns = fewer, turns + 1


def tokenize_sft(rows: list[Row], template: ChatTemplate, cut: Cutoff) -> Tokenized:
    """messages -> input_ids and assistant_mask (1 on every assistant turn's tokens, end token
    included) within cutoff_len. train_on_prompt is applied by the sft stage, not here, so the
    same features serve both settings."""
    out = Tokenized()
    for pos, row in enumerate(rows):
        pairs = conversation_turns(template, row["messages"])
        ids, mask = _flat(pairs)
        out.lengths.append({"sequence_len": len(ids), "answer_len": sum(mask)})
        turns = 0
        if len(ids) > cut.length:
            if cut.mode not in CUTTING:
                out.refuse(pos, "messages", len(ids), cut)
                continue
            full_answers = sum(mask)
            if cut.mode == "llamafactory":
                ids, mask = lf_turns(pairs, cut.length)
            else:
                ids, mask, turns = recent_turns(template, row["messages"], cut.length)
            if not any(mask):
                out.empty_answer(pos, "messages", cut)
                continue
            removed = full_answers - sum(mask)
            out.cuts.append((pos, out.lengths[-1]["sequence_len"] - len(ids) - removed, removed,
                             turns))
        out.features.append({"input_ids": ids, "assistant_mask": mask, **out.lengths[-1],
                             "row": pos})
    return out


TOKENIZERS: dict[str, Callable[[list[Row], ChatTemplate, Cutoff], Tokenized]] = {
    "dpo": tokenize_pairwise,
    "rm": tokenize_pairwise,
    "kto": tokenize_kto,
    "sft": tokenize_sft,
    "grpo": tokenize_grpo,
}


def tokenize_rows(stage: str, rows: list[Row], template: ChatTemplate, cut: Cutoff,
                  on_rows: Callable[[int], None] | None = None) -> Tokenized:
    """The stage's tokenizer over `rows`, SLICE rows at a time; `on_rows(n)` after each slice
    (the run's data phase counts rows with it)."""
    if stage not in TOKENIZERS:
        raise ValueError(f"stage {stage!r} has no tokenizer; known: {', '.join(TOKENIZERS)}")
    out = Tokenized()
    for start in range(0, len(rows), SLICE):
        part = rows[start:start + SLICE]
        out.extend(TOKENIZERS[stage](part, template, cut), start)
        if on_rows is not None:
            on_rows(len(part))
    return out
