"""LLaMA-Factory's configs and data run unchanged: every key it accepts has a treatment, the
table and docs/llamafactory.md agree, and its example YAMLs for Qwen3 text models train here.

    .venv/bin/python -m pytest -q tests/test_llamafactory.py
"""
from __future__ import annotations

import ast
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, tiny_config

from core.config import FIELDS, ConfigError, RunConfig, llamafactory
from core.errors import UserError

EXAMPLES = ROOT / "tests" / "data" / "llamafactory_examples"
KEYS_FILE = ROOT / "tests" / "data" / "llamafactory_keys.txt"
LF_SITE = ROOT.parent / "lf-venv" / "lib" / "python3.11" / "site-packages"
LF_DATA = ROOT.parent / "shared" / "data" / "llamafactory"


def committed_keys() -> list[str]:
    lines = KEYS_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# --- the table ------------------------------------------------------------------------------
def test_table_covers_every_llamafactory_key():
    keys = committed_keys()
    assert len(keys) == len(set(keys)) > 300
    assert [k for k in keys if llamafactory.treatment(k) is None] == []
    assert llamafactory.lf_keys() == sorted(keys)  # and nothing else
    assert [k for k in llamafactory.HONOURED if k not in FIELDS] == []
    # a key that became a field must leave the table (the field wins)
    assert [k for k in llamafactory.TABLE if k in FIELDS] == []
    assert [k for k in FIELDS if k in keys and k not in llamafactory.HONOURED] == []
    for key in keys:
        t = llamafactory.treatment(key)
        assert t.kind in ("honoured", "ignored", "refused"), key
        assert t.note or key in FIELDS, key


