"""Reference log-probs for the pairwise losses: computed once per dataset, cached on disk.

The reference is, in order: an explicit `ref_model` (+ adapters, + quantization); for LoRA,
the policy with its trainable adapter switched off (base + any start adapters, which are
either merged or loaded as the frozen 'ref' adapter); for full/freeze, a frozen copy of the
initial weights. Its log-probs are computed in one no-grad pass before training and cached
under $PREFSTUDIO_HOME/ref-logps keyed by the reference's identity and the exact token ids,
so epochs, resumes and reruns never compute them again.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
from pathlib import Path
from typing import Iterator

import torch

from core.config import RunConfig
from core.paths import home

from .logps import score_pairs

log = logging.getLogger(__name__)


class Reference:
    """A context manager that yields the model to run for reference log-probs."""

    def __init__(self, policy, model=None) -> None:
        self.policy, self.model = policy, model

    @contextlib.contextmanager
    def active(self) -> Iterator:
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
        ident = f"model={cfg.ref_model}|adapters={cfg.ref_model_adapters}|bits={cfg.ref_model_quantization_bit}"
        return Reference(policy, load_reference_model(cfg)), ident + _fingerprint(cfg.ref_model)
    ident = f"model={cfg.model_name_or_path}|adapters={cfg.adapter_name_or_path}|bits={cfg.quantization_bit}"
    ident += _fingerprint(cfg.model_name_or_path) + "".join(_fingerprint(a) for a in cfg.adapters)
    if cfg.finetuning_type == "lora":
        return Reference(policy), ident
    frozen = copy.deepcopy(policy).eval().requires_grad_(False)
    return Reference(policy, frozen), ident


def _fingerprint(path: str) -> str:
    """Names, sizes and mtimes of a local folder's weight files (cheap, catches retraining)."""
    from core.models.loading import resolve_model_path

    folder = Path(resolve_model_path(path))
    if not folder.is_dir():
        return ""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".json"))
    return "|" + ";".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in files)


def cache_key(ident: str, features: list[dict], ld_alpha: float | None, dtype: torch.dtype) -> str:
    h = hashlib.sha256(f"{ident}|ld={ld_alpha}|{dtype}".encode())
    for f in features:
        h.update(json.dumps([f["prompt_ids"], f["chosen_ids"], f["rejected_ids"]]).encode())
    return h.hexdigest()[:24]


def precompute(reference: Reference, features: list[dict], collate, batch_size: int,
               device: torch.device, ld_alpha: float | None, ident: str, dtype: torch.dtype,
               use_cache: bool = True) -> None:
    """Add ref_chosen_logps / ref_rejected_logps (sums) and their token counts to features."""
    from safetensors.torch import load_file, save_file

    if not features:
        return
    path = home() / "ref-logps" / f"{cache_key(ident, features, ld_alpha, dtype)}.safetensors"
    if use_cache and path.is_file():
        values = load_file(path)
        log.info("Reference log-probs: read from cache %s", path)
    else:
        values = _compute(reference, features, collate, batch_size, device, ld_alpha)
        if use_cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            save_file(values, str(tmp))
            tmp.replace(path)
    for i, f in enumerate(features):
        f["ref_chosen_logps"] = float(values["chosen"][i])
        f["ref_rejected_logps"] = float(values["rejected"][i])


def _compute(reference: Reference, features: list[dict], collate, batch_size: int,
             device: torch.device, ld_alpha: float | None) -> dict[str, torch.Tensor]:
    log.info("Reference log-probs: computing for %d pairs (once; cached for later runs)...",
             len(features))
    with reference.active() as model:
        scores = score_pairs(model, features, collate, batch_size, device, ld_alpha)
    return {"chosen": scores["chosen"].contiguous(), "rejected": scores["rejected"].contiguous()}
