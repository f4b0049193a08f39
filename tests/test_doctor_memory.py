"""The doctor's memory estimate (core.training.memory) and time probe (core.training.probe):
hand arithmetic on a Qwen2.5-0.5B-shaped config.json (no weights), the batch shapes of every
layout (plain rows, prefix sharing, packing; the plain and the chunked LM head) against
PairBatcher's own tensors, the GPU fit search, the estimate against what the tiny model keeps (autograd's saved tensors, the weights,
gradients and optimizer state after a real step), and the probe's two steps and ETA.
Tolerances: the byte counts of weights, gradients and optimizer state are exact up to the
optimizer's step counters (1%); the activation rules were read off Qwen2's saved tensors in
fp32, so they hold within 10% on the CPU (the rest is the RoPE tables, index tensors and
the mask's broadcast shape).
Run: pytest -q tests/test_doctor_memory.py"""
from __future__ import annotations

import pytest
from conftest import tiny_config

from core.config import RunConfig
from core.training.memory import estimate, gpu_fit, model_shape, optimizer_bytes
from core.training.memory_layout import Batch, longest_batch, run_layout
from core.training.probe import total_steps

# Qwen2.5-0.5B: 24 layers, hidden 896, MLP 4864, 14 query heads and 2 key/value heads of 64,
# vocabulary 151936, tied embeddings: 494,032,768 parameters as published.
H, MLP, L, V, HEADS = 896, 4864, 24, 151936, 14
PARAMS = 494_032_768
LORA_8 = 4_399_104  # r=8 on all 7 linears: 8 x (in + out) summed, x 24 (PEFT prints it too)


@pytest.fixture(scope="module")
def qwen05(tmp_path_factory):
    from transformers import Qwen2Config

    folder = tmp_path_factory.mktemp("qwen2.5-0.5b-config")
    Qwen2Config(hidden_size=H, intermediate_size=MLP, num_hidden_layers=L,
                num_attention_heads=HEADS, num_key_value_heads=2, vocab_size=V,
                tie_word_embeddings=True).save_pretrained(folder)
    return folder


PLAIN = {"prefix_sharing": False, "packing": False, "chunked_logps": False}  # today's path


def config(model, **values) -> RunConfig:
    return RunConfig(**{"model_name_or_path": str(model), "bf16": True, "lora_rank": 8,
                        **values})


def test_shape_from_config_only(qwen05):
    shape = model_shape(str(qwen05))
    assert shape.params == PARAMS
    assert (shape.layers, shape.hidden, shape.q_dim, shape.kv_dim) == (L, H, 896, 128)
    per_layer = 2 * H * H + 2 * H * 128 + 3 * H * MLP  # q, o; k, v; gate, up, down weights
    assert shape.quantizable == L * per_layer == 357_826_560


