"""Bad values get a clear error that names the key and the fix, before anything runs: every
number has an upper bound (the worker count one this machine can bear), NaN and infinity are
refused for every float field, and the config files and values that used to raise raw
exceptions (a top-level list, a number as a key, thousands of nested brackets, a NUL byte in a
path, a 300-character run name, ...) are ConfigErrors or problems next to the field.
docs/reliability.md lists each case with its test.
Run: pytest -q tests/test_config_limits.py"""
import math
import os

import numpy as np
import pytest
from conftest import ROOT

from core.config import FIELDS, ConfigError, RunConfig, problems, type_members, validate
from core.runs.placement import place

NUMBERS = [k for k, f in FIELDS.items()
           if {int, float} & set(type_members(f.type)) and bool not in type_members(f.type)]
FLOATS = [k for k, f in FIELDS.items() if float in type_members(f.type)]
PATHS = [k for k, f in FIELDS.items() if f.metadata["path"]]


def found(**changes) -> dict[str, str]:
    """Each key's first problem (its own field's check comes before the combinations)."""
    out: dict[str, str] = {}
    for key, message in problems(RunConfig(**changes)):
        out.setdefault(key, message)
    return out


def load(tmp_path, text: str, name: str = "c.yaml") -> RunConfig:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return RunConfig.load(path)


# --- upper bounds ----------------------------------------------------------------------------
def test_every_number_has_an_upper_bound():
    assert "dataloader_num_workers" in NUMBERS and "seed" in NUMBERS and "val_size" in NUMBERS
    for key in NUMBERS:
        meta = FIELDS[key].metadata
        assert any(meta[m] is not None for m in ("max", "lt", "choices")), key
        if meta["max"] is not None:  # the ceiling itself is a valid value
            assert f"{key}:" not in str(problems(RunConfig(**{key: meta["max"]}))), key


def test_worker_count_is_bounded_by_this_machine():
    cpus = len(os.sched_getaffinity(0))
    assert FIELDS["dataloader_num_workers"].metadata["max"] == max(cpus, 4)
    message = found(dataloader_num_workers=100000)["dataloader_num_workers"]
    assert message == f"dataloader_num_workers: 100000 is above the maximum {max(cpus, 4)}"
    assert found(dataloader_num_workers=4) == {}  # LLaMA-Factory's examples, on any machine


@pytest.mark.parametrize("changes, key, says", [
    (dict(cutoff_len=10**7), "cutoff_len", "above the maximum 1048576"),
    (dict(per_device_train_batch_size=10**6), "per_device_train_batch_size", "maximum 4096"),
    (dict(max_steps=10**12), "max_steps", "above the maximum 100000000"),
    (dict(num_train_epochs=1e6), "num_train_epochs", "above the maximum 10000"),
    (dict(lora_alpha=10**9), "lora_alpha", "above the maximum 4096"),
    (dict(adam_beta2=1.0), "adam_beta2", "1.0 must be below 1"),
    (dict(adam_epsilon=5.0), "adam_epsilon", "above the maximum 1"),
    (dict(ddp_timeout=2**40), "ddp_timeout", "above the maximum 2147483647"),
])
def test_numbers_above_their_ceiling_are_refused(changes, key, says):
    assert says in found(**changes)[key]


def test_seed_beyond_what_numpy_takes_is_refused_before_training():
    """transformers' set_seed seeds numpy, whose seeds end at 2**32 - 1: the field's ceiling."""
    top = FIELDS["seed"].metadata["max"]
    np.random.seed(top)
    with pytest.raises(ValueError):
        np.random.seed(top + 1)
    cfg = RunConfig.from_dict({"seed": 2**64 + 1})  # beyond 64 bits
    assert found(seed=cfg.seed)["seed"] == ("seed: 18446744073709551617 is above the maximum "
                                            "4294967295")
    assert found(seed=top) == {}


# --- NaN and infinity ------------------------------------------------------------------------
@pytest.mark.parametrize("key", FLOATS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_every_float_field_refuses_nan_and_infinity(key, value):
    message = found(**{key: value})[key]
    assert message.startswith(f"{key}: {value} is not a finite number;"), message


def test_nan_from_yaml_fails_validation_naming_the_key(tmp_path):
    cfg = load(tmp_path, "pref_beta: .nan\nlearning_rate: .inf\nval_size: .nan\n")
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    assert [p.split(":")[0] for p in e.value.problems] == ["val_size", "pref_beta",
                                                           "learning_rate"]
    assert all("not a finite number" in p for p in e.value.problems)
    assert "give 0.1 (the default)" in str(e.value)


# --- files and values that raised raw exceptions ---------------------------------------------
@pytest.mark.parametrize("text, says", [
    ("- stage: dpo\n- pref_beta: 0.1\n", "got list"),
    ("dpo\n", "got str 'dpo'"),
    ("42\n", "got int 42"),
])
def test_a_top_level_list_or_scalar_is_a_config_error(tmp_path, text, says):
    with pytest.raises(ConfigError, match=f"c.yaml: expected key: value lines .*{says}"):
        load(tmp_path, text)


def test_a_number_as_key_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, "1: 2\nnull: x\npref_beta: 0.2\n")
    assert e.value.problems == ["key 1 is not a name; each line is name: value, with names "
                                "such as learning_rate",
                                "key None is not a name; each line is name: value, with names "
                                "such as learning_rate"]


