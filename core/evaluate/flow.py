"""The evaluation flow behind `python -m core eval` and the Evaluate tab (the numbers are in
metrics.py, the judge in judge.py).

Runs that share a base (same model and merged start adapters) share one loaded model: their
LoRA adapters are attached to it by name, and the base scores (adapters off) are computed once
and serve both as the base's row and as every run's reference for the implicit reward. A
full-weight run is loaded on its own. Models load in their run's dtype and quantization unless
`dtype` says otherwise. With a judge (an rm run), every model answers the first `win_prompts`
prompts greedily, and the judge, loaded once after the models are done, scores the answers.
Pairs are scored in the fast layout (pair_layout: prompts once, packed rows, the LM head only
at answer tokens), which gives the plain path's numbers.
"""
from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.errors import UserError
from core.models.spec import ModelSpec, run_folder, run_model_spec
from core.paths import write_atomic

from .metrics import (
    RESULTS,
    preference_metrics,
    ranked_tau,
    require_pairs,
    training_summary,
)

log = logging.getLogger(__name__)
BATCH = 4  # pairs per forward pass


@dataclass(frozen=True)
class Member:
    """One evaluated run (or checkpoint) and the options its models load with."""

    name: str
    folder: Path
    cfg: RunConfig
    spec: ModelSpec
    dtype: str | None  # None: the run's own

    @property
    def lora(self) -> bool:
        return bool(self.spec.adapter) and (Path(self.spec.adapter) / "adapter_config.json").is_file()

    def options(self, own: bool = False) -> Any:
        """LoadOptions of the base it is compared against, or (`own`) of its full weights."""
        from core.models.loading import LoadOptions

        changes: dict[str, Any] = {"adapters": tuple(self.spec.merged)}
        if own:  # the run's folder holds every weight; full runs are never quantized
            changes.update(model=self.spec.base, adapters=(), quantization_bit=None)
        if self.dtype:
            changes["dtype"] = self.dtype
        return LoadOptions.of_run(self.cfg, **changes)


@dataclass(frozen=True)
class Settings:
    """What is measured besides the pair scores."""

    samples: int  # generation samples recorded per model
    max_new_tokens: int
    win_rows: list[dict]  # prompts every model answers for the judge ([] without one)


@dataclass
class EvalSet:
    """The dataset tokenized for one group's tokenizer, template and cutoff_len."""

    tokenizer: Any
    template: Any
    collate: Any  # PairBatcher (pair_layout)
    rows: list[dict]  # the rows whose pairs fit cutoff_len
    features: list[dict]  # their pairs as PairBatcher input
    ranked: list[dict]  # answers of rows ranking more than two, two per feature (_rank_pairs)
    ranked_sizes: list[int]  # answers per ranked row


@dataclass
class Scores:
    """A model's summed log-probs on an EvalSet: per pair and per ranked answer."""

    pairs: dict[str, list[float]]  # chosen, rejected, n_chosen, n_rejected
    ranked: list[list[float]]  # per ranked row, its answers' log-probs, best first


def evaluate(runs: list[str], dataset: str, dataset_dir: str = "data", max_samples: int | None = None,
             samples: int = 3, max_new_tokens: int = 48, judge: str | None = None,
             win_prompts: int = 16, dtype: str | None = None,
             write: bool = True) -> dict[str, dict[str, Any]]:
    """Results per model name ("base" first, then each run by folder name); written to each
    run's evaluation_results.json when `write`. `dtype` (core.models.loading.DTYPES) replaces
    the runs' own dtype for every model loaded, the judge included."""
    from core.data import load_rows
    from core.methods.reward_model import RewardScorer, rm_config

    members = [_member(r, dtype) for r in runs]
    for m in members:
        m.options()  # a bad dtype fails here, before anything loads
    if judge:
        rm_config(judge, "judge")  # a wrong judge fails before the models run, not after
    rows = load_rows(dataset, dataset_dir, "dpo", max_samples).rows
    require_pairs(rows, dataset)
    settings = Settings(samples, max_new_tokens, rows[:win_prompts] if judge else [])
    results: dict[str, dict[str, Any]] = {}
    answers: dict[str, list[str]] = {}
    for group in _groups(members):
        group_results, group_answers = _evaluate_group(group, rows, settings, "base" not in results)
        results.update(group_results)
        answers.update(group_answers)
    if judge:
        from .judge import win_rates

        scorer = RewardScorer(judge, _device(), dtype, key="judge")
        for name, numbers in win_rates(scorer, [r["prompt"] for r in settings.win_rows],
                                       answers).items():
            results[name].update(numbers)
        log.info("Judged by %s.", judge)
    if write:
        _write(members, results, dataset)
    return results


