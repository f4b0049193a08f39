"""Chat, Evaluate and Export tab handlers as plain functions (no browser), on the tiny model
with a LoRA run made without training (conftest.make_adapter / make_run).

Run: pytest -q tests/test_webui_chat.py
"""
from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from conftest import checkpointed, make_run

from core.chat.engine import GenConfig
from core.chat.host import ChatHost
from core.chat.sides import Picks, side_of
from core.errors import UserError
from core.runs.manager import RunManager
from webui import runlists
from webui.tabs import chat, chat_engine, chat_settings
from webui.tabs import evaluate as eval_tab
from webui.tabs import export as export_tab
from webui.tabs import runs as runs_tab
from webui.workspace import Workspace

GREEDY = {"temperature": 0, "max_new_tokens": 6}


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_model, tiny_qwen3) -> Workspace:
    """A server started with --model-dir for the tiny models' folders."""
    return Workspace(saves_dir=tmp_path_factory.mktemp("webui-chat") / "saves",
                     model_dirs=[tiny_model, tiny_qwen3])


@pytest.fixture(scope="module")
def manager(ws) -> RunManager:
    return RunManager(ws.saves_dir, max_concurrent=0)


@pytest.fixture(scope="module")
def tuned(tiny_model, adapter, ws) -> str:
    """A finished LoRA run in the workspace's saves/, as the pickers offer it."""
    return ws.shown(make_run(tiny_model, ws.saves_dir / "tuned", adapter, cutoff_len=256))


@pytest.fixture
def holder():
    h = ChatHost()  # each app (and test) has its own
    yield h
    h.unload()


# --- chat ----------------------------------------------------------------------------------
def test_pickers_default_to_base_and_the_latest_finished_run(ws, manager, tiny_model, tuned):
    choices = chat.side_choices(ws, manager, "demo", False, "en")
    assert choices == [("base (demo)", "base"), ("tuned", tuned)]
    assert chat.defaults(ws, manager) == ("base", tuned)
    assert chat.pane_label(tuned, "demo", "en") == "tuned"
    assert chat.pane_label("base", "demo", "zh") == "基座（demo）"
    assert chat.pane_label(f"{tuned}/checkpoint-5", "demo", "en") == "tuned · checkpoint-5"
    assert ">B<" in chat.pane_head("B", tuned, "demo", "en")
    empty = RunManager(ws.saves_dir / "none", max_concurrent=0)
    assert chat.defaults(ws, empty) == ("base", None)  # single-model chat
    assert Picks("demo", a="base", b=None).sides == {"A": "base"}


def test_picks_resolve_and_stay_confined(ws, tiny_model, tuned):
    def target(pick):  # what the tab does: confine, then core resolves
        return side_of(chat_engine.confine(ws, pick))

    run = target(tuned)
    assert (run.kind, run.name, run.base) == ("adapter", "tuned", str(tiny_model))
    assert target(str(tiny_model)).kind == "model"  # a model folder in a --model-dir
    with pytest.raises(UserError, match="--model-dir"):  # not one the server was started with
        chat_engine.confine(Workspace(saves_dir=ws.saves_dir), str(tiny_model))
    assert target("Qwen/Qwen2.5-0.5B-Instruct").kind == "model"
    for bad in ("/etc", "../../etc/passwd", ""):
        with pytest.raises(UserError):
            target(bad)


def test_send_streams_both_sides_from_one_base_load(ws, tiny_model, tuned, holder, loads):
    req = Picks(str(tiny_model), a="base", b=tuned)
    updates = list(chat.send(holder, ws, req, "What is the capital of France?", GREEDY,
                             chat.empty(), "en"))
    history, status = updates[-1]
    assert len(loads) == 1  # A = base and B = tuned share one copy of the weights
    for side in ("A", "B"):
        assert [m["role"] for m in history[side]] == ["user", "assistant"]
        assert history[side][1]["content"]
    assert history["A"][1]["content"] != history["B"][1]["content"]  # the adapter is on for B only
    streamed_b = [h["B"][-1]["content"] for h, _ in updates if len(h["B"]) == 2 and
                  h["B"][-1]["role"] == "assistant"]
    assert len(streamed_b) > 2 and streamed_b[-1] == history["B"][1]["content"]  # it streamed
    assert "ps-info" in status.html() and "tuned" in status.text and str(tiny_model) in status.text
    # a second turn continues both conversations; nothing is loaded again
    history, _ = list(chat.send(holder, ws, req, "And of Spain?", GREEDY, history, "en"))[-1]
    assert len(history["A"]) == len(history["B"]) == 4 and len(loads) == 1


def test_same_seed_gives_both_sides_the_same_sampling(ws, tiny_model, holder):
    req = Picks(str(tiny_model), a="base", b=str(tiny_model))
    settings = {"temperature": 1.0, "seed": "7", "max_new_tokens": 8}
    history, _ = list(chat.send(holder, ws, req, "Hi", settings, chat.empty(), "en"))[-1]
    assert history["A"][1]["content"] == history["B"][1]["content"]


