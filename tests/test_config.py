from pathlib import Path

import pytest
import yaml

from core.config import (
    FIELDS,
    LOSS_TRAITS,
    PAIRWISE_LOSSES,
    ConfigError,
    RunConfig,
    convert,
    parse_number,
    problems,
    type_members,
    validate,
)
from core.errors import UserError

LLAMAFACTORY_DPO = """\
stage: dpo
do_train: true
model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct
finetuning_type: lora
lora_rank: 8
lora_alpha: 16
lora_dropout: 0
lora_target: all
template: qwen
dataset: dpo_en_demo
dataset_dir: data
cutoff_len: 2048
max_samples: 1000
pref_beta: 0.1
pref_ftx: 0
pref_loss: sigmoid
learning_rate: 5.0e-6
num_train_epochs: 3.0
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
lr_scheduler_type: cosine
warmup_ratio: 0.1
logging_steps: 5
save_steps: 100
plot_loss: true
output_dir: saves/qwen2.5-0.5b/lora/dpo
bf16: true
report_to: none
"""


def test_llamafactory_yaml_loads(tmp_path):
    path = tmp_path / "dpo.yaml"
    path.write_text(LLAMAFACTORY_DPO)
    cfg = validate(RunConfig.load(path))
    assert cfg.lora_alpha == 16 and cfg.lora_dropout == 0.0 and isinstance(cfg.lora_dropout, float)
    assert cfg.learning_rate == 5e-6 and cfg.template == "qwen" and cfg.bf16 is True
    assert cfg.datasets == ["dpo_en_demo"]


def test_round_trip_is_exact(tmp_path):
    cfg = RunConfig(pref_loss="ipo", pref_beta=0.25, learning_rate=5e-6, adapter_name_or_path="a,b",
                    resume_from_checkpoint=True, max_samples=10)
    cfg.save(tmp_path / "c.yaml")
    again = RunConfig.load(tmp_path / "c.yaml")
    assert again == cfg
    again.save(tmp_path / "d.yaml")
    assert (tmp_path / "c.yaml").read_text() == (tmp_path / "d.yaml").read_text()
    assert list(yaml.safe_load((tmp_path / "c.yaml").read_text())) == list(FIELDS)


