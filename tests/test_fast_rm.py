"""Exactness of the fast reward-model path (stage rm): on the same batch, prefix-shared and
packed pairs (PairBatcher(pool=True) + PairwiseRewardTrainer's loss) give TRL's plain path's
rewards, loss, metrics and LoRA gradients (score head included) in fp32 within 1e-5, and the
position each reward is read at is the one transformers' sequence classifier pools. Plus the
default (fast) rm run against the same run with both switches off."""
import math

import pytest
import torch
from conftest import example
from test_fast_logps import ROWS
from trl.trainer.reward_trainer import DataCollatorForPreference

from core.data.templates import get_template
from core.data.tokenize import tokenize_pairwise
from core.data.truncation import Cutoff
from core.methods.packing import PairBatcher, pooled
from core.methods.pairwise import SeededLengthGroupedSampler
from core.methods.rm import PairwiseRewardTrainer, _pairs, _sequences, pooled_rewards

TOL = dict(atol=1e-5, rtol=1e-5)
LAYOUTS = [  # (prefix_sharing, packing, pack_len)
    (True, True, 96), (True, False, 0), (False, True, 96), (True, True, 0),
    (False, False, 0),  # PairBatcher's padded rows, read at the pooled positions
]


def load(path, pad_id, seed=1, attn="sdpa", lora=True):
    """A one-output sequence classifier on the tiny model, LoRA (SEQ_CLS: the score head
    trains as PEFT's modules_to_save copy), every weight perturbed so gradients are real."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, dtype=torch.float32, attn_implementation=attn)
    model.config.pad_token_id = pad_id
    if lora:
        model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8,
                                                 target_modules="all-linear"))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * (0.05 if "lora_" in name else 0.02))
    return model


def features(tokenizer, cutoff=64):
    """The multi-turn pairs of different lengths (one answer cut), plus two hand-made edits
    the pooling rule decides: a rejected answer ending in the pad id (skipped, as the head
    skips it) and a pair whose every token is the pad id (read at position 0)."""
    feats = tokenize_pairwise(ROWS, get_template(None, tokenizer), Cutoff(cutoff)).features
    assert len(feats) == len(ROWS) and len({len(f["prompt_ids"]) for f in feats}) > 1
    pad = tokenizer.pad_token_id
    feats = [{k: f[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for f in feats]
    feats[1]["rejected_ids"] = feats[1]["rejected_ids"] + [pad, pad]
    feats.append({"prompt_ids": [pad, pad], "chosen_ids": [pad], "rejected_ids": [pad, pad, pad]})
    return feats


def plain_batch(feats, pad_id):
    """TRL's DataCollatorForPreference on the rows the plain rm path trains on."""
    return DataCollatorForPreference(pad_token_id=pad_id)(_sequences(feats))


def fast_batch(feats, pad_id, layout):
    share, packing, pack_len = layout
    return PairBatcher(pad_id, share, packing, pack_len, pool=True)(_pairs(feats))


