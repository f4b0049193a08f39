"""Core's messages in 中文 (webui/i18n_core.py): each pattern against the message core produces
today, made by calling core as the WebUI does (validation, confinement, data checks, run
refusals, alarms, ...). A message changed in core no longer matches its pattern and fails here,
instead of showing English in the 中文 UI; a pattern nothing here (or, for the run doctor's
findings, tests/test_i18n_doctor.py) produces fails too.

Run: pytest -q tests/test_i18n_core.py"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT
from test_alarms import overfit_stream, pair
from test_votes import Q, ballot
from zh_text import english

from core.chat.ballot import Ballot
from core.config import ConfigError, RunConfig, coerce, parse_number, problems
from core.data.votes import append_vote
from core.errors import UserError
from core.runs import alarms as core_alarms
from core.runs import info as run_info
from core.runs.placement import _check_max_steps, check_free, check_writable, in_use
from core.runs.rundir import Checkpoint, RunDir
from webui import i18n_core, runlists
from webui.i18n_core import PATTERNS, say, translate
from webui.workspace import Workspace

CJK = re.compile(r"[\u4e00-\u9fff]")


def raised(fn, *args, **kwargs) -> str:
    """The message of the UserError/ValueError `fn` raises."""
    with pytest.raises((UserError, ValueError)) as e:
        fn(*args, **kwargs)
    return str(e.value)


def found(**values) -> list[str]:
    """core.config.problems() of a config with these values (as the Train form checks it)."""
    return [message for _, message in problems(RunConfig(**values))]


GRPO = dict(stage="grpo", dataset="demo_prompts")


# --- a workspace with data of every kind -----------------------------------------------------
PAIR = {"instruction": "Say hi.", "input": "", "chosen": "Hi there, friend!", "rejected": "No."}
DATASETS = {
    "pairs": [PAIR] * 3 + [
        {**PAIR, "chosen": ""}, {**PAIR, "chosen": None}, {**PAIR, "chosen": 5},
        {"instruction": "Hi", "chosen": "a"}, {**PAIR, "rejected": PAIR["chosen"]},
        {**PAIR, "instruction": "", "input": ""}],
    "broken": [{"instruction": "x", "answer": "y"}] * 3,  # no chosen/rejected in any record
    "many": [{**PAIR, "chosen": ""}] * 12 + [PAIR] * 2,
    "huge": [{"instruction": " ".join(["word"] * 400), "input": "",
              "chosen": " ".join(["ok"] * 12),
              "rejected": "no"}],
    "ranked": [{"instruction": "Pick", "output": ["only one"]},
               {"instruction": "Pick", "output": ["good", "bad"]}],
    "kto": [{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
             "kto_tag": tag} for tag in (True, False, "maybe")],
    "chats": [{"conversations": [{"from": "human", "value": "q"}]},
              {"conversations": "not a list"},
              {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}],
    "long": [{"instruction": " ".join(["word"] * 60), "input": "",
              "chosen": " ".join(["good"] * 40), "rejected": "bad"}] * 2,
    "turns": [{"conversations": [{"from": "human", "value": " ".join(["early"] * 40)},
                                 {"from": "gpt", "value": " ".join(["reply"] * 40)},
                                 {"from": "human", "value": "now?"}],
               "chosen": {"from": "gpt", "value": "yes"},
               "rejected": {"from": "gpt", "value": "no"}}] * 2,
}
ENTRIES = {
    "pairs": {"file_name": "pairs.json", "ranking": True,
              "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                          "rejected": "rejected"}},
    "many": {"file_name": "many.json", "ranking": True,
             "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                         "rejected": "rejected"}},
    "broken": {"file_name": "broken.json", "ranking": True,
               "columns": {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"}},
    "ranked": {"file_name": "ranked.json", "ranking": True},
    "kto": {"file_name": "kto.json", "formatting": "sharegpt", "columns": {"kto_tag": "kto_tag"}},
    "chats": {"file_name": "chats.json", "formatting": "sharegpt"},
    "huge": {"file_name": "huge.json", "ranking": True,
             "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                         "rejected": "rejected"}},
    "long": {"file_name": "long.json", "ranking": True,
             "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                         "rejected": "rejected"}},
    "turns": {"file_name": "turns.json", "formatting": "sharegpt", "ranking": True,
              "columns": {"messages": "conversations", "chosen": "chosen",
                          "rejected": "rejected"}},
    "missing": {"file_name": "nowhere.json"},
}


@pytest.fixture(scope="module")
def env(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("i18n-core")
    data = root / "data"
    data.mkdir()
    for name, records in DATASETS.items():
        (data / f"{name}.json").write_text(json.dumps(records))
    registry = json.loads((ROOT / "dataset_info.json").read_text())
    registry.update(ENTRIES)
    for name in ("demo_pref_en", "demo_sft", "demo_kto"):
        (data / registry[name]["file_name"]).write_bytes(
            (ROOT / "data" / registry[name]["file_name"]).read_bytes())
    keep = {k: v for k, v in registry.items() if k in ENTRIES or k in
            ("demo_pref_en", "demo_sft", "demo_kto")}
    (data / "dataset_info.json").write_text(json.dumps(keep))
    ws = Workspace(saves_dir=root / "saves", data_dir=data)
    return SimpleNamespace(root=root, data=data, ws=ws, tokenizer=tokenizer)


def check(env, name, stage="dpo", **kwargs) -> list[str]:
    """The Data tab's check: every problem reason, note and cut example of the report."""
    from core.data import check_dataset
    report = check_dataset(name, env.data, stage, **kwargs).to_dict()
    cuts = report.get("truncation") or {}
    return ([p["reason"] for p in report["problems"]] + report["notes"]
            + cuts.get("examples", []))


