"""Chat from the command line, alone or base vs tuned side by side (one model load).

    python -m core chat --run saves/demo-dpo --compare base --prompt "Hi"
    python -m core chat --model demo --adapter saves/demo-dpo/checkpoint-20
    python -m core chat --run saves/demo-dpo          # interactive: /clear, /exit
    python -m core chat --run saves/demo-dpo --compare base --vote --blind   # votes -> data

With --vote, each answer pair is followed by a question on stderr: a, b or t (tie), s to
skip; ae / be edits the better answer first (type it, end with a line holding only ".").
The vote goes to the dataset --votes-dataset (core/data/votes.py: <dataset-dir>/NAME.jsonl,
registered the first time), and the running win rate is printed. --blind hides which model
wrote which answer, shuffles them per prompt, and reveals them after the vote.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.chat.engine import GEN_FLAGS, SIDES, ChatEngine, ChatSession, GenConfig
from core.cli import quiet_libraries
from core.cli.chat_vote import Voter
from core.config.choices import TEMPLATES
from core.data.votes import DEFAULT_NAME
from core.errors import UserError
from core.models.loading import DTYPES
from core.models.spec import run_model_spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="base model: hub id, folder or 'demo' (default: the "
                        "run's or adapter's base)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--adapter", help="a LoRA adapter folder (or checkpoint-N)")
    which.add_argument("--run", help="a run folder: model, template and final adapter (or newest "
                       "complete checkpoint) from its config.yaml")
    parser.add_argument("--compare", metavar="SPEC", help="also answer with SPEC on side A: "
                        "'base' (the same base with the adapter off) or another model/adapter")
    parser.add_argument("--prompt", help="answer this and exit (default: interactive)")
    parser.add_argument("--system", default="", help="system prompt")
    parser.add_argument("--template", choices=[n for n in TEMPLATES if n],
                        help="chat template for --model/--adapter (runs use their own)")
    parser.add_argument("--no-thinking", action="store_true", help="Qwen3: answer without thinking")
    for name in GEN_FLAGS:  # defaults from GenConfig, the one place they live
        default = GenConfig.__dataclass_fields__[name].default
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default,
                            help="0 = greedy" if name == "temperature" else None)
    parser.add_argument("--dtype", default="auto", choices=DTYPES,
                        help="weights dtype; auto: the best this machine runs")
    vote = parser.add_argument_group("votes (with --compare)")
    vote.add_argument("--vote", action="store_true", help="after each answer pair ask which is "
                      "better and save it as preference data")
    vote.add_argument("--votes-dataset", default=DEFAULT_NAME, metavar="NAME",
                      help=f"the dataset the votes go to (default {DEFAULT_NAME})")
    vote.add_argument("--dataset-dir", default="data",
                      help="its folder, as a run's dataset_dir (default data)")
    vote.add_argument("--blind", action="store_true", help="hide which model is which, shuffled "
                      "per prompt, revealed after the vote")


def main(args: argparse.Namespace) -> int:
    if (args.vote or args.blind) and not args.compare:
        raise UserError("--vote and --blind need two answers to compare: add --compare base "
                        "(or another model)")
    if args.blind and not args.vote:
        raise UserError("--blind is for voting: add --vote")
    quiet_libraries()
    engine = ChatEngine(dtype=args.dtype)
    tuned = _load_from_args(engine, args)
    sides = ("A",)
    engine.set_side("A", tuned)
    if args.compare:
        engine.set_side("B", tuned)
        engine.set_side("A", args.compare)
        sides = SIDES
    gen = GenConfig(**{n: getattr(args, n) for n in GEN_FLAGS}, system=args.system,
                    enable_thinking=False if args.no_thinking else None)
    session = ChatSession(engine, sides)
    voter = Voter(args.votes_dataset, args.dataset_dir, args.blind) if args.vote else None
    if args.prompt is not None:
        _turn(session, args.prompt, gen, voter)
        return 0
    return _interactive(session, gen, voter)


def _load_from_args(engine: ChatEngine, args) -> str:
    """Load what the flags name; returns the side name of the tuned model ('base' if none)."""
    source = args.run or args.adapter
    if source is None:
        if not args.model:
            raise UserError("give --model, --adapter or --run")
        engine.load_base(args.model, args.template, not args.no_thinking)
        return "base"
    spec = run_model_spec(source, base=args.model)
    template = args.template or spec.template
    engine.load_base(spec.base, template, spec.enable_thinking and not args.no_thinking)
    name = _run_name(Path(source))
    engine.add_adapter(name, source) if spec.adapter else engine.set_side("A", source)
    return name if spec.adapter else source


def _run_name(path: Path) -> str:
    path = path.resolve()
    return f"{path.parent.name}/{path.name}" if path.name.startswith("checkpoint-") else path.name


def _turn(session: ChatSession, text: str, gen: GenConfig, voter: Voter | None) -> None:
    """One message: both answers, then (voting) the question and the saved vote."""
    if voter is None:
        _print_turn(session, text, gen)
        return
    panes = voter.panes()
    session.sides = panes  # pane A's answer is printed first
    try:
        _print_turn(session, text, gen, voter.heads(session.engine, panes))
    finally:
        session.sides = SIDES
    voter.ask(session, gen, panes)


def _print_turn(session: ChatSession, text: str, gen: GenConfig,
                heads: dict[str, str] | None = None) -> None:
    """Stream each side's answer to stdout, under a label when there are two sides (`heads`:
    side -> label, e.g. the blind "A" for side B)."""
    shown = ""
    for side, answer in session.send(text, gen):
        if not answer and len(session.sides) > 1:  # a side starts
            sep = "\n" if side != session.sides[0] else ""
            head = (heads or {}).get(side) or f"{side}: {session.engine.label(side)}"
            print(f"{sep}[{head}]", flush=True)
        sys.stdout.write(answer[len(shown):])  # answers only grow; a new side starts at ""
        sys.stdout.flush()
        shown = answer
    print(flush=True)


def _interactive(session: ChatSession, gen: GenConfig, voter: Voter | None = None) -> int:
    tty = sys.stdin.isatty()
    if tty:
        print("Type a message; /clear resets the history, /exit quits.", file=sys.stderr)
    while True:
        if tty:
            print("> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line or line.strip() == "/exit":
            return 0
        if line.strip() == "/clear":
            session.clear()
            print("(history cleared)", file=sys.stderr)
        elif line.strip():
            _turn(session, line.strip(), gen, voter)
