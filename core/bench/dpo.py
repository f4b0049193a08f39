"""How fast a pairwise (DPO) step runs here: tokenisation, the one-off reference pass, and
policy forward+backward, as pairs/s and scored tokens/s (python -m core bench dpo)."""
from __future__ import annotations

import argparse
import time

from .common import dataset_source, emit


def bench_dpo(args: argparse.Namespace) -> None:
    import torch

    from core.config import RunConfig
    from core.data import load_for_training
    from core.data.templates import get_template
    from core.methods.logps import batch_logps, score_pairs
    from core.methods.pairwise import PairCollator
    from core.methods.reference import Reference
    from core.models.loading import LoadOptions, load_tokenizer
    from core.models.policy import load_policy

    name, dataset_dir = dataset_source(args)
    cfg = RunConfig(model_name_or_path=args.model, dataset=name,
                    dataset_dir=dataset_dir,
                    cutoff_len=args.cutoff_len, max_samples=args.steps * args.batch)
    tokenizer = load_tokenizer(LoadOptions.of_run(cfg))
    start = time.perf_counter()
    data = load_for_training(cfg, get_template(cfg.template, tokenizer))
    features = data.train_features
    emit("tokenize", pairs=len(features), seconds=round(time.perf_counter() - start, 3))
    model = load_policy(cfg, tokenizer)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    collate = PairCollator(tokenizer.pad_token_id)
    batches = [collate(features[i:i + args.batch]) for i in range(0, len(features), args.batch)]
    scored = sum(int(b["completion_mask"].sum()) for b in batches)
    start = time.perf_counter()
    with Reference(model).active() as ref:
        score_pairs(ref, features, collate, args.batch, device)
    ref_s = time.perf_counter() - start
    emit("reference_pass", pairs=len(features), seconds=round(ref_s, 3),
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
    emit("policy_step", model=args.model, dataset=name, batch=args.batch,
          steps=len(batches), seconds=round(train_s, 3), pairs_per_s=round(len(features) / train_s, 2),
          scored_tokens_per_s=round(scored / train_s), device=str(device),
          threads=torch.get_num_threads())
