"""Runs on the command line: compare two or more by their configs.

examples:
  python -m core runs diff saves/dpo-a saves/dpo-b
  python -m core runs diff dpo-a dpo-b dpo-c          # names of folders under saves/
  python -m core runs diff dpo-a /tmp/elsewhere/run --json

`diff` prints the config keys whose values differ (output_dir and run_name left out: the
column heads name the runs), the evaluation numbers side by side (evaluation_results.json, from
`python -m core eval`) and the training summaries (losses, steps, state, alarms).
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from core.evaluate.compare import RunsDiff, diff_runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    diff = sub.add_parser("diff", help="config keys that differ, evaluation and training side by "
                          "side", description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    diff.add_argument("runs", nargs="+", metavar="RUN",
                      help="run folders, or names of folders under --saves-dir (two or more)")
    diff.add_argument("--saves-dir", "--saves_dir", default="saves",
                      help="where run names are looked up (relative to the project root)")
    diff.add_argument("--json", action="store_true", help="print the comparison as JSON")


def main(args: argparse.Namespace) -> int:
    d = diff_runs(args.runs, args.saves_dir)
    print(json.dumps(d.to_dict(), indent=1) if args.json else render(d))
    return 0


def render(d: RunsDiff) -> str:
    """Sections of rows (label, then one column per run); a section without rows says so."""
    sections = [("config", d.config, "no differences"), ("evaluation", d.evaluation,
                 "no evaluation_results.json (python -m core eval --run ...)"),
                ("training", d.training, "no training records")]
    cells = {id(row): [cell(v, name == "config") for v in row.values]
             for name, rows, _ in sections for row in rows}
    label_w = max([len(r.label) for _, rows, _ in sections for r in rows] + [6])
    widths = [max([len(n)] + [len(c[i]) for c in cells.values()]) for i, n in enumerate(d.names)]
    lines = [" " * (label_w + 4) + "  ".join(n.ljust(w) for n, w in zip(d.names, widths)).rstrip()]
    for name, rows, empty in sections:
        lines.append(name if rows else f"{name}: {empty}")
        for row in rows:
            values = "  ".join(c.ljust(w) for c, w in zip(cells[id(row)], widths))
            lines.append(f"  {row.label:<{label_w}}  {values}".rstrip())
    return "\n".join(lines)


def cell(value: Any, config: bool) -> str:
    """Config values as YAML would read them back; numbers measured to 4 decimals."""
    if value is None:
        return "(empty)" if config else "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}" if config else f"{value:.4f}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
