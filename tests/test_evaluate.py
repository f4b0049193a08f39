"""Preference evaluation: metrics by hand, Kendall's tau, a real DPO run beating its base on
the held-out demo split, the evaluation_results.json contract, win rates (a stub judge with
known scores, then a real rm run), a full-weight run, ranked rows and the dtype override."""
import json
import math

import pytest
from conftest import ROOT, tiny_config

from core.evaluate.metrics import kendall_tau, preference_metrics

KEYS = ("preference_accuracy", "preference_correct", "preference_total", "avg_chosen_loss",
        "avg_rejected_loss", "loss_margin", "perplexity", "reward_margin", "generation_samples",
        "initial_train_loss", "final_train_loss", "best_eval_loss", "final_eval_loss", "steps",
        "training_time_s")


def test_preference_metrics_by_hand():
    scores = {"chosen": [-2.0, -6.0, -3.0], "rejected": [-4.0, -5.0, -3.0],
              "n_chosen": [2, 3, 1], "n_rejected": [2, 2, 1]}
    ref = {"chosen": [-3.0, -5.0, -3.0], "rejected": [-3.0, -5.0, -3.0]}
    m = preference_metrics(scores, ref, beta=0.5)
    # margins: 0.5*((1)-(-1)) = 1, 0.5*((-1)-(0)) = -0.5, 0 (a tie counts half)
    assert m["preference_correct"] == 1.5 and m["preference_total"] == 3
    assert m["preference_accuracy"] == pytest.approx(0.5)
    assert m["reward_margin"] == pytest.approx((1 - 0.5 + 0) / 3)
    assert m["avg_chosen_loss"] == pytest.approx(11 / 6)
    assert m["avg_rejected_loss"] == pytest.approx(12 / 5)
    assert m["loss_margin"] == pytest.approx(12 / 5 - 11 / 6)
    assert m["perplexity"] == pytest.approx(math.exp(11 / 6))
    assert m["likelihood_accuracy"] == pytest.approx(2 / 3)  # -1 > -2, -2 > -2.5, -3 = -3


def test_kendall_tau():
    assert kendall_tau([3.0, 2.0, 1.0], [0, 1, 2]) == 1.0
    assert kendall_tau([1.0, 2.0, 3.0], [0, 1, 2]) == -1.0
    assert kendall_tau([3.0, 1.0, 2.0], [0, 1, 2]) == pytest.approx(1 / 3)


def test_ranked_answers_from_alpaca_output_list(tmp_path):
    from core.data import load_rows

    (tmp_path / "r.json").write_text(json.dumps([
        {"instruction": "Capital of France?", "output": ["Paris.", "Lyon?", "No idea."]}]))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"r": {
        "file_name": "r.json", "ranking": True}}))
    row = load_rows("r", tmp_path, "dpo").rows[0]
    assert row["chosen"][0]["content"] == "Paris." and row["rejected"][0]["content"] == "No idea."
    assert [m["content"] for m in row["ranked"]] == ["Paris.", "Lyon?", "No idea."]


@pytest.mark.slow
def test_tuned_run_beats_base_on_held_out_split(tiny_model, tmp_path):
    from core.evaluate.flow import evaluate
    from core.training.run import run

    rd = run(tiny_config(tiny_model, tmp_path / "dpo", max_samples=64, max_steps=16,
                         per_device_train_batch_size=4, learning_rate=2e-3, logging_steps=4))
    results = evaluate([str(rd.path)], "demo_pref_en_test", str(ROOT / "data"), max_samples=24,
                       samples=2, max_new_tokens=8)
    base, tuned = results["base"], results["dpo"]
    assert base["preference_accuracy"] == 0.5 and base["reward_margin"] == 0.0
    assert tuned["preference_accuracy"] > base["preference_accuracy"]
    assert tuned["reward_margin"] > 0 and tuned["loss_margin"] > base["loss_margin"]
    saved = json.loads((rd.path / "evaluation_results.json").read_text())
    for key in KEYS:
        assert key in saved, key
    assert saved["preference_total"] == 24 and saved["steps"] == 16
    assert saved["base"]["preference_accuracy"] == 0.5
    assert len(saved["generation_samples"]) == 2 and saved["generation_samples"][0]["prompt"]


