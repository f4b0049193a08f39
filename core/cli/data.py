"""List, check, register and convert datasets (dataset_info.json, LLaMA-Factory's schema).

examples:
  python -m core data list
  python -m core data check demo_pref_en                      # exit 0: it can train
  python -m core data check demo_pref_en --model demo --cutoff_len 1024 --json
  python -m core data add mine --file data/mine.json          # detects the layout
  python -m core data convert uf.parquet --to sharegpt --where language=en --limit 2000 \\
      --val-ratio 0.1 --out data/uf --register uf_2k

`python -m core data ACTION --help` shows each action's options.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

from core.config import RunConfig
from core.config.choices import STAGES, TEMPLATES
from core.errors import UserError

RAW = argparse.RawDescriptionHelpFormatter
LIST_HELP = """List the registered datasets: format, stages they suit, record count, file.

examples:
  python -m core data list
  python -m core data list --dataset_dir ~/LLaMA-Factory/data --json
"""
CHECK_HELP = """Check that a dataset can train a stage: every bad record with file:index, field and
reason; with --model also token lengths (of every row, before truncation) and what cutoff_len
does to the records longer than it (--truncation, as a run with that setting would).
Exit code 0 when the data can train, 1 when it cannot.

examples:
  python -m core data check demo_pref_en
  python -m core data check demo_pref_en --stage kto
  python -m core data check demo_pref_en --model demo --template qwen --cutoff_len 512
  python -m core data check dpo_en_demo --dataset_dir ../LLaMA-Factory/data --model demo \\
      --cutoff_len 256 --truncation keep_recent
  python -m core data check mine --model Qwen/Qwen2.5-0.5B-Instruct --json
"""
ADD_HELP = """Register a data file in dataset_info.json. Formatting, ranking, columns and tags
are detected from the file unless given; the file must convert before it is registered.
Other entries are kept byte for byte; the write is atomic.

examples:
  python -m core data add mine --file data/mine.json
  python -m core data add mine --file /abs/pairs.parquet --columns prompt=question,chosen=good,rejected=bad
  python -m core data add chats --file data/chats.jsonl --formatting sharegpt \\
      --tags role_tag=role,content_tag=text,user_tag=user,assistant_tag=bot
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="list the registered datasets", description=LIST_HELP,
                       formatter_class=RAW)
    _dir(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("check", help="check that a dataset can train a stage",
                       description=CHECK_HELP, formatter_class=RAW)
    p.add_argument("name", metavar="NAME", help="dataset name in dataset_info.json")
    _dir(p)
    p.add_argument("--stage", choices=STAGES,
                   help="stage to check for (default: the first one the dataset suits)")
    p.add_argument("--model", help="tokenizer for token statistics: a local folder, a hub id "
                   "(online), or 'demo'")
    p.add_argument("--template", choices=[n for n in TEMPLATES if n],
                   help="chat template (default: the tokenizer's own)")
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}  # defaults and help: the config's
    for key, kind, more in (("cutoff_len", int, ""), ("truncation", str, ""),
                            ("max_completion_length", int, " grpo: the prompt gets cutoff_len "
                             "minus this."), ("seed", int, " Here: which records num_samples draws.")):
        meta, default = fields[key].metadata, fields[key].default
        names = dict.fromkeys((f"--{key}", f"--{key.replace('_', '-')}"))
        p.add_argument(*names, type=kind, default=default, choices=meta["choices"],
                       help=f"{meta['help']}{more} (default {default})")
    p.add_argument("--max_samples", "--max-samples", type=int, help="check the first N records")
    p.add_argument("--max_bad_ratio", "--max-bad-ratio", type=float, default=0.0,
                   help="share of bad records a run would accept (default 0)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")

    p = sub.add_parser("add", help="register a data file", description=ADD_HELP,
                       formatter_class=RAW)
    p.add_argument("name", metavar="NAME", help="the new dataset's name")
    p.add_argument("--file", required=True, help="data file or folder (json, jsonl, parquet, csv)")
    p.add_argument("--formatting", choices=("alpaca", "sharegpt", "openai"), help="default: detect")
    p.add_argument("--ranking", action="store_const", const=True,
                   help="pairs of chosen/rejected answers (default: detect)")
    p.add_argument("--columns", help="key=column,... (keys: prompt, query, response, history, "
                   "messages, system, tools, chosen, rejected, kto_tag)")
    p.add_argument("--tags", help="key=value,... (role_tag, content_tag, user_tag, "
                   "assistant_tag, observation_tag, function_tag, system_tag)")
    _dir(p)
    p.add_argument("--force", action="store_true", help="replace an entry of the same name")
    p.add_argument("--allow_bad", "--allow-bad", action="store_true",
                   help="register even when some records cannot be converted")

    from core.data import convert
    p = sub.add_parser("convert", help="convert a preference file to LLaMA-Factory JSON",
                       description=convert.__doc__, formatter_class=RAW)
    _convert_arguments(p)


def _dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset_dir", "--dataset-dir", default="data",
                   help="folder with the data (its own dataset_info.json wins; default data)")


