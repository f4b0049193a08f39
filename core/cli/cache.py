"""PrefStudio's cache, outside saves/: where it is, its size per kind, and clearing it.

  python -m core cache                          # location and size of each kind
  python -m core cache --clear ref-logps        # says what would go; add --yes to remove it
  python -m core cache --clear all --yes

Kinds: ref-logps (reference log-probs of DPO-style runs), demo-model (the bundled demo
model), bench (benchmark workloads). All are rebuilt when needed. The folder is
$PREFSTUDIO_HOME, default ~/.cache/prefstudio.
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clear", nargs="+", metavar="KIND",
                        help="remove these kinds (ref-logps, demo-model, bench, or all)")
    parser.add_argument("--yes", action="store_true", help="confirm --clear: remove for real")


def main(args: argparse.Namespace) -> int:
    from core.cache import KINDS, clear, human, usage
    from core.errors import UserError
    from core.paths import home

    print(f"cache: {home()}")
    listed = usage()
    for u in listed:
        print(f"  {u.kind:<11} {human(u.bytes):>10}  {u.files} files  {u.what}")
    print(f"  {'total':<11} {human(sum(u.bytes for u in listed)):>10}")
    if not args.clear:
        return 0
    unknown = [k for k in args.clear if k != "all" and k not in KINDS]
    if unknown:
        raise UserError(f"--clear: unknown kind {', '.join(unknown)}; use one of "
                        f"{', '.join(KINDS)} or all")
    if not args.yes:
        chosen = set(KINDS) if "all" in args.clear else set(args.clear)
        size = sum(u.bytes for u in listed if u.kind in chosen)
        print(f"would remove {', '.join(sorted(chosen))} ({human(size)}); add --yes to remove it")
        return 1
    print(f"removed {human(clear(args.clear))}")
    return 0