def test_eval_cli_prints_table(tiny_model, tmp_path, capsys):
    from conftest import make_adapter, make_run

    from core.__main__ import main

    run = make_run(tiny_model, tmp_path / "r", make_adapter(tiny_model, tmp_path / "a"))
    assert main(["eval", "--run", str(run), "--dataset", "demo_pref_en_test", "--dataset_dir",
                 str(ROOT / "data"), "--max_samples", "4", "--samples", "1",
                 "--max_new_tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert "pref acc" in out and "base" in out and "r " in out
    assert (run / "evaluation_results.json").is_file()


class StubJudge:
    """A reward model with known scores per answer text."""

    def __init__(self, table: dict[str, float]):
        self.table, self.calls = table, []

    def score(self, prompts, answers):
        assert len(prompts) == len(answers)
        self.calls.append(list(answers))
        return [self.table[a] for a in answers]


def test_win_rates_count_ties_half():
    from core.evaluate.judge import win_rates

    judge = StubJudge({"a": 1.0, "b": 2.0, "c": 3.0, "x": 2.0, "z": 0.0, "y": 4.0})
    prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(3)]
    out = win_rates(judge, prompts, {"base": ["a", "b", "c"], "tuned": ["x", "b", "z"],
                                     "other": ["x", "y", "z"]})
    assert out["base"] == {"win_rate": 0.5, "judge_score": 2.0}  # against itself: all ties
    assert out["tuned"] == {"win_rate": 0.5, "judge_score": pytest.approx(4 / 3)}  # win, tie, loss
    assert out["other"]["win_rate"] == pytest.approx(2 / 3)  # win, win, loss
    assert out["other"]["judge_score"] == pytest.approx(2.0)
    assert len(judge.calls) == 3  # one batch of answers per model


def test_reward_model_judges_win_rate(rm_run, tiny_model, tmp_path, monkeypatch):
    from conftest import make_adapter, make_run

    from core.data import load_rows
    from core.evaluate.flow import evaluate
    from core.methods import reward_model
    from core.methods.reward_model import RewardScorer

    judge = rm_run  # trained once per session (conftest)
    tuned = make_run(tiny_model, tmp_path / "tuned", make_adapter(tiny_model, tmp_path / "a"))
    other = make_run(tiny_model, tmp_path / "other", make_adapter(tiny_model, tmp_path / "b", seed=1))
    loads, real = [], reward_model._load
    monkeypatch.setattr(reward_model, "_load", lambda *a: loads.append(a) or real(*a))
    results = evaluate([str(tuned), str(other)], "demo_pref_en_test", str(ROOT / "data"),
                       max_samples=4, samples=3, max_new_tokens=6, judge=str(judge.path),
                       win_prompts=3)
    assert len(loads) == 1  # the judge is loaded once per evaluation, not once per model
    assert results["base"]["win_rate"] == 0.5  # the base against itself: all ties
    assert 0.0 <= results["tuned"]["win_rate"] <= 1.0
    assert isinstance(results["tuned"]["judge_score"], float)
    assert "_win_answers" not in results["tuned"]
    # The judged answers are the greedy samples (same prompts): score them again one by one.
    prompts = [r["prompt"] for r in load_rows("demo_pref_en_test", ROOT / "data", "dpo", 3).rows]
    scorer = RewardScorer(judge.path)
    alone = {name: [scorer.score([p], [s["generated"]])[0]
                    for p, s in zip(prompts, results[name]["generation_samples"])]
             for name in results}
    for name in ("tuned", "other"):
        wins = sum(1.0 if a > b + 1e-5 else 0.5 if abs(a - b) <= 1e-5 else 0.0
                   for a, b in zip(alone[name], alone["base"]))
        assert results[name]["win_rate"] == pytest.approx(wins / 3)
        assert results[name]["judge_score"] == pytest.approx(sum(alone[name]) / 3, abs=1e-5)


def test_full_weight_run_scores_as_its_lora_twin(tiny_model, adapter, tmp_path):
    """A full-weight run (finetuning_type full) holding the LoRA run's merged weights gets the
    LoRA run's numbers: it is loaded on its own and compared against the same base."""
    from conftest import make_run
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from core.evaluate.flow import evaluate

    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), adapter)
    merged.merge_and_unload().save_pretrained(tmp_path / "merged")
    lora = make_run(tiny_model, tmp_path / "lora", adapter)
    full = make_run(tiny_model, tmp_path / "full", tmp_path / "merged", finetuning_type="full")
    results = evaluate([str(lora), str(full)], "demo_pref_en_test", str(ROOT / "data"),
                       max_samples=6, samples=1, max_new_tokens=4)
    assert list(results) == ["base", "lora", "full"]
    assert results["full"]["reward_margin"] != 0.0  # not the base
    for key in ("preference_accuracy", "reward_margin", "avg_chosen_loss", "avg_rejected_loss",
                "likelihood_accuracy"):
        assert results["full"][key] == pytest.approx(results["lora"][key], abs=1e-4), key
    saved = json.loads((full / "evaluation_results.json").read_text())
    assert saved["model"] == "full" and saved["preference_total"] == 6


