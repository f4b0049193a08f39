"""Chat votes as preference data (core/data/votes.py, core/chat/ballot.py, `core chat --vote`):
the record format, registration that keeps other entries, appends under concurrency, the win
rate against hand-computed numbers, the blind order, ties left out of training, the CLI loop.

Run: pytest -q tests/test_votes.py
"""
from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ROOT

from core.chat.ballot import Ballot, draw_panes
from core.data import load_rows
from core.data.registry import read_registry
from core.data.votes import (
    Vote,
    append_vote,
    last_pair,
    read_votes,
    tally,
    votes_entry,
    wilson,
)
from core.errors import UserError

Q = {"role": "user", "content": "What sound does a dog make?"}
GEN = {"max_new_tokens": 8, "temperature": 0.7, "top_p": 0.9, "top_k": 50,
       "repetition_penalty": 1.0, "seed": 42, "system": "Be kind.", "enable_thinking": None}


def histories(a: str = "Woof.", b: str = "A dog says woof! Happy to help.", earlier=None) -> dict:
    before = earlier or {"A": [], "B": []}
    return {s: before[s] + [Q, {"role": "assistant", "content": text}]
            for s, text in (("A", a), ("B", b))}


def ballot(panes=("A", "B"), blind=False, **kw) -> Ballot:
    return Ballot(histories(**kw), {"A": "demo", "B": "demo-dpo"}, GEN, blind, panes)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- the record -----------------------------------------------------------------------------
def test_a_vote_is_one_sharegpt_ranking_line_and_registers_once(tmp_path):
    saved = append_vote(ballot().vote("B"), "chat_votes", tmp_path)
    assert saved.path == tmp_path / "chat_votes.jsonl" and saved.count == 1 and saved.registered
    (rec,) = lines(saved.path)
    assert rec["conversations"] == [{"from": "system", "value": "Be kind."},
                                    {"from": "human", "value": Q["content"]}]
    assert rec["chosen"] == {"from": "gpt", "value": "A dog says woof! Happy to help."}
    assert rec["rejected"] == {"from": "gpt", "value": "Woof."}
    assert (rec["tie"], rec["winner"], rec["model_a"], rec["model_b"]) == (False, "B", "demo",
                                                                          "demo-dpo")
    assert (rec["blind"], rec["edited"], rec["original"], rec["same_history"]) == (
        False, False, None, True)
    assert rec["panes"] == ["A", "B"] and rec["generation"] == GEN
    assert rec["time"].endswith("Z") and rec["time"][:2] == "20"
    registry = tmp_path / "dataset_info.json"
    assert saved.registry == registry and read_registry(registry) == {
        "chat_votes": votes_entry("chat_votes")}
    before = registry.read_bytes()
    again = append_vote(ballot().vote("A"), "chat_votes", tmp_path)
    assert again.count == 2 and not again.registered and registry.read_bytes() == before
    assert [r["winner"] for r in read_votes("chat_votes", tmp_path)] == ["B", "A"]


def test_registration_keeps_every_other_entry_byte_for_byte(tmp_path):
    registry = tmp_path / "dataset_info.json"
    text = '{\n    "mine": {"file_name": "mine.json",   "ranking": true},\n    "x": {"hf_hub_url": "a/b"}\n}\n'
    registry.write_text(text)
    append_vote(ballot().vote("A"), "votes", tmp_path)
    new = registry.read_text()
    assert new.startswith(text.rstrip()[:-1].rstrip())  # everything before the last brace
    assert set(json.loads(new)) == {"mine", "x", "votes"}


def test_the_votes_load_as_dpo_pairs_and_ties_train_nothing(tmp_path):
    b = ballot()
    for pick, edit in (("A", None), ("B", "Woof woof! A dog barks."), ("tie", "ignored")):
        append_vote(b.vote(pick, edit), "chat_votes", tmp_path)
    ds = load_rows("chat_votes", tmp_path, "dpo")
    assert ds.ranking and ds.formatting == "sharegpt" and ds.total == 3
    prompt = [{"role": "system", "content": "Be kind."}, Q]
    assert ds.rows == [
        {"prompt": prompt, "chosen": [{"role": "assistant", "content": "Woof."}],
         "rejected": [{"role": "assistant", "content": "A dog says woof! Happy to help."}]},
        {"prompt": prompt, "chosen": [{"role": "assistant", "content": "Woof woof! A dog barks."}],
         "rejected": [{"role": "assistant", "content": "Woof."}]}]
    assert not ds.errors and [p.reason for p in ds.warnings] == [
        "1 records are ties (no preference): left out of pairwise and kto training"]
    assert len(load_rows("chat_votes", tmp_path, "kto").rows) == 4  # two pairs, two rows each
    assert len(load_rows("chat_votes", tmp_path, "sft").rows) == 3  # a tie's answer is fine
    edited = read_votes("chat_votes", tmp_path)[1]
    assert edited["edited"] and edited["original"] == "A dog says woof! Happy to help."


