"""Preference metrics from pair scores: accuracy, margins, losses, Kendall's tau, and a
finished run's training summary. The flow that computes them is flow.py; the command line
is core/cli/eval.py (its help lists every number).
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from core.errors import UserError

log = logging.getLogger(__name__)
RESULTS = "evaluation_results.json"
# The numbers a comparison shows, with their short labels (CLI table, WebUI table).
TABLE = (("preference_accuracy", "pref acc"), ("reward_margin", "reward margin"),
         ("avg_chosen_loss", "chosen loss"), ("avg_rejected_loss", "rejected loss"),
         ("loss_margin", "loss margin"), ("perplexity", "ppl"),
         ("likelihood_accuracy", "lik acc"), ("kendall_tau", "tau"), ("win_rate", "win rate"))


def preference_metrics(scores: dict, ref: dict, beta: float) -> dict[str, Any]:
    """The numbers of the module docstring from a model's and its reference's pair scores."""
    n = len(scores["chosen"])
    margins = [beta * ((c - rc) - (r - rr)) for c, r, rc, rr in
               zip(scores["chosen"], scores["rejected"], ref["chosen"], ref["rejected"])]
    correct = sum(1.0 if m > 1e-9 else 0.5 if abs(m) <= 1e-9 else 0.0 for m in margins)
    chosen_loss = -sum(scores["chosen"]) / max(sum(scores["n_chosen"]), 1)
    rejected_loss = -sum(scores["rejected"]) / max(sum(scores["n_rejected"]), 1)
    likelihood = sum(c / max(nc, 1) > r / max(nr, 1) for c, r, nc, nr in zip(
        scores["chosen"], scores["rejected"], scores["n_chosen"], scores["n_rejected"]))
    return {
        "preference_accuracy": correct / n if n else None, "preference_correct": correct,
        "preference_total": n, "reward_margin": sum(margins) / n if n else None,
        "avg_chosen_loss": chosen_loss, "avg_rejected_loss": rejected_loss,
        "loss_margin": rejected_loss - chosen_loss, "perplexity": math.exp(min(chosen_loss, 50)),
        "likelihood_accuracy": likelihood / n if n else None,
    }


def kendall_tau(scores: list[float], label_order: list[int]) -> float:
    """Kendall's tau between the model's scores and the label ranks (0 = best)."""
    pairs = concordant = 0
    for i in range(len(scores)):
        for j in range(i + 1, len(scores)):
            if label_order[i] == label_order[j]:
                continue
            pairs += 1
            agree = (scores[i] - scores[j]) * (label_order[j] - label_order[i])
            concordant += 1 if agree > 0 else -1 if agree < 0 else 0
    return concordant / pairs if pairs else 0.0


def ranked_tau(scores: list[list[float]], ref: list[list[float]]) -> float | None:
    """Mean Kendall's tau over the ranked rows between the implicit rewards of their answers
    (model minus reference log-prob, answers best first) and the label order; None without
    ranked rows."""
    if not scores:
        return None
    taus = [kendall_tau([a - b for a, b in zip(mine, base)], list(range(len(mine))))
            for mine, base in zip(scores, ref)]
    return sum(taus) / len(taus)


def training_summary(run_dir: Path) -> dict[str, Any]:
    """The run's loss curve ends, best eval loss, steps, state and training time."""
    from core.runs.rundir import RunDir

    rd = RunDir(run_dir)
    records = rd.metrics()
    train = [r["loss"] for r in records if "loss" in r]
    evals = [r["eval_loss"] for r in records if "eval_loss" in r]
    status = rd.status()
    started, ended = status.get("started_at"), status.get("ended_at")
    return {"initial_train_loss": train[0] if train else None,
            "final_train_loss": train[-1] if train else None,
            "best_eval_loss": min(evals) if evals else None,
            "final_eval_loss": evals[-1] if evals else None,
            "steps": status.get("step"), "state": status.get("state"),
            "training_time_s": round(ended - started, 1) if started and ended else None}


def require_pairs(stage_rows: list, dataset: str) -> None:
    """Refuse a dataset that gives no pairs, pointing at the data check."""
    if not stage_rows:
        raise UserError(f"dataset: {dataset} has no usable pairs; check it with "
                        f"`python -m core data check {dataset}`")
