"""Several processes from the same YAML: real 2-process DDP runs on CPU (gloo) through the CLI
and the RunManager, the torchrun command, the launch keys' validation, and the DeepSpeed and
FSDP settings checked by the libraries' own parsers. Run: pytest -q tests/test_distributed.py"""
import contextlib
import json
import os
import re
import signal
import subprocess
import sys

import psutil
import pytest
from conftest import ROOT, tiny_config
from test_runs import state_of, wait_for

from core.config import ConfigError, RunConfig, validate
from core.config.choices import DEEPSPEED_PRESETS
from core.errors import UserError
from core.runs.manager import RunManager
from core.runs.rundir import RunDir
from core.training.launch import command, needs_launch, node_commands

TWO = dict(nproc_per_node=2, per_device_train_batch_size=1)
ONE = dict(nproc_per_node=1, per_device_train_batch_size=2)  # the same global batch


def train(cfg: RunConfig, tmp_path, name: str, extra_env=None) -> subprocess.CompletedProcess:
    """python -m core train <yaml>, as a user types it."""
    path = tmp_path / f"{name}.yaml"
    cfg.save(path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "core", "train", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def losses(rd: RunDir) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in rd.metrics() if "loss" in m]


@pytest.mark.slow
@pytest.mark.parametrize("stage, dataset", [("dpo", "demo_pref_en"), ("sft", "demo_sft")])
def test_two_processes_train_as_one(tiny_model, tmp_path, stage, dataset):
    """nproc_per_node 2 x batch 1 takes the same steps as 1 process x batch 2: the same loss
    at every step (1e-4), one metrics.jsonl written by rank 0, every rank in train.log."""
    base = dict(stage=stage, dataset=dataset, max_steps=3, save_steps=2)
    done = {}
    for name, procs in (("one", ONE), ("two", TWO)):
        cfg = tiny_config(tiny_model, tmp_path / name, **base, **procs)
        result = train(cfg, tmp_path, name)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        done[name] = RunDir(tmp_path / name)
    one, two = losses(done["one"]), losses(done["two"])
    assert [s for s, _ in two] == [1, 2, 3] and [s for s, _ in one] == [1, 2, 3]
    for (_, a), (_, b) in zip(one, two):
        assert abs(a - b) < 1e-4, (one, two)
    rd = done["two"]
    steps = [m["step"] for m in rd.metrics() if "loss" in m]
    assert steps == [1, 2, 3]  # one writer: no step twice
    status = rd.status()
    assert status["state"] == "completed" and status["step"] == 3 and rd.has_final_model()
    log = rd.log_file.read_text()
    assert "[rank 0]" in log and "[rank 1]" in log and "torch.distributed.run" in log
    assert rd.checkpoints()[-1].complete and not list(rd.path.glob(".rank-*.error"))
    if stage == "dpo":  # the pairwise metrics are averaged over the ranks, as one process's
        a = [m["rewards/margins"] for m in done["one"].metrics() if "loss" in m]
        b = [m["rewards/margins"] for m in rd.metrics() if "loss" in m]
        assert all(abs(x - y) < 1e-4 for x, y in zip(a, b)), (a, b)
        # rank 1 reads what rank 0 wrote (after it, main_process_first) and computes nothing
        assert re.search(r"\[rank 1\] core\.methods\.reference: Reference log-probs: (\d+) of "
                         r"\d+ pairs needed, \1 read from the cache .*, 0 computed", log), log


