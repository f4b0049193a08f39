"""Build or locate the bundled demo model.

    python -m core demo                                    # where it is
    python -m core demo --rebuild --out assets/demo-model  # train it again from the recipe
"""
from __future__ import annotations

import argparse

from core.models.demo import PRETRAIN_STEPS, demo_model_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rebuild", action="store_true", help="train it again from the recipe")
    parser.add_argument("--out", help="folder for --rebuild (default: under $PREFSTUDIO_HOME)")
    parser.add_argument("--steps", type=int, help=f"pre-training steps (default {PRETRAIN_STEPS})")


def main(args: argparse.Namespace) -> int:
    print(demo_model_path(rebuild=args.rebuild, out=args.out, steps=args.steps))
    return 0
