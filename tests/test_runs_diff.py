"""Runs compared by their configs (core/evaluate/compare.py, `python -m core runs diff`): only
the keys that differ, in RunConfig field order, evaluation numbers and training summaries side
by side; runs named by folder or by name under the saves folder; clear errors."""
import json
import subprocess
import sys

import pytest
from conftest import ROOT

from core.__main__ import main
from core.config import RunConfig
from core.errors import UserError
from core.evaluate.compare import diff_runs
from core.runs.rundir import RunDir


def make(saves, name, results=None, losses=(0.69, 0.5), alarms=(), **config):
    """A finished run folder: config.yaml, status.json, metrics.jsonl, evaluation results."""
    path = saves / name
    RunConfig(output_dir=str(path), run_name=name, **config).save(path / "config.yaml")
    rd = RunDir(path)
    for step, loss in enumerate(losses, 1):
        rd.append_metrics({"step": step, "loss": loss})
    rd.update_status(state="completed", step=len(losses), total_steps=len(losses),
                     alarms=[{"id": a, "severity": "warning", "step": 1, "seen": "s",
                              "meaning": "m", "advice": "a"} for a in alarms])
    if results is not None:
        (path / "evaluation_results.json").write_text(json.dumps(results))
    return path


@pytest.fixture
def saves(tmp_path):
    saves = tmp_path / "saves"
    make(saves, "a", {"dataset": "pairs_test", "preference_accuracy": 0.75, "reward_margin": 0.5,
                      "kendall_tau": None, "model": "a"},
         learning_rate=5e-6, pref_beta=0.1, seed=1)
    make(saves, "b", {"dataset": "pairs_test", "preference_accuracy": 0.625,
                      "reward_margin": 0.25, "win_rate": 0.6}, losses=(0.69, 0.4, 0.3),
         alarms=("stuck", "overfitting"), learning_rate=1e-5, pref_beta=0.3, seed=1,
         pref_loss="ipo")
    return saves


def rows(section):
    return {row.key: row.values for row in section}


def test_only_the_keys_that_differ_in_field_order(saves):
    d = diff_runs([saves / "a", saves / "b"])
    assert d.names == ["a", "b"] and d.paths == [saves / "a", saves / "b"]
    # output_dir and run_name always differ: the column heads name the runs
    assert [r.key for r in d.config] == ["pref_beta", "pref_loss", "learning_rate"]
    assert rows(d.config) == {"pref_beta": [0.1, 0.3], "pref_loss": ["sigmoid", "ipo"],
                              "learning_rate": [5e-6, 1e-5]}


def test_evaluation_and_training_side_by_side(saves):
    d = diff_runs(["a", "b"], saves)
    # metrics.TABLE's order; a number no run has (kendall_tau) is left out
    assert rows(d.evaluation) == {"dataset": ["pairs_test", "pairs_test"],
                                  "preference_accuracy": [0.75, 0.625],
                                  "reward_margin": [0.5, 0.25], "win_rate": [None, 0.6]}
    training = rows(d.training)
    assert training["final_train_loss"] == [0.5, 0.3] and training["steps"] == [2, 3]
    assert training["state"] == ["completed", "completed"]
    assert training["alarms"] == [None, ["stuck", "overfitting"]]
    assert "training_time_s" not in training  # no run has one


def test_three_runs_and_a_key_only_the_third_changes(saves):
    make(saves, "c", learning_rate=5e-6, pref_beta=0.1, seed=7)
    d = diff_runs(["a", "b", "c"], saves)
    assert rows(d.config)["seed"] == [1, 1, 7] and rows(d.config)["pref_beta"] == [0.1, 0.3, 0.1]
    assert rows(d.evaluation)["preference_accuracy"] == [0.75, 0.625, None]
    assert [r.key for r in diff_runs(["a", "c"], saves).config] == ["seed"]


def test_names_by_folder_relative_absolute_or_under_saves(saves, monkeypatch):
    monkeypatch.chdir(saves.parent)
    d = diff_runs(["saves/a", str(saves / "b")], saves)
    assert d.paths == [saves / "a", saves / "b"] and d.names == ["a", "b"]
    make(saves.parent / "elsewhere", "a", learning_rate=2e-5)
    d = diff_runs(["a", str(saves.parent / "elsewhere" / "a")], saves)
    assert d.names == [str(saves / "a"), str(saves.parent / "elsewhere" / "a")]  # two "a"s


def test_errors_are_clear(saves, tmp_path):
    with pytest.raises(UserError, match=r"run 'nope' not found: .*runs there: a, b\)"):
        diff_runs(["a", "nope"], saves)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="is not a run folder: it has no config.yaml"):
        diff_runs(["a", tmp_path / "empty"], saves)
    with pytest.raises(UserError, match="two or more runs"):
        diff_runs(["a"], saves)
    with pytest.raises(UserError, match="the same run is named twice"):
        diff_runs(["a", saves / "a"], saves)
    (saves / "b" / "evaluation_results.json").write_text("{not json")
    with pytest.raises(UserError, match="evaluation_results.json is not valid JSON"):
        diff_runs(["a", "b"], saves)


def test_cli_table_and_json(saves, capsys):
    assert main(["runs", "diff", "a", "b", "--saves-dir", str(saves)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = {line.split()[0]: line.split()[1:] for line in lines[1:] if line.startswith("  ")}
    assert lines[0].split() == ["a", "b"]
    assert table["learning_rate"] == ["5e-06", "1e-05"] and table["pref_loss"] == ["sigmoid", "ipo"]
    assert "seed" not in table and "output_dir" not in table
    assert [line for line in lines if not line.startswith(" ")] == ["config", "evaluation",
                                                                    "training"]
    assert table["pref"] == ["acc", "0.7500", "0.6250"]  # the label "pref acc", then the runs
    assert table["win"] == ["rate", "-", "0.6000"]
    assert table["alarms"] == ["-", "stuck,overfitting"]

    assert main(["runs", "diff", str(saves / "a"), "b", "--saves-dir", str(saves), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] == [{"name": "a", "path": str(saves / "a")},
                           {"name": "b", "path": str(saves / "b")}]
    assert out["config"]["pref_beta"] == [0.1, 0.3]
    assert out["evaluation"]["preference_accuracy"] == [0.75, 0.625]
    assert out["training"]["final_train_loss"] == [0.5, 0.3]


def test_cli_same_config_and_no_evaluation(tmp_path, capsys):
    for name in ("x", "y"):
        make(tmp_path, name)
    assert main(["runs", "diff", "x", "y", "--saves-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "config: no differences" in out and "evaluation: no evaluation_results.json" in out


def test_cli_missing_run_is_one_line_and_exit_2(saves):
    probe = ("import sys; from core.__main__ import main; code = main(['runs', 'diff', 'a', "
             f"'nope', '--saves-dir', {str(saves)!r}]); heavy = [m for m in ('torch', "
             "'transformers', 'datasets') if m in sys.modules]; print(heavy); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout.strip() == "[]"  # no heavy imports either
    assert done.stderr.startswith("error: run 'nope' not found") and done.stderr.count("\n") == 1
