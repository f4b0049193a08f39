"""The reference log-prob cache (core/methods/reference.py): the same run reads what it wrote,
and whatever changes the log-probs (the model's weights, the adapters, the template, a
cutoff_len that cuts answers, a hub id's cached revision) computes them again."""
import shutil

import pytest
import torch
from conftest import make_adapter, tiny_config

from core.data import load_for_training
from core.data.templates import get_template
from core.methods import reference
from core.methods.pairwise import PairCollator
from core.methods.reference import Reference, cache_key, identity, precompute


@pytest.fixture
def model(tiny_model, tmp_path):
    """A copy of the tiny model whose weights a test may rewrite."""
    return shutil.copytree(tiny_model, tmp_path / "model")


@pytest.fixture
def computed(monkeypatch) -> list:
    """Every pass that computes reference log-probs (a cache miss)."""
    calls, real = [], reference._compute
    monkeypatch.setattr(reference, "_compute", lambda *a: calls.append(1) or real(*a))
    return calls


def features(cfg, tokenizer) -> list[dict]:
    """The pairs' token ids as training builds them."""
    return load_for_training(cfg, get_template(cfg.template, tokenizer)).train_features


def key(cfg, tokenizer) -> str:
    return cache_key(identity(cfg), features(cfg, tokenizer), cfg.ld_alpha, torch.float32)


def fill(cfg, tokenizer) -> list[dict]:
    """precompute() for cfg's pairs with the plain model as the reference."""
    from transformers import AutoModelForCausalLM

    feats = features(cfg, tokenizer)
    model = AutoModelForCausalLM.from_pretrained(cfg.model_name_or_path, dtype=torch.float32)
    precompute(Reference(None, model), feats, PairCollator(tokenizer.pad_token_id), 4,
               torch.device("cpu"), cfg.ld_alpha, identity(cfg), torch.float32)
    return feats


def test_the_same_run_reads_the_cache_and_new_weights_compute_again(model, tokenizer, tmp_path,
                                                                    computed):
    from safetensors.torch import load_file, save_file

    cfg = tiny_config(model, tmp_path / "run", max_samples=8, template="qwen")
    first = fill(cfg, tokenizer)
    again = fill(cfg.replace(output_dir=str(tmp_path / "rerun")), tokenizer)
    assert len(computed) == 1  # the rerun read the file the first run wrote
    assert [f["ref_chosen_logps"] for f in again] == [f["ref_chosen_logps"] for f in first]

    weights = load_file(model / "model.safetensors")  # "retrained": same names, new values
    save_file({k: v + 0.01 for k, v in weights.items()}, str(model / "model.safetensors"),
              metadata={"format": "pt"})
    retrained = fill(cfg, tokenizer)
    assert len(computed) == 2
    assert retrained[0]["ref_chosen_logps"] != pytest.approx(first[0]["ref_chosen_logps"])


def test_adapters_template_and_cutoff_change_the_key(model, tokenizer, tmp_path):
    adapter = make_adapter(model, tmp_path / "sft")
    cfg = tiny_config(model, tmp_path / "run", max_samples=8, template="qwen",
                      adapter_name_or_path=str(adapter))
    base = key(cfg, tokenizer)
    assert key(cfg.replace(output_dir=str(tmp_path / "other")), tokenizer) == base
    changed = {
        "no adapters": cfg.replace(adapter_name_or_path=None),
        "template": cfg.replace(template="default"),
        "cutoff_len that cuts answers": cfg.replace(cutoff_len=64),
        "ld_alpha": cfg.replace(ld_alpha=0.5),
        "quantization": cfg.replace(quantization_bit=4),
    }
    for what, other in changed.items():
        assert key(other, tokenizer) != base, what
    # A cutoff_len that cuts nothing gives the same token ids, hence the same log-probs.
    assert key(cfg.replace(cutoff_len=512), tokenizer) == base

    make_adapter(model, adapter, seed=1)  # the adapter retrained in place
    assert key(cfg, tokenizer) != base


