"""Timing benchmarks (timings live here, never in test assertions).

    python -m core bench dpo [--model demo] [--dataset demo_pref_en] [--steps 20] [--batch 4]
    python -m core bench dpo --dataset dpo_en_demo --dataset_dir ../shared/data/llamafactory
    python -m core bench data [--dataset dpo_en_demo --dataset_dir ...]

`dpo` times the pieces of a pairwise step on this machine: tokenisation, the one-off
reference pass, and policy forward+backward (pairs/s and scored tokens/s), and prints one
JSON line per measurement so results can be collected. `data` times loading, conversion and
checking of a dataset.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)
SHARED_LF = Path(__file__).resolve().parents[2] / "shared" / "data" / "llamafactory"


def _emit(name: str, **values) -> dict:
    record = {"bench": name, **values}
    print(json.dumps(record))
    return record


def _lf_registry(dataset: str, dataset_dir: str) -> str:
    """Allow `--dataset dpo_en_demo` against the shared LLaMA-Factory file without a registry
    entry in the project (a temp registry pointing at the file)."""
    folder = Path(dataset_dir)
    if (folder / "dataset_info.json").exists() or dataset != "dpo_en_demo":
        return dataset_dir
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix="bench-lf-"))
    entry = {"file_name": str((folder / "dpo_en_demo.json").resolve()), "ranking": True,
             "formatting": "sharegpt",
             "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}
    (tmp / "dataset_info.json").write_text(json.dumps({"dpo_en_demo": entry}))
    return str(tmp)


def bench_data(args) -> None:
    from .data import check_dataset, load_rows

    dataset_dir = _lf_registry(args.dataset, args.dataset_dir)
    start = time.perf_counter()
    rows = load_rows(args.dataset, dataset_dir, "dpo")
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    report = check_dataset(args.dataset, dataset_dir, "dpo")
    checked = time.perf_counter() - start
    _emit("data", dataset=args.dataset, records=rows.total, load_s=round(loaded, 4),
          check_s=round(checked, 4), records_per_s=round(rows.total / max(loaded, 1e-9)),
          ok=report.ok)


def bench_dpo(args) -> None:
    import torch

    from .config import RunConfig
    from .data import load_for_training
    from .data.templates import get_template
    from .methods.logps import batch_logps
    from .methods.pairwise import PairCollator
    from .methods.reference import Reference
    from .models import load_policy, load_tokenizer

    cfg = RunConfig(model_name_or_path=args.model, dataset=args.dataset,
                    dataset_dir=_lf_registry(args.dataset, args.dataset_dir),
                    cutoff_len=args.cutoff_len, max_samples=args.steps * args.batch)
    tokenizer = load_tokenizer(cfg)
    start = time.perf_counter()
    data = load_for_training(cfg, get_template(cfg.template, tokenizer))
    features = data.train_features
    _emit("tokenize", pairs=len(features), seconds=round(time.perf_counter() - start, 3))
    model = load_policy(cfg, tokenizer)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    collate = PairCollator(tokenizer.pad_token_id)
    batches = [collate(features[i:i + args.batch]) for i in range(0, len(features), args.batch)]
    scored = sum(int(b["completion_mask"].sum()) for b in batches)
    start = time.perf_counter()
    with torch.no_grad(), Reference(model).active() as ref:
        for b in batches:
            batch_logps(ref, b, device)
    ref_s = time.perf_counter() - start
    _emit("reference_pass", pairs=len(features), seconds=round(ref_s, 3),
          pairs_per_s=round(len(features) / ref_s, 2))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    start = time.perf_counter()
    for b in batches:
        sums, _ = batch_logps(model, b, device)
        sums.sum().backward()
        opt.step()
        opt.zero_grad()
    train_s = time.perf_counter() - start
    _emit("policy_step", model=args.model, dataset=args.dataset, batch=args.batch,
          steps=len(batches), seconds=round(train_s, 3), pairs_per_s=round(len(features) / train_s, 2),
          scored_tokens_per_s=round(scored / train_s), device=str(device),
          threads=torch.get_num_threads())


def add_arguments(parser) -> None:
    parser.add_argument("what", choices=("dpo", "data"), help="what to time")
    parser.add_argument("--model", default="demo", help="model id, folder or 'demo'")
    parser.add_argument("--dataset", default="demo_pref_en")
    parser.add_argument("--dataset_dir", "--dataset-dir", default="data")
    parser.add_argument("--steps", type=int, default=20, help="batches to time")
    parser.add_argument("--batch", type=int, default=4, help="pairs per batch")
    parser.add_argument("--cutoff_len", "--cutoff-len", type=int, default=1024)


def main(args) -> int:
    {"dpo": bench_dpo, "data": bench_data}[args.what](args)
    return 0