@pytest.mark.parametrize("text, says", [
    ("[" * 5000 + "]" * 5000, "brackets nested more than 100 deep"),
    ("lr_scheduler_kwargs: " + "[" * 5000 + "]" * 5000, "brackets nested more than 100 deep"),
    ("pref_beta: " + "{a: " * 3000 + "1" + "}" * 3000, "brackets nested more than 100 deep"),
    ("- " * 3000 + "1\n", "nested too deeply"),  # block lists: PyYAML's own recursion
])
def test_thousands_of_nested_brackets_are_a_config_error(tmp_path, text, says):
    with pytest.raises(ConfigError, match=f"c.yaml: not a config: {says}"):
        load(tmp_path, text)
    with pytest.raises(ConfigError, match=r"lr_scheduler_kwargs: \[\[\[\[\.\.\.\]\]\]\] is not "
                       "text or empty"):  # under the limit: the value is named, clipped
        load(tmp_path, "lr_scheduler_kwargs: " + "[" * 90 + "]" * 90)


def test_nested_brackets_in_an_override_are_text(tmp_path):
    (tmp_path / "c.yaml").write_text("stage: dpo\n")
    with pytest.raises(ConfigError, match=r"pref_beta: '\[\[\[.*is not a number"):
        RunConfig.load(tmp_path / "c.yaml", ["pref_beta=" + "[" * 5000 + "]" * 5000])


@pytest.mark.parametrize("text, says", [
    ("cutoff_len: " + "9" * 5000, "a number has more than 4300 digits"),
    ("max_steps: 2020-13-45", "month must be in 1..12"),
])
def test_values_yaml_cannot_read_are_a_config_error(tmp_path, text, says):
    with pytest.raises(ConfigError, match=f"c.yaml: not valid YAML: a value cannot be read "
                       f".*{says}"):
        load(tmp_path, text)


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"stage: dpo\nrun_name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"c.yaml: not UTF-8 text \(byte 24\)"):
        RunConfig.load(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="NUL byte"):
        RunConfig.load(str(tmp_path / "c\0.yaml"))


def test_scheduler_arguments_json_cannot_hold_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"lr_scheduler_kwargs: cannot be written as JSON"):
        load(tmp_path, "lr_scheduler_kwargs: {until: 2020-01-01}\n")
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi"))
    text = "lr_scheduler_kwargs:\n" + "".join(f"  {line}\n" for line in bomb.splitlines())
    with pytest.raises(ConfigError, match="lr_scheduler_kwargs: the mapping is far too large"):
        load(tmp_path, text)


def test_num_generations_zero_is_a_problem_not_a_division_by_zero():
    got = found(stage="grpo", num_generations=0, val_size=0.1)
    assert got["num_generations"] == "num_generations: 0 is below the minimum 2"
    assert "per_device_eval_batch_size" not in got


def test_freeze_trainable_layers_zero_is_refused():
    got = found(finetuning_type="freeze", freeze_trainable_layers=0)
    assert got["freeze_trainable_layers"].startswith("freeze_trainable_layers: 0 trains no layer")
    assert found(finetuning_type="lora", freeze_trainable_layers=0) == {}  # irrelevant there


@pytest.mark.parametrize("target, says", [("", "empty; give module names"),
                                          (" , ", "empty; give module names"),
                                          ("all,q_proj", "all stands for every linear layer")])
def test_lora_target_that_names_nothing(target, says):
    assert says in found(lora_target=target)["lora_target"]


@pytest.mark.parametrize("key", PATHS)
def test_a_nul_byte_in_a_path_field_is_refused(key):
    message = found(**{key: "saves/a\0b"})[key]
    assert message == f"{key}: 'saves/a\\x00b' contains a NUL byte (\\0); remove it"


@pytest.mark.parametrize("changes, key, says", [
    (dict(output_dir="saves/" + "x" * 300), "output_dir", "is 300 bytes long; a file or folder"),
    (dict(adapter_name_or_path="saves/a, saves/" + "é" * 200), "adapter_name_or_path",
     "is 400 bytes long"),
    (dict(run_name="r" * 300), "run_name", "300 bytes long; shorten it to at most 200"),
    (dict(run_name="中" * 70), "run_name", "210 bytes long"),
    (dict(run_name="../../etc"), "run_name", "cannot hold / or \\"),
    (dict(run_name=".."), "run_name", "is not a folder name"),
    (dict(run_name="a\nb"), "run_name", "holds a control character"),
    (dict(lora_target="q_proj\0"), "lora_target", "contains a NUL byte"),
    (dict(run_name="\ud800"), "run_name", "lone surrogates"),
    (dict(stage="grpo", reward_funcs="format", reward_format_regex="(unclosed"),
     "reward_format_regex",
     "is not a regular expression (missing ), unterminated subpattern"),
])
def test_text_no_folder_or_file_can_hold_is_refused(changes, key, says):
    assert says in found(**changes)[key]


def test_run_name_rules_apply_where_it_names_the_folder():
    assert found(run_name="qwen/dpo", output_dir="saves/x") == {}  # a label (wandb) only
    assert found(run_name="dpo-qwen-1") == {}


def test_the_default_run_name_is_one_folder_in_saves(tmp_path):
    cfg = place(RunConfig(dataset="../../../../../../tmp/evil" + "x" * 300), tmp_path)
    assert os.path.dirname(cfg.output_dir) == str(tmp_path.resolve())
    assert cfg.run_name.startswith("dpo-_.._.._") and len(cfg.run_name) < 100


def test_examples_and_llamafactory_examples_stay_valid():
    lf = ROOT / "tests" / "data" / "llamafactory_examples"
    for path in sorted(ROOT.glob("examples/*.yaml")) + sorted(lf.glob("qwen3_lora_*.yaml")):
        assert problems(RunConfig.load(path)) == [], path