def test_flow_scores_equal_the_plain_path(tiny_model, adapter, tmp_path):
    """Evaluation scores pairs in the fast layout (each prompt once, pairs packed, the chunked
    head): its summed log-probs of pairs and of ranked answers equal PairCollator's padded
    rows within 1e-5 (absolute and relative), its token counts exactly, for the base and for
    a LoRA run."""
    import dataclasses

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.config import RunConfig
    from core.data import load_rows
    from core.evaluate.flow import _tokenize, scores
    from core.methods.pairwise import PairCollator

    (tmp_path / "r.json").write_text(json.dumps([
        {"instruction": "Capital of France?", "output": ["Paris.", "Lyon, I think.", "No idea."]},
        {"instruction": "2+2?", "output": ["4", "Four, surely.", "5", "A fish."]}]))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"r": {"file_name": "r.json",
                                                                  "ranking": True}}))
    rows = load_rows("demo_pref_en_test", str(ROOT / "data"), "dpo", 10).rows \
        + load_rows("r", tmp_path, "dpo").rows
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    for tuned in (False, True):
        if tuned:  # wraps the base in place: after its own turn
            model = PeftModel.from_pretrained(model, adapter).eval()
        es = _tokenize(rows, tok, RunConfig(model_name_or_path=str(tiny_model)), model)
        layout = es.collate
        assert (layout.prefix_sharing, layout.packing, layout.chunked) == (True, True, True)
        assert layout(es.features[:4])["input_ids"].shape[0] < 8  # fewer rows than 2 per pair
        fast = scores(model, es)
        plain = scores(model, dataclasses.replace(es, collate=PairCollator(tok.pad_token_id)))
        assert len(fast.pairs["chosen"]) == 12 and [len(r) for r in fast.ranked] == [3, 4]
        assert fast.pairs["n_chosen"] == plain.pairs["n_chosen"]
        assert fast.pairs["n_rejected"] == plain.pairs["n_rejected"]
        for key in ("chosen", "rejected"):  # fp32 sums of ~100 tokens: 1e-5 as test_fast_logps
            torch.testing.assert_close(torch.tensor(fast.pairs[key]),
                                       torch.tensor(plain.pairs[key]), atol=1e-5, rtol=1e-5)
        for got, want in zip(fast.ranked, plain.ranked):
            torch.testing.assert_close(torch.tensor(got), torch.tensor(want), atol=1e-5, rtol=1e-5)