def problem_lines(env, name, stage="dpo", **kwargs) -> list[str]:
    """Problems as str(Problem): how the Train tab's dry run and an upload show them."""
    from core.data import check_dataset
    return [str(p) for p in check_dataset(name, env.data, stage, **kwargs).problems]


def alarm_texts(records, total, kind) -> list[str]:
    out = []
    for a in core_alarms.check(records, total, kind):
        out += [a.seen, a.meaning, a.advice]
    return out


def run_dir(env, name, status=None, log=None, config=True) -> RunDir:
    rd = RunDir(env.root / "saves" / name)
    rd.path.mkdir(parents=True, exist_ok=True)
    if config:
        RunConfig().save(rd.config)
    if status:
        rd.update_status(**status)
    if log:
        rd.log_file.write_text(log)
    return rd


def info(env, state="failed", **kw) -> run_info.RunInfo:
    rd = run_dir(env, kw.pop("name", "r"), config=kw.pop("config", True))
    return run_info.RunInfo(name=rd.path.name, path=rd.path, state=state, **kw)


def trained_error(env) -> str:
    """status.json's error of a run that fails once training has begun (an unknown dataset)."""
    from core.training.run import run
    cfg = RunConfig(dataset="nope", dataset_dir=str(env.data), output_dir=str(env.root / "t"),
                    max_steps=1)
    with pytest.raises(UserError):
        run(cfg)
    return RunDir(env.root / "t").status()["error"]


def cuda_refusal(monkeypatch, **values) -> str:
    import torch

    from core.models.loading import check_machine
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return raised(check_machine, RunConfig(**values))


def reporter_refusal(monkeypatch) -> str:
    import importlib.util

    from core.models import loading
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    return raised(loading._require_reporter, "mlflow")


def upload(env, name, records, **kwargs) -> str:
    from webui.tabs import data_upload
    path = env.root / "uploads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(records if isinstance(records, str) else json.dumps(records))
    return raised(data_upload.detect, env.ws, str(path), str(env.data), **kwargs)


def registered(env, **kwargs) -> str:
    from core.data import register_upload
    src = env.root / "up.json"
    src.write_text(json.dumps([PAIR]))
    args = dict(name="fresh", save_as=env.data / "fresh.json", dataset_dir=env.data)
    return raised(register_upload, src, **{**args, **kwargs})


def preflight_lines(env, dataset, **values) -> list[str]:
    """The Train tab's dry run on this workspace: its problems as Preview lists them next to
    the form (core.training.preflight and the run doctor, through train.preview)."""
    from webui import forms
    from webui.tabs import train as train_tab
    cfg = RunConfig(dataset=dataset, dataset_dir=str(env.data), cutoff_len=256, **values)
    _, _, found = train_tab.preview(env.ws, forms.config_values(cfg))
    return [m for _, m in found]


def corrupt_checkpoints(env) -> list[str]:
    """A run folder whose only checkpoint is corrupt at the same size: the resume refusals."""
    from core.runs.placement import resume_point
    from core.runs.rundir import mark_complete

    rd = run_dir(env, "corrupt", status={"state": "aborted"})
    folder = rd.path / "checkpoint-3"
    folder.mkdir(exist_ok=True)
    (folder / "optimizer.pt").write_bytes(b"saved")
    mark_complete(folder, 3)
    (folder / "optimizer.pt").write_bytes(b"SAVED")
    cfg = RunConfig(output_dir=str(rd.path))
    return [raised(resume_point, cfg.replace(resume_from_checkpoint=True), rd),
            raised(resume_point, cfg.replace(resume_from_checkpoint=str(folder)), rd)]


def corrupt_file(env) -> str:
    """fit()'s message for a checkpoint file torch cannot read safely (an old marker)."""
    from core.methods.common import _train

    folder = env.root / "old-checkpoint"
    folder.mkdir(exist_ok=True)
    (folder / "optimizer.pt").write_bytes(b"PK not a torch file")

    def train(resume_from_checkpoint):
        raise RuntimeError("PytorchStreamReader failed reading zip archive")

    return raised(_train, SimpleNamespace(train=train), str(folder))


