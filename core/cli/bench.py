"""Timing benchmarks (timings live here, never in test assertions).

    python -m core bench dpo [--model demo] [--dataset demo_pref_en] [--steps 20] [--batch 4]
    python -m core bench dpo --file ../shared/data/llamafactory/dpo_en_demo.json
    python -m core bench data [--dataset NAME | --file PATH]

`dpo` times the pieces of a pairwise step on this machine: tokenisation, the one-off
reference pass, and policy forward+backward (pairs/s and scored tokens/s), and prints one
JSON line per measurement so results can be collected. `data` times loading, conversion and
checking of a dataset. --file reads any data file where it lies (its layout detected).
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("dpo", "data"), help="what to time")
    parser.add_argument("--model", default="demo", help="model id, folder or 'demo'")
    parser.add_argument("--dataset", default="demo_pref_en", help="a registered dataset")
    parser.add_argument("--dataset_dir", "--dataset-dir", default="data")
    parser.add_argument("--file", help="a data file to read instead of a registered dataset")
    parser.add_argument("--steps", type=int, default=20, help="batches to time")
    parser.add_argument("--batch", type=int, default=4, help="pairs per batch")
    parser.add_argument("--cutoff_len", "--cutoff-len", type=int, default=1024)


def main(args: argparse.Namespace) -> int:
    if args.what == "dpo":
        from core.bench.dpo import bench_dpo
        bench_dpo(args)
    else:
        from core.bench.data import bench_data
        bench_data(args)
    return 0
