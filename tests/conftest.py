"""Shared fixtures: no network, an isolated PREFSTUDIO_HOME, tiny Qwen2/Qwen3 models built in
code with the demo tokenizer (Qwen's special tokens and ChatML template)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def prefstudio_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefstudio_home")
    os.environ["PREFSTUDIO_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide Qwen2 model with the demo tokenizer."""
    from core.demo import save_pretrained
    return save_pretrained(tmp_path_factory.mktemp("tiny-qwen2"), size="tiny")


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory) -> Path:
    from core.demo import save_pretrained
    return save_pretrained(tmp_path_factory.mktemp("tiny-qwen3"), size="tiny", arch="qwen3")


@pytest.fixture(scope="session")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_model)


def tiny_config(model: Path, out: Path, **overrides):
    """A RunConfig for a quick CPU run on the demo data (3 steps, log every step)."""
    from core.config import RunConfig
    values = dict(model_name_or_path=str(model), output_dir=str(out), dataset="demo_pref_en",
                  dataset_dir=str(ROOT / "data"), max_samples=16, cutoff_len=128, max_steps=3,
                  logging_steps=1, save_steps=100, per_device_train_batch_size=2,
                  gradient_accumulation_steps=1, learning_rate=1e-3, warmup_ratio=0.0)
    values.update(overrides)
    return RunConfig(**values)
