"""Win rates judged by a reward model (an `rm` run, scored through
core.methods.reward_model.RewardScorer): each model's greedy answers against the base's on the
same prompts. Ties count half, so the base against itself scores exactly 0.5."""
from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Scorer(Protocol):
    """What the judge needs of a reward model (RewardScorer, or a stub in tests)."""

    def score(self, prompts: list[list[dict[str, Any]]], answers: list[str]) -> list[float]:
        ...


def win_rates(scorer: Scorer, prompts: list[list[dict[str, Any]]],
              answers: dict[str, list[str]]) -> dict[str, dict[str, float | None]]:
    """{model: {"win_rate", "judge_score"}} for every model in `answers` (which holds "base"):
    the share of prompts where the judge scores the model's answer above the base's, and the
    mean score of its answers."""
    scores = {name: scorer.score(prompts, texts) for name, texts in answers.items()}
    base = scores["base"]
    out: dict[str, dict[str, float | None]] = {}
    for name, mine in scores.items():
        wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(mine, base))
        out[name] = {"win_rate": wins / len(base) if base else None,
                     "judge_score": sum(mine) / len(mine) if mine else None}
    log.info("Win rates vs base judged on %d prompts.", len(base))
    return out