def _answer_logp(model, prompt_ids: list[int], answer_ids: list[int]) -> float:
    """Summed log-prob of one answer after its prompt, from one unpadded forward pass."""
    import torch

    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logps = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
    picked = logps.gather(-1, ids[0, 1:, None])[:, 0]
    return picked[-len(answer_ids):].sum().item()


def test_ranked_rows_give_kendall_tau(tiny_model, adapter, tmp_path):
    from conftest import make_run
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.data import load_rows
    from core.data.templates import encode, get_template
    from core.evaluate.flow import evaluate

    records = [{"instruction": "Capital of France?", "output": ["Paris.", "Lyon, I think.", "No idea."]},
               {"instruction": "2+2?", "output": ["4", "Four, surely.", "5", "A fish."]},
               {"instruction": "Colour of the sky?", "output": ["Blue.", "Green.", "Loud."]}]
    (tmp_path / "r.json").write_text(json.dumps(records))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"r": {"file_name": "r.json",
                                                                  "ranking": True}}))
    run = make_run(tiny_model, tmp_path / "tuned", adapter)
    results = evaluate([str(run)], "r", str(tmp_path), samples=1, max_new_tokens=2, write=False)
    assert results["base"]["kendall_tau"] == 0.0  # base minus base: every answer ties
    assert results["tuned"]["preference_total"] == 3
    # Each answer scored alone, as implicit rewards (tuned minus base), against the label order.
    tok = AutoTokenizer.from_pretrained(run)
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    rows = load_rows("r", tmp_path, "dpo").rows
    encoded = [encode(get_template(None, tok), r["prompt"], r["ranked"]) for r in rows]
    base_logps = [[_answer_logp(base, p, a) for a in answers] for p, answers in encoded]
    tuned = PeftModel.from_pretrained(base, adapter).eval()
    taus = [kendall_tau([_answer_logp(tuned, p, a) - b for a, b in zip(answers, ref)],
                        list(range(len(answers))))
            for (p, answers), ref in zip(encoded, base_logps)]
    assert results["tuned"]["kendall_tau"] == pytest.approx(sum(taus) / 3)
    assert len({round(t, 6) for t in taus}) > 1  # the rows do not all agree: a real average


def test_dtype_is_the_runs_unless_overridden(tiny_model, adapter, tmp_path, monkeypatch):
    from conftest import make_run

    from core.__main__ import main
    from core.errors import UserError
    from core.evaluate.flow import evaluate
    from core.models import loading

    seen, real = [], loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda opts, *a, **k: seen.append(opts.dtype)
                        or real(opts, *a, **k))
    run = make_run(tiny_model, tmp_path / "bf16", adapter, bf16=True)
    args = ([str(run)], "demo_pref_en_test", str(ROOT / "data"))
    small = dict(max_samples=2, samples=1, max_new_tokens=2, write=False)
    evaluate(*args, **small)
    assert seen == ["bfloat16"]  # the run's own (on a CPU it falls back to fp32 with a warning)
    seen.clear()
    evaluate(*args, dtype="float32", **small)
    assert seen == ["float32"]
    seen.clear()
    with pytest.raises(UserError, match="dtype: 'int8' is not one of"):
        evaluate(*args, dtype="int8", **small)
    with pytest.raises(UserError, match="judge: .* is not a finished rm run"):
        evaluate(*args, judge=str(run), **small)
    assert seen == []  # both refused before any model loaded
    assert main(["eval", "--run", str(run), "--dataset", "demo_pref_en_test", "--dataset_dir",
                 str(ROOT / "data"), "--max_samples", "2", "--samples", "1",
                 "--max_new_tokens", "2", "--dtype", "float16"]) == 0
    assert seen == ["float16"]
    with pytest.raises(SystemExit):
        main(["eval", "--run", str(run), "--dataset", "x", "--dtype", "int8"])
