"""Model options: QLoRA and paged optimizers fail before any weight loads on a machine without
CUDA, report_to without its package fails early, the QLoRA loading settings, freeze, start
adapters (all but the last merged, the last continued with a frozen 'ref' copy) and the
reward-model head."""
import pytest
import torch
from conftest import tiny_config

from core.errors import UserError
from core.models.loading import LoadOptions, load_model
from core.models.policy import load_policy
from core.runs.rundir import RunDir
from core.training.run import run

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA refusal")


@pytest.fixture
def no_loading(monkeypatch):
    """Fails the test if anything calls from_pretrained (model or tokenizer)."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained was called before the machine check")

    for name in ("AutoModelForCausalLM", "AutoModelForSequenceClassification", "AutoTokenizer"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)


@no_cuda
@pytest.mark.parametrize("overrides, key", [
    ({"quantization_bit": 4}, "quantization_bit: 4"),
    ({"quantization_bit": 8}, "quantization_bit: 8"),
    ({"ref_model": "demo", "ref_model_quantization_bit": 4}, "ref_model_quantization_bit: 4"),
    ({"optim": "paged_adamw_8bit"}, "optim: paged_adamw_8bit"),
    ({"optim": "paged_adamw_32bit", "stage": "sft", "dataset": "demo_sft"},
     "optim: paged_adamw_32bit"),
])
def test_cuda_only_options_fail_before_loading(overrides, key, tiny_model, tmp_path, no_loading):
    with pytest.raises(UserError, match=f"{key} needs a CUDA GPU.*no CUDA device") as e:
        run(tiny_config(tiny_model, tmp_path / "run", **overrides))
    assert "Remove the key" in str(e.value)
    status = RunDir(tmp_path / "run").status()
    assert status["state"] == "failed" and status["exit_code"] == 2


@pytest.mark.parametrize("reporter, package", [("wandb", "wandb"), ("tensorboard", "tensorboard")])
def test_report_to_without_its_package_fails_early(reporter, package, tiny_model, tmp_path,
                                                   no_loading):
    import importlib.util
    if importlib.util.find_spec(package):
        pytest.skip(f"{package} is installed")
    with pytest.raises(UserError, match=f"report_to: {reporter} needs .*pip install {package}"):
        run(tiny_config(tiny_model, tmp_path / "run", report_to=reporter))


def test_qlora_loading_settings(tiny_model, tmp_path, monkeypatch):
    """The GPU path's BitsAndBytesConfig, checked without a GPU by capturing from_pretrained."""
    import transformers

    import core.models.loading

    seen = {}

    def capture(source, **kwargs):
        seen.update(kwargs)
        return original(source)

    original = transformers.AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", capture)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(core.models.loading, "resolve_dtype", lambda name: torch.bfloat16)
    cfg = tiny_config(tiny_model, tmp_path, quantization_bit=4, bf16=True)
    load_model(LoadOptions.of_run(cfg))
    q = seen["quantization_config"]
    assert q.load_in_4bit and not q.load_in_8bit and q.bnb_4bit_quant_type == "nf4"
    assert q.bnb_4bit_use_double_quant and q.bnb_4bit_compute_dtype == torch.bfloat16
    assert seen["device_map"] == {"": 0} and seen["dtype"] == torch.bfloat16


def test_freeze_trains_the_last_layers(tiny_model, tmp_path):
    model = load_policy(tiny_config(tiny_model, tmp_path, finetuning_type="freeze",
                                    freeze_trainable_layers=1))
    trainable = {n.split(".")[2] for n, p in model.named_parameters()
                 if p.requires_grad and n.startswith("model.layers.")}
    assert trainable == {"1"}  # the tiny model has layers 0 and 1
    assert not any(p.requires_grad for n, p in model.named_parameters()
                   if not n.startswith("model.layers."))


def _adapter(tiny_model, path, seed: int) -> str:
    """A LoRA adapter with non-zero weights, saved like a run's final adapter."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from core.models.policy import lora_config

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                           lora_config(tiny_config(tiny_model, path)))
    for n, p in model.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.5)
    model.save_pretrained(path)
    return str(path)


def test_start_adapters_merge_all_but_the_last(tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    first, last = _adapter(tiny_model, tmp_path / "a1", 1), _adapter(tiny_model, tmp_path / "a2", 2)
    cfg = tiny_config(tiny_model, tmp_path / "run", adapter_name_or_path=f"{first},{last}")
    policy = load_policy(cfg).eval()
    assert set(policy.peft_config) == {"default", "ref"}  # dpo: 'ref' is base + both, frozen
    assert not any(p.requires_grad for n, p in policy.named_parameters() if ".ref." in n)
    expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), first)
    expected = PeftModel.from_pretrained(expected.merge_and_unload(), last).eval()
    ids = torch.tensor([[1, 5, 9, 13, 17]])
    with torch.no_grad():
        assert torch.allclose(policy(ids).logits, expected(ids).logits, atol=1e-5)
    sft = load_policy(cfg.replace(stage="sft"))
    assert set(sft.peft_config) == {"default"}  # no reference outside dpo
    reward = load_policy(cfg.replace(stage="rm"), head="reward")
    assert set(reward.peft_config) == {"default"}  # both merged, a new adapter + score head
    assert reward.peft_config["default"].task_type == "SEQ_CLS"
    assert any("score" in n and p.requires_grad for n, p in reward.named_parameters())


def test_reward_head_trains_with_freeze(tiny_model, tmp_path):
    model = load_policy(tiny_config(tiny_model, tmp_path, stage="rm", finetuning_type="freeze",
                                    freeze_trainable_layers=1), head="reward")
    assert model.score.weight.requires_grad and model.config.num_labels == 1
