"""Stage kto's scored-only head (core/methods/fused_head.py) against the plain path, the
model's own logits at every position with an fp32 log-softmax: per-token log-probs, entropy,
mean logits and the LoRA gradients equal within 1e-5 (fp32), Qwen2 and Qwen3, with and
without LoRA on lm_head, multi-turn prompts, answers cut at cutoff_len. And a whole kto run
with it logs what a run on TRL's fused head logs (chunked_logps off), step for step."""
import math

import pytest
import torch
from conftest import example
from test_fast_logps import TOL, assert_same_grads, features, grads, load

from core.methods.fused_head import install
from core.training.run import run

LM_HEAD = ["q_proj", "v_proj", "down_proj", "lm_head"]


def kto_batch(tokenizer):
    """Desirable and undesirable rows of different lengths, as TRL's KTO collator pads them,
    with TRL's labels: the answer tokens, -100 elsewhere."""
    from trl.trainer.kto_trainer import DataCollatorForUnpairedPreference

    rows = []
    for f in features(tokenizer):
        rows += [{"prompt_ids": f["prompt_ids"], "completion_ids": f["chosen_ids"], "label": True},
                 {"prompt_ids": f["prompt_ids"], "completion_ids": f["rejected_ids"],
                  "label": False}]
    batch = DataCollatorForUnpairedPreference(pad_token_id=0)(rows)
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    return batch["input_ids"], batch["attention_mask"], labels


def plain(model, ids, mask, labels):
    """(log_probs, entropy, mean_logits) [rows, length - 1] from the full logits, 0 off-label."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    logp = logits.log_softmax(dim=-1)
    target = labels[:, 1:]
    keep = target != -100
    picked = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(dim=-1)
    return [x * keep for x in (picked, entropy.detach(), logits.mean(dim=-1).detach())]


def fused(model, ids, mask, labels):
    out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    return out.log_probs, out.entropy, out.mean_logits


def with_scored_head(model):
    """The model as KTOTrainer leaves it (TRL's fused head), then ours installed in front."""
    from trl.trainer.utils import add_fused_lm_head

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    add_fused_lm_head(base, outputs=("log_probs", "entropy", "mean_logits"))
    assert install(base)
    return model


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
@pytest.mark.parametrize("target", [None, "all-linear", LM_HEAD])
def test_scored_head_equals_full_logits(arch, target, request, tokenizer):
    model = load(request.getfixturevalue("tiny_model" if arch == "qwen2" else "tiny_qwen3"),
                 lora=target)
    ids, mask, labels = kto_batch(tokenizer)
    weight = torch.linspace(-1.0, 2.0, ids.shape[0]).unsqueeze(1)  # rows pulled both ways
    want = plain(model, ids, mask, labels)
    (want[0] * weight).sum().backward()
    want_grads = grads(model)
    with_scored_head(model)
    got = fused(model, ids, mask, labels)
    (got[0] * weight).sum().backward()
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, **TOL)
    assert_same_grads(want_grads, grads(model))
    if target == LM_HEAD:
        assert any("lm_head.lora_B" in n for n in want_grads)


def test_falls_back_to_trl_where_it_does_not_apply(tiny_model, tokenizer):
    """Plain calls stay the model's own forward (generation), and a model whose logits are
    scaled keeps TRL's head."""
    model = with_scored_head(load(tiny_model))
    ids, mask, labels = kto_batch(tokenizer)
    with torch.no_grad():
        assert model(input_ids=ids, attention_mask=mask).logits.shape[:2] == ids.shape
    scaled = load(tiny_model)
    scaled.config.logit_scale = 0.5
    forward = scaled.forward
    assert not install(scaled) and scaled.forward == forward


@pytest.mark.slow
def test_kto_run_logs_as_with_trls_head(tiny_model, tmp_path):
    """Two kto runs, chunked_logps on (ours) and off (TRL's fused head): the same losses, KL,
    rewards, log-probs, entropy and mean logits at every step."""
    logs = {}
    for chunked in (True, False):
        rd = run(example("kto_demo", tiny_model, tmp_path / str(chunked), chunked_logps=chunked,
                         per_device_train_batch_size=2))
        logs[chunked] = [m for m in rd.metrics() if "loss" in m and "eval_loss" not in m]
    assert len(logs[True]) == len(logs[False]) == 2
    for ours, trl in zip(logs[True], logs[False]):
        for key in ("loss", "kl", "rewards/chosen", "logps/chosen", "logps/rejected",
                    "entropy", "logits/chosen", "logits/rejected"):
            assert key in ours and math.isfinite(ours[key]), key
            assert ours[key] == pytest.approx(trl[key], rel=1e-4, abs=1e-5), key