def _write(members: list[Member], results: dict[str, dict[str, Any]], dataset: str) -> None:
    for m in members:
        record = {**results[m.name], **training_summary(m.folder), "dataset": dataset,
                  "model": m.name, "base": results["base"]}
        write_atomic(m.folder / RESULTS, json.dumps(record, indent=1))
        log.info("Wrote %s", m.folder / RESULTS)


def _member(run: str, dtype: str | None) -> Member:
    folder = run_folder(run)
    if folder is None:
        raise UserError(f"--run: {run} is not a run folder (no config.yaml)")
    cfg = RunConfig.load(folder / "config.yaml")
    name = folder.name if Path(run).resolve() == folder.resolve() else f"{folder.name}/{Path(run).name}"
    return Member(name, folder, cfg, run_model_spec(run), dtype)


def _groups(members: list[Member]) -> list[list[Member]]:
    """Members by (base model, merged adapters); the first group holds the first run."""
    groups: dict[tuple, list[Member]] = {}
    for m in members:
        groups.setdefault((m.cfg.model_name_or_path, m.spec.merged), []).append(m)
    return list(groups.values())


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(opts: Any) -> Any:
    """A causal LM for `opts` on this machine's device, in eval mode."""
    from core.models.loading import load_model

    model = load_model(opts)
    if opts.quantization_bit is None:  # a quantized model is placed on its GPU when loaded
        model.to(_device())
    return model.eval()


def _evaluate_group(group: list[Member], rows: list[dict], settings: Settings,
                    with_base: bool) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Results and judge answers of the group's runs, and of its base when `with_base`."""
    from core.models.loading import load_tokenizer

    first = group[0]
    opts = first.options()
    lora = [m for m in group if m.lora]
    model = _attach(_load(opts), lora)
    es = _tokenize(rows, load_tokenizer(opts), first.cfg, model)
    results: dict[str, dict] = {}
    answers: dict[str, list[str]] = {}
    with _adapters_off(model):
        ref = scores(model, es)
        if with_base:
            results["base"], answers["base"] = _measure(model, es, ref, ref, first.cfg.pref_beta,
                                                        settings)
    for m in group:
        if m.lora:
            model.set_adapter(m.name)
            own = model
        else:  # full weights: a model of its own
            own = _load(m.options(own=True))
        results[m.name], answers[m.name] = _measure(own, es, scores(own, es), ref, m.cfg.pref_beta,
                                                    settings)
        del own
    return results, answers


def _tokenize(rows: list[dict], tokenizer: Any, cfg: RunConfig, model: Any) -> EvalSet:
    from core.data.templates import get_template
    from core.data.tokenize import tokenize_pairwise
    from core.data.truncation import Cutoff

    template = get_template(cfg.template, tokenizer, cfg.enable_thinking)
    tokens = tokenize_pairwise(rows, template, Cutoff(cfg.cutoff_len, cfg.truncation))
    features = tokens.features
    if tokens.problems:  # cut as the run was trained; what its truncation refuses is left out
        log.warning("%d pairs do not fit cutoff_len %d (truncation %s) and are left out.",
                    len(tokens.problems), cfg.cutoff_len, cfg.truncation)
    kept = [rows[f["row"]] for f in features]
    ranked, sizes = _rank_pairs(kept, template, cfg.cutoff_len)
    return EvalSet(tokenizer, template, pair_layout(model, tokenizer.pad_token_id, cfg.cutoff_len),
                   kept, features, ranked, sizes)


