"""Timing benchmarks (timings live here, never in test assertions).

    python -m core bench dpo                      # ours (all switches, each off) vs TRL
    python -m core bench dpo --workload long --llamafactory-cli ../lf-venv/bin/llamafactory-cli
    python -m core bench dpo --size qwen2.5-0.5b --bf16          # on a GPU
    python -m core bench dpo --size qwen2.5-0.5b --bf16 --flash-attn flex --only ours,ours-plain
    python -m core bench kto                      # kto: our scored-only head vs TRL's
    python -m core bench data [--dataset NAME | --file PATH]

`dpo` trains one workload whole-process with every trainer in turn (core/bench/dpo.py) and
prints a Markdown table: wall time, pairs/s, tokens/s, peak RSS (and GPU memory), first-step
loss, the loss-curve difference to our plain path, speed-ups over TRL and LLaMA-Factory.
docs/benchmarks.md holds measured figures. `data` times loading, conversion and checking of
a dataset; --file reads any data file where it lies (its layout detected).
"""
from __future__ import annotations

import argparse

from core.paths import PROJECT_ROOT

LF_DATA = PROJECT_ROOT.parent / "shared" / "data" / "llamafactory" / "dpo_en_demo.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from core.bench.workload import MODELS, WORKLOADS

    parser.add_argument("what", choices=("dpo", "kto", "data"), help="what to time")
    parser.add_argument("--workload", choices=tuple(WORKLOADS), default="default",
                        help="dpo: default (8 pairs at cutoff_len 512) or long (64 pairs at 1024)")
    parser.add_argument("--size", choices=tuple(MODELS), default="small",
                        help="dpo: model shape (built in code, Qwen's vocabulary)")
    parser.add_argument("--file", help="data file (dpo: default LLaMA-Factory's dpo_en_demo.json "
                        "in ../shared/data/llamafactory; data: instead of --dataset)")
    parser.add_argument("--batch", type=int, default=4, help="dpo: pairs per batch")
    parser.add_argument("--epochs", type=float, default=2.0, help="dpo: epochs")
    parser.add_argument("--bf16", action="store_true", help="dpo: train in bf16 (GPU)")
    parser.add_argument("--flash-attn", "--flash_attn", dest="flash_attn", default="auto",
                        choices=("auto", "sdpa", "fa2", "flex"),
                        help="dpo, kto: our variants' attention (flex: FlexAttention block "
                        "masks, GPU)")
    parser.add_argument("--llamafactory-cli", "--llamafactory_cli", dest="llamafactory_cli",
                        help="dpo: path to llamafactory-cli in its own virtualenv")
    parser.add_argument("--only", help="dpo: comma-separated variants (ours, ours-no-packing, "
                        "ours-no-prefix_sharing, ours-no-chunked_logps, ours-plain, trl, "
                        "llamafactory)")
    parser.add_argument("--out", help="dpo: where to write the JSON")
    parser.add_argument("--dataset", default="demo_pref_en", help="data: a registered dataset")
    parser.add_argument("--dataset_dir", "--dataset-dir", default="data")


def main(args: argparse.Namespace) -> int:
    if args.what in ("dpo", "kto"):
        from core.bench.dpo import bench_dpo
        args.file = args.file or str(LF_DATA)
        results = bench_dpo(args)
        return 0 if all(r["exit_code"] == 0 for r in results) else 1
    from core.bench.data import bench_data
    bench_data(args)
    return 0