def non_finite() -> list[str]:
    """What core.methods.finite stops a run with: a gradient, a logged value, the weights."""
    import torch

    from core.methods.finite import FiniteGuard, check_weights

    model = torch.nn.Linear(2, 2)
    model.weight.grad = torch.full((2, 2), math.nan)
    guard, state = FiniteGuard(), SimpleNamespace(global_step=2)
    out = [raised(guard.on_pre_optimizer_step, SimpleNamespace(fp16=False), state, None,
                  model=model),
           raised(guard.on_log, SimpleNamespace(fp16=False), state, None, logs={"loss": math.nan})]
    with torch.no_grad():
        model.bias[0] = math.inf
    out += [raised(check_weights, model, "checkpoint-2 not marked complete", 2),
            raised(check_weights, model, "the final model not saved", 2)]
    return out


PRODUCERS = {
    # --- values and the config's checks ------------------------------------------------------
    "required": lambda env, mp: raised(coerce, "learning_rate", ""),
    "too_large": lambda env, mp: raised(coerce, "learning_rate", 10 ** 400),
    "not_type": lambda env, mp: [raised(coerce, "learning_rate", "abc"),
                                 raised(coerce, "lora_alpha", "x")],
    "at_least": lambda env, mp: raised(parse_number, "top_k", "-1", integer=True, minimum=0),
    "template_hint": lambda env, mp: found(template="llama3"),
    "not_one_of_hint": lambda env, mp: found(template="llama3"),
    "not_one_of": lambda env, mp: found(optim="adamw_nope"),
    "not_finite": lambda env, mp: found(ld_alpha=math.nan),
    "not_finite_default": lambda env, mp: found(learning_rate=math.inf),
    "below_min": lambda env, mp: found(cutoff_len=8),
    "above_max": lambda env, mp: found(lora_dropout=0.95),
    "not_above": lambda env, mp: found(learning_rate=0.0),
    "not_below": lambda env, mp: found(adam_beta1=1.0),
    "nul": lambda env, mp: found(run_name="a\0b"),
    "surrogates": lambda env, mp: found(run_name="\ud800"),
    "surrogates_path": lambda env, mp: raised(env.ws.confine, "\ud800", "save_as"),
    "too_long": lambda env, mp: found(run_name="x" * 201),
    "path_too_long": lambda env, mp: found(output_dir="a/" * 2100),
    "name_too_long": lambda env, mp: found(output_dir="x" * 300),
    "run_name_slash": lambda env, mp: found(run_name="a/b"),
    "run_name_dots": lambda env, mp: found(run_name=".."),
    "run_name_control": lambda env, mp: found(run_name="a\tb"),
    "label_smoothing": lambda env, mp: found(pref_loss="hinge", dpo_label_smoothing=0.1),
    "robust_needs_noise": lambda env, mp: found(pref_loss="robust"),
    "no_reference_loss": lambda env, mp: found(pref_loss="orpo", ref_model="demo"),
    "needs_ref_model": lambda env, mp: found(ref_model_adapters="saves/x"),
    "ld_alpha": lambda env, mp: found(pref_loss="simpo", ld_alpha=0.5),
    "quantized_full": lambda env, mp: found(quantization_bit=4, finetuning_type="full"),
    "bf16_fp16": lambda env, mp: found(bf16=True, fp16=True),
    "pure_bf16_fp16": lambda env, mp: found(pure_bf16=True, fp16=True),
    "pissa_dora": lambda env, mp: found(use_dora=True, pissa_init=True),
    "val_size_share": lambda env, mp: found(val_size=2.5),
    "no_dataset": lambda env, mp: found(dataset=" , "),
    "lora_target_empty": lambda env, mp: found(lora_target=" , "),
    "lora_target_all": lambda env, mp: found(lora_target="all,q_proj"),
    "freeze_zero": lambda env, mp: found(finetuning_type="freeze", freeze_trainable_layers=0),
    "save_only_resume": lambda env, mp: found(save_only_model=True, resume_from_checkpoint=True),
    "scheduler_kwargs": lambda env, mp: found(lr_scheduler_kwargs="[1]"),
    "val_and_eval": lambda env, mp: found(val_size=0.1, eval_dataset="demo_pref_en_test"),
    "probs_numbers": lambda env, mp: found(dataset="a,b", mix_strategy="interleave_under",
                                           interleave_probs="x,y"),
    "probs_count": lambda env, mp: found(dataset="a,b,c", mix_strategy="interleave_under",
                                         interleave_probs="0.5,0.5"),
    "probs_sum": lambda env, mp: found(dataset="a,b", mix_strategy="interleave_under",
                                       interleave_probs="0.5,0.6"),
    "beta_end": lambda env, mp: found(pref_beta_schedule="linear"),
    "kto_batch": lambda env, mp: found(stage="kto", per_device_train_batch_size=1,
                                       gradient_accumulation_steps=1),
    "unknown_reward": lambda env, mp: found(**GRPO, reward_funcs="nope"),
    "reward_model_missing": lambda env, mp: found(**GRPO, reward_funcs="reward_model"),
    "reward_model_unused": lambda env, mp: found(**GRPO, reward_model="saves/rm"),
    "reward_weights": lambda env, mp: found(**GRPO, reward_weights="x"),
    "completion_room": lambda env, mp: found(**GRPO, max_completion_length=4096),
    "generations_divide": lambda env, mp: found(**GRPO, num_generations=3),
    "eval_batch_grpo": lambda env, mp: found(**GRPO, val_size=0.1, per_device_eval_batch_size=1),
    "regex": lambda env, mp: found(**GRPO, reward_funcs="format", reward_format_regex="("),
    # --- paths, models, the machine ----------------------------------------------------------
    "give_path": lambda env, mp: raised(env.ws.confine, "", "dataset_dir"),
    "outside": lambda env, mp: raised(env.ws.confine, "/etc", "output_dir"),
    "outside_link": lambda env, mp: outside_link(env),
    "not_a_run_folder": lambda env, mp: raised(runlists.source, env.ws,
                                                             str(env.data / "pairs.json")),
    "yaml_suffix": lambda env, mp: saved_yaml(env, "config.txt"),
    "cannot_write": lambda env, mp: saved_yaml(env, "a-file/x.yaml"),
    "yaml_folder": lambda env, mp: saved_yaml(env, "folder.yaml"),
    "yaml_run_config": lambda env, mp: saved_yaml(env, "configs/config.yaml"),
    "yaml_in_run": lambda env, mp: (run_dir(env, "a-run"), saved_yaml(env, "a-run/x.yaml"))[1],
    "run_folder_write": lambda env, mp: started(env, "blocked"),
    "run_folder_on_file": lambda env, mp: [placed_under_a_file(env)],
    "run_folder_readonly": lambda env, mp: (mp.setattr("core.runs.placement.os.access",
                                                       lambda *a: False),
                                            [raised(check_writable, env.ws.saves_dir / "r")])[1],
    "not_model_folder": lambda env, mp: raised(env.ws.check_model, str(env.data)),
    "not_hub_id": lambda env, mp: raised(env.ws.check_model, "no such model"),
    "give_model": lambda env, mp: raised(env.ws.check_model, " "),
    "model_outside_link": lambda env, mp: model_outside_link(env),
    "model_outside": lambda env, mp: raised(env.ws.check_model, str(env.root.parent)),
    "offline": lambda env, mp: load_hint("Qwen/Qwen2.5-0.5B-Instruct"),
    "not_loadable": lambda env, mp: (mp.delenv("HF_HUB_OFFLINE"),
                                     load_hint("Qwen/Qwen2.5-0.5B-Instruct"))[1],
    "cannot_load": lambda env, mp: load_hint(str(env.data)),
    "needs_cuda": lambda env, mp: [cuda_refusal(mp, quantization_bit=4),
                                   cuda_refusal(mp, optim="adamw_8bit")],
    "fa2": lambda env, mp: cuda_refusal(mp, flash_attn="fa2"),
    "flex": lambda env, mp: cuda_refusal(mp, flash_attn="flex"),
    "reporter": lambda env, mp: reporter_refusal(mp),
    "deepspeed_cpu": lambda env, mp: cuda_refusal(mp, deepspeed="z2"),
    "fsdp_cpu": lambda env, mp: cuda_refusal(mp, fsdp="full_shard auto_wrap"),
    "procs_cpus": lambda env, mp: cuda_refusal(mp, nproc_per_node=1000),
    "shard_both": lambda env, mp: found(deepspeed="z2", fsdp="full_shard"),
    "zero3_bits": lambda env, mp: found(deepspeed="z3", quantization_bit=4),
    "fsdp_bits": lambda env, mp: found(fsdp="full_shard", quantization_bit=4),
    "fsdp_config_alone": lambda env, mp: found(fsdp_config='{"version": 2}'),
    "node_rank": lambda env, mp: found(nnodes=2, node_rank=3),
    # --- data ----------------------------------------------------------------------------------
    "unknown_dataset_hint": lambda env, mp: unknown(env, "demo_pref_eng"),
    "unknown_dataset": lambda env, mp: unknown(env, "zzzzzzzz"),
    "no_datasets": lambda env, mp: unknown(env, "x", empty_registry(env)),
    "file_not_found": lambda env, mp: raised(check_rows, env, "missing"),
    "no_rows": lambda env, mp: no_rows(env),
    "bad_ratio": lambda env, mp: bad_ratio(env),
    "bad_ratio_end": lambda env, mp: bad_ratio(env),
    "and_more": lambda env, mp: bad_ratio(env, many=True),
    "and_more_problems": lambda env, mp: preflight_lines(env, "many", max_bad_ratio=1.0),
    "bad_skipped": lambda env, mp: preflight_lines(env, "pairs", max_bad_ratio=1.0),
    "warning": lambda env, mp: preflight_lines(env, "pairs", max_bad_ratio=1.0),
    "problem_line": lambda env, mp: problem_lines(env, "pairs"),
    "in_all": lambda env, mp: check(env, "broken"),
    "empty_text_query": lambda env, mp: check(env, "pairs"),
    "empty_text": lambda env, mp: check(env, "pairs"),
    "empty_null": lambda env, mp: check(env, "pairs"),
    "expected_text": lambda env, mp: check(env, "pairs"),
    "missing_column": lambda env, mp: check(env, "pairs"),
    "identical": lambda env, mp: check(env, "pairs"),
    "expected_bool": lambda env, mp: check(env, "kto", "kto"),
    "expected_pairs": lambda env, mp: check(env, "ranked"),
    "expected_messages": lambda env, mp: check(env, "chats", "sft"),
    "end_assistant": lambda env, mp: check(env, "chats", "sft"),
    "refused_len": lambda env, mp: check(env, "long", tokenizer=env.tokenizer, cutoff_len=32,
                                         truncation="drop"),
    "line_suffix_dropped": lambda env, mp: problem_lines(env, "long", tokenizer=env.tokenizer,
                                                         cutoff_len=32, truncation="drop"),
    "no_answer_room": lambda env, mp: check(env, "huge", tokenizer=env.tokenizer, cutoff_len=16),
    "cut_example": lambda env, mp: check(env, "long", tokenizer=env.tokenizer, cutoff_len=48),
    "cut_example_turns": lambda env, mp: check(env, "turns", tokenizer=env.tokenizer,
                                               cutoff_len=40, truncation="keep_recent"),
    "needs_ranking": lambda env, mp: check(env, "demo_sft", "dpo"),
    "kto_needs": lambda env, mp: check(env, "demo_sft", "kto"),
    "ranking_for_sft": lambda env, mp: check(env, "demo_pref_en", "sft"),
    "kto_left_out": lambda env, mp: check(env, "demo_kto", "sft"),
    # --- upload and register -------------------------------------------------------------------
    "no_records": lambda env, mp: upload(env, "empty.json", []),
    "no_layout": lambda env, mp: upload(env, "odd.json", [{"foo": "x", "bar": "y"}]),
    "save_as_outside": lambda env, mp: registered(env, save_as=env.root / "out.json"),
    "save_as_exists": lambda env, mp: registered(env, save_as=env.data / "pairs.json"),
    "name_taken": lambda env, mp: registered(env, name="pairs"),
    "bad_name": lambda env, mp: registered(env, name="a,b"),
    "unsupported_type": lambda env, mp: upload(env, "notes.txt", "hello"),
    "bad_json": lambda env, mp: upload(env, "bad.json", "[{"),
    "bad_jsonl": lambda env, mp: upload(env, "bad.jsonl", '{"a": 1}\n{oops\n'),
    # --- chat votes -------------------------------------------------------------------------------
    "vote_no_answer": lambda env, mp: raised(Ballot, {"A": [Q], "B": []}, {"A": "x", "B": "y"}),
    "vote_empty_side": lambda env, mp: raised(ballot, a="  "),
    "vote_pick": lambda env, mp: raised(ballot().vote, "C"),
    "vote_better_empty": lambda env, mp: raised(ballot().vote, "A", "   "),
    "vote_not_saved": lambda env, mp: blank_vote(env),
    "vote_answer_empty": lambda env, mp: blank_vote(env),
    "votes_name": lambda env, mp: raised(append_vote, ballot().vote("A"), "../evil", env.root),
    "votes_not_votes": lambda env, mp: raised(append_vote, ballot().vote("A"), "pairs", env.data),
    "votes_bad_json": lambda env, mp: broken_votes(env, "{not json\n"),
    "votes_not_vote": lambda env, mp: broken_votes(env, '{"a": 1}\n'),
    # --- runs ------------------------------------------------------------------------------------
    "gone": lambda env, mp: run_info.GONE,
    "startup_see_log": lambda env, mp: run_info.startup_error(run_dir(env, "s1", log="x\n")),
    "startup": lambda env, mp: run_info.startup_error(run_dir(
        env, "s2", log="error: cutoff_len: 8 is below the minimum 16\n")),
    "stopped_alarm": lambda env, mp: stopped_on_alarm(env),
    "abort_stopping": lambda env, mp: run_info.refusal(info(env, "running", stopping=True),
                                                       "abort"),
    "abort_state": lambda env, mp: run_info.refusal(info(env, "completed"), "abort"),
    "resume_alive": lambda env, mp: run_info.refusal(info(env, "running", alive=True, pid=7),
                                                     "resume"),
    "resume_state": lambda env, mp: run_info.refusal(info(env, "completed"), "resume"),
    "resume_final": lambda env, mp: resume_final(env),
    "delete_alive": lambda env, mp: [run_info.refusal(info(env, "running", alive=True, pid=7),
                                                      "delete"),
                                     run_info.refusal(info(env, "completed", alive=True, pid=7),
                                                      "delete")],
    "try_later": lambda env, mp: run_info.refusal(info(env, "completed", alive=True, pid=7),
                                                  "delete"),
    "abort_first": lambda env, mp: run_info.refusal(info(env, "running", alive=True, pid=7),
                                                    "delete"),
    "config_missing": lambda env, mp: run_info.refusal(info(env, "failed", name="nc",
                                                            config=False), "resume"),
    "config_missing_load": lambda env, mp: run_info.refusal(info(env, name="nc2", config=False),
                                                            "load"),
    "in_use": lambda env, mp: in_use(run_dir(env, "busy", status={"pid": 7})),
    "holds_run": lambda env, mp: raised(check_free, run_dir(env, "done", status={
        "state": "completed"}), RunConfig()),
    "no_checkpoint": lambda env, mp: raised(check_free, run_dir(env, "fresh"),
                                            RunConfig(resume_from_checkpoint=True)),
    "max_steps_below": lambda env, mp: raised(_check_max_steps, RunConfig(max_steps=2),
                                              Checkpoint(env.root / "checkpoint-3", 3, True)),
    "no_sound_checkpoint": lambda env, mp: corrupt_checkpoints(env),
    "incomplete_checkpoint": lambda env, mp: corrupt_checkpoints(env),
    "checkpoint_corrupt": lambda env, mp: corrupt_checkpoints(env),
    "corrupt_file": lambda env, mp: corrupt_file(env),
    "nan_stop": lambda env, mp: non_finite(),
    "nan_gradient": lambda env, mp: non_finite(),
    "nan_logged": lambda env, mp: non_finite(),
    "nan_final": lambda env, mp: non_finite(),
    "nan_checkpoint": lambda env, mp: non_finite(),
    "no_final_model": lambda env, mp: no_final_model(env),
    "export_exists": lambda env, mp: export_exists(env),
    "problems": lambda env, mp: str(ConfigError(["cutoff_len: 8 is below the minimum 16",
                                                 "fp16: bf16 and fp16 are both true; keep one"])),
    "source_problems": lambda env, mp: raised(RunConfig.load, bad_yaml(env)),
    "exception": lambda env, mp: trained_error(env),
    "keyed": lambda env, mp: keyed_unknown(env),
    "dataset_file_outside": lambda env, mp: refused_dataset(env),
    # --- alarms ----------------------------------------------------------------------------------
    "stuck_seen": lambda env, mp: alarm_texts([pair(s, 1e-6, 2e-6) for s in range(1, 20)], 100,
                                              core_alarms.Kind()),
    "stuck_seen_masked": lambda env, mp: alarm_texts([pair(s, 0.0, 0.0, ref=(0.0, 0.0))
                                                      for s in range(1, 12)], 100,
                                                     core_alarms.Kind()),
    "stuck_meaning": lambda env, mp: alarm_texts([pair(s, 1e-6, 2e-6) for s in range(1, 20)],
                                                 100, core_alarms.Kind()),
    "stuck_advice": lambda env, mp: alarm_texts([pair(s, 1e-6, 2e-6) for s in range(1, 20)],
                                                100, core_alarms.Kind()),
    "easy_seen": lambda env, mp: alarm_texts([easy()], 200, core_alarms.Kind()),
    "easy_meaning": lambda env, mp: alarm_texts([easy()], 200, core_alarms.Kind()),
    "easy_advice": lambda env, mp: alarm_texts([easy()], 200, core_alarms.Kind()),
    "displacement_seen": lambda env, mp: displaced(),
    "displacement_meaning": lambda env, mp: displaced(),
    "displacement_advice": lambda env, mp: displaced(),
    "set_ftx": lambda env, mp: displaced(),
    "raise_ftx": lambda env, mp: displaced(ftx=0.5),
    "margin_seen": lambda env, mp: alarm_texts(steady() + [pair(6, 10.0, -600.0)], 100,
                                               core_alarms.Kind()),
    "high_loss_seen": lambda env, mp: diverged(),
    "diverging_meaning": lambda env, mp: diverged(),
    "diverging_advice": lambda env, mp: diverged(),
    "spike_seen": lambda env, mp: spiked(),
    "spike_meaning": lambda env, mp: spiked(),
    "spike_advice": lambda env, mp: spiked(),
    "nan_seen": lambda env, mp: not_finite(["loss"]),
    "nan_seen_many": lambda env, mp: not_finite(["loss", "rewards/chosen"]) + not_finite_grads(),
    "nan_meaning": lambda env, mp: not_finite(["loss"]),
    "nan_advice": lambda env, mp: not_finite(["loss"]),
    "overfit_seen": lambda env, mp: overfit(),
    "overfit_meaning": lambda env, mp: overfit(),
    "overfit_advice": lambda env, mp: overfit(),
}


