"""Exactness of the fast pairwise path: prefix-shared, packed and chunked log-probs equal the
plain path (logps.token_logps on PairCollator batches) on the same batch, in fp32 within 1e-5:
per-sequence log-probs, every pairwise loss, and the gradients of what trains."""
import pytest
import torch

from core.data.templates import get_template
from core.data.tokenize import tokenize_pairwise
from core.data.truncation import Cutoff
from core.methods import logps as plain
from core.methods.head import chunk_rows, head_logps
from core.methods.losses import LOSSES, preference_loss
from core.methods.packing import PairBatcher, attention_mask
from core.methods.pairwise import PairCollator
from core.methods.scoring import sequence_logps, token_logps

TOL = dict(atol=1e-5, rtol=1e-5)
LAYOUTS = [  # (prefix_sharing, packing, pack_len, chunked)
    (True, True, 96, True), (True, False, 0, True), (False, True, 96, True),
    (False, False, 0, True), (True, True, 96, False), (True, True, 0, True),
    (False, False, 0, False),  # every switch off: logps.token_logps' layout and head
]
ROWS = [  # multi-turn prompts (with a system turn), answers long enough to be cut
    {"prompt": [{"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "And of Italy? Tell me about it."}],
     "chosen": [{"role": "assistant", "content": "Rome is the capital of Italy. It is an old "
                 "city with many churches, fountains and ruins, and a great deal of food."}],
     "rejected": [{"role": "assistant", "content": "Rome."}]},
    {"prompt": [{"role": "user", "content": "What sound does a cow make?"}],
     "chosen": [{"role": "assistant", "content": "Happy to help! A cow says moo."}],
     "rejected": [{"role": "assistant", "content": "moo moo moo moo moo moo moo moo moo moo"}]},
    {"prompt": [{"role": "user", "content": "What is 2 + 3?"},
                {"role": "assistant", "content": "5"},
                {"role": "user", "content": "Why?"}],
     "chosen": [{"role": "assistant", "content": "Because two and three make five."}],
     "rejected": [{"role": "assistant", "content": "No."}]},
]


def load(path, seed=1, attn="sdpa", lora=None):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                 attn_implementation=attn)
    gen = torch.Generator().manual_seed(seed)
    if lora is not None:
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=lora))
    with torch.no_grad():  # non-zero LoRA B (and a perturbed base) so every gradient is real
        for name, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * (0.05 if "lora_" in name else 0.02))
    return model


def features(tokenizer, cutoff=64):
    tokens = tokenize_pairwise(ROWS, get_template(None, tokenizer), Cutoff(cutoff))
    feats = tokens.features
    assert not tokens.problems and len(feats) == len(ROWS)
    assert any(len(f["chosen_ids"]) < f["chosen_len"] for f in feats), "an answer must be cut"
    return feats


def plain_logps(model, feats, ld_alpha=None):
    b = PairCollator(0)(feats)
    per_token, mask = plain.token_logps(model, b["input_ids"], b["attention_mask"],
                                        b["completion_mask"])
    sums, counts = plain.sequence_logps(per_token, mask, ld_alpha)
    return sums, counts, per_token.sum(dim=1)


def fast_logps(model, feats, layout, ld_alpha=None):
    share, packing, pack_len, chunked = layout
    batch = PairBatcher(0, share, packing, pack_len)(feats)
    return sequence_logps(token_logps(model, batch, chunked), batch, ld_alpha)


def full_logps(head, hidden, targets):
    """The head applied to every position at once: [N, vocab] logits."""
    logits = head(hidden).float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def loss_of(name, logps, ref, ld_alpha=None):
    """The batch loss as PairwiseTrainer.pair_loss forms it (pref_ftx on)."""
    sums, counts, unweighted = logps
    spec = LOSSES[name]
    averages = unweighted / counts.clamp(min=1)
    pc, pr = (averages if spec.average else sums).chunk(2)
    rc, rr = ref if spec.reference else (None, None)
    if spec.reference and spec.average:
        cc, cr = counts.clamp(min=1).chunk(2)
        rc, rr = rc / cc, rr / cr
    losses, *_ = preference_loss(name, pc, pr, rc, rr, beta=0.1, eps=0.1, gamma=0.5, ftx=0.3,
                                 chosen_nll=-averages.chunk(2)[0])
    return losses.mean()


