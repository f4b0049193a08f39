"""What happens to a record longer than cutoff_len: the `truncation` setting, and its counts.

    prompt, answers, turns = fit(prompt_ids, [chosen_ids, rejected_ids], 256, "llamafactory")
    budget(300, 100, 256)   # (156, 100): tokens kept of the prompt and of the answer

Modes (the config field `truncation`):
  llamafactory  LLaMA-Factory's rule (its infer_seqlen), so its YAMLs train on the same token ids:
                an answer shorter than half of cutoff_len is kept whole and the prompt gets
                the rest; otherwise a prompt shorter than half is kept whole and the answer
                gets the rest; otherwise both are cut in proportion to their lengths. For a
                pair the longer answer sets the answer budget and both answers are cut to it.
                Prompt and answers keep their first tokens, so a cut prompt loses its end
                (the assistant header included), exactly as LLaMA-Factory cuts it.
  keep_recent   the same budget, but the prompt loses its oldest turns first (a system
                message stays), then the start of what is left: the last user turn and the
                assistant header survive. Answers keep their first tokens.
  drop          a record longer than cutoff_len is a bad record (counted against max_bad_ratio).
  error         a record longer than cutoff_len stops the run; `data check` lists them all.

The end of a cut answer is gone, its end token (<|im_end|>) with it, as in LLaMA-Factory: the
model never sees that example stop. An answer that would keep no token is never trained on:
the record is dropped (a bad record) with the reason. SFT conversations follow LLaMA-Factory's
multi-turn rule in tokenize.py; GRPO prompts get cutoff_len - max_completion_length tokens.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from core.config.fields import DataArgs

CUTTING = ("llamafactory", "keep_recent")  # modes that shorten a record instead of refusing it
EXAMPLES = 5  # cut records named in a summary


@dataclass(frozen=True)
class Cutoff:
    """The limit a stage's tokenizer applies: cutoff_len, the mode, and (grpo) the tokens
    kept free for the completion the policy will generate."""

    length: int
    mode: str = DataArgs.truncation
    completion: int = 0

    @property
    def room(self) -> int:
        return self.length - self.completion


def budget(source_len: int, target_len: int, cutoff_len: int) -> tuple[int, int]:
    """(prompt tokens kept, answer tokens kept) under LLaMA-Factory's rule; both unchanged when
    they fit."""
    if 2 * target_len < cutoff_len:  # a short answer: the prompt pays
        target_room = cutoff_len
    elif 2 * source_len < cutoff_len:  # a short prompt: the answer pays
        target_room = cutoff_len - source_len
    else:  # both long: shares in proportion to the lengths
        target_room = int(cutoff_len * (target_len / (source_len + target_len)))
    target = min(target_room, target_len)
    return min(max(cutoff_len - target, 0), source_len), target


Encoded = tuple[list[int], list[list[int]]]  # prompt ids, answer ids


def fit(prompt: list[int], answers: list[list[int]], cutoff_len: int, mode: str,
        shorter: Callable[[int], Encoded | None] | None = None,
        ) -> tuple[list[int], list[list[int]], int]:
    """Cut prompt and answers to cutoff_len: (prompt, answers, turns dropped). keep_recent
    calls `shorter(n)` for the prompt without its n oldest turns (None: none left to drop)."""
    turns = 0
    while True:
        keep, room = budget(len(prompt), max(map(len, answers), default=0), cutoff_len)
        if mode != "keep_recent" or len(prompt) <= keep or shorter is None:
            break
        fewer = shorter(turns + 1)
        if fewer is None:
            break
        (prompt, answers), turns = fewer, turns + 1
    kept = prompt[:keep] if mode == "llamafactory" else prompt[len(prompt) - keep:]
    return kept, [a[:room] for a in answers], turns


def drop_turns(messages: list[dict], n: int) -> list[dict] | None:
    """`messages` without its n oldest exchanges (a user turn and what follows it up to the
    next user turn); a leading system message stays. None when fewer than n + 1 remain."""
    head = messages[:1] if messages and messages[0]["role"] == "system" else []
    rest = messages[len(head):]
    starts = [i for i, m in enumerate(rest) if m["role"] == "user"]
    if n >= len(starts):
        return None
    return head + rest[starts[n]:]


@dataclass
class Cuts:
    """What truncation did to a dataset (or a run's datasets): counts of records."""

    mode: str
    cutoff_len: int
    records: int = 0  # records tokenized
    prompts_cut: int = 0
    answers_cut: int = 0
    turns_dropped: int = 0  # keep_recent: whole turns left out of prompts
    tokens_removed: int = 0
    dropped: int = 0  # records left out: answer cut to nothing, or truncation drop
    refused: int = 0  # truncation error: records longer than cutoff_len
    examples: list[str] = field(default_factory=list)  # "file:index: what was cut"

    @property
    def cut(self) -> int:
        return self.prompts_cut + self.answers_cut

    def add(self, other: Cuts) -> Cuts:
        for key in ("records", "prompts_cut", "answers_cut", "turns_dropped", "tokens_removed",
                    "dropped", "refused"):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        self.examples = (self.examples + other.examples)[:EXAMPLES]
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for train.log and `data check`."""
        text = (f"cutoff_len {self.cutoff_len}, truncation {self.mode}: {self.prompts_cut} of "
                f"{self.records} records had their prompt cut, {self.answers_cut} their answer, "
                f"{self.tokens_removed} tokens removed")
        if self.turns_dropped:
            text += f" ({self.turns_dropped} whole turns)"
        if self.dropped:
            text += f"; {self.dropped} records dropped"
        if self.refused:
            text += f"; {self.refused} records longer than cutoff_len"
        return text
