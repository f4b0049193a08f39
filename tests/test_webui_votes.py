"""The Chat tab's votes as plain handlers (no browser): a blind round streams pane A's side
first, the pick maps back to its side, a saved vote reveals the models and updates the Votes
panel, two users saving at once both land in the dataset, and problems save nothing.

Run: pytest -q tests/test_webui_votes.py
"""
from __future__ import annotations

import json
import threading

import pytest
from conftest import make_run

from core.chat.host import ChatHost
from core.chat.sides import Picks
from core.data import load_rows
from core.data.registry import read_registry
from core.data.votes import votes_entry
from webui.tabs import chat, chat_votes
from webui.workspace import Workspace

SAMPLED = {"temperature": 1, "seed": 42, "max_new_tokens": 4}  # greedy answers are blank here


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_model) -> Workspace:
    """A server started with --model-dir for the tiny model's folder."""
    return Workspace(saves_dir=tmp_path_factory.mktemp("webui-votes") / "saves",
                     model_dirs=[tiny_model])


@pytest.fixture(scope="module")
def tuned(tiny_model, adapter, ws) -> str:
    return ws.shown(make_run(tiny_model, ws.saves_dir / "tuned", adapter))


@pytest.fixture(scope="module")
def host():
    h = ChatHost()
    yield h
    h.unload()


def answered(host, ws, tiny_model, tuned, blind: bool, panes=None, text="hi") -> tuple:
    """One send as the tab does it: (history, round with the ballot, statuses seen)."""
    rnd = chat_votes.new_round(blind)
    if panes:
        rnd["panes"] = list(panes)
    picks = Picks(str(tiny_model), a="base", b=tuned)
    seen, history = [], None
    for history, status in chat.send(host, ws, picks, text, SAMPLED, chat.empty(), "en",
                                     chat_votes.panes_of(rnd)):
        seen.append(status.text)
    return history, chat_votes.offer(host, history, rnd, SAMPLED), seen


def test_a_blind_vote_is_saved_revealed_and_counted(ws, host, tiny_model, tuned):
    history, rnd, seen = answered(host, ws, tiny_model, tuned, True, ("B", "A"))
    assert seen.index("Model A is answering…") < seen.index("Model B is answering…")
    assert rnd["ballot"]["blind"] and not rnd["revealed"]
    hidden = chat.heads(rnd, "en", str(tiny_model), "base", tuned)
    assert all("hidden until you vote" in h and "tuned" not in h for h in hidden)
    text, problem = chat_votes.pick(rnd, "A", "en")  # pane A shows side B: the tuned run
    assert problem is None and text == history["B"][-1]["content"]
    folder = ws.shown(ws.saves_dir / "votes-data")
    done, note, panel, registered = chat_votes.save(ws, folder, "chat_votes", rnd, "A", "Woof!",
                                                    "en")
    assert f"A was tuned, B was {tiny_model.name}." in note and "Registered it in" in note
    assert registered
    assert done["revealed"] and done["ballot"] is None
    shown = chat.heads(done, "en", str(tiny_model), "base", tuned)
    assert "tuned" in shown[0] and "base" in shown[1]
    (record,) = [json.loads(x) for x in (ws.saves_dir / "votes-data" / "chat_votes.jsonl")
                 .read_text().splitlines()]
    assert (record["winner"], record["model_b"], record["blind"], record["panes"]) == (
        "B", "tuned", True, ["B", "A"])
    assert record["chosen"]["value"] == "Woof!" and record["original"] == text
    assert record["generation"]["seed"] == 42 and record["generation"]["max_new_tokens"] == 4
    assert "tuned beats " in panel and "100%" in panel and "1 votes" in panel
    assert "chat_votes" in read_registry(ws.saves_dir / "votes-data" / "dataset_info.json")
    again = chat_votes.save(ws, folder, "chat_votes", done, "B", None, "en")
    assert again[2] is None and "Nothing to vote on" in again[1]  # one vote per pair


def test_two_users_saving_at_once_lose_no_vote(ws, host, tiny_model, tuned):
    rounds = [answered(host, ws, tiny_model, tuned, False, text=q)[1] for q in ("one", "two")]
    folder = ws.shown(ws.saves_dir / "both")
    start, results = threading.Barrier(2), []

    def user(rnd, choice):
        start.wait()
        results.append(chat_votes.save(ws, folder, "chat_votes", rnd, choice, None, "en"))

    threads = [threading.Thread(target=user, args=(r, c)) for r, c in zip(rounds, ("A", "tie"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(panel is not None for _, _, panel, _ in results)
    assert sorted(registered for *_, registered in results) == [False, True]  # exactly once
    records = load_rows("chat_votes", ws.saves_dir / "both", "sft").rows
    assert sorted(r["messages"][-2]["content"] for r in records) == ["one", "two"]
    panel = chat_votes.panel(ws, folder, "chat_votes", None, "en")
    assert "2 votes, 1 ties" in panel


def test_problems_save_nothing(ws, host, tiny_model, tuned, tmp_path):
    _, rnd, _ = answered(host, ws, tiny_model, tuned, False)
    outside = chat_votes.save(ws, str(tmp_path), "chat_votes", rnd, "A", None, "en")
    assert outside[0] is rnd and outside[2] is None and "outside the folders" in outside[1]
    bad = chat_votes.save(ws, str(ws.saves_dir), "../x", rnd, "A", None, "en")
    assert bad[2] is None and "votes dataset name" in bad[1]
    folder = ws.saves_dir / "elsewhere"  # a registry entry naming a file out of saves/
    folder.mkdir()
    registry = folder / "dataset_info.json"
    registry.write_text(json.dumps({"chat_votes": {
        **votes_entry("chat_votes"), "file_name": str(tmp_path / "out.jsonl")}}))
    before = registry.read_bytes()
    out = chat_votes.save(ws, str(folder), "chat_votes", rnd, "A", None, "en")
    assert out[2] is None and "outside the folders" in out[1]
    assert "outside the folders" in chat_votes.panel(ws, str(folder), "chat_votes", None, "en")
    assert registry.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == [
        ".votes.lock", "dataset_info.json"]
    assert not list(tmp_path.iterdir())
    nothing = chat_votes.pick(chat_votes.new_round(False), "A", "en")
    assert nothing == ("", "Nothing to vote on: send a message to two models first (one vote "
                           "per answer pair).")
    blank = chat_votes.offer(host, {"A": [{"role": "user", "content": "hi"},
                                          {"role": "assistant", "content": ""}],
                                    "B": []}, chat_votes.new_round(False), SAMPLED)
    assert blank["ballot"] is None and "side A's answer is empty" in chat_votes.pick(
        blank, "A", "en")[1]


def test_panel_before_any_vote_and_in_chinese(ws):
    saves = str(ws.saves_dir)
    assert "No votes yet." in chat_votes.panel(ws, saves, "nothing_here", None, "en")
    assert "还没有投票" in chat_votes.panel(ws, saves, "nothing_here", None, "zh")
    round_ = chat_votes.reset(True)
    assert round_ == {"panes": ["A", "B"], "ballot": None, "revealed": False}
    assert "投票后揭晓" in chat.heads(round_, "zh", "demo", "base", "x")[0]
