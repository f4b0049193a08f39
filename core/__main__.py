"""Command line: python -m core {train,doctor,data,chat,eval,runs,export,bench,demo,cache} ... (--help)

Each subcommand lives in a module with `add_arguments(parser)` and `main(args) -> int`; only
the module of the command being run is imported, and it imports torch and friends inside
main(), so `--help` and `data list` start fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# name -> (module, one-line help). A module is imported only when its command runs.
COMMANDS = {
    "train": ("core.cli.train", "train from a YAML config: train CONFIG.yaml [key=value ...]"),
    "doctor": ("core.cli.doctor", "what will go wrong with a run: doctor CONFIG.yaml "
               "[--gpu-memory GIB] [--probe] [--json]"),
    "data": ("core.cli.data", "list, check, add and convert datasets"),
    "chat": ("core.cli.chat", "chat with a model, or compare base and tuned side by side"),
    "eval": ("core.cli.eval", "preference accuracy, reward margin and samples for runs"),
    "runs": ("core.cli.runs", "compare runs: runs diff A B [C ...] (config, evaluation, training)"),
    "export": ("core.cli.export", "merge a LoRA adapter and save a standalone model"),
    "bench": ("core.cli.bench", "timing benchmarks"),
    "demo": ("core.cli.demo", "build or locate the bundled demo model"),
    "cache": ("core.cli.cache", "the cache outside saves/ (reference log-probs, demo model): "
              "size, --clear KIND --yes"),
}


def _rank() -> str:
    """' [rank N]' in the log lines of one of torchrun's processes (core/training/launch.py)."""
    inside = "LOCAL_RANK" in os.environ and "RANK" in os.environ
    return f" [rank {os.environ['RANK']}]" if inside else ""


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"%(asctime)s %(levelname)s{_rank()} %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "urllib3", "filelock", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # bitsandbytes warns on every import on CPU-only machines about kernels we never use there.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """All commands are listed; only the one being run is imported and gets its arguments."""
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == chosen:
            module = importlib.import_module(module_name)
            p.description = module.__doc__
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args._module.main(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one clear line; the traceback with -v
        from core.errors import UserError
        if isinstance(e, UserError):
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.verbose:
            raise
        print(f"error: {type(e).__name__}: {e} (run with -v for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