def _dataclass_fields(path: Path, classes: set[str] | None = None) -> set[str]:
    """Init field names of the dataclasses in a source file (classes: only those)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.ClassDef) or (classes and node.name not in classes):
            continue
        for st in node.body:
            if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                value = st.value
                no_init = isinstance(value, ast.Call) and any(
                    k.arg == "init" and getattr(k.value, "value", None) is False
                    for k in value.keywords)
                if not no_init and not st.target.id.startswith("_"):
                    names.add(st.target.id)
    return names


@pytest.mark.skipif(not LF_SITE.is_dir(), reason=f"LLaMA-Factory's venv not found at {LF_SITE}")
def test_committed_list_is_llamafactorys_source():
    """The committed list equals the field names of LLaMA-Factory's argument dataclasses
    (read from its source, not imported: it is not this project's dependency)."""
    hparams = LF_SITE / "llamafactory" / "hparams"
    found = set()
    for name in ("model_args", "data_args", "finetuning_args", "generating_args",
                 "training_args"):
        found |= _dataclass_fields(hparams / f"{name}.py")
    found |= _dataclass_fields(LF_SITE / "transformers" / "training_args.py",
                               {"TrainingArguments"})
    found |= _dataclass_fields(LF_SITE / "transformers" / "training_args_seq2seq.py",
                               {"Seq2SeqTrainingArguments"})
    assert sorted(found) == sorted(committed_keys())


def test_doc_is_the_table():
    doc = (ROOT / llamafactory.DOC).read_text(encoding="utf-8")
    head, sep, table = doc.partition(llamafactory.TABLE_MARK)
    assert sep and "overwrite_output_dir" in head
    assert table.strip() == llamafactory.markdown().strip()


# --- treatments -----------------------------------------------------------------------------
def test_ignored_keys_log_one_line(caplog):
    with caplog.at_level(logging.INFO, logger="core.config.llamafactory"):
        cfg = RunConfig.from_dict({"do_train": True, "overwrite_cache": True, "lora_rank": 4,
                                   "preprocessing_num_workers": 16})
    assert cfg.lora_rank == 4
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("has no effect here" in line for line in lines)
    assert any("overwrite_cache=True" in line and "rebuilt for every run" in line
               for line in lines)


@pytest.mark.parametrize("key, off", [
    ("use_galore", False), ("use_badam", False), ("infer_backend", "huggingface"),
    ("image_max_pixels", 589824), ("freeze_vision_tower", True), ("deepspeed", None),
    ("mix_strategy", "concat"), ("model_revision", "main"), ("hf_hub_token", None),
    ("use_llama_pro", False), ("label_smoothing_factor", 0.0), ("ray_num_workers", 1),
])
def test_llamafactory_defaults_pass_silently(caplog, key, off):
    with caplog.at_level(logging.INFO, logger="core.config.llamafactory"):
        assert RunConfig.from_dict({key: off}) == RunConfig()
    assert caplog.records == []


@pytest.mark.parametrize("key, value, fix", [
    ("use_galore", True, "use finetuning_type lora"),
    ("use_apollo", True, "use finetuning_type lora"),
    ("use_badam", True, "lora or freeze"),
    ("use_llama_pro", True, "finetuning_type freeze or lora"),
    ("infer_backend", "vllm", "transformers"),
    ("infer_backend", "sglang", "transformers"),
    ("image_max_pixels", 262144, "text-only data"),
    ("media_dir", "data/images", "text-only data"),
    ("freeze_vision_tower", False, "text-only data"),
    ("hf_hub_token", "hf_xxx", "hf auth login"),
    ("use_swanlab", True, "report_to: swanlab"),
    ("push_to_hub", True, "python -m core export"),
    ("tokenized_path", "saves/tok", "remove the key"),
])
def test_refused_keys_name_the_key_and_the_fix(key, value, fix):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({key: value})
    assert f"{key}: {value!r} (a LLaMA-Factory key)" in str(e.value) and fix in str(e.value)


def test_unknown_keys_still_suggest():
    with pytest.raises(ConfigError, match=r"unknown key 'save_only_modle': did you mean "
                                          r"save_only_model"):
        RunConfig.from_dict({"save_only_modle": True})


def test_llamafactory_spellings():
    cfg = RunConfig.from_dict({"lr_scheduler_kwargs": {"min_lr": 1e-6}, "report_to": ["wandb"],
                               "packing": None, "neat_packing": True, "stage": "sft"})
    assert json.loads(cfg.lr_scheduler_kwargs) == {"min_lr": 1e-6}
    assert cfg.report_to == "wandb" and cfg.packing is True
    # as in LLaMA-Factory, neat_packing: true packs whatever packing says; false changes nothing
    assert RunConfig.from_dict({"neat_packing": True, "packing": False}).packing is True
    assert RunConfig.from_dict({"neat_packing": False, "packing": True}).packing is True


@pytest.mark.parametrize("changes, fragment", [
    (dict(stage="ppo"), "use stage grpo"),
    (dict(stage="pt"), "use stage sft"),
    (dict(finetuning_type="oft"), "use finetuning_type lora"),
    (dict(template="llama3"), "PrefStudio trains Qwen text models"),
    (dict(template="qwen2_vl"), "multimodal"),
    (dict(save_strategy="best"), "not one of: no, steps, epoch"),
    (dict(save_only_model=True, resume_from_checkpoint=True), "which resuming needs"),
    (dict(lr_scheduler_kwargs="min_lr=1"), "not a JSON object"),
    (dict(pure_bf16=True, fp16=True), "keep one"),
    (dict(adam_beta2=1.0), "must be below 1"),
    (dict(stage="kto", per_device_train_batch_size=1, gradient_accumulation_steps=3),
     "an even gradient_accumulation_steps"),
])
def test_values_llamafactory_allows_and_we_do_not(changes, fragment):
    from core.config import problems

    found = " ".join(message for _, message in problems(RunConfig(**changes)))
    assert fragment in found


def test_keys_cli_marks_llamafactory_keys(capsys):
    from core.__main__ import main

    assert main(["train", "--keys"]) == 0
    out = capsys.readouterr().out
    assert "save_only_model (default False):" in out
    assert "pref_beta_schedule (default 'constant')" in out  # ours only: no mark
    line = next(x for x in out.splitlines() if x.startswith("save_only_model "))
    assert "[LLaMA-Factory: honoured]" in line
    assert "pref_beta_schedule" in out and "[LLaMA-Factory" not in next(
        x for x in out.splitlines() if x.startswith("pref_beta_schedule "))
    assert "\ndeepspeed (default None): DeepSpeed ZeRO (CUDA GPUs)" in out
    assert "[LLaMA-Factory: honoured: a DeepSpeed JSON file as in" in out
    assert "\noverwrite_cache [LLaMA-Factory: ignored]: " in out
    for key in committed_keys():
        assert f"\n{key} " in "\n" + out, key


# --- machine checks and the TrainingArguments mapping ------------------------------------
def test_machine_checks_name_the_package(monkeypatch):
    import importlib.util

    import torch

    from core.models.loading import check_machine

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("swanlab", "mlflow") else real(name, *a))
    for reporter in ("swanlab", "mlflow"):
        with pytest.raises(UserError, match=f"report_to: {reporter} needs the {reporter} "
                                            f"package: pip install {reporter}"):
            check_machine(RunConfig(report_to=reporter))
    if not torch.cuda.is_available():
        for optim in ("adamw_8bit", "paged_adamw_8bit", "lion_32bit"):
            with pytest.raises(UserError, match=f"optim: {optim} needs a CUDA GPU"):
                check_machine(RunConfig(optim=optim))
    check_machine(RunConfig(optim="adamw_torch_fused"))


