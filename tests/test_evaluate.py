"""Preference evaluation: metrics by hand, Kendall's tau, a real DPO run beating its base on
the held-out demo split, and the evaluation_results.json contract."""
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


def test_reward_model_judges_win_rate(tiny_model, tmp_path):
    from conftest import make_adapter, make_run

    from core.evaluate.flow import evaluate
    from core.training.run import run

    judge = run(tiny_config(tiny_model, tmp_path / "rm", stage="rm", max_steps=2))
    tuned = make_run(tiny_model, tmp_path / "tuned", make_adapter(tiny_model, tmp_path / "a"))
    results = evaluate([str(tuned)], "demo_pref_en_test", str(ROOT / "data"), max_samples=4,
                       samples=1, max_new_tokens=6, judge=str(judge.path), win_prompts=3)
    assert results["base"]["win_rate"] == 0.5  # the base against itself: all ties
    assert 0.0 <= results["tuned"]["win_rate"] <= 1.0
    assert isinstance(results["tuned"]["judge_score"], float)
    assert "_win_answers" not in results["tuned"]
