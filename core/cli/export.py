"""Merge a run's LoRA adapter into its base and save a standalone model (+ tokenizer).

    python -m core export --run saves/demo-dpo --out exports/demo-dpo
    python -m core export --run saves/demo-dpo/checkpoint-20 --out exports/ck20 --dtype bfloat16

The result loads with plain `AutoModelForCausalLM.from_pretrained(out)` and chats with the
template the run trained with (written as the tokenizer's chat_template when the tokenizer's
own renders differently). Nothing is half-written: the model is saved into a hidden folder next
to `out` and renamed at the end; a non-empty `out` is never overwritten.
"""
from __future__ import annotations

import argparse

from core.cli import quiet_libraries
from core.models.export import export
from core.models.loading import DTYPES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run folder, checkpoint-N or adapter folder")
    parser.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    parser.add_argument("--dtype", default="auto", choices=DTYPES,
                        help="weights dtype; auto keeps the base model's")
    parser.add_argument("--max-shard-size", default="2GB", help="largest weights file (e.g. 5GB)")
    parser.add_argument("--base", help="use this base model instead of the run's "
                        "model_name_or_path (e.g. a local copy)")


def main(args: argparse.Namespace) -> int:
    quiet_libraries()
    out = export(args.run, args.out, dtype=args.dtype, max_shard_size=args.max_shard_size,
                 base=args.base)
    print(f"exported to {out}")
    return 0
