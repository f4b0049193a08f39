"""Preference evaluation of runs and their base model on a held-out pairwise set.

    python -m core eval --run saves/demo-dpo --dataset demo_pref_en_test
    python -m core eval --run saves/a --run saves/b --dataset my_pairs --judge saves/my-rm

For the base model and every run it measures, per pair of the dataset:
  preference accuracy  share of pairs whose implicit reward beta*log(pi/pi_base) is higher for
                       the chosen answer (ties count half, so the base itself scores 0.5)
  reward margin        mean implicit reward of chosen minus rejected
  chosen/rejected loss mean per-token negative log-likelihood, their gap (loss_margin) and the
                       perplexity of the chosen answers
  likelihood accuracy  share of pairs where the chosen answer has the higher mean log-prob
  kendall_tau          agreement with the label order where more than two answers are ranked
  win rate             with --judge (an rm run): how often the run's answer beats the base's
and a few greedy generation samples. Each run gets evaluation_results.json (its numbers, the
base's, and its training summary); the command prints a comparison table.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from .errors import UserError

log = logging.getLogger(__name__)
RESULTS = "evaluation_results.json"


def pair_scores(model, features: list[dict], collate, batch_size: int = 4) -> dict[str, list[float]]:
    """Summed log-probs and token counts of the chosen and rejected answers, per pair."""
    import torch

    from .methods.logps import batch_logps

    out: dict[str, list[float]] = {"chosen": [], "rejected": [], "n_chosen": [], "n_rejected": []}
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            sums, counts = batch_logps(model, collate(features[start:start + batch_size]), device)
            c, r = sums.float().cpu().chunk(2)
            nc, nr = counts.float().cpu().chunk(2)
            for key, values in (("chosen", c), ("rejected", r), ("n_chosen", nc), ("n_rejected", nr)):
                out[key] += values.tolist()
    return out


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


def training_summary(run_dir: Path) -> dict[str, Any]:
    from .rundir import RunDir

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


def add_arguments(parser) -> None:
    parser.add_argument("--run", action="append", required=True,
                        help="a run folder (repeat for several); base = the first run's base")
    parser.add_argument("--dataset", required=True, help="a pairwise dataset name")
    parser.add_argument("--dataset_dir", "--dataset-dir", default="data")
    parser.add_argument("--max_samples", "--max-samples", type=int, help="use the first N pairs")
    parser.add_argument("--samples", type=int, default=3, help="generation samples to record")
    parser.add_argument("--max_new_tokens", "--max-new-tokens", type=int, default=48)
    parser.add_argument("--judge", help="an rm run: score base and run answers for a win rate")
    parser.add_argument("--win_prompts", "--win-prompts", type=int, default=16,
                        help="prompts generated for the judged win rate")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def main(args) -> int:
    from .evaluate_run import evaluate

    results = evaluate(args.run, args.dataset, args.dataset_dir, max_samples=args.max_samples,
                       samples=args.samples, max_new_tokens=args.max_new_tokens,
                       judge=args.judge, win_prompts=args.win_prompts)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(render_table(results))
    return 0


TABLE = (("preference_accuracy", "pref acc"), ("reward_margin", "reward margin"),
         ("avg_chosen_loss", "chosen loss"), ("avg_rejected_loss", "rejected loss"),
         ("loss_margin", "loss margin"), ("perplexity", "ppl"),
         ("likelihood_accuracy", "lik acc"), ("kendall_tau", "tau"), ("win_rate", "win rate"))


def render_table(results: dict[str, dict]) -> str:
    names = list(results)
    width = max(12, *(len(n) for n in names))
    lines = [f"{'model':<{width}}" + "".join(f"{label:>15}" for _, label in TABLE)]
    for name in names:
        row = results[name]
        cells = [f"{row[k]:.4f}" if isinstance(row.get(k), float) else
                 "-" if row.get(k) is None else str(row[k]) for k, _ in TABLE]
        lines.append(f"{name:<{width}}" + "".join(f"{c:>15}" for c in cells))
    return "\n".join(lines)


def require_pairs(stage_rows: list, dataset: str) -> None:
    if not stage_rows:
        raise UserError(f"dataset: {dataset} has no usable pairs; check it with "
                        f"`python -m core data check {dataset}`")