def test_ref_model_adapters_are_fingerprinted(model, tmp_path):
    adapter = make_adapter(model, tmp_path / "ref-lora")
    cfg = tiny_config(model, tmp_path / "run", ref_model=str(model),
                      ref_model_adapters=str(adapter))
    before = identity(cfg)
    make_adapter(model, adapter, seed=1)
    assert identity(cfg) != before


def test_a_hub_id_is_keyed_by_its_cached_revision(tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    repo = cache / "models--org--tiny"

    def download(commit: str) -> None:  # what a (newer) download leaves in the cache
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    cfg = tiny_config("org/tiny", tmp_path / "run")
    assert reference.hub_revision("org/tiny") is None and "revision" not in identity(cfg)
    download("a" * 40)
    first = identity(cfg)
    assert reference.hub_revision("org/tiny") == "a" * 40 and f"revision={'a' * 40}" in first
    download("b" * 40)
    assert reference.hub_revision("org/tiny") == "b" * 40 and identity(cfg) != first


@pytest.mark.parametrize("group_by_length", [True, False])
def test_a_short_run_computes_only_the_pairs_it_trains_on_and_a_longer_one_adds_the_rest(
        group_by_length, tiny_model, tmp_path, monkeypatch, caplog):
    """max_steps 2 x 2 pairs reach 4 of 16 pairs: only those are computed (in the sampler's
    order; a pair without its reference value would fail the batch). A longer run reads them
    and computes only the other 12; a rerun computes nothing."""
    from core.training.run import run

    caplog.set_level("INFO")
    monkeypatch.setenv("PREFSTUDIO_HOME", str(tmp_path / "home"))
    sizes, real = [], reference._compute
    monkeypatch.setattr(reference, "_compute",
                        lambda ref, feats, *a: sizes.append(len(feats)) or real(ref, feats, *a))
    short = tiny_config(tiny_model, tmp_path / "short", max_steps=2,
                        group_by_length=group_by_length)
    assert run(short).status()["state"] == "completed"
    assert sizes == [4]

    longer = short.replace(output_dir=str(tmp_path / "long"), max_steps=10)  # 20 pairs: 1 epoch+
    assert run(longer).status()["state"] == "completed"
    assert sizes == [4, 12]
    log = (tmp_path / "long" / "train.log").read_text()
    assert "16 of 16 pairs needed, 4 read from the cache" in log
    run(longer.replace(output_dir=str(tmp_path / "again")))
    assert sizes == [4, 12]
    assert len(list((tmp_path / "home" / "ref-logps").glob("*/*.safetensors"))) == 1


@pytest.mark.parametrize("group_by_length", [True, False])
def test_the_planned_pairs_are_the_ones_the_trainer_draws(group_by_length, tiny_model, tmp_path):
    """planned_pairs reproduces the Trainer's own sampler, epoch after epoch the same for a
    given seed (so a resume draws what the straight run drew)."""
    from transformers import AutoModelForCausalLM

    from core.methods.common import ListDataset, training_arguments
    from core.methods.pairwise import PairwiseTrainer, planned_pairs
    from core.runs.rundir import RunDir

    cfg = tiny_config(tiny_model, tmp_path / "run", max_steps=3, gradient_accumulation_steps=2,
                      seed=7, group_by_length=group_by_length)
    args = training_arguments(cfg, RunDir(tmp_path / "run"), has_eval=False)
    items = [{"i": i, "prompt_ids": [0] * (i % 7), "chosen_ids": [0] * (i % 5),
              "rejected_ids": [0]} for i in range(40)]

    def drawn(epoch: int) -> list[int]:
        trainer = PairwiseTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model),
                                  args=args, train_dataset=ListDataset(items), run=cfg,
                                  data_collator=lambda fs: {"i": [f["i"] for f in fs]})
        loader = trainer.get_train_dataloader()
        loader.set_epoch(epoch)
        return [i for batch in loader for i in batch["i"]]

    first = drawn(0)
    assert sorted(first) == list(range(40)) and first != list(range(40))
    assert planned_pairs(args, cfg, items) == first[:12]
    assert drawn(0) == first and drawn(1) != first
    longer = cfg.replace(max_steps=10)  # 40 pairs: all of them
    assert planned_pairs(training_arguments(longer, RunDir(tmp_path / "run"), has_eval=False),
                         longer, items) is None
