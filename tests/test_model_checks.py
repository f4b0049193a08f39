"""What a run asks of its model is checked before any weight is read (core.models.checks): a
lora_target naming no module, a tokenizer with neither pad nor eos token and more
freeze_trainable_layers than the model has are preflight findings (`train --check`, the
WebUI's Preview) and refusals of the training flow, with the key and the valid values.
Run: pytest -q tests/test_model_checks.py"""
import json
import shutil

import pytest
from conftest import tiny_config

from core.config import ConfigError
from core.models.checks import model_layout
from core.models.loading import LoadOptions
from core.runs.rundir import RunDir
from core.training.preflight import preflight, refused
from core.training.run import run

TARGETS = "down_proj, embed_tokens, gate_proj, k_proj, lm_head, o_proj, q_proj, up_proj, v_proj"


@pytest.fixture
def no_weights(monkeypatch):
    """Fails the test if a model's weights are read (tokenizers and configs may load)."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded before the model checks")

    for name in ("AutoModelForCausalLM", "AutoModelForSequenceClassification"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)


@pytest.fixture(scope="module")
def padless(tiny_model, tmp_path_factory):
    """The tiny model with a tokenizer that has neither a pad nor an eos token."""
    folder = tmp_path_factory.mktemp("padless") / "model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.update(eos_token=None, pad_token=None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def errors(findings) -> dict[str, str]:
    return {f.key: f.message for f in findings if f.severity == "error"}


def refused_before_loading(cfg) -> ConfigError:
    """run(cfg) refuses with a ConfigError, recorded as failed (exit 2), no weight read."""
    with pytest.raises(ConfigError) as e:
        run(cfg)
    status = RunDir(cfg.output_dir).status()
    assert status["state"] == "failed" and status["exit_code"] == 2
    return e.value


def test_the_layout_comes_from_the_config_alone(tiny_model, no_weights):
    causal = model_layout(LoadOptions(str(tiny_model)))
    assert causal.layers == 2 and "model.layers.1.self_attn.q_proj" in causal.wrappable
    assert "model.layers.0.mlp" in causal.others and "score" not in causal.wrappable
    assert "score" in model_layout(LoadOptions(str(tiny_model)), "reward").wrappable


def test_lora_target_naming_no_module(tiny_model, tmp_path, no_weights):
    cfg = tiny_config(tiny_model, tmp_path / "run", lora_target="q_proj,qproj,mlp")
    found = preflight(cfg)
    assert refused(found)
    assert errors(found)["lora_target"] == (
        f"lora_target: 'qproj' names no module of {tiny_model}; 'mlp' names blocks, not layers "
        f"LoRA can wrap; use all, or some of: {TARGETS}")
    assert "qproj" in str(refused_before_loading(cfg))


def test_lora_target_follows_the_stage_head(tiny_model, tmp_path, no_weights):
    assert "lora_target" not in errors(preflight(tiny_config(
        tiny_model, tmp_path / "a", lora_target="q_proj, v_proj")))
    assert "lora_target" in errors(preflight(tiny_config(tiny_model, tmp_path / "b",
                                                         lora_target="score")))
    rm = tiny_config(tiny_model, tmp_path / "c", stage="rm", lora_target="score,q_proj")
    assert "lora_target" not in errors(preflight(rm))


def test_tokenizer_without_pad_and_eos(padless, tmp_path, no_weights):
    cfg = tiny_config(padless, tmp_path / "run")
    found = errors(preflight(cfg))
    assert list(found) == ["model_name_or_path"]  # the data is not checked with it
    assert "has neither a pad token nor an eos token" in found["model_name_or_path"]
    assert "tokenizer_config.json" in found["model_name_or_path"]
    assert "neither a pad token nor an eos token" in str(refused_before_loading(cfg))


def test_freeze_beyond_the_model_layers(tiny_model, tmp_path, no_weights):
    cfg = tiny_config(tiny_model, tmp_path / "run", finetuning_type="freeze",
                      freeze_trainable_layers=-5)
    assert errors(preflight(cfg))["freeze_trainable_layers"] == (
        f"freeze_trainable_layers: -5 but {tiny_model} has 2 decoder layers; give 1 to 2 (the "
        "last N) or -1 to -2 (the first N)")
    refused_before_loading(cfg)
    assert not refused(preflight(cfg.replace(freeze_trainable_layers=-2)))


def test_a_model_without_config_is_named(tmp_path, tiny_model, no_weights):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    (folder / "config.json").unlink()
    found = errors(preflight(tiny_config(folder, tmp_path / "run", lora_target="q_proj")))
    assert found["model_name_or_path"].startswith(f"model_name_or_path: cannot load {folder}")