def test_overrides_are_coerced(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stage: dpo\n")
    cfg = RunConfig.load(path, ["learning_rate=5e-6", "max_steps=7", "bf16=true",
                                "max_samples=null", "lora_dropout=0", "resume_from_checkpoint=true",
                                "output_dir=saves/x"])
    assert cfg.learning_rate == 5e-6 and cfg.max_steps == 7 and cfg.bf16 is True
    assert cfg.max_samples is None and cfg.lora_dropout == 0.0
    assert cfg.resume_from_checkpoint is True and cfg.output_dir == "saves/x"
    cfg = RunConfig.load(path, ["resume_from_checkpoint=saves/x/checkpoint-3"])
    assert cfg.resume_from_checkpoint == "saves/x/checkpoint-3"


def test_unknown_key_suggests_closest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lerning_rate: 1.0e-5\npref_bta: 0.1\n")
    with pytest.raises(ConfigError) as e:
        RunConfig.load(path)
    msg = str(e.value)
    assert "c.yaml" in msg and "'lerning_rate'" in msg and "learning_rate" in msg
    assert "'pref_bta'" in msg and "pref_beta" in msg


def test_wrong_type_names_key_and_expected(tmp_path):
    with pytest.raises(ConfigError, match=r"max_steps: 'ten' is not a whole number"):
        RunConfig.from_dict({"max_steps": "ten"})
    with pytest.raises(ConfigError, match="bad override"):
        raise ConfigError(["bad override"])
    with pytest.raises(ConfigError, match="is not key=value"):
        RunConfig.load(Path(__file__).parents[1] / "examples" / "dpo_demo.yaml", ["pref_beta"])


def test_bad_yaml_names_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stage: dpo\npref_beta: [0.1\n")
    with pytest.raises(ConfigError, match=r"c.yaml: not valid YAML at line \d+"):
        RunConfig.load(path)
    with pytest.raises(ConfigError, match="config file not found"):
        RunConfig.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize("changes, key, fragment", [
    (dict(pref_beta=0), "pref_beta", "must be greater than 0"),
    (dict(lora_rank=0), "lora_rank", "below the minimum 1"),
    (dict(pref_loss="dpo"), "pref_loss", "not one of: sigmoid, hinge, ipo"),
    (dict(quantization_bit=3), "quantization_bit", "not one of: empty, 4, 8"),
    (dict(pref_loss="hinge", dpo_label_smoothing=0.1), "dpo_label_smoothing", "only applies to pref_loss sigmoid"),
    (dict(pref_loss="simpo", ref_model="x"), "ref_model", "uses no reference model"),
    (dict(pref_loss="orpo", ref_model="m"), "ref_model", "uses no reference model"),
    (dict(ref_model_quantization_bit=4), "ref_model_quantization_bit", "needs ref_model"),
    (dict(quantization_bit=4, finetuning_type="full"), "quantization_bit", "use finetuning_type lora"),
    (dict(bf16=True, fp16=True), "fp16", "keep one"),
    (dict(pref_loss="robust"), "dpo_label_smoothing", "needs a label-noise rate"),
    (dict(val_size=2.5), "val_size", "whole number"),
    (dict(dataset=" , "), "dataset", "no dataset given"),
    (dict(pref_loss="ipo", ld_alpha=0.5), "ld_alpha", "summed log-probs"),
])
def test_validation_names_key_value_and_fix(changes, key, fragment):
    cfg = RunConfig(**changes)
    found = dict(problems(cfg))
    assert key in found, found
    assert fragment in found[key]
    with pytest.raises(ConfigError):
        validate(cfg)


def test_defaults_are_valid_and_relevance():
    cfg = RunConfig()
    assert problems(cfg) == []
    assert cfg.relevant("pref_beta") and not cfg.relevant("simpo_gamma")
    assert RunConfig(pref_loss="simpo").relevant("simpo_gamma")
    assert not RunConfig(finetuning_type="full").relevant("lora_rank")
    assert not RunConfig(stage="sft").relevant("pref_loss")
    assert RunConfig(pref_loss="orpo").uses_reference is False


def test_every_field_has_help():
    for name, f in FIELDS.items():
        assert f.metadata["help"].strip(), name


@pytest.mark.parametrize("loss", PAIRWISE_LOSSES)
def test_loss_traits_drive_validation_and_uses_reference(loss):
    traits = LOSS_TRAITS[loss]
    extra = {"dpo_label_smoothing": 0.1} if loss == "robust" else {}
    assert RunConfig(pref_loss=loss, **extra).uses_reference is traits.reference
    found = dict(problems(RunConfig(pref_loss=loss, ld_alpha=0.5, ref_model="m", **extra)))
    assert ("ld_alpha" in found) is traits.average, found
    assert ("ref_model" in found) is (not traits.reference), found
    if traits.average:
        assert "sigmoid, hinge, kto_pair, robust" in found["ld_alpha"]
    assert RunConfig(stage="sft", pref_loss=loss).uses_reference is False


def test_values_from_text_and_forms():
    assert type_members(int | None) == (int, type(None)) and type_members("float") == (float,)
    assert type_members("bool | str | None") == (bool, str, type(None))
    assert convert("k", "8.0", (int,)) == 8 and convert("k", "1e-5", (float,)) == 1e-5
    assert convert("k", " off ", (bool,)) is False and convert("k", "null", (int, type(None))) is None
    assert convert("k", 3.0, (int,)) == 3 and convert("k", 2, (float,)) == 2.0
    for value, allowed, message in (("8.5", (int,), "k: '8.5' is not a whole number"),
                                    ("x", (float,), "k: 'x' is not a number"),
                                    (None, (int,), "k: a value is required"),
                                    (True, (int,), "k: True is not a whole number")):
        with pytest.raises(ValueError, match=message):
            convert("k", value, allowed)
    assert parse_number("n", "", optional=True) is None and parse_number("n", "7", integer=True) == 7
    with pytest.raises(UserError, match="n: a value is required"):
        parse_number("n", " ")
    with pytest.raises(UserError, match="n: '0' must be at least 1"):
        parse_number("n", "0", integer=True, minimum=1)
    with pytest.raises(UserError, match="n: 'many' is not a whole number"):
        parse_number("n", "many", integer=True)
def test_template_choices_show_none_apart_from_empty():
    """`empty` is LLaMA-Factory's template name, so a missing value is shown as null there."""
    found = dict(problems(RunConfig(template="llama3")))
    assert "not one of: null, qwen, qwen3, qwen3_nothink, default, empty" in found["template"]
    assert "PrefStudio trains Qwen text models" in found["template"]


def test_llamafactory_keys_round_trip_as_fields(tmp_path):
    """Honoured LLaMA-Factory keys are fields: saved in config.yaml and read back."""
    cfg = RunConfig.from_dict({"save_strategy": "epoch", "eval_strategy": "no",
                               "save_only_model": True, "lr_scheduler_kwargs": {"num_cycles": 2},
                               "adam_beta2": 0.95, "pure_bf16": True, "ddp_timeout": 180000000,
                               "overwrite_output_dir": True, "optim": "adamw_torch_fused",
                               "report_to": "mlflow", "template": "qwen3_nothink"})
    cfg.save(tmp_path / "c.yaml")
    assert RunConfig.load(tmp_path / "c.yaml") == cfg and problems(cfg) == []
