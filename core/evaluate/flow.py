"""The evaluation flow behind `python -m core eval` and the Evaluate tab (metrics in evaluate.py).

Runs that share a base (same model and merged start adapters) share one loaded model: their
LoRA adapters are attached to it by name, and the base scores (adapters off) are computed once
and serve both as the base's row and as every run's reference for the implicit reward.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.models.spec import run_folder, run_model_spec
from core.paths import write_atomic

from .metrics import (
    RESULTS,
    kendall_tau,
    pair_scores,
    preference_metrics,
    require_pairs,
    training_summary,
)

log = logging.getLogger(__name__)


def evaluate(runs: list[str], dataset: str, dataset_dir: str = "data", max_samples: int | None = None,
             samples: int = 3, max_new_tokens: int = 48, judge: str | None = None,
             win_prompts: int = 16, write: bool = True) -> dict[str, dict[str, Any]]:
    """Results per model name ("base" first, then each run by folder name); written to each
    run's evaluation_results.json when `write`."""
    from core.data import load_rows

    members = [_member(r) for r in runs]
    rows = load_rows(dataset, dataset_dir, "dpo", max_samples).rows
    require_pairs(rows, dataset)
    results: dict[str, dict[str, Any]] = {}
    win_rows = rows[:win_prompts] if judge else []
    for group in _groups(members):
        _evaluate_group(group, rows, samples, max_new_tokens, results, win_rows)
    if judge:
        from .judge import win_rates
        win_rates(judge, win_rows, results)
    if write:
        for m in members:
            record = {**results[m["name"]], **training_summary(m["folder"]), "dataset": dataset,
                      "model": m["name"], "base": results["base"]}
            write_atomic(Path(m["folder"]) / RESULTS, json.dumps(record, indent=1))
            log.info("Wrote %s", Path(m["folder"]) / RESULTS)
    return results


def _member(run: str) -> dict[str, Any]:
    folder = run_folder(run)
    if folder is None:
        from core.errors import UserError
        raise UserError(f"--run: {run} is not a run folder (no config.yaml)")
    cfg = RunConfig.load(folder / "config.yaml")
    spec = run_model_spec(run)
    name = folder.name if Path(run).resolve() == folder.resolve() else f"{folder.name}/{Path(run).name}"
    return {"name": name, "folder": folder, "cfg": cfg, "spec": spec, "path": run}


def _groups(members: list[dict]) -> list[list[dict]]:
    """Members by (base model, merged adapters); the first group holds the first run."""
    groups: dict[tuple, list[dict]] = {}
    for m in members:
        key = (m["cfg"].model_name_or_path, m["spec"].merged)
        groups.setdefault(key, []).append(m)
    return list(groups.values())


def _evaluate_group(group: list[dict], rows: list[dict], samples: int, max_new_tokens: int,
                    results: dict, win_rows: list[dict]) -> None:
    import torch

    from core.data.templates import get_template
    from core.data.tokenize import tokenize_pairwise
    from core.data.truncation import Cutoff
    from core.methods.pairwise import PairCollator
    from core.models.loading import LoadOptions, load_model, load_tokenizer

    first = group[0]
    cfg = first["cfg"]
    opts = LoadOptions.of_run(cfg, adapters=tuple(first["spec"].merged))  # the run's dtype
    tokenizer = load_tokenizer(opts)
    base = load_model(opts)
    if opts.quantization_bit is None:  # a quantized model is placed on its GPU when loaded
        base.to("cuda" if torch.cuda.is_available() else "cpu")
    base.eval()
    template = get_template(cfg.template, tokenizer, cfg.enable_thinking)
    tokens = tokenize_pairwise(rows, template, Cutoff(cfg.cutoff_len, cfg.truncation))
    features = tokens.features
    if tokens.problems:  # cut as the run was trained; what its truncation refuses is left out
        log.warning("%d pairs do not fit cutoff_len %d (truncation %s) and are left out.",
                    len(tokens.problems), cfg.cutoff_len, cfg.truncation)
    kept = [rows[f["row"]] for f in features]
    collate = PairCollator(tokenizer.pad_token_id)
    lora = [m for m in group if m["spec"].adapter and (Path(m["spec"].adapter) / "adapter_config.json").exists()]
    model = _attach(base, lora)
    ctx = {"tokenizer": tokenizer, "template": template, "rows": kept, "features": features,
           "collate": collate, "samples": samples, "max_new_tokens": max_new_tokens,
           "win_rows": win_rows}
    with _adapters_off(model):
        ref = pair_scores(model, features, collate)
        ctx["ref_ranked"] = ranked_scores(model, ctx)
        if "base" not in results:
            results["base"] = _score(model, ref, ref, first["cfg"].pref_beta, ctx)
    for m in group:
        beta = m["cfg"].pref_beta
        if m in lora:
            model.set_adapter(m["name"])
            results[m["name"]] = _score(model, pair_scores(model, features, collate), ref, beta, ctx)
        else:  # full weights: a model of its own
            own = load_model(opts.replace(model=m["spec"].base, adapters=(),
                                          quantization_bit=None)).to(base.device).eval()
            results[m["name"]] = _score(own, pair_scores(own, features, collate), ref, beta, ctx)
            del own