def _convert_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC", help="json, jsonl, parquet or csv file")
    p.add_argument("--to", required=True, choices=("alpaca", "sharegpt"), help="output layout")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                   help="keep records whose column equals the value (repeatable)")
    p.add_argument("--limit", type=int, help="keep the first N (after --where)")
    p.add_argument("--val-ratio", "--val_ratio", dest="val_ratio", type=float, default=0.0,
                   help="share written to NAME_val.json (default 0: no val file)")
    p.add_argument("--seed", type=int, default=42, help="seed of the val split (default 42)")
    p.add_argument("--name", help="file name stem (default: --register, else SRC's)")
    p.add_argument("--register", metavar="NAME", help="also add the files to the registry")
    _dir(p)
    p.add_argument("--force", action="store_true", help="overwrite files and registry entries")


def main(args: argparse.Namespace) -> int:
    return {"list": cmd_list, "check": cmd_check, "add": cmd_add,
            "convert": cmd_convert}[args.action](args)


def cmd_list(args: argparse.Namespace) -> int:
    from core.data import list_datasets, registry_path
    from core.data.registry import data_command

    infos = list_datasets(args.dataset_dir)
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2, ensure_ascii=False))
        return 0
    if not infos:
        add = data_command("add", "NAME", "--file", "PATH", dataset_dir=args.dataset_dir)
        print(f"no datasets in {registry_path(args.dataset_dir)}; add one with `{add}`")
        return 0
    table = [("NAME", "FORMAT", "STAGES", "RECORDS", "FILE")]
    for i in infos:
        kind = i.formatting + (" ranking" if i.ranking else "")
        records = "?" if i.records is None else str(i.records)
        table.append((i.name, kind, ",".join(i.stages) or "-", records,
                      f"ERROR: {i.error}" if i.error else i.file))
    widths = [max(len(row[c]) for row in table) for c in range(4)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
    print(f"({registry_path(args.dataset_dir)})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from core.data import check_dataset
    from core.data.dataset import default_stage

    stage = args.stage or default_stage(args.name, args.dataset_dir)
    if args.template and not args.model:
        raise UserError("--template needs --model (the tokenizer to render it with)")
    tokenizer = None
    if args.model:
        from core.models.loading import LoadOptions, load_tokenizer
        tokenizer = load_tokenizer(LoadOptions(args.model, key="--model"))
    report = check_dataset(args.name, args.dataset_dir, stage, tokenizer=tokenizer,
                           template=args.template, cutoff_len=args.cutoff_len,
                           max_samples=args.max_samples, truncation=args.truncation,
                           max_completion_length=args.max_completion_length, seed=args.seed,
                           model=args.model)
    if not args.model:
        report.notes.append("token lengths and cutoff_len are checked with --model")
    ok = report.can_train(args.max_bad_ratio) and not (report.truncation
                                                       and report.truncation.refused)
    if args.json:
        print(json.dumps(dict(report.to_dict(), can_train=ok), indent=2, ensure_ascii=False))
    else:
        print(report.render())
        if ok and report.bad:
            print(f"the run would skip {report.bad} bad records (max_bad_ratio {args.max_bad_ratio})")
        elif not ok and report.ok:
            print(f"the run would refuse: {report.bad} of {report.total} records left out, above "
                  f"max_bad_ratio {args.max_bad_ratio}")
    return 0 if ok else 1


def cmd_add(args: argparse.Namespace) -> int:
    from core.data.dataset import register_file

    result = register_file(args.name, args.file, args.dataset_dir, args.formatting, args.ranking,
                           _pairs(args.columns, "--columns"), _pairs(args.tags, "--tags"),
                           force=args.force, allow_bad=args.allow_bad)
    print(json.dumps({args.name: result.entry}, indent=2, ensure_ascii=False))
    for p in result.problems[:20]:
        print(f"  {p}")
    if len(result.problems) > 20:
        print(f"  ... and {len(result.problems) - 20} more")
    if result.registry is None:
        print(f"not registered: errors {len(result.errors)} for stage {result.stage} (see "
              "above); fix the file or pass --formatting/--columns/--tags"
              + (", or --allow_bad to register the good records" if result.rows else ""))
        return 1
    print(f"registered {args.name} in {result.registry}: {result.rows} rows for {result.stage} "
          f"(suits {', '.join(result.stages)})")
    return 0


def _pairs(text: str | None, flag: str) -> dict[str, str] | None:
    if not text:
        return None
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UserError(f"{flag}: {item!r} is not key=value (e.g. {flag} prompt=question)")
        out[key.strip()] = value.strip()
    return out


def cmd_convert(args: argparse.Namespace) -> int:
    from core.data.convert import convert_file

    result = convert_file(args.src, args.to, args.out, where=args.where, limit=args.limit,
                          val_ratio=args.val_ratio, seed=args.seed, name=args.name,
                          register=args.register, force=args.force,
                          dataset_dir=args.dataset_dir)
    print(result.render())
    return 0 if result.written.get("train") else 1