def test_training_arguments_carry_the_honoured_keys(tmp_path):
    from core.methods.common import training_arguments
    from core.runs.rundir import RunDir

    cfg = RunConfig(save_strategy="epoch", save_only_model=True, eval_strategy="epoch",
                    lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs='{"min_lr": 1e-7}',
                    adam_beta1=0.8, adam_beta2=0.95, adam_epsilon=1e-6, max_grad_norm=0.5,
                    warmup_steps=3, ddp_timeout=180000000, optim="adamw_torch_fused",
                    dataloader_num_workers=2, report_to="none", weight_decay=0.1)
    args = training_arguments(cfg, RunDir(tmp_path), has_eval=True)
    assert args.save_strategy == "epoch" and args.save_only_model is True
    assert args.eval_strategy == "epoch" and args.lr_scheduler_kwargs == {"min_lr": 1e-7}
    assert (args.adam_beta1, args.adam_beta2, args.adam_epsilon) == (0.8, 0.95, 1e-6)
    assert args.max_grad_norm == 0.5 and args.warmup_steps == 3 and args.weight_decay == 0.1
    assert args.ddp_timeout == 180000000 and args.optim == "adamw_torch_fused"
    assert args.dataloader_num_workers == 2
    assert training_arguments(cfg, RunDir(tmp_path), has_eval=False).eval_strategy == "no"
    plain = training_arguments(RunConfig(lr_scheduler_type="cosine_with_min_lr"),
                               RunDir(tmp_path), has_eval=False)
    assert plain.lr_scheduler_kwargs == {"min_lr_rate": 0.1}


def test_pure_bf16_loads_bf16_weights_without_autocast(tmp_path):
    from unittest import mock

    import torch

    from core.methods.common import training_arguments
    from core.models.loading import LoadOptions
    from core.runs.rundir import RunDir

    cfg = RunConfig(pure_bf16=True)
    assert LoadOptions.of_run(cfg).dtype == "bfloat16"
    with mock.patch("core.methods.common.compute_dtype", return_value=torch.bfloat16):
        args = training_arguments(cfg, RunDir(tmp_path), has_eval=False, use_cpu=True)
        assert args.bf16 is False
        args = training_arguments(RunConfig(bf16=True), RunDir(tmp_path), has_eval=False,
                                  use_cpu=True)
        assert args.bf16 is True


def test_save_strategy_epoch_save_only_model_plot_loss(tiny_model, tmp_path):
    """Checkpoints at each epoch's end, holding the weights but no optimizer state; the loss
    curves drawn at the end."""
    from core.training.run import run

    cfg = tiny_config(tiny_model, tmp_path / "run", max_steps=-1, num_train_epochs=2,
                      max_samples=4, save_strategy="epoch", save_only_model=True, stage="sft",
                      dataset="demo_sft", gradient_accumulation_steps=1,
                      per_device_train_batch_size=2, plot_loss=True)
    rd = run(cfg)
    names = sorted(c.path.name for c in rd.checkpoints() if c.complete)
    assert names == ["checkpoint-2", "checkpoint-4"]
    ck = rd.path / "checkpoint-2"
    assert (ck / "adapter_model.safetensors").is_file() and not (ck / "optimizer.pt").exists()
    svg = (rd.path / "training_loss.svg").read_text(encoding="utf-8")
    losses = [r["loss"] for r in rd.metrics() if "loss" in r]
    assert len(losses) == 4 and svg.startswith("<svg") and svg.count("<polyline") == 2
    assert f"{max(losses):.4g}" in svg and f"{min(losses):.4g}" in svg