def test_lora_run_by_hand(qwen05):
    cfg = config(qwen05)
    shape = model_shape(str(qwen05))
    batch = Batch(sequences=8, width=1024, kept=513)  # 4 pairs, answers from position 512
    gpu = estimate(cfg, shape, batch, "gpu")
    assert gpu.dtype == "bfloat16"
    assert gpu.parts["weights"] == PARAMS * 2 + LORA_8 * 4  # bf16 base, fp32 adapters
    assert gpu.parts["gradients"] == LORA_8 * 4
    assert gpu.parts["optimizer"] == LORA_8 * 4 * 2  # AdamW: two fp32 states
    assert gpu.parts["reference"] == 0  # the policy with its adapter off
    # per layer and token: norms 2 x (4 x 896 + 4); sdpa q, k, v, out (4 x 896) + mask (1024),
    # gate/up/act (3 x 4864) at 2 bytes; lse 4 x 14; LoRA: A outputs 7 x 8 x 4, and each
    # target's input cast for its fp32 adapter, 2 bytes x (6 x 896 + 4864)
    layer = 2 * (4 * 896 + 4) + 2 * (4 * 896 + 3 * 4864 + 1024) + 4 * 14 + 7 * 32 \
        + 2 * (6 * 896 + 4864)
    assert layer == 66_336
    tokens = 8 * 1024
    logits = 8 * 513 * V
    edges = (4 * 896 + 4) * tokens  # the final norm's fp32 input
    assert gpu.parts["activations"] == L * layer * tokens + edges + logits * 4
    assert gpu.parts["workspace"] == logits * 2
    assert gpu.total == int(sum(gpu.parts.values()) * 1.10) + int(0.75 * 1024 ** 3)

    cpu = estimate(cfg, shape, batch, "cpu")  # fp32: adapters read the layers' own inputs
    cpu_layer = 2 * (4 * 896 + 4) + 4 * (4 * 896 + 3 * 4864 + 1024) + 4 * 14 + 7 * 32 \
        + 4 * (896 + 896 + 4864)
    assert cpu.dtype == "float32" and cpu.parts["weights"] == (PARAMS + LORA_8) * 4
    assert cpu.parts["activations"] == L * cpu_layer * tokens + edges + logits * 4
    assert cpu.total == sum(cpu.parts.values()) + 1024 ** 3

    gc = estimate(cfg.replace(gradient_checkpointing=True), shape, batch, "gpu")
    assert gc.parts["activations"] == L * 2 * 896 * tokens + edges + logits * 4
    assert gc.parts["workspace"] == logits * 2 + layer * tokens  # one layer recomputed


def test_quantized_full_and_optimizers_by_hand(qwen05):
    shape = model_shape(str(qwen05))
    batch = Batch(8, 1024, 513)
    q4 = estimate(config(qwen05, quantization_bit=4), shape, batch, "gpu")
    assert q4.parts["weights"] == int(357_826_560 * 4.127 / 8) + (PARAMS - 357_826_560) * 2 \
        + LORA_8 * 4
    assert estimate(config(qwen05, quantization_bit=4), shape, batch, "cpu").parts["weights"] \
        == (PARAMS + LORA_8) * 4  # the CPU cannot quantize: fp32

    full = estimate(config(qwen05, finetuning_type="full"), shape, batch, "gpu")
    assert full.parts["reference"] == PARAMS * 2  # a frozen copy of the policy
    assert full.parts["gradients"] == PARAMS * 2 and full.parts["optimizer"] == PARAMS * 4
    assert estimate(config(qwen05, finetuning_type="full", pref_loss="simpo"), shape, batch,
                    "gpu").parts["reference"] == 0
    full_layer = 2 * (4 * 896 + 4) + 2 * (4 * 896 + 3 * 4864 + 1024) + 4 * 14 \
        + 2 * 2 * 896 + 2 * (2 * 896 + 4864)  # + norm weights' and linears' inputs
    tokens, logits = 8 * 1024, 8 * 513 * V
    assert full.parts["activations"] == \
        L * full_layer * tokens + (4 * 896 + 4 + 2 * 2 * 896) * tokens + logits * 4

    lora = [(8, 896), (896, 8)] * 6 + [(8, 4864), (896, 8)]  # per layer, one layer's worth
    assert optimizer_bytes("adamw_8bit", lora, 4) == 2 * sum(a * b for a, b in lora)
    assert optimizer_bytes("sgd", lora, 4) == 0
    assert optimizer_bytes("adafactor", lora, 4) == sum((a + b) * 4 for a, b in lora)