def blank_vote(env) -> str:
    vote = ballot().vote("B")
    vote.rejected = " "
    return raised(append_vote, vote, "chat_votes", env.root / "votes")


def broken_votes(env, line: str) -> str:
    folder = env.root / "votes"
    folder.mkdir(exist_ok=True)
    (folder / "broken.jsonl").write_text('{"winner": "A"}\n' + line)
    return raised(append_vote, ballot().vote("A"), "broken", folder)


def outside_link(env) -> str:
    link = env.data / "elsewhere"
    if not link.exists():
        link.symlink_to(env.root.parent)
    return raised(env.ws.confine, str(link / "x.json"), "save_as")


def model_outside_link(env) -> str:
    """A link inside data/ to a folder outside the ones models load from."""
    link = env.data / "model-elsewhere"
    if not link.exists():
        link.symlink_to(env.root.parent)
    return raised(env.ws.check_model, str(link))


def saved_yaml(env, path: str) -> str:
    """The Train tab's Save YAML refusal (a bad name, a folder where the file goes)."""
    from webui import config_files, forms
    (env.ws.saves_dir / "folder.yaml").mkdir(parents=True, exist_ok=True)
    (env.ws.saves_dir / "a-file").write_text("a file where a folder goes")
    values = forms.config_values(RunConfig(dataset_dir=str(env.data)))
    written, found = config_files.save_yaml(env.ws, values, str(env.ws.saves_dir / path))
    assert written is None
    return [message for _, message in found]