def test_stop_ends_the_turn_on_both_sides(ws, tiny_model, tuned, holder):
    req = Picks(str(tiny_model), a="base", b=tuned)
    updates = chat.send(holder, ws, req, "Hi", {"max_new_tokens": 200, "temperature": 1.0},
                        chat.empty(), "en")
    for history, status in updates:
        if "answering" in status.text and history["A"][-1]["content"]:
            holder.stop()  # what the Stop button does, mid-answer of A
            break
    history, status = list(updates)[-1]
    assert "Stopped" in status.text and len(history["A"]) == len(history["B"]) == 2
    assert history["B"] == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]
    assert chat.shown(history["B"], "en")[1]["content"] == "*(no answer)*"


def test_single_model_chat_and_problems(ws, tiny_model, adapter, tuned, holder):
    req = Picks(str(tiny_model), a=tuned, b="base", compare=False)
    history, status = list(chat.send(holder, ws, req, "Hi", GREEDY, chat.empty(), "en"))[-1]
    assert len(history["A"]) == 2 and history["B"] == []
    before = {"A": history["A"], "B": []}
    for text, settings in (("", GREEDY), ("Hi", {"top_p": 0}), ("Hi", {"top_k": "x"})):
        out = list(chat.send(holder, ws, req, text, settings, before, "en"))
        assert len(out) == 1 and out[0][0] is None and "ps-error" in out[0][1].html()  # unchanged
        assert out[0][1].failed  # the tab keeps the typed message
    # /etc was "not a model folder"; model folders now load only from the workspace's folders
    for pick, reason in ((str(ws.saves_dir), "not a model folder"),
                         ("/etc", "outside the folders the WebUI loads models from"),
                         (str(adapter), "outside")):
        bad = Picks(str(tiny_model), a=pick, b=None)  # adapters only from saves/
        history, status = list(chat.send(holder, ws, bad, "Hi", GREEDY, before, "en"))[-1]
        assert history == before and "ps-error" in status.html() and reason in status.text
        assert status.failed


@pytest.mark.slow
def test_a_run_on_another_base_decides_the_base(ws, tiny_model, tiny_qwen3, tuned, holder):
    note = chat_engine.prepare(holder, ws, Picks("demo", a="base", b=tuned), "en")
    assert holder.base.model == str(tiny_model) and "tuned was trained on" in note
    assert "Adapters on it: tuned" in chat_engine.status(holder, "en").text
    other = Picks(str(tiny_qwen3), a="base", b=tuned, compare=False)
    assert "Reloaded: the base is now" in chat_engine.prepare(holder, ws, other, "en")
    assert holder.base.model == str(tiny_qwen3) and holder.adapters == {}
    assert "ps-ok" in chat_engine.unload(holder, "en").html()
    assert "Nothing loaded" in chat_engine.status(holder, "en").text


def test_model_handlers_share_one_queue_and_each_app_has_its_own_engine(ws, manager):
    from webui.app import build_app
    from webui.context import Ctx

    assert Ctx(ws, manager).chat is not Ctx(ws, manager).chat
    app = build_app(ws, manager)
    loading = {("chat", "on_send"), ("chat", "on_load"), ("chat", "on_unload"),
               ("evaluate", "on_run"), ("export", "on_export")}
    queues = {(fn.fn.__module__.rsplit(".")[-1], fn.name, fn.concurrency_id, fn.concurrency_limit)
              for fn in app.fns.values() if fn.fn is not None}
    queues = {q for q in queues if q[:2] in loading}
    assert {q[:2] for q in queues} == loading
    assert {q[2:] for q in queues} == {("models", 1)}  # never two model loads at once


def test_swap_and_clear():
    history = {"A": [{"role": "user", "content": "a"}], "B": []}
    swapped = ("saves/x", "base", {"A": [], "B": history["A"]})
    assert chat.swap("base", "saves/x", history) == swapped
    assert chat.empty() == {"A": [], "B": []}


def test_generation_settings_come_from_genconfig():
    assert chat_settings.gen_config({}) == GenConfig()
    gen = chat_settings.gen_config({"seed": "", "enable_thinking": "off", "max_new_tokens": 3.0,
                                    "system": "Be brief."})
    assert gen.seed is None and gen.enable_thinking is False and gen.max_new_tokens == 3
    assert chat_settings.kind("seed") == "optnumber"
    assert chat_settings.kind("enable_thinking") == "switch"
    assert "Default: 0.7" in chat_settings.info("temperature", "en")
    with pytest.raises(UserError, match="top_k"):
        chat_settings.gen_config({"top_k": "x"})
    with pytest.raises(UserError, match="max_new_tokens"):
        chat_settings.gen_config({"max_new_tokens": 0})


def test_runs_tab_offers_compare_in_chat_for_finished_runs(manager, tuned):
    assert runs_tab.actions(manager.get("tuned"))["chat"]
    assert not runs_tab.actions(None)["chat"]