def test_chunked_head_and_4d_mask_by_hand(qwen05):
    """The fast layout's parts: 2 packed rows of 2048 tokens holding 3000 scored answer
    tokens; the chunked head keeps d log p / d hidden (fp32) per scored token, or with a
    training head (full) its input, targets and log-sum-exp; the 4D bool mask is workspace."""
    shape = model_shape(str(qwen05))
    n, tokens = 3000, 2 * 2048
    batch = Batch(2, 2048, 0, scored=n, pairs=4, masked=True)
    chunk = 2 ** 27 // (4 * V)  # head.chunk_rows: 128 MiB of fp32 logits
    assert chunk == 220
    gpu = estimate(config(qwen05), shape, batch, "gpu")
    layer = 2 * (4 * 896 + 4) + 2 * (4 * 896 + 3 * 4864 + 2048) + 4 * 14 + 7 * 32 \
        + 2 * (6 * 896 + 4864)
    edges = (4 * 896 + 4) * tokens
    head = 8 * n + 4 * n * 896  # the gather's index, d log p / d hidden in fp32
    assert gpu.parts["activations"] == L * layer * tokens + edges + head
    mask = 2 * 2048 * 2048  # [rows, 1, L, L] bool
    assert gpu.parts["workspace"] == n * 896 * 2 + chunk * V * (4 + 2) + mask

    full = estimate(config(qwen05, finetuning_type="full"), shape, batch, "gpu")
    full_layer = 2 * (4 * 896 + 4) + 2 * (4 * 896 + 3 * 4864 + 2048) + 4 * 14 \
        + 2 * 2 * 896 + 2 * (2 * 896 + 4864)
    # the final norm's weight keeps its input; the head saves index, targets, lse and input
    head = 8 * n + 8 * n + 4 * n + n * 896 * 2
    assert full.parts["activations"] == \
        L * full_layer * tokens + (4 * 896 + 4 + 2 * 896) * tokens + head
    # recomputing backward: the tied head's fp32 weight gradient and the input's
    assert full.parts["workspace"] == n * 896 * 2 + chunk * V * 6 + mask + 4 * V * 896 \
        + 4 * n * 896

    eager = estimate(config(qwen05, flash_attn="disabled"), shape, batch, "cpu")
    assert eager.parts["workspace"] == n * 896 * 4 + chunk * V * 4 + mask * (1 + 4)


def test_switches_off_give_the_plain_numbers_and_fa2_keeps_the_chunked_head(qwen05):
    from core.training.memory import estimate_memory

    features = synthetic(20, 200, 1200, 1024)
    shape = model_shape(str(qwen05))
    plain = config(qwen05, cutoff_len=1024, per_device_train_batch_size=4, **PLAIN)
    report = estimate_memory(plain, features)
    assert report.batch == Batch(8, 1024, 825, pairs=4)
    for device, got in (("gpu", report.gpu), ("cpu", report.cpu)):
        assert got.parts == estimate(plain, shape, Batch(8, 1024, 825), device).parts
    fast = estimate_memory(plain.replace(prefix_sharing=True, packing=None, chunked_logps=True),
                           features)
    # one sequence per pair (200 + 824 + 600 tokens), one pair per 2048-token row
    assert fast.batch == Batch(4, 1624, 0, scored=4 * 1424, pairs=4, masked=True)
    assert fast.gpu.parts["activations"] < 0.7 * report.gpu.parts["activations"]
    assert fast.gpu.parts["workspace"] < 0.2 * report.gpu.parts["workspace"]
    fa2 = run_layout(plain.replace(flash_attn="fa2", prefix_sharing=True, chunked_logps=True))
    assert (fa2.prefix_sharing, fa2.packing, fa2.chunked) == (False, False, True)


@pytest.mark.parametrize("switches", [(s, p, c) for s in (False, True) for p in (False, True)
                                      for c in (False, True)],
                         ids=lambda s: "share={}-pack={}-chunked={}".format(*s))