def placed_under_a_file(env) -> str:
    """check_writable's refusal of a run folder below a file."""
    (env.ws.saves_dir / "a-file").write_text("x")
    return raised(check_writable, env.ws.saves_dir / "a-file" / "run")


def started(env, output_dir: str) -> list[str]:
    """The Train tab's Start refusal when the run folder cannot be written (a folder where
    its config.yaml goes); nothing is launched."""
    from core.runs.manager import RunManager
    from webui import forms
    from webui.tabs import train as train_tab
    (env.ws.saves_dir / output_dir / "config.yaml").mkdir(parents=True, exist_ok=True)
    cfg = RunConfig(dataset="demo_pref_en", dataset_dir=str(env.data), cutoff_len=256,
                    output_dir=str(env.ws.saves_dir / output_dir))
    name, found = train_tab.start(env.ws, RunManager(env.ws.saves_dir),
                                  forms.config_values(cfg))
    assert name is None
    return [message for _, message in found]


def load_hint(source: str) -> str:
    from core.models.loading import load_hint as hint
    return hint("model_name_or_path", source, OSError("no such file"))


def unknown(env, name: str, folder: Path | None = None) -> str:
    from core.data.registry import get_entry
    return raised(get_entry, name, folder or env.data)


def keyed_unknown(env) -> str:
    """The dry run's refusal of an unknown dataset, under the key it concerns."""
    from core.data.training import check_dataset_names
    return raised(check_dataset_names, training_config(env, "demo_pref_eng"))


