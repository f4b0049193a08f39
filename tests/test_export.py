"""Export: merged LoRA parity with base + adapter, dtype, tokenizer/chat template, safety.

    .venv/bin/python -m pytest -q tests/test_export.py
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import greedy_ids, make_adapter, make_run

PROMPTS = ["What is the capital of France?", "Name three colours.", "Hi"]


def prompt_texts(tokenizer) -> list[str]:
    from core.data.templates import get_template

    template = get_template(None, tokenizer)
    return [template.prompt_text([{"role": "user", "content": p}]) for p in PROMPTS]


def test_merged_export_matches_base_plus_adapter(tiny_model, adapter, run, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.models.export import export

    out = export(run, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    plain = [greedy_ids(base, tok, t) for t in prompt_texts(tok)]
    tuned = PeftModel.from_pretrained(base, adapter)
    for i, text in enumerate(prompt_texts(tok)):
        expected = greedy_ids(tuned, tok, text)
        assert greedy_ids(merged, tok, text) == expected
    assert plain != [greedy_ids(merged, tok, t) for t in prompt_texts(tok)]  # adapter mattered
    assert not any(".lora_" in n for n, _ in merged.named_parameters())
    info = json.loads((out / "prefstudio_export.json").read_text())
    assert info["adapter"] == str(run) and info["dtype"] == "float32"
    assert merged.config.use_cache


def test_stacked_run_merges_start_adapters_first(tiny_model, adapter, tmp_path):
    """A run trained from A1,A2 is base + merged(A1) + its final adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.models.export import export

    a1 = make_adapter(tiny_model, tmp_path / "a1", seed=1)
    stacked = make_run(tiny_model, tmp_path / "stacked", adapter,
                       adapter_name_or_path=f"{a1},{tmp_path / 'a2'}")
    out = export(stacked, tmp_path / "out")
    tok = AutoTokenizer.from_pretrained(out)
    expected = AutoModelForCausalLM.from_pretrained(tiny_model)
    expected = PeftModel.from_pretrained(expected, a1).merge_and_unload()
    expected = PeftModel.from_pretrained(expected, stacked)
    merged = AutoModelForCausalLM.from_pretrained(out)
    for text in prompt_texts(tok):
        assert greedy_ids(merged, tok, text) == greedy_ids(expected, tok, text)


@pytest.mark.parametrize("mask", [0o022, 0o027], ids=["022", "027"])
def test_export_gets_the_umask_permissions(run, tmp_path, mask):
    """Not owner-only (mkdtemp's 0700, safetensors' 0600): what plain mkdir and open give."""
    import os
    import stat

    from core.models.export import export

    old = os.umask(mask)
    try:
        out = export(run, tmp_path / "nested" / "out")
    finally:
        os.umask(old)
    paths = [out, *out.rglob("*")]
    assert {"model.safetensors", "config.json"} <= {p.name for p in paths}
    for path in paths:
        expected = (0o777 if path.is_dir() else 0o666) & ~mask
        assert stat.S_IMODE(path.stat().st_mode) == expected, (path.name, oct(expected))


def test_refuses_non_empty_out_dir(run, tmp_path):
    from core.errors import UserError
    from core.models.export import export

    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match=str(out)):
        export(run, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(run, empty) == empty and (empty / "config.json").is_file()


def test_failed_export_leaves_nothing(run, tmp_path, monkeypatch):
    from transformers import PreTrainedModel

    from core.models.export import export

    def broken(self, path, **kwargs):
        (Path(path) / "model.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", broken)
    with pytest.raises(OSError, match="disk full"):
        export(run, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype, expected", [("bfloat16", torch.bfloat16),
                                             ("float16", torch.float16),
                                             ("auto", torch.float32)])
def test_dtype_option(run, tmp_path, dtype, expected):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    from core.models.export import export

    out = export(run, tmp_path / "out", dtype=dtype)
    with safe_open(out / "model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {expected}
    assert AutoModelForCausalLM.from_pretrained(out, dtype="auto").dtype == expected


def test_shards(run, tmp_path):
    from transformers import AutoModelForCausalLM

    from core.models.export import export

    out = export(run, tmp_path / "out", max_shard_size="100KB")
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    AutoModelForCausalLM.from_pretrained(out)


def test_full_finetuning_run_is_resaved(tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM

    from core.models.export import export

    full = make_run(tiny_model, tmp_path / "full", finetuning_type="full")
    out = export(full, tmp_path / "out", dtype="bfloat16")
    got = AutoModelForCausalLM.from_pretrained(out, dtype="auto")
    want = AutoModelForCausalLM.from_pretrained(full)
    assert got.dtype == torch.bfloat16
    for (name, a), (_, b) in zip(got.named_parameters(), want.named_parameters()):
        assert torch.equal(a, b.to(torch.bfloat16)), name


@pytest.mark.parametrize("template, thinking", [(None, True), ("qwen", True), ("qwen3", True),
                                                ("qwen3", False), ("qwen3_nothink", True),
                                                ("default", True), ("empty", True)])
def test_exported_tokenizer_chats_like_training(tiny_model, adapter, tmp_path, template, thinking):
    """Plain apply_chat_template on the export renders what the run trained on."""
    from transformers import AutoTokenizer

    from core.data.templates import get_template
    from core.models.export import export

    run = make_run(tiny_model, tmp_path / "run", adapter, template=template,
                   enable_thinking=thinking)
    out = export(run, tmp_path / "out")
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    ours = get_template(template, tok, thinking)
    for messages in ([{"role": "user", "content": "Hi"}],
                     [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                      {"role": "assistant", "content": "<think>\nhm\n</think>\n\nA"},
                      {"role": "user", "content": "Q2"}]):
        assert tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) \
            == ours.prompt_text(messages)


def test_tokenizer_without_template_gets_default(tiny_model):
    """Training fell back to the `default` template; the export must say so in Jinja."""
    from transformers import AutoTokenizer

    from core.data.templates import get_template
    from core.models.export import set_chat_template

    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.chat_template = None
    set_chat_template(tok, None)
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"},
                {"role": "user", "content": "Bye"}]
    assert tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) \
        == get_template("default", tok).prompt_text(messages)


@pytest.mark.slow
def test_real_run_exports_and_chats(tiny_model, tmp_path):
    """The layout training really leaves (final adapter, checkpoints) works for both."""
    from conftest import tiny_config
    from transformers import AutoModelForCausalLM

    from core.chat.engine import ChatEngine, GenConfig
    from core.models.export import export, run_model_spec
    from core.training.run import run

    rd = run(tiny_config(tiny_model, tmp_path / "run", max_steps=2, save_steps=1))
    assert run_model_spec(rd.path).adapter == str(rd.path)
    AutoModelForCausalLM.from_pretrained(export(rd.path, tmp_path / "out"))
    engine = ChatEngine()
    engine.add_adapter("ck1", str(rd.path / "checkpoint-1"))
    engine.set_side("B", "ck1")
    assert isinstance(engine.generate("B", [{"role": "user", "content": "Hi"}],
                                      GenConfig(max_new_tokens=4)), str)
    engine.unload()


def test_cli(run, tmp_path, capsys):
    from core.__main__ import main

    assert main(["export", "--run", str(run), "--out", str(tmp_path / "out"),
                 "--dtype", "bfloat16"]) == 0
    assert "exported to" in capsys.readouterr().out
    assert (tmp_path / "out" / "tokenizer_config.json").is_file()
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "out")]) == 2
    assert "not empty" in capsys.readouterr().err