def _attach(base, lora: list[dict]):
    if not lora:
        return base
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, lora[0]["spec"].adapter, adapter_name=lora[0]["name"])
    for m in lora[1:]:
        model.load_adapter(m["spec"].adapter, adapter_name=m["name"])
    return model.eval()


def _adapters_off(model):
    """Run the shared PeftModel as its base (a plain model passes through)."""
    import contextlib

    return model.disable_adapter() if hasattr(model, "peft_config") else contextlib.nullcontext()


def _score(model, scores: dict, ref: dict, beta: float, ctx: dict) -> dict[str, Any]:
    metrics = preference_metrics(scores, ref, beta)
    ranked = ranked_scores(model, ctx)
    # Implicit rewards of each ranked answer (model minus base log-prob), as for the pairs.
    metrics["kendall_tau"] = (sum(kendall_tau([a - b for a, b in zip(mine, base)], list(range(len(mine))))
                                  for mine, base in zip(ranked, ctx["ref_ranked"])) / len(ranked)
                              if ranked else None)
    metrics["generation_samples"] = generation_samples(model, ctx, ctx["rows"][:ctx["samples"]])
    if ctx["win_rows"]:  # answers for the judge (evaluate_judge.win_rates scores them)
        metrics["_win_answers"] = [s["generated"] for s in generation_samples(model, ctx, ctx["win_rows"])]
    return metrics


def ranked_scores(model, ctx: dict) -> list[list[float]]:
    """Summed log-probs of every answer of the rows that rank more than two (best first)."""
    import torch

    from core.data.templates import encode
    from core.methods.logps import batch_logps
    from core.methods.pairwise import PairCollator

    out = []
    device = next(model.parameters()).device
    collate = PairCollator(ctx["tokenizer"].pad_token_id)
    for row in (r for r in ctx["rows"] if r.get("ranked")):
        prompt_ids, answers = encode(ctx["template"], row["prompt"], row["ranked"])
        batch = collate([{"prompt_ids": prompt_ids, "chosen_ids": a, "rejected_ids": a}
                         for a in answers])
        with torch.no_grad():
            sums, _ = batch_logps(model, batch, device)
        out.append(sums[:len(answers)].tolist())
    return out


def generation_samples(model, ctx: dict, rows: list[dict]) -> list[dict[str, str]]:
    """Greedy answers to the rows' prompts, beside the dataset's chosen and rejected."""
    import torch

    tok, out = ctx["tokenizer"], []
    stop = [i for i in {tok.eos_token_id, tok.pad_token_id,
                        tok.convert_tokens_to_ids("<|im_end|>")} if isinstance(i, int) and i >= 0]
    for row in rows:
        text = ctx["template"].prompt_text(row["prompt"])
        ids = tok(text, return_tensors="pt", add_special_tokens=False).to(next(model.parameters()).device)
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=ctx["max_new_tokens"], do_sample=False,
                                 eos_token_id=stop, pad_token_id=tok.pad_token_id,
                                 temperature=None, top_p=None, top_k=None)
        answer = tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        out.append({"prompt": row["prompt"][-1]["content"], "generated": answer,
                    "chosen": row["chosen"][0]["content"], "rejected": row["rejected"][0]["content"]})
    return out