def empty_registry(env) -> Path:
    folder = env.root / "empty"
    folder.mkdir(exist_ok=True)
    (folder / "dataset_info.json").write_text("{}")
    return folder


def check_rows(env, name):
    from core.data import check_dataset
    return check_dataset(name, env.data, "dpo")


def training_config(env, dataset, **values) -> RunConfig:
    return RunConfig(dataset=dataset, dataset_dir=str(env.data), **values)


def no_rows(env) -> str:
    from core.data import load_for_training
    return raised(load_for_training, training_config(env, "broken", max_bad_ratio=1.0))


def bad_ratio(env, many: bool = False) -> str:
    from core.data import load_for_training
    dataset = "many" if many else "pairs"
    return raised(load_for_training, training_config(env, dataset))


def stopped_on_alarm(env) -> str:
    """status.json's error after the training callback stops a run on an alarm."""
    from core.methods.alarms import AlarmWatch
    from core.methods.callbacks import GracefulStop
    rd = run_dir(env, "alarmed")
    callback = AlarmWatch(rd, RunConfig(stop_on_alarm=True), GracefulStop(rd))
    state = SimpleNamespace(max_steps=100, global_step=0)
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    callback.on_train_begin(None, state, control)
    for record in [pair(s, 1e-6, 2e-6) for s in range(1, 20)]:
        state.global_step = record["step"]
        callback.on_log(None, state, control, logs={k: v for k, v in record.items()
                                                     if k != "step"})
    return rd.status()["error"]