def grads(model) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return out


def assert_same_grads(a, b):
    """Equal within 1e-5 of each gradient's scale (IPO's gradients reach ~15)."""
    assert a.keys() == b.keys() and a
    for name in a:
        scale = max(1.0, a[name].abs().max().item())
        assert (b[name] - a[name]).abs().max().item() <= 1e-5 * scale, name


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_sequence_logps_equal_plain(arch, layout, request, tokenizer):
    model = load(request.getfixturevalue("tiny_model" if arch == "qwen2" else "tiny_qwen3"))
    feats = features(tokenizer)
    with torch.no_grad():
        for ld in (None, 0.5):
            want = plain_logps(model, feats, ld)
            got = fast_logps(model, feats, layout, ld)
            for w, g in zip(want, got):
                torch.testing.assert_close(g, w, **TOL)


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
@pytest.mark.parametrize("target", ["all-linear", ["q_proj", "v_proj", "down_proj", "lm_head"]])
def test_lora_losses_and_gradients_equal_plain(arch, target, request, tokenizer):
    """Every pairwise loss (sums, LD-DPO sums, per-token averages) and the LoRA gradients,
    with and without LoRA on the (tied) lm_head."""
    model = load(request.getfixturevalue("tiny_model" if arch == "qwen2" else "tiny_qwen3"),
                 lora=target)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    feats = features(tokenizer)
    ref = (torch.tensor([-40.0, -30.0, -20.0]), torch.tensor([-35.0, -25.0, -30.0]))
    for name in LOSSES:
        ld = 0.5 if name == "sigmoid" else None
        loss_of(name, plain_logps(model, feats, ld), ref, ld).backward()
        want = grads(model)
        for layout in LAYOUTS[:3] + LAYOUTS[-1:]:
            loss_of(name, fast_logps(model, feats, layout, ld), ref, ld).backward()
            assert_same_grads(want, grads(model))
    if target != "all-linear":
        assert any("lm_head.lora_B" in n for n in want)


def test_full_finetuning_gradients_equal_plain(tiny_model, tokenizer):
    """Every weight trains, the tied embedding/head included: the chunked head recomputes its
    logits in backward."""
    model = load(tiny_model)
    feats = features(tokenizer)
    ref = (torch.tensor([-40.0, -30.0, -20.0]), torch.tensor([-35.0, -25.0, -30.0]))
    loss_of("sigmoid", plain_logps(model, feats), ref).backward()
    want = grads(model)
    loss_of("sigmoid", fast_logps(model, feats, LAYOUTS[0]), ref).backward()
    assert_same_grads(want, grads(model))


def test_eager_attention_takes_the_shared_mask(tiny_model, tokenizer):
    model = load(tiny_model, attn="eager")
    feats = features(tokenizer)
    with torch.no_grad():
        torch.testing.assert_close(fast_logps(model, feats, LAYOUTS[0])[0],
                                   plain_logps(model, feats)[0], **TOL)


