"""The bundled demo model: a small Qwen2-architecture model that speaks the demo data's English.

    python -m core demo                                  # where it is
    python -m core demo --rebuild --out assets/demo-model  # train it again from the recipe

Nothing is downloaded. The tokenizer is a byte-level BPE trained on this project's demo data
with Qwen's special tokens (<|endoftext|>, <|im_start|>, <|im_end|>) and a ChatML template; the
model is a seeded Qwen2 config (2.1M parameters) pre-trained on `demo_sft` for a fixed number
of steps, so it answers the demo prompts in recognisable text and curtly (demo_sft is ~90% curt;
tests/test_demo.py holds it to >= 85% curt on the held-out prompts), and DPO on `demo_pref_en`
(examples/dpo_demo.yaml) visibly moves it to the friendly chosen style. The
trained model ships in assets/demo-model (8.6 MB), since training it takes several minutes on
2 CPU cores; without it, the first use builds one under $PREFSTUDIO_HOME (default
~/.cache/prefstudio). `model_name_or_path: demo` in a config means this model.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from core.paths import PROJECT_ROOT, home

log = logging.getLogger(__name__)

SHIPPED = PROJECT_ROOT / "assets" / "demo-model"
RECIPE_VERSION = 2
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
EXTRA_TOKENS = ["<think>", "</think>"]
# Qwen2's pre-tokenizer split: digits one by one, words with their leading space.
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# ChatML as Qwen3 writes it without a default system prompt; enable_thinking=False adds the
# empty think block to the generation prompt, as Qwen3's own template does.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
)
PRETRAIN_STEPS = 2000
MODEL_SIZES = {  # name -> Qwen2Config kwargs
    "demo": dict(hidden_size=192, intermediate_size=512, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2),
    "tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2),
}


def corpus_texts(data_dir: Path = PROJECT_ROOT / "data") -> list[str]:
    """Every string in the demo data files, in a fixed order (the tokenizer's training text)."""
    texts: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for path in sorted(data_dir.glob("demo_*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return texts


def build_tokenizer(texts: list[str], vocab_size: int = 4000):
    """A byte-level BPE with Qwen's special tokens, pad token and ChatML template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts or ["Hello world."], trainer=trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                 pad_token="<|endoftext|>", model_max_length=32768)
    hf.add_tokens(EXTRA_TOKENS)
    hf.chat_template = CHAT_TEMPLATE
    return hf


def build_model(tokenizer, size: str = "demo", seed: int = 0, arch: str = "qwen2"):
    """A randomly initialised (seeded) Qwen2 or Qwen3 causal LM sized for the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config, Qwen3Config

    config_cls = {"qwen2": Qwen2Config, "qwen3": Qwen3Config}[arch]
    extra = {"head_dim": MODEL_SIZES[size]["hidden_size"] // MODEL_SIZES[size]["num_attention_heads"]}
    config = config_cls(
        vocab_size=len(tokenizer), max_position_embeddings=4096, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        **MODEL_SIZES[size], **(extra if arch == "qwen3" else {}))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def save_pretrained(out: Path, size: str = "demo", arch: str = "qwen2", seed: int = 0,
                    texts: list[str] | None = None, pretrain_steps: int = 0) -> Path:
    """Build tokenizer + model (pre-trained on demo_sft when pretrain_steps > 0) and save both
    to `out` (a Hugging Face model folder)."""
    tokenizer = build_tokenizer(corpus_texts() if texts is None else texts)
    model = build_model(tokenizer, size=size, seed=seed, arch=arch)
    if pretrain_steps:
        pretrain(model, tokenizer, pretrain_steps, seed=seed)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def pretrain(model, tokenizer, steps: int, batch: int = 32, lr: float = 2e-3, seed: int = 0) -> None:
    """Language-model training on the demo SFT conversations (every token), with batches of
    similar length (little padding), warmup and a cosine decay. Deterministic for a seed."""
    import math
    import random

    import torch

    from core.data import load_rows
    from core.data.templates import encode_conversation, get_template

    template = get_template(None, tokenizer)
    rows = load_rows("demo_sft", PROJECT_ROOT / "data", "sft").rows
    seqs = sorted((encode_conversation(template, r["messages"], train_on_prompt=True)[0]
                   for r in rows), key=len)
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warmup, 0.1 + 0.45 * (
        1 + math.cos(math.pi * min(1.0, s / steps)))))
    model.train()
    for step in range(steps):
        start = rng.randrange(0, len(seqs) - batch + 1)
        ids = _pad(seqs[start:start + batch], tokenizer.pad_token_id)
        labels = ids.masked_fill(ids == -1, -100)
        ids = ids.clamp(min=0)
        loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(), sched.step(), opt.zero_grad()
        if step % 100 == 0 or step == steps - 1:
            log.info("demo pre-training step %d/%d loss %.3f", step + 1, steps, loss.item())
    model.eval()


def _pad(seqs: list[list[int]], pad_id: int):
    """Right-pad with -1 (marks padding for the labels; replaced by pad_id afterwards)."""
    import torch

    out = torch.full((len(seqs), max(map(len, seqs))), -1, dtype=torch.long)
    for i, seq in enumerate(seqs):
        out[i, :len(seq)] = torch.tensor(seq)
    return out


def _recipe_hash() -> str:
    h = hashlib.sha256(f"v{RECIPE_VERSION}{MODEL_SIZES['demo']}{PRETRAIN_STEPS}".encode())
    for text in corpus_texts():
        h.update(text.encode())
    return h.hexdigest()[:12]


def demo_model_path(rebuild: bool = False, out: Path | None = None,
                    steps: int | None = None) -> Path:
    """The demo model's folder: the shipped one, else one built on first use (atomically and
    safe with parallel callers). `rebuild` trains a new one into `out` (default: the cache)."""
    if not rebuild and (SHIPPED / "config.json").exists():
        return SHIPPED
    target = Path(out) if out else home() / f"demo-model-{_recipe_hash()}"
    if (target / "config.json").exists() and not rebuild:
        return target
    import filelock

    target.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(target) + ".lock"):
        if (target / "config.json").exists() and not rebuild:
            return target
        log.info("Building the demo model in %s (once, several minutes)...", target)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
        try:
            save_pretrained(tmp, pretrain_steps=steps or PRETRAIN_STEPS)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