def resume_final(env) -> str:
    run = info(env, "failed", name="final")
    (run.path / "adapter_config.json").write_text("{}")
    (run.path / "adapter_model.safetensors").write_bytes(b"")
    return run_info.refusal(run, "resume")


def no_final_model(env) -> str:
    from core.models.spec import run_model_spec
    rd = run_dir(env, "empty-run", status={"state": "running"})
    return raised(run_model_spec, str(rd.path))


def export_exists(env) -> str:
    from core.models.export import export
    out = env.root / "exported"
    out.mkdir(exist_ok=True)
    (out / "x").write_text("x")
    return raised(export, str(env.data), str(out))


def bad_yaml(env) -> Path:
    path = env.root / "bad.yaml"
    path.write_text("cutoff_len: abc\nlearning_rate: xyz\n")
    return path


def refused_dataset(env) -> str:
    """A registry entry reading a file outside the workspace: Train's check before a run."""
    folder = env.root / "other-data"
    folder.mkdir(exist_ok=True)
    (folder / "dataset_info.json").write_text(json.dumps(
        {"far": {"file_name": str(env.root.parent / "far.json")}}))
    ws = Workspace(saves_dir=env.root / "saves", data_dir=folder)
    return raised(ws.check_datasets, ["far"], str(folder))


def easy() -> dict:
    return {**pair(2, 20.0, -25.0), "rewards/accuracies": 1.0}


def displaced(ftx: float = 0.0) -> list[str]:
    return alarm_texts([pair(s, -0.8 * s, -1.5 * s) for s in range(1, 40)], 100,
                       core_alarms.Kind(ftx=ftx))


def steady() -> list[dict]:
    return [pair(s, 0.1 * s, -0.1 * s) for s in range(1, 6)]


