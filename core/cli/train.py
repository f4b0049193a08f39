"""Train from a YAML config:  python -m core train CONFIG.yaml [key=value ...]

The one training flow for the CLI, the WebUI and nohup runs. It resolves the run directory,
takes its lock, writes config.yaml, status.json, env.json and train.log, loads and checks the
data, then hands over to the stage's method (core/methods/). A finished run reruns with
`python -m core train saves/X/config.yaml` (into a new folder, saves/X-rerun-N); an aborted
or failed one continues with `resume_from_checkpoint=true`.

Examples:
  python -m core train examples/dpo_demo.yaml
  python -m core train examples/dpo_demo.yaml pref_loss=ipo pref_beta=0.5 max_steps=10
  nohup python -m core train examples/dpo_demo.yaml > dpo.log 2>&1 &
  python -m core train examples/sft_demo.yaml        # then: examples/dpo_from_sft.yaml
  python -m core train examples/grpo_demo.yaml --reward-func my_rewards:score
  python -m core train --keys          # every config key with its default and help
  python -m core train --check examples/dpo_demo.yaml cutoff_len=512   # would it start?

--check is a dry run: the config, this machine, the output folder (and the checkpoint a
resume would continue) and the data, tokenized with the model's tokenizer, are checked as
training would check them, without loading a weight or writing a file. It prints each finding
and exits 1 when the run would be refused, 0 with a one-line summary otherwise.

Stages: sft, dpo (+ ORPO/SimPO via pref_loss), kto, rm (reward model), grpo. Your own GRPO
reward functions are given here only, never in a YAML (a YAML may come from a form or a
stranger): --reward-func module:function (or path/to/file.py:function), repeatable; each is
called as f(prompts, completions, completion_ids, **dataset_columns) -> list of floats.
"""
from __future__ import annotations

import argparse
import logging
import os

from core.config import FIELDS, ConfigError, RunConfig, llamafactory
from core.errors import UserError
from core.training.launch import LAUNCHER_PID, inside_launch, launch, needs_launch
from core.training.run import run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config file (e.g. examples/dpo_demo.yaml)")
    parser.add_argument("overrides", nargs="*", help="key=value pairs that replace YAML values")
    parser.add_argument("--check", action="store_true",
                        help="dry run: print what would refuse or change the run, train nothing "
                        "(exit 1 when it would be refused)")
    parser.add_argument("--keys", action="store_true", help="list every config key (default, "
                        "help, and how each LLaMA-Factory key is treated) and exit")
    parser.add_argument("--reward-func", action="append", default=[], metavar="MODULE:FUNCTION",
                        help="grpo: your own reward function (module:function or "
                        "file.py:function), repeatable; command line only, never from a YAML")


def main(args: argparse.Namespace) -> int:
    if args.keys:
        print_keys()
        return 0
    if not args.config:
        raise UserError("give a config file: python -m core train CONFIG.yaml [key=value ...]")
    if args.check:
        return check(args)
    cfg = RunConfig.load(args.config, args.overrides)
    if needs_launch(cfg):  # several processes: this one runs torchrun and waits for it
        rd = launch(cfg, args.config, args.overrides, args.reward_func)  # the ranks get both
    else:
        rd = run(cfg, args.config, reward_funcs=args.reward_func)
    if inside_launch() and (os.environ.get("RANK", "0") != "0" or LAUNCHER_PID in os.environ):
        return 0  # the launching process (else rank 0) reports the run
    state = rd.status().get("state")
    print(f"run finished: {rd.path} ({state})")
    return 0 if state in ("completed", "aborted") else 1


def check(args: argparse.Namespace) -> int:
    """--check: print the preflight's findings; 1 when the run would be refused."""
    from core.training.preflight import preflight, refused

    from . import quiet_libraries

    try:
        cfg = RunConfig.load(args.config, args.overrides)
    except ConfigError as e:  # each unknown key or bad value is a finding of its own
        for problem in e.problems:
            print(f"error: {args.config}: {problem}")
        return 1
    quiet_libraries()
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # the findings say what the log would
    try:
        findings = preflight(cfg, config_path=args.config, reward_funcs=args.reward_func)
    finally:
        root.setLevel(level)
    for f in findings:
        if f.severity != "info":
            print(f)
    if refused(findings):
        errors = sum(f.severity == "error" for f in findings)
        print(f"refused: {errors} problem{'s' if errors > 1 else ''} to fix before training")
        return 1
    print("ok: " + "; ".join(f.message for f in findings if f.severity == "info"))
    return 0
def print_keys() -> None:
    """Every field with its default and help, marked [LLaMA-Factory] when it is one of its
    keys; then LLaMA-Factory's other keys with their treatment (docs/llamafactory.md)."""
    for name, f in FIELDS.items():
        lf = llamafactory.treatment(name)
        mark = f"  [LLaMA-Factory: {lf.kind}{': ' + lf.note if lf.note else ''}]" if lf else ""
        print(f"{name} (default {f.default!r}): {f.metadata['help']}{mark}")
    print("\nLLaMA-Factory keys that are not fields here:")
    for name in llamafactory.lf_keys():
        if name not in FIELDS:
            lf = llamafactory.treatment(name)
            print(f"{name} [LLaMA-Factory: {lf.kind}]: {lf.note}")
