"""Every stage end to end on CPU from its examples/ YAML (tiny model, a few steps): a complete
run directory, the stage's metrics and eval_* records in metrics.jsonl, a final model that
plain transformers/peft load. Plus the pieces with exact expected values: SFT label masks,
KTO weight suggestions, GRPO rewards, the DPO reference when continuing an SFT adapter, the
beta schedule, and user reward functions through the real CLI."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, example

from core.config import RunConfig
from core.errors import UserError
from core.runs.rundir import RunDir
from core.training.run import run

STAGE_KEYS = {
    "sft": ("loss", "mean_token_accuracy", "eval_loss", "eval_mean_token_accuracy"),
    "kto": ("loss", "kl", "rewards/chosen", "logps/chosen", "eval_loss", "eval_kl"),
    "rm": ("loss", "rewards/accuracies", "rewards/margins", "eval_rewards/accuracies",
           "eval_rewards/margins"),
    "grpo": ("loss", "reward", "reward_std", "rewards/answer_match/mean",
             "completions/mean_length", "eval_reward"),
}
GRPO_FAST = dict(num_generations=2, max_completion_length=8, per_device_train_batch_size=2,
                 per_device_eval_batch_size=2, val_size=2)


def metric_keys(rd: RunDir) -> set:
    return {k for m in rd.metrics() for k in m}


def assert_complete(rd: RunDir, steps: int = 2) -> None:
    for name in ("config.yaml", "status.json", "metrics.jsonl", "train.log", "env.json",
                 "tokenizer.json"):
        assert (rd.path / name).is_file(), name
    status = rd.status()
    assert (status["state"], status["step"], status["exit_code"]) == ("completed", steps, 0)
    assert [c.step for c in rd.checkpoints() if c.complete] == [steps]
    assert rd.has_final_model()


def load_final(rd: RunDir, model, head: str = "causal"):
    """The final model through plain transformers/peft, as a user would load it."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto = AutoModelForSequenceClassification if head == "reward" else AutoModelForCausalLM
    kwargs = {"num_labels": 1} if head == "reward" else {}
    return PeftModel.from_pretrained(auto.from_pretrained(model, **kwargs), rd.path).eval()


@pytest.mark.parametrize("stage, name, extra", [
    pytest.param("sft", "sft_demo", {}, id="sft"),
    pytest.param("sft", "sft_demo", {"packing": True, "train_on_prompt": True, "optim": "sgd",
                                     "per_device_train_batch_size": 2, "max_grad_norm": 0.5,
                                     "gradient_checkpointing": True}, id="sft-packed-sgd"),
    pytest.param("kto", "kto_demo", {"kto_rejected_weight": 1.0, "per_device_train_batch_size": 2},
                 id="kto-unbalanced"),
])
def test_stage_trains_from_example(stage, name, extra, tiny_model, tmp_path):
    rd = run(example(name, tiny_model, tmp_path / "run", **extra))
    assert_complete(rd)
    keys = metric_keys(rd)
    assert set(STAGE_KEYS[stage]) <= keys, set(STAGE_KEYS[stage]) - keys
    losses = [m["loss"] for m in rd.metrics() if "loss" in m]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    if extra.get("optim") == "sgd":  # the example's cosine_with_min_lr, floor lr / 10:
        last = [m["learning_rate"] for m in rd.metrics() if "learning_rate" in m][-1]
        peak = RunConfig.load(rd.config).learning_rate  # step 2 of 2: halfway, 0.1 + 0.9 / 2
        assert last == pytest.approx(0.55 * peak)  # (plain cosine: 0.5)
    if stage == "kto":
        assert losses[0] == pytest.approx(0.5, abs=1e-5)  # policy == reference: 1 - sigmoid(0)
        assert "kto_rejected_weight between" in rd.log_file.read_text()
    model = load_final(rd, tiny_model)
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in model.named_parameters())


