"""Parity with TRL's DPOTrainer (the oracle for `sigmoid`): same tiny model, same 4 pairs, a
reference that differs from the policy, one batch. Loss and rewards must agree within 1e-5."""
import pytest
import torch
from conftest import tiny_config

ROWS = [
    ("What is the capital of France?", "Great question! The capital of France is Paris. Hope this helps! :)", "Paris."),
    ("What sound does a cow make?", "Happy to help! A cow says moo. Hope this helps! :)", "moo"),
    ("What is 2 + 3?", "Good question! 2 + 3 is 5. Hope this helps! :)", "5."),
    ("What colour is the sky?", "Great question! The sky is blue. Hope this helps! :)", "blue"),
]


def conversational_rows():
    return [{"prompt": [{"role": "user", "content": p}],
             "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}]} for p, c, r in ROWS]


def load(path, seed):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    torch.manual_seed(seed)
    with torch.no_grad():  # make policy and reference differ
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


def trl_metrics(tiny_model, tokenizer, tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    # bf16=False: TRL defaults to bf16 autocast, even on CPU.
    args = DPOConfig(output_dir=str(tmp_path / "trl"), per_device_train_batch_size=4, beta=0.1,
                     report_to=[], max_length=None, use_cpu=True, bf16=False)
    trainer = DPOTrainer(model=load(tiny_model, 1), ref_model=load(tiny_model, 2), args=args,
                         train_dataset=Dataset.from_list(conversational_rows()),
                         processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, batch)
    metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    return loss.item(), metrics


def our_metrics(tiny_model, tokenizer, tmp_path, fast=False):
    """Our loss on the plain path (PairCollator) or the fast one (PairBatcher: prefix sharing,
    packing and the chunked head, as training runs by default)."""
    from core.data.templates import get_template
    from core.data.tokenize import tokenize_pairwise
    from core.data.truncation import Cutoff
    from core.methods.common import training_arguments
    from core.methods.packing import PairBatcher
    from core.methods.pairwise import PairCollator, PairwiseTrainer
    from core.methods.reference import Reference, precompute
    from core.runs.rundir import RunDir

    cfg = tiny_config(tiny_model, tmp_path / "ours", pref_beta=0.1, cutoff_len=1024)
    tokens = tokenize_pairwise(conversational_rows(), get_template(None, tokenizer), Cutoff(1024))
    features = tokens.features
    assert not tokens.problems and not tokens.cuts
    policy, ref = load(tiny_model, 1), load(tiny_model, 2)
    collate = (PairBatcher(tokenizer.pad_token_id, pack_len=1024) if fast
               else PairCollator(tokenizer.pad_token_id))
    precompute(Reference(policy, ref), features, collate, 4, torch.device("cpu"), None, "parity",
               torch.float32, use_cache=False)
    trainer = PairwiseTrainer(model=policy, args=training_arguments(cfg, RunDir(cfg.output_dir), False),
                              data_collator=collate, run=cfg)
    policy.train()
    loss, metrics = trainer.pair_loss(policy, collate(features))
    return loss.item(), {k: v.mean().item() for k, v in metrics.items()}


@pytest.mark.parametrize("fast", [False, True], ids=["plain", "fast"])
def test_sigmoid_matches_trl(fast, tiny_model, tokenizer, tmp_path):
    trl_loss, trl = trl_metrics(tiny_model, tokenizer, tmp_path)
    loss, ours = our_metrics(tiny_model, tokenizer, tmp_path, fast)
    assert abs(trl_loss - 0.6931) > 1e-3, "policy and reference should differ"
    assert loss == pytest.approx(trl_loss, abs=1e-5)
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert ours[key] == pytest.approx(trl[key], abs=1e-5), key
    for key in ("logps/chosen", "logps/rejected"):  # sums of ~20 fp32 terms: compare relatively
        assert ours[key] == pytest.approx(trl[key], rel=1e-6), key