def test_pooled_is_transformers_rule():
    assert [pooled(ids, 0) for ids in ([3, 4, 5], [3, 0, 5, 0, 0], [0, 0], [7], [0, 7])] == \
        [2, 2, 0, 0, 1]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_position_read_is_the_plain_pooled_position(layout, tokenizer):
    """Each sequence's reward is read where the head pools its padded row in the plain path:
    the same place in the sequence (the fast layout's position id) and the same token."""
    pad = tokenizer.pad_token_id
    feats = features(tokenizer)
    plain = plain_batch(feats, pad)
    ids = plain["input_ids"]
    columns = torch.arange(ids.shape[1])
    want = (columns * (ids != pad).int()).argmax(-1)  # GenericForSequenceClassification's
    padded = feats[1]["prompt_ids"] + feats[1]["rejected_ids"]
    assert padded[-3] != pad and want[len(feats) + 1] == len(padded) - 3  # pad ids skipped
    assert want[len(feats) - 1] == 0 and want[-1] == 0  # all pad ids: position 0
    batch = fast_batch(feats, pad, layout)
    index = batch["score_index"]
    assert len(index) == 2 * len(feats)
    fast_ids = batch["input_ids"]
    if "position_ids" in batch:
        places = batch["position_ids"].flatten()[index]
    else:  # padded rows, one per sequence: the column is the place
        assert batch["attention_mask"].dim() == 2
        places = index % fast_ids.shape[1]
    assert places.tolist() == want.tolist()
    assert fast_ids.flatten()[index].tolist() == ids[torch.arange(len(ids)), want].tolist()


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
@pytest.mark.parametrize("attn, lora", [("sdpa", True), ("eager", True), ("sdpa", False)])
def test_rewards_equal_plain(arch, attn, lora, request, tokenizer):
    """LoRA (the head is PEFT's modules_to_save copy) or the bare classifier (full, freeze)."""
    pad = tokenizer.pad_token_id
    model = load(request.getfixturevalue("tiny_model" if arch == "qwen2" else "tiny_qwen3"),
                 pad, attn=attn, lora=lora).eval()
    feats = features(tokenizer)
    with torch.no_grad():
        want = model(**plain_batch(feats, pad), use_cache=False).logits
        assert want.shape == (2 * len(feats), 1)
        for layout in LAYOUTS:
            got = pooled_rewards(model, fast_batch(feats, pad, layout))
            torch.testing.assert_close(got, want, **TOL)


def trainer(model, tokenizer, tmp_path):
    from datasets import Dataset
    from trl import RewardConfig

    args = RewardConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True, max_length=None,
                        disable_tqdm=True, remove_unused_columns=False)
    data = Dataset.from_list(_sequences([{"prompt_ids": [1], "chosen_ids": [2],
                                          "rejected_ids": [3]}]))
    return PairwiseRewardTrainer(model=model, args=args, processing_class=tokenizer,
                                 train_dataset=data)


def grads(model) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return out


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
def test_loss_metrics_and_lora_gradients_equal_plain(arch, request, tokenizer, tmp_path):
    """PairwiseRewardTrainer.compute_loss on TRL's batch (TRL's loss) and on every fast layout:
    the same loss, logged metrics (num_tokens included) and gradients of every LoRA weight and
    of the score head."""
    pad = tokenizer.pad_token_id
    model = load(request.getfixturevalue("tiny_model" if arch == "qwen2" else "tiny_qwen3"), pad)
    feats = features(tokenizer)
    t = trainer(model, tokenizer, tmp_path)
    model.train()

    def step(batch):
        loss, out = t.compute_loss(model, batch, return_outputs=True)
        loss.backward()
        logged = {k: v[-1] for k, v in t._metrics["train"].items()}
        t._metrics["train"].clear()
        t._total_train_tokens = 0
        return loss.detach(), out["logits"].detach(), logged, grads(model)

    loss, rewards, logged, want = step(plain_batch(feats, pad))
    assert math.isfinite(loss.item()) and 0 < logged["accuracy"] < 1
    assert logged["num_tokens"] == sum(2 * len(f["prompt_ids"]) + len(f["chosen_ids"])
                                       + len(f["rejected_ids"]) for f in feats)
    head = [n for n in want if "score" in n]
    assert head and all("modules_to_save" in n for n in head) and want[head[0]].abs().sum() > 0
    assert sum("lora_B" in n for n in want) > 4
    for layout in LAYOUTS:
        got_loss, got_rewards, got_logged, got = step(fast_batch(feats, pad, layout))
        torch.testing.assert_close(got_loss, loss, **TOL)
        torch.testing.assert_close(got_rewards, rewards, **TOL)
        assert got_logged.keys() == logged.keys()
        for key, value in logged.items():
            assert got_logged[key] == pytest.approx(value, abs=1e-5), key
        assert got.keys() == want.keys()
        for name in want:
            torch.testing.assert_close(got[name], want[name], **TOL, msg=name)