@pytest.mark.parametrize("head_kind", ["linear", "lora", "dora"])
def test_chunked_head_equals_full_head(head_kind):
    """Several chunks, values and gradients (inputs, weights, bias, LoRA) against the head
    applied at once; DoRA goes through the checkpointed fallback."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 50, bias=True))
    if head_kind != "linear":
        net = get_peft_model(net, LoraConfig(r=2, target_modules=["0"],
                                             use_dora=head_kind == "dora"))
        for name, p in net.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(p)
    else:
        net.requires_grad_(True)
    head = net.get_submodule("base_model.model.0" if head_kind != "linear" else "0")
    hidden = torch.randn(37, 16, requires_grad=True)
    targets = torch.randint(0, 50, (37,))
    weights = torch.randn(37)
    results = []
    for fn in (lambda: full_logps(head, hidden, targets),
               lambda: head_logps(head, hidden, targets, chunk=8)):
        out = fn()
        (out * weights).sum().backward()
        results.append((out.detach(), hidden.grad.clone(),
                        {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}))
        hidden.grad = None
        net.zero_grad(set_to_none=True)
    (v1, h1, g1), (v2, h2, g2) = results
    torch.testing.assert_close(v2, v1, **TOL)
    torch.testing.assert_close(h2, h1, **TOL)
    assert_same_grads(g1, g2)


def test_chunk_rows_bounds_the_logits_block():
    assert chunk_rows(151_936) * 151_936 * 4 <= 2**27
    assert chunk_rows(10) >= 16


def test_layouts_share_prompts_and_pack_pairs():
    feats = [{"prompt_ids": [1, 2, 3], "chosen_ids": [4, 5], "rejected_ids": [6]},
             {"prompt_ids": [7], "chosen_ids": [8], "rejected_ids": [9, 10]}]
    shared = PairBatcher(0, prefix_sharing=True, packing=False)(feats)
    assert shared["input_ids"].tolist() == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 0, 0]]
    assert shared["position_ids"][0].tolist() == [0, 1, 2, 3, 4, 3]  # rejected continues at 3
    mask = shared["attention_mask"][0, 0]
    assert mask[5].tolist() == [True, True, True, False, False, True]  # rejected: prompt, self
    assert shared["attention_mask"][1, 0, 4].tolist() == [False] * 4 + [True, False]  # padding
    # the first answer token of both answers is predicted at the prompt's last position
    first = {(int(s), int(i)) for s, i, p in zip(shared["score_seq"], shared["score_index"],
                                                 shared["score_pos"]) if p == 1}
    assert first == {(0, 2), (2, 2), (1, 6), (3, 6)}
    packed = PairBatcher(0, prefix_sharing=True, packing=True, pack_len=16)(feats)
    assert packed["input_ids"].shape == (1, 10) and int(packed["pairs"]) == 2
    assert packed["position_ids"][0].tolist() == [0, 1, 2, 3, 4, 3, 0, 1, 1, 2]
    assert not packed["attention_mask"][0, 0, 6:, :6].any()  # block-diagonal
    plain_rows = PairBatcher(0, prefix_sharing=False, packing=False)(feats)
    assert plain_rows["attention_mask"].dim() == 2 and plain_rows["input_ids"].shape == (4, 5)


def test_padding_rows_attend_to_themselves():
    owner = torch.tensor([[0, 0, -1]])
    parts = torch.tensor([[0, 1, -1]])
    mask = attention_mask(owner, parts)[0, 0]
    assert mask.any(dim=1).all() and mask[2].tolist() == [False, False, True]


def test_training_curves_equal_with_switches_off(tiny_model, tmp_path):
    """The same run with every switch on (default) and off: equal losses and rewards step by
    step (same data order), and metrics.jsonl reports pairs/s and tokens/s."""
    from conftest import tiny_config

    from core.training.run import run

    curves = []
    for name, on in (("fast", True), ("plain", False)):
        cfg = tiny_config(tiny_model, tmp_path / name, max_steps=4, ld_alpha=0.5,
                          prefix_sharing=on, packing=on, chunked_logps=on)
        curves.append([m for m in run(cfg).metrics() if "loss" in m])
    fast, slow = curves
    assert [m["step"] for m in fast] == [1, 2, 3, 4]
    for a, b in zip(fast, slow):
        for key in ("loss", "rewards/margins", "logps/chosen", "num_tokens"):
            assert a[key] == pytest.approx(b[key], abs=1e-4), key
    assert fast[-1]["num_tokens"] > fast[0]["num_tokens"] > 0
    assert fast[-1]["pairs_per_s"] > 0 and fast[-1]["tokens_per_s"] > 0


def test_reference_cache_key_names_the_layout(tiny_model):
    from core.methods.reference import cache_key

    feats = [{"prompt_ids": [1], "chosen_ids": [2], "rejected_ids": [3]}]
    keys = {cache_key(f"m|{PairBatcher(0, s, p, 64, c).describe()}", feats, None, torch.float32)
            for s in (True, False) for p in (True, False) for c in (True, False)}
    assert len(keys) == 8