def test_a_dpo_run_trains_on_the_votes(tmp_path, tiny_model):
    from conftest import tiny_config

    from core.training.run import run

    b = ballot()
    for i in range(4):
        append_vote(b.vote("AB"[i % 2]), "chat_votes", tmp_path)
    cfg = tiny_config(tiny_model, tmp_path / "run", dataset="chat_votes",
                      dataset_dir=str(tmp_path), max_steps=1, max_samples=None)
    done = run(cfg)
    assert json.loads((done.path / "status.json").read_text())["state"] == "completed"


def test_a_multi_turn_prompt_is_the_winners_conversation(tmp_path):
    earlier = {"A": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey."}],
               "B": [{"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": "Hello! How can I help?"}]}
    vote = ballot(earlier=earlier).vote("B")
    assert [m["content"] for m in vote.prompt] == ["Be kind.", "Hi", "Hello! How can I help?",
                                                   Q["content"]]
    assert vote.same_history is False
    append_vote(vote, "chat_votes", tmp_path)
    (row,) = load_rows("chat_votes", tmp_path, "dpo").rows
    assert [m["role"] for m in row["prompt"]] == ["system", "user", "assistant", "user"]


def test_bad_votes_names_and_files_are_refused_and_nothing_is_lost(tmp_path):
    with pytest.raises(UserError, match="side A's answer is empty"):
        ballot(a="  ")
    blank = ballot().vote("B")
    blank.rejected = " "
    with pytest.raises(UserError, match="vote not saved: the rejected answer is empty"):
        append_vote(blank, "chat_votes", tmp_path)
    with pytest.raises(UserError, match="the better answer is empty"):
        ballot().vote("A", "   ")
    with pytest.raises(UserError, match="pick pane A, B or tie"):
        ballot().vote("C")
    with pytest.raises(UserError, match="no answer to vote on"):
        Ballot({"A": [Q], "B": []}, {"A": "x", "B": "y"})
    for name in ("../evil", "a/b", ".hidden", ""):
        with pytest.raises(UserError, match="votes dataset name"):
            append_vote(ballot().vote("A"), name, tmp_path)
    registry = tmp_path / "dataset_info.json"
    registry.write_text('{"mine": {"file_name": "mine.json", "ranking": true}}')
    with pytest.raises(UserError, match="'mine' in .* is not a chat-votes dataset"):
        append_vote(ballot().vote("A"), "mine", tmp_path)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"winner": "A"}\n{not json\n')
    with pytest.raises(UserError, match="line 2 is not valid JSON"):
        append_vote(ballot().vote("A"), "broken", tmp_path)
    assert broken.read_text() == '{"winner": "A"}\n{not json\n'
    assert set(read_registry(registry)) == {"mine"}
    assert not (tmp_path / "mine.jsonl").exists()


def test_a_guard_sees_the_registry_and_the_file_before_anything_is_written(tmp_path):
    seen = []

    def guard(path, what):
        seen.append((Path(path).name, what))
        if Path(path).suffix == ".jsonl":
            raise UserError(f"{what}: refused")

    with pytest.raises(UserError, match="dataset 'chat_votes': refused"):
        append_vote(ballot().vote("A"), "chat_votes", tmp_path, guard)
    assert seen == [("dataset_info.json", "registry"), ("chat_votes.jsonl", "dataset 'chat_votes'")]
    assert [p.name for p in tmp_path.iterdir()] == [".votes.lock"]


# --- two voters at once -------------------------------------------------------------------
def test_threads_voting_at_once_lose_no_vote(tmp_path):
    start, errors = threading.Barrier(6), []

    def voter(i: int) -> None:
        start.wait()
        try:
            for j in range(8):
                append_vote(ballot(b=f"answer {i}-{j}").vote("B"), "chat_votes", tmp_path)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=voter, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    answers = [r["chosen"]["value"] for r in lines(tmp_path / "chat_votes.jsonl")]
    assert sorted(answers) == sorted(f"answer {i}-{j}" for i in range(6) for j in range(8))
    assert list(read_registry(tmp_path / "dataset_info.json")) == ["chat_votes"]
    assert len(load_rows("chat_votes", tmp_path, "dpo").rows) == 48


def test_two_processes_voting_at_once_lose_no_vote(tmp_path):
    code = """if True:
        import sys, time
        from pathlib import Path
        from core.chat.ballot import Ballot
        from core.data.votes import append_vote
        folder, who = Path(sys.argv[1]), sys.argv[2]
        while not (folder / "go").exists():
            time.sleep(0.01)
        h = [{"role": "user", "content": "hi"}]
        for j in range(15):
            b = Ballot({"A": h + [{"role": "assistant", "content": f"{who}-{j}"}],
                        "B": h + [{"role": "assistant", "content": "other"}]}, {"A": who, "B": "y"})
            append_vote(b.vote("A"), "chat_votes", folder)
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), who], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True) for who in ("p1", "p2")]
    (tmp_path / "go").touch()
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    chosen = [r["chosen"]["value"] for r in lines(tmp_path / "chat_votes.jsonl")]
    assert sorted(chosen) == sorted(f"{w}-{j}" for w in ("p1", "p2") for j in range(15))
    assert list(read_registry(tmp_path / "dataset_info.json")) == ["chat_votes"]


# --- the win rate ---------------------------------------------------------------------------
def test_wilson_interval_against_hand_computed_values():
    # (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = 1.959964
    low, high = wilson(2 / 3, 3)  # 2 wins of 3
    assert low == pytest.approx(0.20766, abs=1e-5) and high == pytest.approx(0.93851, abs=1e-5)
    low, high = wilson(4 / 6, 6)  # 3 wins, 1 loss, 2 ties
    assert low == pytest.approx(0.29999, abs=1e-5) and high == pytest.approx(0.90323, abs=1e-5)
    assert wilson(0.0, 5) == (0.0, pytest.approx(0.43448, abs=1e-5))


def test_tally_counts_both_orders_ties_half_and_nothing_else():
    def v(a, b, winner):
        return {"model_a": a, "model_b": b, "winner": winner}

    votes = [v("base", "tuned", "B"), v("tuned", "base", "A"), v("base", "tuned", "B"),
             v("base", "tuned", "A"), v("tuned", "base", "tie"), v("base", "tuned", "tie"),
             v("base", "other", "B"), v("tuned", "tuned", "A")]
    t = tally(votes, "tuned", "base")
    assert (t.wins, t.losses, t.ties, t.n) == (3, 1, 2, 6)
    assert t.rate == pytest.approx(4 / 6)
    assert (t.low, t.high) == (pytest.approx(0.29999, abs=1e-5), pytest.approx(0.90323, abs=1e-5))
    assert "tuned over base: win rate 67% (95% Wilson interval 30%-90%), 6 votes, 2 ties" == \
        t.summary()
    mirror = tally(votes, "base", "tuned")
    assert (mirror.wins, mirror.losses, mirror.ties) == (1, 3, 2)
    assert tally(votes, "tuned", "tuned").n == 0 and tally([], "a", "b").rate is None
    assert last_pair(votes) == ("tuned", "tuned") and last_pair([]) is None


# --- blind ----------------------------------------------------------------------------------
def test_blind_shuffles_per_prompt_and_the_pick_maps_back_to_its_side():
    assert {draw_panes(False) for _ in range(20)} == {("A", "B")}
    rng = random.Random(0)
    drawn = [draw_panes(True, rng) for _ in range(40)]
    assert set(drawn) == {("A", "B"), ("B", "A")}
    assert 10 < drawn.count(("B", "A")) < 30
    assert len({draw_panes(True) for _ in range(60)}) == 2  # the default rng: not one fixed order
    b = ballot(panes=("B", "A"), blind=True)
    assert b.answer("A") == "A dog says woof! Happy to help." and b.side("A") == "B"
    vote = b.vote("A", "Woof! Dogs bark.")  # pane A showed side B
    assert (vote.winner, vote.chosen, vote.rejected, vote.original) == (
        "B", "Woof! Dogs bark.", "Woof.", "A dog says woof! Happy to help.")
    record = vote.record()
    assert record["blind"] and record["panes"] == ["B", "A"] and record["edited"]
    tie = b.vote("tie", "an edit is ignored on a tie").record()
    assert tie["tie"] and tie["chosen"]["value"] == "Woof." and not tie["edited"]
    assert Ballot(**b.to_dict()).vote("B").winner == "A"


def test_vote_problems_name_what_is_wrong():
    vote = Vote([{"role": "assistant", "content": "x"}], "a", "", "C", "m", "n")
    assert vote.problems() == ["winner 'C' is not A, B or tie",
                               "the prompt must end with the user's message",
                               "the rejected answer is empty; a pair needs two answers"]


# --- the command line -----------------------------------------------------------------------
def test_cli_votes_after_each_pair_and_prints_the_win_rate(run, tiny_model, tmp_path,
                                                          monkeypatch, capsys):
    from core.__main__ import main

    stdin = "hi\na\nwhat now?\nx\nbe\nMy better answer.\n.\nthird\nt\n/exit\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert main(["chat", "--run", str(run), "--compare", "base", "--vote", "--votes-dataset",
                 "cli_votes", "--dataset-dir", str(tmp_path), "--max-new-tokens", "4",
                 "--temperature", "1", "--seed", "42"]) == 0  # greedy answers are blank here
    out, err = capsys.readouterr()
    votes = lines(tmp_path / "cli_votes.jsonl")
    assert [v["winner"] for v in votes] == ["A", "B", "tie"]
    assert {(v["model_a"], v["model_b"]) for v in votes} == {(tiny_model.name, "tuned")}
    assert votes[1]["chosen"]["value"] == "My better answer." and votes[1]["edited"]
    assert [m["value"] for m in votes[1]["conversations"] if m["from"] == "human"] == [
        "hi", "what now?"]  # the conversation so far
    assert votes[0]["generation"]["max_new_tokens"] == 4 and not votes[0]["blind"]
    assert votes[0]["generation"]["seed"] == 42
    assert "unknown answer 'x'" in err and err.count("Which answer is better?") == 4
    assert "Saved vote 3 to cli_votes" in out and "(registered it)" in out.split("Saved vote 2")[0]
    assert f"tuned over {tiny_model.name}: win rate 50%" in out and "3 votes, 1 ties" in out
    assert list(read_registry(tmp_path / "dataset_info.json")) == ["cli_votes"]


def test_cli_blind_hides_the_names_and_reveals_them_after_the_vote(run, tmp_path, monkeypatch,
                                                                   capsys):
    from core.__main__ import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\na\nhello\nb\n/exit\n"))
    assert main(["chat", "--run", str(run), "--compare", "base", "--vote", "--blind",
                 "--dataset-dir", str(tmp_path), "--max-new-tokens", "4",
                 "--temperature", "1", "--seed", "42"]) == 0
    out = capsys.readouterr().out
    assert "[A]" in out and "[B]" in out and "[A: " not in out
    votes = lines(tmp_path / "chat_votes.jsonl")
    for vote, pane in zip(votes, "AB"):  # pane A picked first, then pane B
        names = {"A": vote["model_a"], "B": vote["model_b"]}
        shown = [names[side] for side in vote["panes"]]
        assert vote["blind"] and f"(A was {shown[0]}, B was {shown[1]})" in out
        assert vote["winner"] == vote["panes"]["AB".index(pane)]
    assert len(votes) == 2


def test_cli_vote_needs_two_sides(capsys):
    from core.__main__ import main

    assert main(["chat", "--model", "demo", "--vote", "--prompt", "hi"]) == 2
    assert "--vote and --blind need two answers to compare" in capsys.readouterr().err


def test_cli_a_blank_answer_is_not_voted_on_and_the_chat_goes_on(run, tmp_path, monkeypatch,
                                                                  capsys):
    from core.__main__ import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n/exit\n"))
    assert main(["chat", "--run", str(run), "--compare", "base", "--vote", "--dataset-dir",
                 str(tmp_path), "--max-new-tokens", "2", "--temperature", "0"]) == 0
    err = capsys.readouterr().err
    assert "(no vote: side A's answer is empty" in err and "Which answer" not in err
    assert not (tmp_path / "chat_votes.jsonl").exists()