def test_the_switches_apply_to_rm():
    """prefix_sharing, packing and group_by_length show and act for rm (packing empty: on);
    chunked_logps does not apply (the head is [hidden -> 1])."""
    from core.config import RunConfig

    cfg = RunConfig(stage="rm")
    assert cfg.relevant("prefix_sharing") and cfg.relevant("packing")
    assert cfg.relevant("group_by_length") and not cfg.relevant("chunked_logps")


def test_flash_attention_falls_back_to_trl_rows(tiny_model, tmp_path, caplog):
    """Attention that cannot take a 4D mask: padded rows (TRL's layout), with the warning."""
    from core.config import RunConfig
    from core.methods.pairwise import pair_batcher

    cfg = RunConfig(model_name_or_path=str(tiny_model), stage="rm", output_dir=str(tmp_path))
    model = load(tiny_model, 0, lora=False)
    assert pair_batcher(cfg, model, 0, pool=True).packing  # sdpa: the fast layout
    model.config._attn_implementation = "flash_attention_2"
    batcher = pair_batcher(cfg, model, 0, pool=True)
    assert not batcher.prefix_sharing and not batcher.packing and batcher.pool
    assert "need attention that takes a 4D mask" in caplog.text


def test_default_rm_run_is_fast_and_matches_the_plain_run(tiny_model, tmp_path, monkeypatch):
    """The default rm run (prefix sharing and packing on) trains on fast batches, logs the
    preference metrics, its model loads with RewardScorer, and the same run with both switches
    off (TRL's batches and loss) logs the same numbers at every step, eval included."""
    from core.methods.reward_model import RewardScorer
    from core.training.run import run

    fast_batches = []
    real = PairwiseRewardTrainer.compute_loss

    def spy(self, model, inputs, *args, **kwargs):
        fast_batches.append("score_index" in inputs)
        return real(self, model, inputs, *args, **kwargs)

    samplers = []
    real_sampler = PairwiseRewardTrainer._get_train_sampler

    def sampler_spy(self, *args, **kwargs):
        samplers.append(real_sampler(self, *args, **kwargs))
        return samplers[-1]

    monkeypatch.setattr(PairwiseRewardTrainer, "compute_loss", spy)
    monkeypatch.setattr(PairwiseRewardTrainer, "_get_train_sampler", sampler_spy)
    fast_rd = run(example("rm_demo", tiny_model, tmp_path / "fast"))
    assert fast_batches and all(fast_batches)  # train and eval batches
    fast = [m for m in fast_rd.metrics() if "loss" in m or "eval_loss" in m]
    assert {"rewards/accuracies", "rewards/margins", "num_tokens"} <= set(fast[0])
    assert "eval_rewards/accuracies" in fast[-1]
    scorer = RewardScorer(fast_rd.path)
    scores = scorer.score([[{"role": "user", "content": "Capital of France?"}]] * 2,
                          ["Paris.", "No idea."])
    assert all(math.isfinite(s) for s in scores) and scores[0] != scores[1]

    fast_batches.clear()
    plain_rd = run(example("rm_demo", tiny_model, tmp_path / "plain", prefix_sharing=False,
                           packing=False))
    assert fast_batches and not any(fast_batches)
    plain = [m for m in plain_rd.metrics() if "loss" in m or "eval_loss" in m]
    assert len(plain) == len(fast) >= 3
    # group_by_length (on by default): both layouts draw the pairs in the same grouped order
    assert len(samplers) == 2 and all(isinstance(s, SeededLengthGroupedSampler) for s in samplers)
    assert samplers[0].lengths == samplers[1].lengths
    assert list(samplers[0]) != sorted(samplers[0])  # not the dataset's order
    numbers = ("loss", "rewards/accuracies", "rewards/margins", "min_reward", "max_reward",
               "num_tokens", "eval_loss", "eval_rewards/accuracies", "eval_rewards/margins")
    for a, b in zip(fast, plain):
        assert {k for k in numbers if k in a} == {k for k in numbers if k in b}
        for key in numbers:
            if key in b:
                assert a[key] == pytest.approx(b[key], abs=1e-5), (key, a, b)