def test_loss_plot_smooths_and_skips_runs_without_losses(tmp_path):
    from core.runs.rundir import RunDir
    from core.training.plot import smooth, write_loss_plot

    assert smooth([1.0, 0.0]) == [1.0, 0.9]
    rd = RunDir(tmp_path)
    assert write_loss_plot(rd) is None and not (tmp_path / "training_loss.svg").exists()
    for step, loss in [(1, 2.0), (2, 1.0)]:
        rd.append_metrics({"step": step, "loss": loss})
    rd.append_metrics({"step": 2, "eval_loss": 1.5})
    svg = write_loss_plot(rd).read_text(encoding="utf-8")
    assert svg.count("<polyline") == 3 and "eval_loss" in svg


def test_overwrite_output_dir_never_deletes(tmp_path):
    from core.runs.placement import check_free
    from core.runs.rundir import RunDir

    rd = RunDir(tmp_path / "run")
    (rd.path / "checkpoint-5").mkdir(parents=True)
    with pytest.raises(UserError, match="overwrite_output_dir never deletes a run here"):
        check_free(rd, RunConfig(overwrite_output_dir=True))
    assert (rd.path / "checkpoint-5").is_dir()
    check_free(RunDir(tmp_path / "failed-before-saving"), RunConfig(overwrite_output_dir=True))


# --- LLaMA-Factory's example YAMLs, unchanged ----------------------------------------------
IDENTITY = [
    {"instruction": "hi", "input": "", "output": "Hello! I am {{name}}, an AI assistant "
     "developed by {{author}}. How can I assist you today?"},
    {"instruction": "Who are you?", "input": "", "output": "I am {{name}}, an AI assistant "
     "developed by {{author}}."},
    {"instruction": "What is your name?", "input": "", "output": "You may refer to me as "
     "{{name}}."},
    {"instruction": "Who made you?", "input": "", "output": "I was made by {{author}}."},
]
ALPACA = [
    {"instruction": "Give three tips for staying healthy.", "input": "",
     "output": "1. Eat a balanced diet.\n2. Exercise regularly.\n3. Sleep well."},
    {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
    {"instruction": "Name a primary colour.", "input": "", "output": "Red."},
]
KTO = [
    {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
     "label": good}
    for q, a, good in [("Capital of France?", "Paris.", True), ("Capital of France?", "Rome.", False),
                       ("2+2?", "4", True), ("2+2?", "5", False), ("Colour of the sky?", "Blue.", True),
                       ("Colour of the sky?", "Green.", False), ("Say hi.", "Hi!", True),
                       ("Say hi.", "No.", False)]
]
# LLaMA-Factory's data/dataset_info.json entries for these four.
DATASET_INFO = {
    "identity": {"file_name": "identity.json"},
    "alpaca_en_demo": {"file_name": "alpaca_en_demo.json"},
    "dpo_en_demo": {"file_name": "dpo_en_demo.json", "ranking": True, "formatting": "sharegpt",
                    "columns": {"messages": "conversations", "chosen": "chosen",
                                "rejected": "rejected"}},
    "kto_en_demo": {"file_name": "kto_en_demo.json", "formatting": "sharegpt",
                    "columns": {"messages": "messages", "kto_tag": "label"},
                    "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                             "assistant_tag": "assistant"}},
}


def _fits(record: dict, limit: int = 1900) -> bool:
    """A byte-level BPE never makes more tokens than bytes: prompt + the longer answer plus the
    template's markers within cutoff_len 2048 (until answers longer than cutoff are cut)."""
    texts = [m["value"] for m in record["conversations"]]
    answer = max(len(record["chosen"]["value"].encode()), len(record["rejected"]["value"].encode()))
    return sum(len(t.encode()) for t in texts) + answer + 40 * len(texts) < limit


@pytest.fixture(scope="module")
def lf_data(tmp_path_factory) -> Path:
    """A copy of LLaMA-Factory's data folder layout: its dataset_info.json entries, the real
    dpo_en_demo records that fit, and small identity/alpaca/kto files."""
    source = LF_DATA / "dpo_en_demo.json"
    if not source.is_file():
        pytest.skip(f"LLaMA-Factory's dpo_en_demo.json not found at {source}")
    folder = tmp_path_factory.mktemp("llamafactory") / "data"
    folder.mkdir()
    dpo = [r for r in json.loads(source.read_text(encoding="utf-8")) if _fits(r)][:16]
    files = {"dataset_info.json": DATASET_INFO, "identity.json": IDENTITY,
             "alpaca_en_demo.json": ALPACA, "kto_en_demo.json": KTO, "dpo_en_demo.json": dpo}
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, ensure_ascii=False, indent=1))
    return folder


