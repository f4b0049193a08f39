"""A side-by-side answer pair waiting for a vote, and the blind order it is shown in. The
WebUI's Chat tab and `python -m core chat --vote` both go through here; the file the vote is
saved to is core/data/votes.py.

    panes = draw_panes(blind=True)               # ("B", "A"): pane A shows side B this prompt
    ballot = Ballot(session.history, {"A": "demo", "B": "demo-dpo"}, gen, blind=True,
                    panes=panes)
    vote = ballot.vote("A", edited="a better answer")   # pane A's answer won, edited
    append_vote(vote, "chat_votes", "data")

Sides A and B are what the Model A / Model B pickers chose; panes A and B are what the user
sees. Without blind, pane A shows side A. With blind, the order is drawn again for every
prompt (from the operating system's randomness unless an rng is given), the model names stay
hidden until the vote, and `vote()` maps the pane picked back to the side that wrote it.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from core.data.votes import Vote
from core.errors import UserError

SIDES = ("A", "B")
PICKS = ("A", "B", "tie")


def draw_panes(blind: bool, rng: random.Random | None = None) -> tuple[str, str]:
    """The sides shown in panes A and B: in order, or (blind) shuffled."""
    if not blind:
        return SIDES
    rng = rng or random.SystemRandom()
    return SIDES if rng.random() < 0.5 else (SIDES[1], SIDES[0])


@dataclass
class Ballot:
    """Both sides' conversations ending with their answers to the same user message, what
    each side ran (model names), the generation settings, and how the panes showed them."""

    histories: dict[str, list[dict]]
    models: dict[str, str]
    generation: dict[str, Any] = field(default_factory=dict)
    blind: bool = False
    panes: tuple[str, str] = SIDES

    def __post_init__(self) -> None:
        if is_dataclass(self.generation):
            self.generation = asdict(self.generation)
        self.panes = tuple(self.panes)
        for side in SIDES:
            turns = self.histories.get(side) or []
            if len(turns) < 2 or turns[-1].get("role") != "assistant":
                raise UserError(f"side {side} has no answer to vote on; send a message with two "
                                "models first")
            if not str(turns[-1].get("content") or "").strip():
                raise UserError(f"side {side}'s answer is empty, so this pair cannot be voted on "
                                "(a pair needs two answers); send the message again")

    def side(self, pane: str) -> str:
        """The side whose answer pane `pane` shows."""
        if pane not in SIDES:
            raise UserError(f"pick pane A, B or tie, not {pane!r}")
        return self.panes[SIDES.index(pane)]

    def answer(self, pane: str) -> str:
        """The answer pane `pane` shows (what the edit box starts from)."""
        return self.histories[self.side(pane)][-1].get("content") or ""

    def vote(self, pick: str, edited: str | None = None) -> Vote:
        """The vote for `pick` (pane A, pane B or tie). `edited` replaces the better answer
        (ignored for a tie); the prompt is the winning side's conversation so far."""
        if pick not in PICKS:
            raise UserError(f"pick pane A, B or tie, not {pick!r}")
        winner = "tie" if pick == "tie" else self.side(pick)
        first, second = ("A", "B") if winner in ("tie", "A") else ("B", "A")
        chosen, rejected = (self.histories[s][-1].get("content") or "" for s in (first, second))
        original = None
        if winner != "tie" and edited is not None and edited.strip() != chosen.strip():
            if not edited.strip():
                raise UserError("the better answer is empty; write one, or vote without editing")
            original, chosen = chosen, edited.strip()
        system = self.generation.get("system") or ""
        prompt = ([{"role": "system", "content": system}] if system else []) + [
            {"role": m["role"], "content": m.get("content") or ""}
            for m in self.histories[first][:-1]]
        return Vote(prompt, chosen, rejected, winner, self.models.get("A", "A"),
                    self.models.get("B", "B"), self.panes, self.blind, original,
                    self.histories["A"][:-1] == self.histories["B"][:-1], dict(self.generation))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for a gr.State); Ballot(**d) rebuilds it."""
        return {"histories": self.histories, "models": self.models,
                "generation": self.generation, "blind": self.blind, "panes": list(self.panes)}
