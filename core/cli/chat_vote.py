"""`python -m core chat --compare ... --vote`: the question after each answer pair (asked on
stderr, answered on stdin), the vote saved by core.data.votes, and on stdout the models
revealed (blind) and the running win rate.

    a / b / t     pane A better, pane B better, tie
    ae / be       edit the better answer first: type it, end with a line holding only "."
    s (or EOF)    skip this pair
"""
from __future__ import annotations

import sys

from core.chat.ballot import SIDES, Ballot, draw_panes
from core.chat.engine import ChatEngine, ChatSession, GenConfig
from core.data.votes import append_vote, read_votes, tally
from core.errors import UserError

QUESTION = "Which answer is better? a, b, t (tie), s (skip); ae / be to edit it first: "
CHOICES = {"a": "A", "b": "B", "t": "tie"}


class Voter:
    """Where votes go and whether they are blind; asks, saves and prints the win rate."""

    def __init__(self, name: str, dataset_dir: str, blind: bool):
        self.name, self.dataset_dir, self.blind = name, dataset_dir, blind

    def panes(self) -> tuple[str, str]:
        return draw_panes(self.blind)

    def heads(self, engine: ChatEngine, panes: tuple[str, str]) -> dict[str, str]:
        """side -> the label its answer is printed under: the pane letter, and the model's
        name unless blind."""
        return {side: pane if self.blind else f"{pane}: {engine.label(side)}"
                for pane, side in zip(SIDES, panes)}

    def ask(self, session: ChatSession, gen: GenConfig, panes: tuple[str, str]) -> None:
        """Ask until the answer is valid; save the vote; say where and the win rate."""
        engine = session.engine
        try:
            ballot = Ballot({s: session.history[s] for s in SIDES},
                            {s: engine.model_name(s) for s in SIDES}, gen, self.blind, panes)
        except UserError as e:  # a side stopped before it answered: nothing to vote on
            print(f"(no vote: {e})", file=sys.stderr)
            return
        while True:
            print(QUESTION, end="", file=sys.stderr, flush=True)
            line = sys.stdin.readline()
            answer = line.strip().lower()
            if not line or answer == "s":
                return
            pick = CHOICES.get(answer[:1]) if answer in ("a", "b", "t", "ae", "be") else None
            if pick is not None:
                break
            print(f"(unknown answer {answer!r})", file=sys.stderr)
        edited = _read_edit(ballot.answer(pick)) if answer.endswith("e") else None
        try:
            saved = append_vote(ballot.vote(pick, edited), self.name, self.dataset_dir)
        except UserError as e:  # e.g. an emptied answer or a broken file: the chat goes on
            print(f"(vote not saved: {e})", file=sys.stderr)
            return
        if self.blind:
            print("(" + ", ".join(f"{pane} was {ballot.models[side]}" for pane, side in
                                  zip(SIDES, panes)) + ")")
        where = " (registered it)" if saved.registered else ""
        result = tally(read_votes(self.name, self.dataset_dir), ballot.models["B"],
                       ballot.models["A"])
        print(f"Saved vote {saved.count} to {saved.name}: {saved.path}{where}. "
              f"{result.summary()}", flush=True)


def _read_edit(current: str) -> str:
    """The edited answer: lines up to one holding only "." (EOF ends it too)."""
    print(f"Edit the better answer (it was: {current!r}); end with a line '.':",
          file=sys.stderr, flush=True)
    lines = []
    for line in iter(sys.stdin.readline, ""):
        if line.rstrip("\n") == ".":
            break
        lines.append(line)
    return "".join(lines).rstrip("\n")
