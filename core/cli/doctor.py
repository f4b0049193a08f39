"""The run doctor: what will go wrong with a run, before it starts.

  python -m core doctor CONFIG.yaml [key=value ...] [--gpu-memory GIB] [--probe] [--json]

examples:
  python -m core doctor examples/dpo_demo.yaml
  python -m core doctor examples/dpo_demo.yaml cutoff_len=1024 --gpu-memory 24
  python -m core doctor my_run.yaml --probe          # + two real training steps: s/step, ETA

It runs the dry run of `train --check` (config, machine, output folder, the data tokenized
with the model's tokenizer; no weights), then shows two real pairs exactly as the model sees
them, the scored tokens (those the loss uses) marked ⟦...⟧ (underlined on a terminal), and
reports, each with its numbers, what it means and what to try: length bias, identical and
near-duplicate pairs, prompts that dominate, records cut at cutoff_len, BOS mistakes, a chat
template applied twice, and the run's peak memory on the CPU and a GPU (--gpu-memory GIB:
does it fit, and the largest batch and cutoff_len that do). --probe loads the model and
times two training steps on the first batch (writes nothing to the run folder).

Exit code 1 when the run would be refused (its problems are printed), 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from core.config import ConfigError, RunConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config file (e.g. examples/dpo_demo.yaml)")
    parser.add_argument("overrides", nargs="*", help="key=value pairs that replace YAML values")
    parser.add_argument("--gpu-memory", "--gpu_memory", type=float, metavar="GIB",
                        help="GPU size in GiB: does the run fit, and what would")
    parser.add_argument("--probe", action="store_true",
                        help="load the model and time two training steps (seconds per step, ETA)")
    parser.add_argument("--pairs", type=int, default=2, help="pairs to render (default 2)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def main(args: argparse.Namespace) -> int:
    from core.training.doctor import doctor

    from . import quiet_libraries

    try:
        cfg = RunConfig.load(args.config, args.overrides)
    except ConfigError as e:
        for problem in e.problems:
            print(f"error: {args.config}: {problem}")
        return 1
    quiet_libraries()
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # the report says what the log would
    try:
        report = doctor(cfg, gpu_gib=args.gpu_memory, probe=args.probe, pairs=args.pairs,
                        config_path=args.config)
    finally:
        root.setLevel(level)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1, ensure_ascii=False))
    else:
        print(render(report, ansi=sys.stdout.isatty()))
    return 1 if report.refused else 0


def render(report, ansi: bool = False) -> str:
    """The report as text: the preflight's problems, the pairs, then each finding."""
    from core.training.view import marked

    lines = [str(f) for f in report.findings if f.severity != "info"]
    if report.refused:
        errors = sum(f.severity == "error" for f in report.findings)
        lines.append(f"refused: {errors} problem{'s' if errors > 1 else ''} to fix before "
                     "training")
        return "\n".join(lines)
    lines += [f"ok: {f.message}" for f in report.findings if f.severity == "info"]
    for pair in report.pairs:
        lines.append(f"\n== {pair.why} pair (training row {pair.row}); scored tokens "
                     f"{'underlined' if ansi else 'in ⟦ ⟧'} ==")
        for shown in (pair.chosen, pair.rejected):
            scored = sum(shown.scored)
            lines.append(f"-- {shown.side}: {len(shown.ids)} tokens, {scored} scored" +
                         (f", {shown.cut} cut" if shown.cut else ""))
            lines.append(marked(shown, ansi))
    lines.append("")
    for c in report.checks:
        lines.append(f"{c.severity}: {c.id}: {c.line()}")
        lines += [f"    {e}" for e in c.examples]
    return "\n".join(lines)