def test_reward_model_trains_and_loads(rm_run, tiny_model):
    from transformers import AutoTokenizer

    from core.methods.reward_model import load_reward_model

    assert_complete(rm_run)
    assert set(STAGE_KEYS["rm"]) <= metric_keys(rm_run)
    model, tok = load_reward_model(rm_run.path)
    plain = load_final(rm_run, tiny_model, head="reward")
    plain.config.pad_token_id = AutoTokenizer.from_pretrained(rm_run.path).pad_token_id
    batch = tok(["Paris is the capital of France.<|im_end|>", "No idea"], return_tensors="pt",
                padding=True)
    with torch.no_grad():
        ours, theirs = model(**batch).logits, plain(**batch).logits
    assert ours.shape == (2, 1) and torch.allclose(ours, theirs, atol=1e-5)
    from core.methods.rewards import model_score

    score = model_score(str(rm_run.path), "cpu")  # GRPO's reward_model: padded batches
    prompts = [[{"role": "user", "content": "Capital of France?"}],
               [{"role": "user", "content": "2+2?"}]]
    answers = ["Paris is the capital.", "4"]
    together = score(completions=answers, prompt_messages=prompts)
    alone = [score(completions=[a], prompt_messages=[p])[0] for a, p in zip(answers, prompts)]
    assert together == pytest.approx(alone, abs=1e-5) and together[0] != together[1]


def test_reward_scorer_batches_score_as_one_at_a_time(rm_run, tiny_model):
    """Right-padded batches (of 2 here, so the last is short) give the scores of unpadded
    single sequences; the pair is rendered in the run's template, ending its turn."""
    from core.methods.reward_model import RewardScorer

    scorer = RewardScorer(rm_run.path, batch_size=2)
    prompts = [[{"role": "user", "content": "Capital of France?"}],
               [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
               [{"role": "user", "content": "Name a colour."}]]
    answers = ["Paris is the capital of France, of course.", "4", "Blue, or maybe green."]
    batched = scorer.score(prompts, answers)
    alone = [scorer.score([p], [a])[0] for p, a in zip(prompts, answers)]
    assert batched == pytest.approx(alone, abs=1e-5) and len(set(batched)) == 3
    ids = scorer.ids(prompts[0], answers[0])
    assert scorer.tokenizer.decode(ids).endswith("of course.<|im_end|>\n")
    plain = load_final(rm_run, tiny_model, head="reward")  # plain peft, no padding at all
    with torch.no_grad():
        assert plain(input_ids=torch.tensor([ids])).logits[0, 0].item() == pytest.approx(
            batched[0], abs=1e-5)


@pytest.mark.slow
def test_grpo_through_cli_with_reward_model_and_user_function(rm_run, tiny_model, tmp_path):
    """The CLI flag is the only way to name a user function; reward_model is an rm run."""
    (tmp_path / "my_rewards.py").write_text(
        "def brevity(prompts, completions, completion_ids, answer, **_):\n"
        "    assert len(answer) == len(completions)\n"
        "    return [1.0 / (1 + len(ids)) for ids in completion_ids]\n")
    cfg = example("grpo_demo", tiny_model, tmp_path / "run", **GRPO_FAST,
                  reward_funcs="answer_match,reward_model", reward_model=str(rm_run.path),
                  reward_weights="1,0.5,2")
    cfg.save(tmp_path / "c.yaml")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-m", "core", "train", str(tmp_path / "c.yaml"),
                           "--reward-func", f"{tmp_path / 'my_rewards.py'}:brevity"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rd = RunDir(tmp_path / "run")
    assert_complete(rd)
    keys = metric_keys(rd)
    assert set(STAGE_KEYS["grpo"]) <= keys, set(STAGE_KEYS["grpo"]) - keys
    assert {"rewards/brevity/mean", "rewards/reward_model/mean"} <= keys
    assert "--reward-func" in json.loads(rd.env_file.read_text())["command"]
    load_final(rd, tiny_model)


def test_grpo_refuses_bad_rewards_before_loading(tiny_model, tmp_path):
    cfg = example("grpo_demo", tiny_model, tmp_path / "run", **GRPO_FAST)
    with pytest.raises(UserError, match="cannot import no_such_module"):
        run(cfg, reward_funcs=["no_such_module:f"])
    with pytest.raises(UserError, match="no column 'gold'.*it has: answer"):
        run(cfg.replace(output_dir=str(tmp_path / "b"), reward_answer_column="gold"))
    with pytest.raises(UserError, match="--reward-func is for stage grpo"):
        run(cfg.replace(stage="sft"), reward_funcs=["x:y"])


def test_sft_labels_cover_every_assistant_turn(tokenizer):
    from core.data.templates import get_template
    from core.data.tokenize import tokenize_sft
    from core.data.truncation import Cutoff
    from core.methods.sft import IGNORE, labelled

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "Goodbye."}]
    template = get_template("qwen", tokenizer)
    tokens = tokenize_sft([{"messages": messages}], template, Cutoff(512))
    features, problems = tokens.features, tokens.problems
    assert not problems
    (answers,) = labelled(features, train_on_prompt=False)
    scored = tokenizer.decode([t for t in answers["labels"] if t != IGNORE])
    assert scored == "Hello.<|im_end|>\nGoodbye.<|im_end|>\n"
    (everything,) = labelled(features, train_on_prompt=True)
    assert everything["labels"] == everything["input_ids"]
    # A conversation longer than cutoff_len used to be refused ("beyond cutoff_len"); now it is
    # refused with truncation drop, and cut by default (tests/test_truncation.py).
    cut = tokenize_sft([{"messages": messages}], template, Cutoff(16, "drop")).problems
    assert cut and cut[0][1] == "messages" and "longer than cutoff_len 16" in cut[0][2]


