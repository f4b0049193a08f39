"""Reference log-probs for the pairwise losses: computed once per dataset, cached on disk.

The reference is, in order: an explicit `ref_model` (+ adapters, + quantization); for LoRA,
the policy with its trainable adapter switched off (base + any start adapters, which are
either merged or loaded as the frozen 'ref' adapter); for full/freeze, a frozen copy of the
initial weights. Its log-probs are computed in one no-grad pass before training and cached
under $PREFSTUDIO_HOME/ref-logps keyed by the reference's identity (model, adapters,
quantization, the weights' fingerprints: file sizes and times for folders, the cached commit for
hub ids) and the exact token ids (data, template, cutoff_len), so epochs, resumes and reruns
never compute them again, and any change that alters the log-probs computes them anew.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from core.config import RunConfig, split_list
from core.paths import home

from .logps import score_pairs

log = logging.getLogger(__name__)
WEIGHT_SUFFIXES = (".safetensors", ".bin")
CONFIG_FILES = ("config.json", "adapter_config.json")


class Reference:
    """A context manager that yields the model to run for reference log-probs."""

    def __init__(self, policy, model=None) -> None:
        self.policy, self.model = policy, model

    @contextlib.contextmanager
    def active(self) -> Iterator[Any]:
        if self.model is not None:
            yield self.model
            return
        peft_config = getattr(self.policy, "peft_config", {})
        if "ref" in peft_config:
            self.policy.set_adapter("ref", inference_mode=True)
            try:
                yield self.policy
            finally:
                self.policy.set_adapter("default")
        else:
            with self.policy.disable_adapter():
                yield self.policy


def build_reference(cfg: RunConfig, policy) -> tuple[Reference, str]:
    """The reference for this run and a string that identifies it for the cache key."""
    from core.models.policy import load_reference_model

    if cfg.ref_model:
        return Reference(policy, load_reference_model(cfg)), identity(cfg)
    if cfg.finetuning_type == "lora":
        return Reference(policy), identity(cfg)
    frozen = copy.deepcopy(policy).eval().requires_grad_(False)
    return Reference(policy, frozen), identity(cfg)


def identity(cfg: RunConfig) -> str:
    """What the reference log-probs depend on besides the token ids (which carry the data,
    template and cutoff_len): the reference's model, adapters and quantization, each with a
    fingerprint of its weights."""
    if cfg.ref_model:
        model, adapters = cfg.ref_model, split_list(cfg.ref_model_adapters)
        bits = cfg.ref_model_quantization_bit
    else:
        model, adapters, bits = cfg.model_name_or_path, cfg.adapters, cfg.quantization_bit
    parts = [f"model={model}", f"adapters={','.join(adapters)}", f"bits={bits}"]
    return "|".join(parts + [fingerprint(name) for name in [model, *adapters]])


def fingerprint(name: str) -> str:
    """A local folder: the names, sizes and modification times of its weight and config files
    (cheap, and retraining changes them; a run folder's status or evaluation files do not
    count). A hub id: the commit of the snapshot the local Hugging Face cache holds for it, so
    a newer download computes again."""
    from core.models.loading import resolve_model_path

    folder = Path(resolve_model_path(name))
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir()
                       if p.suffix in WEIGHT_SUFFIXES or p.name in CONFIG_FILES)
        return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    revision = hub_revision(name)
    return f"revision={revision}" if revision else ""


def hub_revision(repo_id: str) -> str | None:
    """The commit hash of the snapshot the local Hugging Face cache resolves for `repo_id`
    (its refs/main), which is what loading it reads; None when it is not cached."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("config.json", "adapter_config.json"):  # a model or an adapter repo
        try:
            found = try_to_load_from_cache(repo_id, filename)
        except ValueError:  # not a repo id (HFValidationError)
            return None
        if isinstance(found, str):
            return Path(found).parent.name  # .../snapshots/<commit>/config.json
    return None


def cache_key(ident: str, features: list[dict], ld_alpha: float | None, dtype: torch.dtype) -> str:
    """The cache file's name: the reference's identity, the exact token ids of every pair,
    LD-DPO's alpha and the dtype."""
    h = hashlib.sha256(f"{ident}|ld={ld_alpha}|{dtype}".encode())
    for f in features:
        h.update(json.dumps([f["prompt_ids"], f["chosen_ids"], f["rejected_ids"]]).encode())
    return h.hexdigest()[:24]


def precompute(reference: Reference, features: list[dict], collate, batch_size: int,
               device: torch.device, ld_alpha: float | None, ident: str, dtype: torch.dtype,
               use_cache: bool = True, on_batch: Callable[[int], None] | None = None) -> None:
    """Add ref_chosen_logps / ref_rejected_logps (sums) and their token counts to features.
    `on_batch(n)` after each batch of n pairs (all at once when read from the cache)."""
    from safetensors.torch import load_file, save_file

    if not features:
        return
    path = home() / "ref-logps" / f"{cache_key(ident, features, ld_alpha, dtype)}.safetensors"
    if use_cache and path.is_file():
        values = load_file(path)
        log.info("Reference log-probs: read from cache %s", path)
        if on_batch is not None:
            on_batch(len(features))
    else:
        values = _compute(reference, features, collate, batch_size, device, ld_alpha, on_batch)
        if use_cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            save_file(values, str(tmp))
            tmp.replace(path)
    for i, f in enumerate(features):
        f["ref_chosen_logps"] = float(values["chosen"][i])
        f["ref_rejected_logps"] = float(values["rejected"][i])


def _compute(reference: Reference, features: list[dict], collate, batch_size: int,
             device: torch.device, ld_alpha: float | None,
             on_batch: Callable[[int], None] | None = None) -> dict[str, torch.Tensor]:
    log.info("Reference log-probs: computing for %d pairs (once; cached for later runs)...",
             len(features))
    with reference.active() as model:
        scores = score_pairs(model, features, collate, batch_size, device, ld_alpha, on_batch)
    return {"chosen": scores["chosen"].contiguous(), "rejected": scores["rejected"].contiguous()}