def overrides(model: Path, data: Path, out: Path) -> list[str]:
    return [f"model_name_or_path={model}", f"dataset_dir={data}", f"output_dir={out}",
            "max_steps=2"]


def assert_trained(out: Path, steps: int = 2) -> None:
    from core.runs.rundir import RunDir

    rd = RunDir(out)
    assert rd.status()["state"] == "completed"
    assert (out / "adapter_model.safetensors").is_file() or (out / "model.safetensors").is_file()
    saved = RunConfig.load(out / "config.yaml")
    assert saved.max_steps == steps and saved.template == "qwen3_nothink"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen3_lora_dpo", "qwen3_lora_kto", "qwen3_lora_reward"])
def test_example_trains_in_process(tiny_qwen3, lf_data, tmp_path, name):
    from core.training.run import run

    out = tmp_path / name
    cfg = RunConfig.load(EXAMPLES / f"{name}.yaml", overrides(tiny_qwen3, lf_data, out))
    assert cfg.bf16 and cfg.ddp_timeout == 180000000 and cfg.dataloader_num_workers == 4
    run(cfg)
    assert_trained(out)


@pytest.mark.slow
def test_example_sft_trains_from_the_command_line(tiny_qwen3, lf_data, tmp_path):
    out = tmp_path / "sft"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "core", "train", str(EXAMPLES / "qwen3_lora_sft.yaml"),
         *overrides(tiny_qwen3, lf_data, out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_trained(out)
    assert "preprocessing_num_workers=16 has no effect here" in proc.stderr  # the run's log
    saved = RunConfig.load(out / "config.yaml")
    assert saved.dataset == "identity,alpaca_en_demo" and saved.overwrite_output_dir is True


def test_example_with_deepspeed_is_refused_before_loading(tiny_qwen3, lf_data, tmp_path, loads):
    """LLaMA-Factory runs qwen3_full_sft with DeepSpeed ZeRO-3 on GPUs: `deepspeed` is read
    here too (docs/distributed.md), and on this CPU machine the run is refused with a clear
    message before anything is loaded or written; without the key it trains in full."""
    from core.errors import UserError
    from core.training.run import run

    out = tmp_path / "full"
    cfg = RunConfig.load(EXAMPLES / "qwen3_full_sft.yaml", overrides(tiny_qwen3, lf_data, out))
    with pytest.raises(ConfigError) as e:  # LLaMA-Factory's file is not here
        run(cfg)
    assert "deepspeed: 'examples/deepspeed/ds_z3_config.json' is not a readable DeepSpeed " \
           "JSON file" in str(e.value)
    with pytest.raises(UserError) as e:  # the same preset: no GPU here
        run(cfg.replace(deepspeed="z3"))
    message = str(e.value)
    assert "deepspeed: 'z3': DeepSpeed needs CUDA GPUs" in message and "deepspeed=null" in message
    assert not out.exists() and loads == []
    cfg = RunConfig.load(EXAMPLES / "qwen3_full_sft.yaml",
                         overrides(tiny_qwen3, lf_data, out) + ["deepspeed=null"])
    assert cfg.finetuning_type == "full"
    run(cfg)
    assert_trained(out)
