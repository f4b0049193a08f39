"""Reference log-probs for the pairwise losses: computed once per dataset, cached on disk.

The reference is, in order: an explicit `ref_model` (+ adapters, + quantization); for LoRA,
the policy with its trainable adapter switched off (base + any start adapters, which are
either merged or loaded as the frozen 'ref' adapter); for full/freeze, a frozen copy of the
initial weights. Its log-probs are computed in one no-grad pass before training, only for the
pairs the run will see (`needed`: max_steps may reach a fraction of the data), and cached per
pair under $PREFSTUDIO_HOME/ref-logps/<reference>/ (one folder per reference identity: model,
adapters, quantization, the weights' fingerprints: file sizes and times for folders, the cached
commit for hub ids; LD-DPO's alpha, dtype and batch layout), each pair keyed by its exact token
ids (data, template, cutoff_len). Epochs, resumes and reruns never compute a pair twice; a
longer run computes only the pairs it adds; any change that alters the log-probs computes anew.
`python -m core cache` shows and clears the folder (core/cache.py).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
from collections.abc import Sequence
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
    """A name for exactly these pairs' log-probs: the reference's identity (group_key) and the
    exact token ids of every pair."""
    h = hashlib.sha256(group_key(ident, ld_alpha, dtype).encode())
    for f in features:
        h.update(pair_key(f))
    return h.hexdigest()[:24]


def group_key(ident: str, ld_alpha: float | None, dtype: torch.dtype) -> str:
    """The cache folder of one reference: its identity, LD-DPO's alpha and the dtype."""
    return hashlib.sha256(f"{ident}|ld={ld_alpha}|{dtype}".encode()).hexdigest()[:24]


def pair_key(feature: dict) -> bytes:
    """A pair's exact token ids, as a 16-byte digest."""
    ids = [feature["prompt_ids"], feature["chosen_ids"], feature["rejected_ids"]]
    return hashlib.sha256(json.dumps(ids).encode()).digest()[:16]


class Store:
    """The cached log-probs of one reference: safetensors files in one folder, each holding
    `keys` (uint8, n x 16: pair_key), `chosen` and `rejected`. A write merges what the folder
    holds with the new pairs into one file, then removes the files it read."""

    def __init__(self, ident: str, ld_alpha: float | None, dtype: torch.dtype) -> None:
        self.folder = home() / "ref-logps" / group_key(ident, ld_alpha, dtype)

    def read(self) -> dict[bytes, tuple[float, float]]:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        known: dict[bytes, tuple[float, float]] = {}
        for path in sorted(self.folder.glob("*.safetensors")):
            try:
                values = load_file(path)
            except (SafetensorError, OSError) as e:  # torn or removed meanwhile: computed again
                log.warning("Reference cache: ignoring %s (%s).", path, e)
                continue
            pairs = zip(values["keys"].tolist(), values["chosen"].tolist(),
                        values["rejected"].tolist())
            known.update((bytes(k), (c, r)) for k, c, r in pairs)
        return known

    def write(self, known: dict[bytes, tuple[float, float]]) -> None:
        from safetensors.torch import save_file

        old = list(self.folder.glob("*.safetensors"))
        keys = sorted(known)
        values = {"keys": torch.tensor([list(k) for k in keys], dtype=torch.uint8),
                  "chosen": torch.tensor([known[k][0] for k in keys], dtype=torch.float64),
                  "rejected": torch.tensor([known[k][1] for k in keys], dtype=torch.float64)}
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(b"".join(keys)).hexdigest()[:24]
        tmp = self.folder / f".{name}.tmp"
        save_file(values, str(tmp))
        tmp.replace(self.folder / f"{name}.safetensors")
        for path in old:
            if path.name != f"{name}.safetensors":
                path.unlink(missing_ok=True)


def precompute(reference: Reference, features: list[dict], collate, batch_size: int,
               device: torch.device, ld_alpha: float | None, ident: str, dtype: torch.dtype,
               use_cache: bool = True, needed: Sequence[int] | None = None,
               on_batch: Callable[[int], None] | None = None) -> None:
    """Add ref_chosen_logps / ref_rejected_logps (sums) to the features at `needed` (indices;
    None: all), reading what the cache holds and computing (and caching) the rest.
    `on_batch(n)` after each computed batch of n pairs (the cached ones at once)."""
    wanted = range(len(features)) if needed is None else sorted(set(needed))
    if not wanted:
        return
    store = Store(ident, ld_alpha, dtype)
    known = store.read() if use_cache else {}
    keys = {i: pair_key(features[i]) for i in wanted}
    missing = [i for i in wanted if keys[i] not in known]
    if on_batch is not None and len(wanted) > len(missing):
        on_batch(len(wanted) - len(missing))
    if missing:
        values = _compute(reference, [features[i] for i in missing], collate, batch_size,
                          device, ld_alpha, on_batch)
        for n, i in enumerate(missing):
            known[keys[i]] = (float(values["chosen"][n]), float(values["rejected"][n]))
        if use_cache:
            store.write(known)
    log.info("Reference log-probs: %d of %d pairs needed, %d read from the cache %s, %d computed.",
             len(wanted), len(features), len(wanted) - len(missing), store.folder, len(missing))
    for i in wanted:
        features[i]["ref_chosen_logps"], features[i]["ref_rejected_logps"] = known[keys[i]]


def missing_pairs(ident: str, features: list[dict], ld_alpha: float | None,
                  dtype: torch.dtype) -> int:
    """How many of `features` the cache does not hold yet."""
    known = Store(ident, ld_alpha, dtype).read()
    return sum(pair_key(f) not in known for f in features)


def _compute(reference: Reference, features: list[dict], collate, batch_size: int,
             device: torch.device, ld_alpha: float | None,
             on_batch: Callable[[int], None] | None = None) -> dict[str, torch.Tensor]:
    log.info("Reference log-probs: computing for %d pairs (once; cached for later runs)...",
             len(features))
    with reference.active() as model:
        scores = score_pairs(model, features, collate, batch_size, device, ld_alpha, on_batch)
    return {"chosen": scores["chosen"].contiguous(), "rejected": scores["rejected"].contiguous()}