def test_reward_runs_are_judges_not_chat_models(ws, manager, tiny_model, adapter, tuned):
    judge = make_run(tiny_model, ws.saves_dir / "judge", adapter, stage="rm")
    try:
        assert runlists.judges(ws, manager) == [("judge", ws.shown(judge))]
        assert [value for _, value in runlists.model_choices(ws, manager)] == [tuned]
        assert not runs_tab.actions(manager.get("judge"))["chat"]
    finally:
        shutil.rmtree(judge)


def test_runs_without_a_final_model_offer_their_newest_checkpoint(ws, manager, tiny_model,
                                                                  adapter, tuned):
    import psutil

    early = checkpointed(tiny_model, adapter, ws.saves_dir / "early", state="aborted",
                         started_at=time.time())
    busy = checkpointed(tiny_model, adapter, ws.saves_dir / "busy", state="running",
                        pid=os.getpid(), pid_started_at=psutil.Process().create_time(),
                        started_at=time.time())
    try:
        newest = ws.shown(early / "checkpoint-4")  # checkpoint-6 is incomplete
        assert runlists.model_choices(ws, manager) == [("early · checkpoint-4", newest),
                                                       ("tuned", tuned)]
        listed = runlists.model_choices(ws, manager, True)
        assert ("early · checkpoint-2", ws.shown(early / "checkpoint-2")) in listed
        assert [value for _, value in listed].count(newest) == 1
        assert not any("busy" in value for _, value in listed)  # still training
        assert runs_tab.actions(manager.get("early"))["chat"]
        assert not runs_tab.actions(manager.get("busy"))["chat"]
        assert chat.defaults(ws, manager) == ("base", newest)
        assert chat.pane_label(newest, "demo", "en") == "early · checkpoint-4"
    finally:
        shutil.rmtree(early)
        shutil.rmtree(busy)


# --- evaluate ------------------------------------------------------------------------------
def test_evaluate_shows_a_table_a_chart_and_samples(ws, manager, tuned):
    names, first = eval_tab.datasets(ws, "data")
    assert first == "demo_pref_en_test" and "demo_sft" not in names
    assert "eval" in eval_tab.saved(ws, [tuned], "en").status.lower()  # nothing saved yet
    views = list(eval_tab.run(ws, [tuned], first, "data", "4", None, 1, 4, "en"))
    view = views[-1]
    assert "ps-ok" in view.status
    assert view.table["headers"][:2] == ["Model", "Preference accuracy"]
    assert [row[0] for row in view.table["data"]] == ["base", "tuned"]
    assert view.table["data"][0][1] == 0.5  # the base against itself ...
    assert "eval-base-note" in view.status and "against itself" in view.status  # ... says so
    assert [tr.name for tr in view.figure.data] == ["base", "tuned"]
    assert view.samples.count("ps-generated") == 2 and "ps-chosen" in view.samples
    record = json.loads((ws.absolute(tuned) / "evaluation_results.json").read_text())
    assert record["dataset"] == first
    again = eval_tab.saved(ws, [tuned], "zh")  # shown again without re-running
    assert [row[1:] for row in again.table["data"]] == [row[1:] for row in view.table["data"]]
    assert [row[0] for row in again.table["data"]] == ["基座", "tuned"]  # the base in 中文
    assert again.table["headers"][1] == "偏好准确率"
    assert "基座模型以自身为参考打分" in again.status


def test_evaluate_refuses_bad_picks(ws, tuned):
    for picked, dataset, pairs in (([], "demo_pref_en_test", ""), ([tuned], None, ""),
                                   (["/etc"], "demo_pref_en_test", ""),
                                   ([tuned], "demo_pref_en_test", "0")):
        (view,) = eval_tab.run(ws, picked, dataset, "data", pairs, None, 1, 4, "en")
        assert "ps-error" in view.status and view.table is None


# --- export --------------------------------------------------------------------------------
def test_export_writes_a_model_and_stays_in_saves(ws, tuned):
    from transformers import AutoModelForCausalLM

    out = export_tab.default_out(ws, tuned)
    assert out.endswith("exports/tuned")
    assert export_tab.options()["dtype"] == "auto" and "bfloat16" in export_tab.options()["dtypes"]
    status, code = list(export_tab.run(ws, tuned, out, "float32", "2GB", "en"))[-1]
    assert "ps-ok" in status and out in code and "from_pretrained" in code
    scope: dict = {}
    exec(code, scope)  # the snippet the tab shows loads the export and answers
    assert isinstance(scope["model"], AutoModelForCausalLM.from_pretrained(out).__class__)
    assert export_tab.default_out(ws, tuned).endswith("exports/tuned-2")  # taken: the next
    status, _ = list(export_tab.run(ws, tuned, out, "auto", "2GB", "en"))[-1]
    assert "not empty" in status  # never overwritten
    for source, target in ((tuned, "/tmp/prefstudio-export"), ("/etc", ""), (None, "")):
        (status, code), = export_tab.run(ws, source, target, "auto", "2GB", "en")
        assert "ps-error" in status and code == ""