def diverged() -> list[str]:
    return alarm_texts(steady() + [pair(6, -25.0, 0.0), pair(7, -30.0, 0.0)], 100,
                       core_alarms.Kind())


def spiked() -> list[str]:
    return alarm_texts(steady() + [pair(6, 0.6, -0.6, grad=15.0)], 100, core_alarms.Kind())


def not_finite(keys: list[str]) -> list[str]:
    bad = {**pair(4, 0.4, -0.4), **{k: math.nan for k in keys}}
    return alarm_texts(steady()[:3] + [bad], 100, core_alarms.Kind())


def not_finite_grads() -> list[str]:
    return alarm_texts(steady() + [pair(6, 0.6, -0.6, grad=math.inf),
                                   pair(7, 0.7, -0.7, grad=math.nan)], 100, core_alarms.Kind())


def overfit() -> list[str]:
    return alarm_texts(overfit_stream([0.9, 0.8, 0.75, 0.78, 0.82]), 50,
                       core_alarms.Kind("sft", None))


def test_every_pattern_has_a_producer():
    from test_i18n_doctor import (
        PRODUCERS as DOCTOR,  # the doctor's findings: made there
    )
    ids = [p.id for p in PATTERNS]
    assert len(ids) == len(set(ids)), "pattern ids must be unique"
    assert not set(PRODUCERS) & set(DOCTOR)
    assert set(ids) == set(PRODUCERS) | set(DOCTOR), (set(ids) ^ (set(PRODUCERS) | set(DOCTOR)))


@pytest.mark.parametrize("pattern_id", list(PRODUCERS))
def test_the_pattern_matches_what_core_says_today(pattern_id, env, monkeypatch):
    assert_translated(pattern_id, PRODUCERS[pattern_id](env, monkeypatch))


def assert_translated(pattern_id: str, produced: str | list[str]) -> None:
    """Core produced a message (or several) that pattern `pattern_id` turns into 中文."""
    messages = [m for m in (produced if isinstance(produced, list) else [produced]) if m]
    assert messages, f"{pattern_id}: core produced no message"
    results = []
    for message in messages:
        used: list[str] = []
        results.append((message, translate(message, used), used))
    hits = [(m, zh) for m, zh, used in results if pattern_id in used]
    assert hits, f"{pattern_id} translates none of what core says:\n" + "\n".join(
        f"  {m!r} -> {used}" for m, _, used in results)
    for message, zh in hits:
        assert zh != message and CJK.search(zh), (message, zh)


def test_unknown_messages_stay_english_and_english_is_untouched():
    assert say("something core may say one day", "zh") == "something core may say one day"
    assert say("cutoff_len: 8 is below the minimum 16", "en") == \
        "cutoff_len: 8 is below the minimum 16"
    assert say("cutoff_len: 8 is below the minimum 16", "zh") == "cutoff_len：8 低于最小值 16"
    # a part that is itself a message no pattern knows leaves the whole message English
    assert say("RuntimeError: CUDA out of memory", "zh") == "RuntimeError: CUDA out of memory"
    assert say(None, "zh") == ""


def test_a_run_error_and_its_alarm_read_in_chinese(env):
    text = say(stopped_on_alarm(env), "zh")
    assert text.startswith("因“停滞”告警在第 10 步停止：训练 10 步后损失为 0.6931")
    assert not english(text), english(text)


def test_many_lines_are_translated_line_by_line(env):
    message = bad_ratio(env)
    zh = say(message, "zh")
    assert len(zh.splitlines()) == len(message.splitlines())
    assert zh.splitlines()[0].startswith("9 条记录中有 5 条坏记录（55.6%）")
    assert zh.splitlines()[2].endswith("pairs.json:4 chosen：为空（null）")
    assert "超过了 max_bad_ratio 0.0" in zh.splitlines()[0]


def test_the_converters():
    assert i18n_core._types("a whole number or empty") == "整数或空"
    assert i18n_core._types("a dict") is None
    assert i18n_core._what("prompt -12, answer -3") == "提示 -12，回答 -3"
    assert i18n_core._formula("1/(4 beta^2)") == "1/(4 β^2)"


def test_a_failure_headline_reads_in_chinese(env):
    """The Runs tab's headline of a failed run joins a list's first item to its intro line
    (core.runs.failure): translated piece by piece, all or nothing."""
    from core.runs.failure import explain
    failure = explain(info(env, "failed", name="bad-data", error=f"UserError: {bad_ratio(env)}"))
    zh = say(failure.headline, "zh")
    assert zh.startswith("9 条记录中有 5 条坏记录（55.6%），超过了 max_bad_ratio 0.0：")
    assert not english(zh, {"pairs.json"}), english(zh)
    problems = str(ConfigError(["cutoff_len: 8 is below the minimum 16",
                                "fp16: bf16 and fp16 are both true; keep one"]))
    failure = explain(info(env, "failed", name="bad-config", error=problems))
    assert say(failure.headline, "zh") == "2 个问题：cutoff_len：8 低于最小值 16"
    assert say("2 problems: something new", "zh") == "2 problems: something new"
