"""The pairwise benchmark's workload: a Qwen2 model built in code and the pairs of a data file
that fit cutoff_len, in one folder that PrefStudio, TRL and LLaMA-Factory all read.

    w = prepare("default", "small", "../shared/data/llamafactory/dpo_en_demo.json")
    w.model, w.dataset_dir, w.pairs, w.tokens

Workloads: default (8 pairs with multi-message prompts, cutoff_len 512), long (64 pairs, cutoff_len 1024).
Models: small (hidden 256 x 4 layers with Qwen's 151,936-token vocabulary), qwen2.5-0.5b (the
shape of Qwen2.5-0.5B, for GPUs). Weights are random (seeded): timings and memory do not
depend on them, and at the first step the policy equals the reference (loss ln 2). The
tokenizer is a byte-level BPE with Qwen's special tokens trained on the data file itself, with
Qwen2.5's chat template (default system prompt), so `template: qwen` (ours, LLaMA-Factory)
and the tokenizer's own template (TRL) render the same text. Only pairs whose prompt + longer
answer fit cutoff_len are kept, so no trainer truncates anything.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from core.paths import home

log = logging.getLogger(__name__)
WORKLOADS = {"default": dict(pairs=8, cutoff_len=512, multi_turn=True),
             "long": dict(pairs=64, cutoff_len=1024, multi_turn=False)}
MODELS = {
    "small": dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2),
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2),
}
VOCAB = 151_936
TOKENIZER_VOCAB = 16_000
QWEN_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a "
    "helpful assistant.<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if not (message['role'] == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


@dataclass
class Workload:
    name: str
    folder: Path
    cutoff_len: int
    pairs: int
    tokens: int  # prompt + chosen + prompt + rejected over the pairs: what a plain trainer reads

    @property
    def model(self) -> Path:
        return self.folder / "model"

    @property
    def dataset_dir(self) -> Path:
        return self.folder / "data"

    dataset = "bench_pairs"


def prepare(workload: str, model: str, data_file: str | Path) -> Workload:
    """Build (once, cached under $PREFSTUDIO_HOME/bench) the model folder and the data."""
    spec = WORKLOADS[workload]
    data_file = Path(data_file).expanduser().resolve()
    key = hashlib.sha256(f"{workload}|{model}|{data_file}|{data_file.stat().st_size}|v1"
                         .encode()).hexdigest()[:10]
    folder = home() / "bench" / f"{workload}-{model}-{key}"
    info = folder / "workload.json"
    if not info.is_file():
        records = json.loads(data_file.read_text(encoding="utf-8"))
        tokenizer = _tokenizer(records)
        chosen, tokens = _fitting(records, tokenizer, spec)
        _save_model(tokenizer, MODELS[model], folder / "model")
        _save_data(chosen, folder / "data")
        info.write_text(json.dumps({"pairs": len(chosen), "tokens": tokens}))
    meta = json.loads(info.read_text())
    return Workload(workload, folder, spec["cutoff_len"], meta["pairs"], meta["tokens"])


def _tokenizer(records: list[dict]):
    from core.models.demo import build_tokenizer

    texts = [m["value"] for r in records for m in r["conversations"] + [r["chosen"], r["rejected"]]]
    tokenizer = build_tokenizer(texts, vocab_size=TOKENIZER_VOCAB)
    tokenizer.chat_template = QWEN_TEMPLATE
    return tokenizer


def _messages(turns: list[dict]) -> list[dict]:
    return [{"role": ROLES[t["from"]], "content": t["value"]} for t in turns]


def _fitting(records: list[dict], tokenizer, spec: dict) -> tuple[list[dict], int]:
    """The first `pairs` records that fit cutoff_len. multi_turn: only prompts of several
    messages, those with earlier turns first, then those with a system turn (with this
    tokenizer only 2 records with earlier turns fit 512 tokens)."""
    from core.data.templates import encode, get_template

    template = get_template("qwen", tokenizer)
    if spec["multi_turn"]:
        records = sorted((r for r in records if len(r["conversations"]) > 1),
                         key=lambda r: r["conversations"][0]["from"] == "system")
    chosen, tokens = [], 0
    for r in records:
        prompt, (c, rj) = encode(template, _messages(r["conversations"]),
                                 _messages([r["chosen"], r["rejected"]]))
        if len(prompt) + max(len(c), len(rj)) <= spec["cutoff_len"]:
            chosen.append(r)
            tokens += 2 * len(prompt) + len(c) + len(rj)
        if len(chosen) == spec["pairs"]:
            return chosen, tokens
    raise ValueError(f"only {len(chosen)} pairs fit cutoff_len {spec['cutoff_len']}; "
                     f"{spec['pairs']} needed")


def _save_model(tokenizer, shape: dict, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(vocab_size=VOCAB, max_position_embeddings=32768,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None, **shape)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _save_data(records: list[dict], out: Path) -> None:
    """The pairs in LLaMA-Factory's sharegpt ranking layout, registered as bench_pairs."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "pairs.json").write_text(json.dumps(records, ensure_ascii=False, indent=1))
    entry = {"file_name": "pairs.json", "ranking": True, "formatting": "sharegpt",
             "columns": {"messages": "conversations", "chosen": "chosen",
                         "rejected": "rejected"}}
    (out / "dataset_info.json").write_text(json.dumps({Workload.dataset: entry}, indent=1))