def test_kto_weight_suggestions():
    from core.methods.kto import balance_warning

    assert balance_warning(100, 90, 1.0, 1.0) is None  # ratio 1.11 is inside [1, 4/3]
    message = balance_warning(120, 80, 1.0, 1.0)  # ratio 1.5
    assert "kto_chosen_weight between 0.67 and 0.89" in message
    assert "kto_rejected_weight between 1.12 and 1.50" in message
    assert balance_warning(120, 80, 1.0, 1.25) is None
    assert "no undesirable" in balance_warning(5, 0, 1.0, 1.0)


def test_kto_splits_pairs_into_desirable_and_undesirable(tiny_model, tmp_path, tokenizer):
    from core.data import load_for_training
    from core.data.templates import get_template

    cfg = example("kto_demo", tiny_model, tmp_path, dataset="demo_pref_en", val_size=0)
    data = load_for_training(cfg, get_template(None, tokenizer))
    assert [f["label"] for f in data.train_features[:4]] == [True, False, True, False]
    assert data.train_features[0]["prompt_ids"] == data.train_features[1]["prompt_ids"]


def test_grpo_builtin_rewards():
    from core.methods.rewards import answer_match, format_match, length_near

    completions = ["<think>7 plus 8</think> The answer is 15.", "It is \\boxed{15}", "sixteen"]
    assert answer_match("answer")(completions, answer=["15", "15", "15"]) == [1.0, 1.0, 0.0]
    assert answer_match("answer")([[{"role": "assistant", "content": "Apples!"}]],
                                  answer=["apples"]) == [1.0]
    assert format_match(r"^<think>.*?</think>\s*\S")(completions) == [1.0, 0.0, 0.0]
    assert length_near(4)(completions, completion_ids=[[1] * 4, [1] * 6, []]) == [1.0, 0.5, 0.0]


