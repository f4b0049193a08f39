"""What counts as English in a 中文 text, for the tests of the 中文 UI (test_i18n_zh.py,
test_webui_zh.py): english(text) lists the words of `text` that are English and not allowed.

Allowed, because a Chinese ML practitioner reads them as they are (the allow-list):
  - config keys, their choice values and defaults, dataset_info.json keys and formats, stage names,
    reward names, metric keys (loss, eval_loss, rewards/chosen), YAML's true/false/null:
    they are typed into YAML and the command line as they are;
  - names: the model ids offered (and any word with a `/`: paths, hub ids), file names (a
    word with an extension: train.log, config.yaml), dataset and run names (passed as
    `names`);
  - TERMS: product names and the abbreviations and terms Chinese ML texts keep in Latin
    letters (LoRA, DPO, Token, YAML, CUDA, bitsandbytes, ...), and the proper names of
    statistics (Kendall's tau, the Wilson score interval), kept so a reader can look them up;
  - numbers with units (2GB, 1e-6, 5e-05), single letters (N, r), CLI flags (--force), and
    what is quoted as a literal: `code`, 'value', "json", <placeholder>, {json}.
Model output, dataset records, code, YAML and logs are not checked at all: the browser test
skips the elements that show them.
"""
from __future__ import annotations

import re

from core.config import FIELDS
from core.config.choices import MODEL_SUGGESTIONS, REWARD_FUNCS, STAGES
from core.data.registry import COLUMN_KEYS, FORMATS, TAG_KEYS

TERMS = {
    # products, companies, models
    "PrefStudio", "LLaMA-Factory", "LlamaBoard", "Qwen", "Qwen2", "Qwen3", "Instruct", "Hugging",
    "Face", "Hub", "DeepSeek-R1", "WebUI", "flash-attn", "Gradio", "Python", "PyTorch",
    "transformers", "bitsandbytes", "TRL", "FlexAttention",
    "torchrun", "tensorboard", "wandb", "swanlab", "mlflow", "pip", "hf", "DeepSpeed", "ZeRO",
    "FSDP", "FSDP1", "FSDP2", "DDP", "TCP", "NCCL", "gloo", "sbatch", "Slurm",
    # methods and their parts
    "LoRA", "QLoRA", "DoRA", "rsLoRA", "PiSSA", "DPO", "cDPO", "LD-DPO", "IPO", "KTO", "ORPO",
    "SimPO", "SLiC", "GRPO", "SFT", "RM", "KL", "ChatML", "Adam", "AdamW", "Lion", "Dropout",
    "Kendall", "Wilson", "Top-p", "Top-k", "P95", "sdpa", "fa2", "eos", "ln", "nats", "PEFT",
    # data, formats, machines, units
    "Token", "YAML", "JSON", "JSONL", "CSV", "ID", "GPU", "CPU", "CUDA", "NaN", "bfloat16",
    "float16", "float32", "fp32", "GB", "MB", "KB", "GiB", "MiB", "KiB", "pid", "UTF-8", "NUL", "Enter", "Shift",
}
WORDS = ({"true", "false", "null", "demo", "loss", "eval_loss", "data", "saves", "examples"}
         | set(FIELDS) | set(COLUMN_KEYS) | set(TAG_KEYS) | set(FORMATS) | set(STAGES)
         | set(REWARD_FUNCS) | set(MODEL_SUGGESTIONS)
         | {str(c) for f in FIELDS.values() for c in (f.metadata.get("choices") or ()) if c}
         | {f.default for f in FIELDS.values() if isinstance(f.default, str)})
LITERALS = re.compile(r"`[^`]*`|'[^'\n]*'|\"[^\"\n]*\"|<[^<>\n]*>|\{[^{}\n]*\}|--[\w-]+"
                      r"|(?<![\w.])\.[a-z]\w*")  # ... and file extensions (.jsonl)
TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-./+:]*[A-Za-z0-9_]|[A-Za-z]")
NUMBER = re.compile(r"[\d.]+(e[-+]?\d+)?(%|[KMG]B|[BMK]|x)?")


def english(text: str, names: set[str] = frozenset()) -> list[str]:
    """The words of `text` that are English and not allowed (see the module docstring);
    `names` are allowed too (datasets, runs, models the page shows)."""
    out = []
    for token in TOKEN.findall(LITERALS.sub(" ", text)):
        if not _allowed(token.rstrip(".:"), names):
            out.append(token)
    return out


def _allowed(token: str, names: set[str]) -> bool:
    if len(re.findall(r"[A-Za-z]", token)) < 2 or token in TERMS or token in WORDS:
        return True
    if token in names or NUMBER.fullmatch(token):
        return True
    if "/" in token or "_" in token or re.search(r"\w\.[a-z]{2,9}(:\d+)?$", token):
        return True  # a path, a hub id, a key, a file name
    parts = re.split(r"[-:,+]", token)
    return len(parts) > 1 and all(_allowed(p, names) for p in parts if p)
