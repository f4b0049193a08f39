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

import argparse
import json

from core.evaluate.flow import evaluate
from core.evaluate.metrics import TABLE
from core.models.loading import DTYPES


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--dtype", choices=DTYPES,
                        help="load every model (and the judge) in this dtype instead of the "
                             "run's own (its bf16/fp16 flags); quantized runs stay quantized")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def main(args: argparse.Namespace) -> int:
    results = evaluate(args.run, args.dataset, args.dataset_dir, max_samples=args.max_samples,
                       samples=args.samples, max_new_tokens=args.max_new_tokens,
                       judge=args.judge, win_prompts=args.win_prompts, dtype=args.dtype)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(render_table(results))
    return 0


def render_table(results: dict[str, dict]) -> str:
    """The comparison table: one row per model, metrics.TABLE's numbers as columns."""
    names = list(results)
    width = max(12, *(len(n) for n in names))
    lines = [f"{'model':<{width}}" + "".join(f"{label:>15}" for _, label in TABLE)]
    for name in names:
        row = results[name]
        cells = [f"{row[k]:.4f}" if isinstance(row.get(k), float) else
                 "-" if row.get(k) is None else str(row[k]) for k, _ in TABLE]
        lines.append(f"{name:<{width}}" + "".join(f"{c:>15}" for c in cells))
    return "\n".join(lines)
