"""Shared fixtures: no network, an isolated PREFSTUDIO_HOME, tiny Qwen2/Qwen3 models built in
code with the demo tokenizer (Qwen's special tokens and ChatML template)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
# One thread per process, set before torch loads: tests run training subprocesses beside
# pytest on 2 cores, and oversubscribed OpenMP threads spin (25x slower steps measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

if TYPE_CHECKING:  # imported where used: collecting tests stays cheap
    from core.config import RunConfig
    from core.runs.rundir import RunDir


# Two tiers: `pytest -m "not slow"` (unit and handler tests, under 2 minutes on 2 cores) and
# everything (the README's command and .ci/run). Slow: trainings through subprocesses (marked
# at the test) and every test that drives the real page in Chromium (marked here by module).
BROWSER_MODULES = ("browser", "test_webui_zh")


def pytest_configure(config: pytest.Config) -> None:
    # The fuzz tests (hypothesis) draw the same examples on every run, so a run is repeatable
    # and CI is not red by chance; PREFSTUDIO_FUZZ=random explores new ones.
    from hypothesis import settings
    settings.register_profile("repeatable", derandomize=True)
    settings.register_profile("random", derandomize=False)
    settings.load_profile(os.environ.get("PREFSTUDIO_FUZZ", "repeatable"))
    config.addinivalue_line("markers", "slow: a training through a subprocess or a browser "
                            "test; left out by -m 'not slow'")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(part in item.path.name for part in BROWSER_MODULES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def prefstudio_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("prefstudio_home")
    os.environ["PREFSTUDIO_HOME"] = str(home)
    return home


@pytest.fixture
def empty_cache(monkeypatch, tmp_path) -> Path:
    """A PREFSTUDIO_HOME of this test's own (also for the runs it launches): nothing cached,
    so the reference pass computes every pair (the session's home caches them per pair)."""
    home = tmp_path / "home"
    monkeypatch.setenv("PREFSTUDIO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide Qwen2 model with the demo tokenizer."""
    from core.models.demo import save_pretrained
    return save_pretrained(tmp_path_factory.mktemp("tiny-qwen2"), size="tiny")


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory) -> Path:
    from core.models.demo import save_pretrained
    return save_pretrained(tmp_path_factory.mktemp("tiny-qwen3"), size="tiny", arch="qwen3")


@pytest.fixture(scope="session")
def tokenizer(tiny_model) -> Any:
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture(scope="session")
def demo_dpo_run(tmp_path_factory) -> Path:
    """The README's demo: examples/dpo_demo.yaml on the shipped demo model, trained once."""
    from core.config import RunConfig
    from core.training.run import run

    out = tmp_path_factory.mktemp("demo-dpo") / "demo-dpo"
    cfg = RunConfig.load(ROOT / "examples" / "dpo_demo.yaml",
                         [f"output_dir={out}", f"dataset_dir={ROOT / 'data'}"])
    return run(cfg).path


@pytest.fixture(scope="session")
def adapter(tiny_model, tmp_path_factory) -> Path:
    """A perturbed LoRA adapter on the tiny model (answers differ from the base's)."""
    return make_adapter(tiny_model, tmp_path_factory.mktemp("adapter") / "lora")


@pytest.fixture(scope="session")
def run(tiny_model, adapter, tmp_path_factory) -> Path:
    """A finished run folder holding that adapter."""
    return make_run(tiny_model, tmp_path_factory.mktemp("runs") / "tuned", adapter)


@pytest.fixture
def loads(monkeypatch) -> list:
    """Every AutoModelForCausalLM.from_pretrained call (the base weights being read)."""
    from transformers import AutoModelForCausalLM

    calls, real = [], AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


@pytest.fixture(scope="session")
def rm_run(tiny_model, tmp_path_factory) -> RunDir:
    """An rm run (examples/rm_demo.yaml, 2 steps with evaluation), trained once per session:
    the reward model the stage tests load, GRPO's reward_model and evaluation's judge."""
    from core.training.run import run
    return run(example("rm_demo", tiny_model, tmp_path_factory.mktemp("rm") / "run"))


# An examples/ YAML shortened for a test: 2 steps, each logged, evaluated and saved at the end.
FAST = dict(max_samples=16, cutoff_len=128, max_steps=2, logging_steps=1, save_steps=2,
            eval_steps=2, val_size=4, warmup_ratio=0.0, gradient_accumulation_steps=1)


def example(name: str, model, out, **overrides) -> RunConfig:
    """examples/<name>.yaml on `model`, writing to `out`, with FAST and `overrides`."""
    import yaml

    from core.config import RunConfig
    values = yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())
    values.update(model_name_or_path=str(model), output_dir=str(out),
                  dataset_dir=str(ROOT / "data"), **FAST)
    values.update(overrides)
    return RunConfig.from_dict(values)


def tiny_config(model: Path, out: Path, **overrides) -> RunConfig:
    """A RunConfig for a quick CPU run on the demo data (3 steps, log every step)."""
    from core.config import RunConfig
    values = dict(model_name_or_path=str(model), output_dir=str(out), dataset="demo_pref_en",
                  dataset_dir=str(ROOT / "data"), max_samples=16, cutoff_len=128, max_steps=3,
                  logging_steps=1, save_steps=100, per_device_train_batch_size=2,
                  gradient_accumulation_steps=1, learning_rate=1e-3, warmup_ratio=0.0)
    values.update(overrides)
    return RunConfig(**values)


# --- adapters and runs made without training (chat, export, evaluation tests) -----------
def make_adapter(base: Path, out: Path, seed: int = 0, scale: float = 0.5) -> Path:
    """A LoRA adapter on `base` with random (non-zero) B matrices, saved to `out`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    model.save_pretrained(out)
    return out


def make_run(base: Path, out: Path, adapter: Path | None = None, **config) -> Path:
    """A run folder as training leaves it: config.yaml, status.json and the final adapter (a
    copy of `adapter`) with the tokenizer; no adapter means full weights (a copy of base)."""
    from transformers import AutoTokenizer

    from core.config import RunConfig
    from core.runs.rundir import RunDir

    out.mkdir(parents=True)
    RunConfig(model_name_or_path=str(base), output_dir=str(out), **config).save(out / "config.yaml")
    RunDir(out).update_status(state="completed")
    source = adapter or base
    for f in source.iterdir():
        if f.suffix in (".json", ".safetensors") and not f.name.startswith("tokenizer"):
            shutil.copy(f, out / f.name)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def checkpointed(base: Path, adapter: Path, out: Path, steps=(2, 4, 6), complete=(2, 4),
                 **status) -> Path:
    """A run without a final model (make_run's adapter moved into checkpoint-N folders, those
    in `complete` marked complete); `status` fields are written into status.json."""
    from core.runs.rundir import RunDir, mark_complete

    make_run(base, out, adapter)
    for f in ("adapter_model.safetensors", "adapter_config.json"):
        for step in steps:
            (out / f"checkpoint-{step}").mkdir(exist_ok=True)
            (out / f"checkpoint-{step}" / f).write_bytes((out / f).read_bytes())
        (out / f).unlink()
    for step in complete:
        mark_complete(out / f"checkpoint-{step}", step)
    if status:
        RunDir(out).update_status(**status)
    return out


def greedy_ids(model, tokenizer, prompt_text: str, n: int = 20) -> list[int]:
    ids = tokenizer(prompt_text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=n, do_sample=False, temperature=None,
                             top_p=None, top_k=None, eos_token_id=None, min_new_tokens=n)
    return out[0, ids["input_ids"].shape[1]:].tolist()