def test_layout_shapes_are_pair_batchers(switches):
    """longest_batch lays pairs out with PairBatcher's own segments and packing: its shape is
    the batch PairBatcher builds; a replayed cutoff is what truncation.fit cuts."""
    from core.data.truncation import fit
    from core.methods.packing import PairBatcher
    from core.training.memory_layout import Shapes, longest_pairs

    share, packing, chunked = switches
    gen = __import__("random").Random(0)
    features = []
    for k in range(9):
        p, c, r = gen.randint(3, 40), gen.randint(1, 50), gen.randint(1, 50)
        features.append({"prompt_ids": [5] * p, "chosen_ids": [6] * c, "rejected_ids": [7] * r,
                         "prompt_len": p, "chosen_len": c, "rejected_len": r})

    def shape_of(batch: dict) -> Batch:
        rows, width = batch["input_ids"].shape
        index = batch["score_index"]
        kept = 0 if chunked else width - int((index % width).min())
        return Batch(rows, width, kept, len(index) if chunked else 0, int(batch["pairs"]),
                     batch["attention_mask"].dim() == 4)

    layout = PairBatcher(0, share, packing, 80, chunked)
    for pairs in (1, 5, 9):
        real = layout(longest_pairs(features, pairs))
        assert longest_batch(features, pairs, layout=layout) == shape_of(real)
    cut = []
    for f in longest_pairs(features, 5, cutoff=48):
        prompt, (chosen, rejected), _ = fit(f["prompt_ids"], [f["chosen_ids"], f["rejected_ids"]],
                                            48, "llamafactory")
        cut.append({"prompt_ids": prompt, "chosen_ids": chosen, "rejected_ids": rejected})
    real = PairBatcher(0, share, packing, 2 * 48, chunked)(cut)
    assert Shapes(layout).batch(longest_pairs(features, 5, cutoff=48), 48) == shape_of(real)


def synthetic(n: int, prompt: int, answer: int, cutoff: int) -> list[dict]:
    """Pairs as tokenize_pairwise leaves them: answers cut to fit cutoff after the prompt."""
    out = []
    for k in range(n):
        chosen, rejected = answer - k, answer // 2
        room = cutoff - prompt
        out.append({"prompt_ids": [1] * prompt, "chosen_ids": [1] * min(chosen, room),
                    "rejected_ids": [1] * min(rejected, room), "prompt_len": prompt,
                    "chosen_len": chosen, "rejected_len": rejected, "row": k})
    return out


@pytest.mark.parametrize(("switches", "gib"), [(PLAIN, 24), ({}, 16)], ids=["plain", "fast"])
def test_longest_batch_and_gpu_fit(qwen05, switches, gib):
    features = synthetic(20, 200, 1200, 1024)
    assert longest_batch(features, 4) == Batch(8, 1024, 825, pairs=4)
    assert longest_batch(features, 4, cutoff=512) == Batch(8, 512, 313, pairs=4)
    cfg = config(qwen05, cutoff_len=1024, per_device_train_batch_size=8, **switches)
    layout = run_layout(cfg)
    shape = model_shape(str(qwen05))
    fit = gpu_fit(cfg, shape, features, gib)

    def fits(pairs: int, cutoff: int | None = None, **changes) -> bool:
        batch = longest_batch(features, pairs, cutoff, layout)
        e = estimate(cfg.replace(**changes), shape, batch, "gpu")
        return e.total <= gib * 1024 ** 3

    assert fit.fits == fits(8) is False
    assert fits(fit.largest_batch) and not fits(fit.largest_batch + 1)
    assert fits(8, fit.largest_cutoff) and not fits(8, fit.largest_cutoff + 1)
    assert fit.with_checkpointing == fits(8, gradient_checkpointing=True)


def test_total_steps_as_the_trainer_counts_them():
    cfg = RunConfig(per_device_train_batch_size=4, gradient_accumulation_steps=2,
                    num_train_epochs=3.0)
    assert total_steps(cfg, 300) == 3 * 38  # 75 batches: 37 full steps and one of 1 batch
    assert total_steps(cfg.replace(max_steps=7), 300) == 7


