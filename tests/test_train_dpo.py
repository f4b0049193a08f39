"""End-to-end DPO runs on CPU: every loss from a YAML with its step-1 invariant, one run through
the real CLI, the run directory contract, reruns and refusals."""
import json
import math
import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, SHARED_DATA, tiny_config

from core.config import PAIRWISE_LOSSES, RunConfig
from core.errors import UserError
from core.runs.rundir import RunDir
from core.training.run import run

RUN_FILES = ("config.yaml", "status.json", "metrics.jsonl", "train.log", "env.json",
             "adapter_config.json", "adapter_model.safetensors", "tokenizer.json")


def write_yaml(path, cfg: RunConfig):
    cfg.save(path)
    return path


def cli(*args, timeout=300):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_complete_run(rd: RunDir):
    for name in RUN_FILES:
        assert (rd.path / name).is_file(), name
    status = rd.status()
    assert status["state"] == "completed" and status["exit_code"] == 0 and status["step"] == 3
    assert status["total_steps"] == 3 and status["ended_at"] >= status["started_at"]
    env = json.loads(rd.env_file.read_text())
    assert env["packages"]["torch"] and env["seed"] == 42 and env["data_fingerprint"]
    assert [c.step for c in rd.checkpoints() if c.complete] == [3]


# The first step's loss with policy == reference, at the default pref_beta 0.1.
FIRST_STEP = {"sigmoid": math.log(2), "hinge": 1.0, "ipo": 1 / (4 * 0.1 ** 2), "kto_pair": 0.5,
              "robust": math.log(2)}


@pytest.mark.slow
@pytest.mark.parametrize("loss", PAIRWISE_LOSSES)
def test_each_loss_trains_from_yaml(loss, tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    extra = {"dpo_label_smoothing": 0.1} if loss == "robust" else {}
    path = write_yaml(tmp_path / "c.yaml", tiny_config(tiny_model, tmp_path / "run", pref_loss=loss,
                                                       save_steps=3, **extra))
    rd = run(RunConfig.load(path), path)
    assert_complete_run(rd)
    metrics = [m for m in rd.metrics() if "loss" in m]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies",
                "rewards/margins", "logps/chosen", "logps/rejected", "learning_rate", "grad_norm",
                "elapsed_s", "eta_s", "epoch"):
        assert key in metrics[-1], key
    assert all(math.isfinite(m["loss"]) for m in metrics)
    if loss in FIRST_STEP:
        assert RunConfig.load(rd.config).pref_beta == 0.1
        assert metrics[0]["loss"] == pytest.approx(FIRST_STEP[loss], rel=1e-5)
    if loss == "orpo":
        assert "odds_ratio" in metrics[-1] and "sft_loss" in metrics[-1]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), rd.path)
    assert sum(p.numel() for n, p in model.named_parameters() if "lora_" in n) > 0


@pytest.mark.slow
def test_first_step_loss_through_cli(tiny_model, tmp_path):
    """One real subprocess; the other losses' first steps are checked in-process above."""
    path = write_yaml(tmp_path / "c.yaml", tiny_config(tiny_model, tmp_path / "run", max_steps=1,
                                                       pref_loss="ipo", pref_beta=0.2))
    done = cli("train", str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    first = RunDir(tmp_path / "run").metrics()[0]
    assert first["step"] == 1 and first["loss"] == pytest.approx(1 / (4 * 0.2 ** 2), rel=1e-5)


@pytest.mark.slow
def test_full_finetuning_and_rerun(tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM

    cfg = tiny_config(tiny_model, tmp_path / "full", finetuning_type="full", learning_rate=1e-4)
    rd = run(cfg)
    assert rd.status()["state"] == "completed" and (rd.path / "model.safetensors").is_file()
    AutoModelForCausalLM.from_pretrained(rd.path)
    first = [m["loss"] for m in rd.metrics() if "loss" in m]
    assert first[0] == pytest.approx(math.log(2), rel=1e-5)  # frozen copy is the reference
    again = run(RunConfig.load(rd.config), rd.config)  # a finished run's config.yaml reruns it
    assert again.path.name == "full-rerun-1" and again.status()["state"] == "completed"
    assert [m["loss"] for m in again.metrics() if "loss" in m] == pytest.approx(first, abs=1e-6)


def test_refuses_to_overwrite_a_run(tiny_model, tmp_path):
    rd = run(tiny_config(tiny_model, tmp_path / "run", save_steps=1))
    before = rd.config.read_text(), rd.status()
    with pytest.raises(UserError, match="already holds a run.*resume_from_checkpoint=true"):
        run(tiny_config(tiny_model, tmp_path / "run", pref_beta=0.3))
    assert (rd.config.read_text(), rd.status()) == before


def test_bf16_on_cpu_falls_back_with_warning(tiny_model, tmp_path, caplog):
    rd = run(tiny_config(tiny_model, tmp_path / "run", bf16=True, max_steps=1))
    assert rd.status()["state"] == "completed"
    assert "no bf16-capable GPU; training in fp32" in rd.log_file.read_text()


def test_bad_data_refuses_with_record(tiny_model, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"instruction": f"q{i}", "input": "", "chosen": f"good {i}", "rejected": f"bad {i}"}
            for i in range(6)]
    rows[4]["chosen"] = ""
    (data / "pairs.json").write_text(json.dumps(rows))
    (data / "dataset_info.json").write_text(json.dumps({"pairs": {
        "file_name": "pairs.json", "ranking": True,
        "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}}}))
    cfg = tiny_config(tiny_model, tmp_path / "run", dataset="pairs", dataset_dir=str(data))
    with pytest.raises(UserError, match=r"pairs.json:4") as e:
        run(cfg)
    assert "max_bad_ratio" in str(e.value)
    rd = run(cfg.replace(max_bad_ratio=0.2, output_dir=str(tmp_path / "run2")))
    assert rd.status()["state"] == "completed"
    assert "pairs.json:4" in rd.log_file.read_text()  # the skipped record is named


@pytest.mark.skipif(not (SHARED_DATA / "llamafactory" / "dpo_en_demo.json").is_file(),
                    reason="LLaMA-Factory data not present in ../shared/data")
@pytest.mark.slow
def test_llamafactory_data_checks_and_trains(tiny_model, tmp_path):
    data = tmp_path / "lf"
    data.mkdir()
    entry = {"file_name": str(SHARED_DATA / "llamafactory" / "dpo_en_demo.json"), "ranking": True,
             "formatting": "sharegpt",
             "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}
    (data / "dataset_info.json").write_text(json.dumps({"dpo_en_demo": entry}))
    # The demo tokenizer (trained on the demo data only) splits long English text into many
    # tokens, so the check gets a larger cutoff than a Qwen tokenizer would need.
    done = cli("data", "check", "dpo_en_demo", "--dataset_dir", str(data), "--stage", "dpo",
               "--model", str(tiny_model), "--cutoff_len", "16384", "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["total"] == 300 and report["errors"] == 0
    lf_yaml = yaml.safe_load((ROOT / "examples" / "dpo_qwen2.5_lora.yaml").read_text())
    lf_yaml.update(model_name_or_path=str(tiny_model), dataset_dir=str(data), max_steps=2,
                   output_dir=str(tmp_path / "run"), max_samples=8)
    path = tmp_path / "lf.yaml"
    path.write_text(yaml.safe_dump(lf_yaml))
    rd = run(RunConfig.load(path), path)
    assert rd.status()["state"] == "completed" and rd.status()["step"] == 2