def pair_layout(model: Any, pad_id: int, cutoff_len: int) -> Any:
    """How pairs are scored: the fast layout whatever the run trained with, as its numbers are
    the plain path's (core.methods.packing): each prompt encoded once, the pairs packed into
    rows of 2 x cutoff_len tokens, the LM head only at answer tokens. Where the attention takes
    no 4D mask (flash_attention_2) the pairs run as padded rows, still with the chunked head."""
    from core.methods.packing import PairBatcher
    from core.methods.scoring import accepts_4d_mask, wants_block_mask

    masks = accepts_4d_mask(model)
    return PairBatcher(pad_id, prefix_sharing=masks, packing=masks, pack_len=2 * cutoff_len,
                       block_mask=wants_block_mask(model))


def _rank_pairs(rows: list[dict], template: Any, cutoff_len: int) -> tuple[list[dict], list[int]]:
    """The answers of every ranked row as pair features, two answers per pair (the last one
    twice when their number is odd), cut to fit cutoff_len as the pairs are."""
    from core.data.templates import encode

    features, sizes = [], []
    for row in rows:
        if not row.get("ranked"):
            continue
        prompt_ids, answers = encode(template, row["prompt"], row["ranked"])
        answers = [a[:cutoff_len - len(prompt_ids)] for a in answers]
        even = answers + answers[-1:] * (len(answers) % 2)
        features += [{"prompt_ids": prompt_ids, "chosen_ids": a, "rejected_ids": b}
                     for a, b in zip(even[::2], even[1::2])]
        sizes.append(len(answers))
    return features, sizes


def scores(model: Any, es: EvalSet) -> Scores:
    """The model's summed log-probs of every pair's answers and of every ranked answer."""
    import torch

    from core.methods.logps import score_pairs

    device = next(model.parameters()).device
    pairs = score_pairs(model, es.features, es.collate, BATCH, device)
    ranked = score_pairs(model, es.ranked, es.collate, BATCH, device)
    flat = torch.stack([ranked["chosen"], ranked["rejected"]], dim=1).flatten().tolist()
    per_row, at = [], 0
    for size in es.ranked_sizes:  # answers 0,1 | 2,3 | ... back into rows
        per_row.append(flat[at:at + size])
        at += size + size % 2
    return Scores({k: v.tolist() for k, v in pairs.items()}, per_row)


def _measure(model: Any, es: EvalSet, mine: Scores, ref: Scores, beta: float,
             settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """A model's results (metrics.TABLE's numbers and generation samples) and its answers to
    the judge's prompts."""
    metrics = preference_metrics(mine.pairs, ref.pairs, beta)
    metrics["kendall_tau"] = ranked_tau(mine.ranked, ref.ranked)
    shown = es.rows[:settings.samples]
    metrics["generation_samples"] = [
        {"prompt": row["prompt"][-1]["content"], "generated": answer,
         "chosen": row["chosen"][0]["content"], "rejected": row["rejected"][0]["content"]}
        for row, answer in zip(shown, generate(model, es, shown, settings.max_new_tokens))]
    return metrics, generate(model, es, settings.win_rows, settings.max_new_tokens)


def generate(model: Any, es: EvalSet, rows: list[dict], max_new_tokens: int) -> list[str]:
    """Greedy answers to the rows' prompts, one row at a time (no padding to skew them)."""
    import torch

    tok, out = es.tokenizer, []
    stop = es.template.stop_token_ids(model.generation_config)
    device = next(model.parameters()).device
    for row in rows:
        ids = tok(es.template.prompt_text(row["prompt"]), return_tensors="pt",
                  add_special_tokens=False).to(device)
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=stop, pad_token_id=tok.pad_token_id,
                                 temperature=None, top_p=None, top_k=None)
        out.append(tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return out


def _attach(base: Any, lora: list[Member]) -> Any:
    """The base with every LoRA member's adapter loaded under the member's name."""
    if not lora:
        return base
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, lora[0].spec.adapter, adapter_name=lora[0].name)
    for m in lora[1:]:
        model.load_adapter(m.spec.adapter, adapter_name=m.name)
    return model.eval()


def _adapters_off(model: Any) -> contextlib.AbstractContextManager:
    """Run the shared PeftModel as its base (a plain model passes through)."""
    return model.disable_adapter() if hasattr(model, "peft_config") else contextlib.nullcontext()