# --- against the real tiny model ---------------------------------------------------------------
@pytest.mark.parametrize("layout", ["fast", "plain"])
@pytest.mark.parametrize("changes", [
    {}, {"finetuning_type": "full"}, {"gradient_checkpointing": True}, {"lora_dropout": 0.1},
    {"finetuning_type": "freeze", "freeze_trainable_layers": 1}, {"flash_attn": "disabled"},
    {"lora_target": "q_proj,v_proj"},
], ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "lora")
def test_activations_match_what_autograd_keeps(tiny_model, tmp_path, changes, layout):
    """fast: the defaults (prefix sharing, packing, chunked head), measured on the trainer's
    own batch (pair_batcher); plain: the switches off, measured on PairCollator's padded rows
    and on the trainer's plain PairBatcher rows."""
    from core.methods.pairwise import PairCollator, pair_batcher
    from core.models.policy import load_policy
    from core.training.memory import estimate_memory
    from core.training.memory_layout import longest_pairs
    from core.training.preflight import preflight_with_data
    from core.training.probe import saved_bytes

    cfg = tiny_config(tiny_model, tmp_path / "run", per_device_train_batch_size=4, **changes,
                      **(PLAIN if layout == "plain" else {}))
    _, loaded = preflight_with_data(cfg)
    features = loaded.data.train_features
    report = estimate_memory(cfg, features)
    estimated = report.cpu.parts["activations"]
    model = load_policy(cfg, loaded.tokenizer)
    longest = longest_pairs(features, 4)
    pad = loaded.tokenizer.pad_token_id
    collators = [pair_batcher(cfg, model, pad)]
    if layout == "plain":
        collators.append(PairCollator(pad))
    else:  # the pairs share rows: fewer, longer rows than two per pair
        assert report.batch.masked and report.batch.sequences < 4 and report.batch.scored
    for collate in collators:
        measured = saved_bytes(model, collate(longest), "cpu")
        assert 0.9 < estimated / measured < 1.1, (type(collate).__name__, estimated, measured)


def test_probe_times_two_steps_and_measures_memory(tiny_model, tmp_path, empty_cache):
    from core.training.doctor import doctor

    cache = empty_cache / "ref-logps"
    before = sorted(cache.iterdir()) if cache.exists() else []
    # an empty cache: the reference log-probs are not cached and the ETA includes the
    # reference pass
    cfg = tiny_config(tiny_model, tmp_path / "run", per_device_train_batch_size=2,
                      gradient_accumulation_steps=2, max_steps=5, max_samples=14)
    report = doctor(cfg, probe=True)
    probe = report.probe
    assert len(probe.step_seconds) == 2 and all(s > 0 for s in probe.step_seconds)
    assert probe.total_steps == 5 and probe.reference_s is not None
    assert probe.eta_s == pytest.approx(probe.per_step * 5 + probe.reference_s)
    parts = report.memory.cpu.parts
    state = parts["weights"] + parts["gradients"] + parts["optimizer"]
    assert probe.measured["state"] == pytest.approx(state, rel=0.01)
    assert probe.measured["activations"] == pytest.approx(parts["activations"], rel=0.1)
    assert probe.measured["rss_peak"] > 0
    line = next(c for c in report.checks if c.id == "probe").seen
    assert line.startswith("Two training steps took") and "the run's 5 steps take" in line
    assert not (tmp_path / "run").exists()  # nothing written to the run folder ...
    assert (sorted(cache.iterdir()) if cache.exists() else []) == before  # ... nor the cache


def test_the_probe_counts_only_the_pairs_the_run_reaches_and_the_cache_lacks(
        tiny_model, tmp_path, monkeypatch):
    """A run whose max_steps reaches 4 of 14 pairs: its reference pass is timed for those; once
    a run has cached them (under the run's own key), the ETA has no reference pass."""
    from core.training.doctor import doctor
    from core.training.run import run

    monkeypatch.setenv("PREFSTUDIO_HOME", str(tmp_path / "home"))
    cfg = tiny_config(tiny_model, tmp_path / "run", max_steps=2, max_samples=14)
    before = doctor(cfg, probe=True).probe
    assert before.reference_s is not None
    assert run(cfg).status()["state"] == "completed"
    after = doctor(cfg.replace(output_dir=str(tmp_path / "again")), probe=True).probe
    assert after.reference_s is None and after.eta_s == pytest.approx(after.per_step * 2)