@pytest.mark.slow
def test_dpo_from_sft_uses_base_plus_sft_as_reference(tiny_model, tmp_path, tokenizer):
    """The reference of a DPO run continuing an SFT adapter is base + that adapter: its
    log-probs equal plain peft's base+SFT ones (not the bare base's), and the first step's
    sigmoid loss is ln 2 because policy and reference start equal."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from core.data import load_for_training
    from core.data.templates import get_template
    from core.methods.logps import sequence_logps, token_logps
    from core.methods.pairwise import PairCollator
    from core.methods.reference import build_reference, precompute
    from core.models.policy import load_policy

    sft = run(example("sft_demo", tiny_model, tmp_path / "sft", learning_rate=0.05, val_size=0))
    cfg = example("dpo_from_sft", tiny_model, tmp_path / "dpo", adapter_name_or_path=str(sft.path),
                  val_size=0, max_steps=1)
    rd = run(cfg)
    assert rd.metrics()[0]["loss"] == pytest.approx(math.log(2), rel=1e-5)

    data = load_for_training(cfg, get_template(cfg.template, tokenizer))
    features = [dict(f) for f in data.train_features[:4]]
    reference, ident = build_reference(cfg, load_policy(cfg, tokenizer))
    collate = PairCollator(tokenizer.pad_token_id)
    precompute(reference, features, collate, 4, torch.device("cpu"), None, ident, torch.float32,
               use_cache=False)
    batch = collate(features)

    def logps(model):
        with torch.no_grad():
            per_token, mask = token_logps(model.eval(), batch["input_ids"],
                                          batch["attention_mask"], batch["completion_mask"])
        return sequence_logps(per_token, mask)[0][:4]

    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    base_sft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), sft.path)
    ours = torch.tensor([f["ref_chosen_logps"] for f in features])
    assert torch.allclose(ours, logps(base_sft), atol=1e-4)
    assert not torch.allclose(ours, logps(base), atol=1e-2)


@pytest.mark.slow
def test_linear_beta_schedule_and_dpo_eval(tiny_model, tmp_path):
    cfg = example("dpo_from_sft", tiny_model, tmp_path / "run", adapter_name_or_path=None,
                  max_steps=3, save_steps=3, eval_steps=3, pref_beta_start=0.1, pref_beta_end=0.3)
    rd = run(cfg)
    betas = [m["beta"] for m in rd.metrics() if "beta" in m]
    assert betas == pytest.approx([0.1, 0.2, 0.3])
    evals = [m for m in rd.metrics() if "eval_loss" in m]
    assert [m["step"] for m in evals] == [3] and "eval_rewards/accuracies" in evals[0]
    with pytest.raises(UserError, match="pref_beta_end"):
        run(cfg.replace(pref_beta_end=None, output_dir=str(tmp_path / "b")))


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_valid(path):
    from core.config import validate

    validate(RunConfig.load(path))


@pytest.mark.parametrize("overrides, key, text", [
    # 1 x an even accumulation trains as 2 x half (core.methods.kto.kto_batches); odd: refused
    ({"stage": "kto", "per_device_train_batch_size": 1, "gradient_accumulation_steps": 3},
     "per_device_train_batch_size", "KL"),
    ({"stage": "grpo", "num_generations": 3, "per_device_train_batch_size": 2,
      "gradient_accumulation_steps": 2}, "num_generations", "must divide"),
    ({"stage": "grpo", "val_size": 0.1, "per_device_eval_batch_size": 1},
     "per_device_eval_batch_size", "multiple of num_generations"),
    ({"stage": "grpo", "reward_funcs": "answer_match,bleu"}, "reward_funcs",
     "unknown reward 'bleu'"),
    ({"stage": "grpo", "reward_funcs": "reward_model"}, "reward_model", "no rm run is given"),
    ({"stage": "grpo", "reward_model": "saves/rm"}, "reward_model", "does not list reward_model"),
    ({"stage": "grpo", "reward_weights": "1,x"}, "reward_weights", "must be numbers"),
    ({"stage": "grpo", "max_completion_length": 2048}, "max_completion_length", "no room"),
    ({"stage": "grpo", "finetuning_type": "full", "adapter_name_or_path": "a", "grpo_beta": 0.1},
     "grpo_beta", "bare base model"),
    ({"pref_beta_schedule": "linear"}, "pref_beta_end", "needs the last step's beta"),
])
def test_stage_settings_are_checked(overrides, key, text):
    from core.config import problems

    values = dict(per_device_train_batch_size=4, gradient_accumulation_steps=2, num_generations=4,
                  per_device_eval_batch_size=4)
    found = dict(problems(RunConfig(**{**values, **overrides})))
    assert key in found and text in found[key], found