@pytest.mark.slow
def test_abort_leaves_no_process_and_resume_continues(tiny_model, tmp_path):
    saves = tmp_path / "saves"
    m = RunManager(saves)
    cfg = tiny_config(tiny_model, saves / "dist", max_steps=2000, save_steps=10000, **TWO)
    info = m.start(cfg)
    rd = RunDir(info.path)
    info = wait_for(lambda: (i := state_of(m, "dist", ("running",))) and i.step >= 1 and i, 300,
                    "the first step of both ranks")
    tree = psutil.Process(info.pid).children(recursive=True) + [psutil.Process(info.pid)]
    ranks = [p for p in tree if "RANK" in p.environ()]
    assert len(ranks) == 2  # torchrun's two ranks below the launching process

    m.abort("dist")
    info = wait_for(lambda: state_of(m, "dist", ("aborted", "failed", "completed")), 120,
                    "the graceful stop of both ranks")
    assert info.state == "aborted" and info.error is None, rd.log_tail()

    def gone():
        m.poll()
        return not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    wait_for(gone, 60, "every process of the run to end")
    last = rd.checkpoints()[-1]
    assert last.complete and 1 <= last.step < 2000

    m.resume("dist", overrides=[f"max_steps={last.step + 2}"])
    done = wait_for(lambda: state_of(m, "dist", ("completed", "failed")), 300, "the resumed run")
    assert done.state == "completed", rd.log_tail()
    assert done.step == last.step + 2 and rd.has_final_model()
    steps = [r["step"] for r in rd.metrics() if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == last.step + 2


@pytest.mark.slow
def test_a_failing_rank_fails_the_run_with_its_error(tiny_model, tmp_path):
    """Rank 1 alone cannot import the stage's module (injected through sitecustomize): the
    run fails, and status.json carries rank 1's error."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import importlib.abc, os, sys\n"
        "class Fail(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'core.methods.pairwise':\n"
        "            raise RuntimeError('injected failure on rank 1')\n"
        "if os.environ.get('RANK') == '1':\n"
        "    sys.meta_path.insert(0, Fail())\n")
    cfg = tiny_config(tiny_model, tmp_path / "bad", max_steps=3, **TWO)
    result = train(cfg, tmp_path, "bad", {"PYTHONPATH": f"{hook}:{ROOT}"})
    status = RunDir(tmp_path / "bad").status()
    assert result.returncode == 1 and status["state"] == "failed", result.stderr[-3000:]
    assert status["error"] == "rank 1: RuntimeError: injected failure on rank 1"


# --- the command ------------------------------------------------------------------------------
# A stand-in for torchrun: two "ranks" that note each SIGTERM they get (a patient rank takes
# 1 s to "save", then exits 0; a stubborn one ignores it), and a note of any SIGTERM to itself.
FAKE_RANK = """
import pathlib, signal, sys, time
out, rank, stubborn = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
def on_term(*args):
    with open(out / f"rank{rank}.sigterm", "a") as f:
        f.write("SIGTERM\\n")
    if not stubborn:
        time.sleep(1.0)
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
(out / f"rank{rank}.up").touch()
while True:
    time.sleep(0.05)
"""
FAKE_TORCHRUN = """
import pathlib, signal, subprocess, sys
out, stubborn, rank_code = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
signal.signal(signal.SIGTERM, lambda *a: (out / "torchrun.sigterm").touch())
ranks = [subprocess.Popen([sys.executable, "-c", rank_code, str(out), str(r), stubborn])
         for r in (0, 1)]
sys.exit(max(rank.wait() for rank in ranks))
"""
LAUNCHER = ("import sys; import core.runs.info as info; from core.runs.rundir import RunDir; "
            "from core.training.launch import _run_ranks; info.ABORT_GRACE_S = float(sys.argv[1]); "
            "code, asked = _run_ranks([sys.executable, '-c', *sys.argv[3:]], RunDir(sys.argv[2])); "
            "sys.exit(0 if code == 0 and asked else 1)")


def launched(out, stubborn: bool, grace_s: float = 600.0) -> tuple[subprocess.Popen,
                                                                   list[psutil.Process]]:
    """The launcher (with an abort grace of `grace_s`) running the stand-in torchrun, once
    both ranks are up; (launcher, every process below it)."""
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(grace_s), str(out),
                             FAKE_TORCHRUN, str(out), "1" if stubborn else "0", FAKE_RANK],
                            cwd=ROOT)
    wait_for(lambda: all((out / f"rank{r}.up").exists() for r in (0, 1)), 60, "the ranks")
    return proc, psutil.Process(proc.pid).children(recursive=True)


def test_the_launcher_stops_the_ranks_itself_and_a_second_signal_kills_them(tmp_path):
    """An abort's SIGTERM goes to each rank once, not to torchrun (which would kill its ranks
    30 s later, in the middle of a long save): the ranks save and exit, and the run ends
    stopped. A second signal kills torchrun and every rank at once, as does the abort's grace
    running out after one."""
    started = []
    try:
        patient, below = launched(tmp_path / "patient", stubborn=False)
        started += [patient, *below]
        patient.send_signal(signal.SIGTERM)
        assert patient.wait(timeout=60) == 0  # torchrun's exit code 0, and the stop noted
        for r in (0, 1):
            assert (tmp_path / "patient" / f"rank{r}.sigterm").read_text() == "SIGTERM\n"
        assert not (tmp_path / "patient" / "torchrun.sigterm").exists()

        stubborn, below = launched(tmp_path / "stubborn", stubborn=True)
        started += [stubborn, *below]
        stubborn.send_signal(signal.SIGTERM)
        wait_for(lambda: all((tmp_path / "stubborn" / f"rank{r}.sigterm").exists()
                             for r in (0, 1)), 30, "the first SIGTERM at both ranks")
        assert len(below) == 3 and all(p.is_running() for p in below)  # torchrun, 2 ranks
        stubborn.send_signal(signal.SIGTERM)
        stubborn.wait(timeout=30)
        _, alive = psutil.wait_procs(below, timeout=30)
        assert not alive, "a rank or torchrun outlived the second signal"

        # one signal from a shell, then nothing: the abort's grace (1 s here) kills them
        hung, below = launched(tmp_path / "hung", stubborn=True, grace_s=1.0)
        started += [hung, *below]
        hung.send_signal(signal.SIGTERM)
        assert hung.wait(timeout=30) == 1  # killed: not a clean stop
        _, alive = psutil.wait_procs(below, timeout=30)
        assert not alive, "a rank or torchrun outlived the abort's grace"
    finally:  # nothing left behind when an assertion failed early
        for proc in started:
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                proc.kill()


def test_the_command_is_torchrun_without_a_shell(tmp_path):
    one = RunConfig(nproc_per_node=1)
    assert not needs_launch(one) and not needs_launch(RunConfig())  # no GPU here: 1 process
    cfg = RunConfig(nproc_per_node=2)
    assert needs_launch(cfg)
    argv = command(cfg, "x.yaml", ["max_steps=5"], python="python")
    assert argv == ["python", "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                    "-m", "core", "train", "x.yaml", "max_steps=5"]
    multi = RunConfig(nproc_per_node=4, nnodes=2, master_addr="10.0.0.1", master_port=29600)
    argv = command(multi, "x.yaml", python="python")
    assert argv[3:8] == ["--nproc_per_node=4", "--nnodes=2", "--node_rank=0",
                         "--master_addr=10.0.0.1", "--master_port=29600"]
    (other,) = node_commands(multi, "x.yaml", ["output_dir=/shared/run"])
    assert "--node_rank=1" in other and other.endswith("output_dir=/shared/run node_rank=1")


def test_the_train_tabs_preview_shows_the_torchrun_lines(tmp_path):
    from webui.preview import command as preview_command
    from webui.tabs.train import devices_text
    from webui.workspace import Workspace

    ws = Workspace(saves_dir=tmp_path / "saves", data_dir=ROOT / "data")
    multi = RunConfig(nproc_per_node=4, nnodes=2, master_addr="10.0.0.1", run_name="multi")
    lines = preview_command(ws, multi, str(tmp_path / "x.yaml")).splitlines()
    runs = next(line for line in lines if line.startswith("# it runs one process per device"))
    assert "-m torch.distributed.run --nproc_per_node=4 --nnodes=2 --node_rank=0 " in runs
    assert f"output_dir={tmp_path / 'saves' / 'multi'}" in runs
    node = next(line for line in lines if line.startswith("# on node 1, run: "))
    assert "--node_rank=1" in node and node.endswith("node_rank=1")
    zh = preview_command(ws, multi, str(tmp_path / "x.yaml"), "zh")
    assert "# 在节点 1 上执行: python -m torch.distributed.run" in zh
    plain = preview_command(ws, RunConfig(nproc_per_node=1, run_name="one"), "x.yaml")
    assert "torch.distributed.run" not in plain
    assert "no GPU, " in devices_text("en") and "没有 GPU" in devices_text("zh")


# --- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize("values, key, words", [
    (dict(deepspeed="z3", quantization_bit=4, finetuning_type="lora"), "deepspeed", "ZeRO-3"),
    (dict(fsdp="full_shard auto_wrap", quantization_bit=4), "fsdp", "(quantized) base"),
    (dict(deepspeed="z2", fsdp="full_shard"), "fsdp", "keep one"),
    (dict(fsdp="full_shard everything"), "fsdp", "'everything' is not an FSDP option"),
    (dict(fsdp_config='{"version": 2}'), "fsdp_config", "fsdp is empty"),
    (dict(deepspeed="zero3"), "deepspeed", "neither a preset"),
    (dict(deepspeed="missing/ds.json"), "deepspeed", "not a readable DeepSpeed JSON"),
    (dict(nnodes=2, node_rank=2), "nnodes", "2 has no node_rank 2"),
])
def test_combinations_that_cannot_work_name_the_keys(values, key, words):
    with pytest.raises(ConfigError) as e:
        validate(RunConfig(**values))
    assert f"{key}: " in str(e.value) and words in str(e.value)


@pytest.mark.parametrize("values, words", [
    (dict(deepspeed="z2"), "deepspeed: 'z2': DeepSpeed needs CUDA GPUs"),
    (dict(fsdp="full_shard auto_wrap"), "FSDP needs CUDA GPUs"),
    (dict(nproc_per_node=4096 // 4), "no GPU and"),
])
def test_the_machine_refuses_what_it_cannot_run(values, words):
    from core.models.loading import check_machine

    with pytest.raises(UserError, match=words):
        check_machine(RunConfig(**values))


def test_llamafactory_deepspeed_yaml_loads_and_runs_by_its_key():
    cfg = RunConfig.from_dict({"deepspeed": "z3", "ddp_find_unused_parameters": False,
                               "master_addr": "10.0.0.1", "master_port": 29501})
    assert cfg.deepspeed == "z3" and cfg.master_port == 29501 and cfg.master_addr == "10.0.0.1"
    cfg = RunConfig.from_dict({"fsdp": ["full_shard", "auto_wrap"],
                               "fsdp_config": {"reshard_after_forward": True}})
    assert cfg.fsdp == "full_shard auto_wrap"
    assert json.loads(cfg.fsdp_config) == {"reshard_after_forward": True}


# --- DeepSpeed and FSDP settings, checked by their own parsers ------------------------------
@pytest.mark.parametrize("preset", DEEPSPEED_PRESETS)
def test_deepspeed_presets_pass_deepspeed_and_transformers(preset, tmp_path):
    pytest.importorskip("deepspeed", reason="optional: pip install -r requirements-distributed.txt")
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    from core.methods.sharding import deepspeed_settings

    cfg = RunConfig(deepspeed=preset, per_device_train_batch_size=2,
                    gradient_accumulation_steps=4, bf16=True)
    settings = deepspeed_settings(cfg, tmp_path)
    assert json.loads((tmp_path / "deepspeed.json").read_text()) == settings
    hf = HfTrainerDeepSpeedConfig(json.loads(json.dumps(settings)))
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2,
                             gradient_accumulation_steps=4, use_cpu=True)
    hf.trainer_config_process(args)  # fills every "auto" the Trainer knows
    assert hf.get_value("zero_optimization.stage") == int(preset[1])
    filled = hf.config
    filled["train_batch_size"] = 8  # one process: micro batch x accumulation
    ds = DeepSpeedConfig(filled)  # DeepSpeed's own parser: raises on a bad key or value
    assert ds.zero_optimization_stage == int(preset[1])
    assert ds.train_micro_batch_size_per_gpu == 2 and ds.gradient_accumulation_steps == 4
    if preset.endswith("offload"):
        assert ds.zero_config.offload_optimizer.device == "cpu"


def test_fsdp_settings_pass_accelerate(tiny_model, tiny_qwen3):
    from accelerate.utils import FullyShardedDataParallelPlugin

    from core.methods.sharding import fsdp_settings

    for model, layer in ((tiny_model, "Qwen2DecoderLayer"), (tiny_qwen3, "Qwen3DecoderLayer")):
        cfg = RunConfig(model_name_or_path=str(model), fsdp="full_shard auto_wrap")
        assert fsdp_settings(cfg) == {"version": 2, "reshard_after_forward": True,
                                      "transformer_layer_cls_to_wrap": [layer]}
    cfg = RunConfig(model_name_or_path=str(tiny_model), fsdp="shard_grad_op auto_wrap offload")
    assert fsdp_settings(cfg) == {"version": 2, "reshard_after_forward": False,
                                  "cpu_offload": True,
                                  "transformer_layer_cls_to_wrap": ["Qwen2DecoderLayer"]}
    with pytest.raises(UserError, match='fsdp: hybrid_shard needs FSDP1.*"version": 1'):
        fsdp_settings(cfg.replace(fsdp="hybrid_shard"))
    v1 = cfg.replace(fsdp="hybrid_shard auto_wrap",
                     fsdp_config='{"fsdp_version": 1, "sync_module_states": false}')
    assert fsdp_settings(v1)["reshard_after_forward"] == "hybrid_shard"
    # transformers turns them into accelerate's plugin arguments, which accelerate checks
    from transformers import TrainingArguments

    for c in (cfg, v1):
        settings = fsdp_settings(c)
        args = TrainingArguments(output_dir="unused", fsdp=True, fsdp_config=settings,
                                 use_cpu=True)
        plugin = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)
        assert plugin.fsdp_version == settings["version"]
        assert plugin.transformer_cls_names_to_wrap == ["Qwen2DecoderLayer"]
        if settings["version"] == 2:  # offload asked: FSDP2's CPU offload policy
            assert type(plugin.cpu_offload).__name__ == "CPUOffloadPolicy"
            assert plugin.reshard_after_forward is False  # shard_grad_op
        else:
            assert not plugin.cpu_offload.offload_params


# --- ZeRO-3's pitfalls, on what loads without a GPU ----------------------------------------
def test_zero3_keeps_lora_in_the_base_dtype_and_checkpoints_reentrant(tiny_model, monkeypatch):
    import torch

    from core.models import policy

    monkeypatch.setattr(policy, "check_machine", lambda cfg: None)  # z3 itself needs GPUs
    load = policy.load_model  # a bf16 base, as on a GPU (this CPU would load fp32)
    monkeypatch.setattr(policy, "load_model", lambda *a, **k: load(*a, **k).to(torch.bfloat16))
    cfg = tiny_config(tiny_model, "unused", gradient_checkpointing=True)

    def kinds(model):
        dtypes = {p.dtype for n, p in model.named_parameters() if "lora_" in n}
        funcs = {m._gradient_checkpointing_func.keywords["use_reentrant"]
                 for m in model.modules() if hasattr(m, "_gradient_checkpointing_func")}
        return dtypes, funcs

    assert kinds(policy.load_policy(cfg)) == ({torch.float32}, {False})
    assert kinds(policy.load_policy(cfg.replace(deepspeed="z3"))) == ({torch.bfloat16}, {True})
    assert kinds(policy.load_policy(cfg.replace(deepspeed="z2")))[1] == {False}
