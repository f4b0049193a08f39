"""ChatEngine, ChatSession, run_model_spec and `python -m core chat` on the tiny model (CPU).

    .venv/bin/python -m pytest -q tests/test_chat.py

Adapters are built with peft and perturbed (a fresh LoRA is a no-op), so base and tuned give
different greedy answers; the `run` fixture wraps one in a run folder (config.yaml + adapter).
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import weakref

import pytest
from conftest import ROOT, checkpointed, greedy_ids, make_adapter, make_run

HI = [{"role": "user", "content": "What is the capital of France?"}]
GREEDY = dict(temperature=0, max_new_tokens=12)


# --- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine(tiny_model, adapter):
    from core.chat.engine import ChatEngine

    e = ChatEngine()
    e.load_base(str(tiny_model))
    e.add_adapter("tuned", str(adapter))
    yield e
    e.unload()


def gen(**kw):
    from core.chat.engine import GenConfig
    return GenConfig(**kw)


# --- engine --------------------------------------------------------------------------------
def test_base_and_adapter_share_one_load(tiny_model, adapter, loads):
    from core.chat.engine import ChatEngine

    e = ChatEngine()
    e.load_base(str(tiny_model))
    e.add_adapter("tuned", str(adapter))
    e.set_side("A", "base")
    e.set_side("B", "tuned")
    a1 = e.generate("A", HI, gen(**GREEDY))
    b = e.generate("B", HI, gen(**GREEDY))
    a2 = e.generate("A", HI, gen(**GREEDY))
    assert len(loads) == 1  # one copy of the base weights serves both sides
    assert a1 and b and a1 != b  # the adapter is on for B only
    assert a1 == a2  # and off again for A
    e.unload()


def test_sides_from_two_threads_do_not_mix(engine):
    engine.set_side("A", "base")
    engine.set_side("B", "tuned")
    expected = {s: engine.generate(s, HI, gen(**GREEDY)) for s in "AB"}
    got = {}
    threads = [threading.Thread(target=lambda s=s: got.__setitem__(
        s, engine.generate(s, HI, gen(**GREEDY)))) for s in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


def test_same_seed_same_sample(engine):
    engine.set_side("A", "base")
    sampled = gen(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=16, seed=7)
    first = engine.generate("A", HI, sampled)
    assert first == engine.generate("A", HI, sampled)
    assert first != engine.generate("A", HI, gen(temperature=1.0, top_k=0, top_p=1.0,
                                                 max_new_tokens=16, seed=8))


def test_stream_yields_growing_text(engine):
    engine.set_side("B", "tuned")
    parts = list(engine.stream("B", HI, gen(temperature=0, max_new_tokens=16)))
    assert len(parts) > 1
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(parts, parts[1:]))
    assert "<|im_end|>" not in parts[-1] and "<|im_start|>" not in parts[-1]


def test_stop_interrupts(engine):
    engine.set_side("A", "tuned")
    full = list(engine.stream("A", HI, gen(temperature=1.0, max_new_tokens=60, seed=1)))
    stream = engine.stream("A", HI, gen(temperature=1.0, max_new_tokens=60, seed=1))
    first = next(stream)
    engine.stop()
    rest = list(stream)
    assert len(rest) + 1 < len(full) // 2
    assert first == full[0]
    assert engine.generate("A", HI, gen(temperature=1.0, max_new_tokens=60, seed=1)) == full[-1]


def test_abandoned_stream_frees_the_model(engine):
    stream = engine.stream("A", HI, gen(temperature=1.0, max_new_tokens=200, seed=1))
    next(stream)
    stream.close()  # e.g. the browser went away: the lock must be free for the next answer
    assert engine.generate("A", HI, gen(**GREEDY)) is not None


def test_swap(engine):
    engine.set_side("A", "base")
    engine.set_side("B", "tuned")
    a, b = (engine.generate(s, HI, gen(**GREEDY)) for s in "AB")
    engine.swap()
    assert engine.sides == {"A": "tuned", "B": "base"}
    assert (engine.generate("A", HI, gen(**GREEDY)), engine.generate("B", HI, gen(**GREEDY))) == (b, a)


def test_session_keeps_history_per_side(engine):
    from core.chat.engine import ChatSession

    engine.set_side("A", "base")
    engine.set_side("B", "tuned")
    session = ChatSession(engine)
    events = list(session.send("Hi", gen(**GREEDY)))
    assert [e for e in events if e[1] == ""] == [("A", ""), ("B", "")]
    list(session.send("And then?", gen(**GREEDY)))
    for side in "AB":
        assert [m["role"] for m in session.history[side]] == ["user", "assistant"] * 2
    assert session.history["A"][1]["content"] != session.history["B"][1]["content"]
    session.swap()
    assert session.history["A"][1]["content"] == events[-1][1]
    session.swap()
    session.clear()
    assert session.history == {"A": [], "B": []}


def test_model_path_side_loads_a_second_model_only_then(tiny_model, adapter, loads, tmp_path):
    import shutil

    from core.chat.engine import ChatEngine

    other = shutil.copytree(tiny_model, tmp_path / "other")
    e = ChatEngine()
    e.load_base(str(tiny_model))
    e.add_adapter("tuned", str(adapter))
    e.set_side("B", "tuned")
    base_answer = e.generate("A", HI, gen(**GREEDY))
    assert len(loads) == 1
    e.set_side("A", str(other))  # a copy of the base: same answers, from its own weights
    assert len(loads) == 2 and len(e._backbones) == 2
    assert e.generate("A", HI, gen(**GREEDY)) == base_answer != e.generate("B", HI, gen(**GREEDY))
    e.set_side("A", "base")  # nobody uses the other model any more: dropped
    assert len(e._backbones) == 1
    e.unload()


def test_unload_frees_the_weights(tiny_model, adapter):
    import gc

    from core.chat.engine import ChatEngine

    e = ChatEngine()
    e.load_base(str(tiny_model))
    e.add_adapter("tuned", str(adapter))
    e.generate("B", HI, gen(**GREEDY))
    (backbone,) = e._backbones.values()
    weight = weakref.ref(next(backbone.model.parameters()))
    del backbone
    e.unload()
    gc.collect()
    assert weight() is None and not e.loaded
    with pytest.raises(Exception, match="not loaded|no base"):
        e.generate("A", HI, gen(**GREEDY))


def test_bad_settings_are_user_errors(engine):
    from core.errors import UserError

    with pytest.raises(UserError, match="temperature"):
        gen(temperature=-1)
    with pytest.raises(UserError, match="side"):
        engine.set_side("C", "base")
    with pytest.raises(UserError, match="not a local folder"):  # a hub id, offline
        engine.set_side("A", "no/such/model")
    assert engine.sides["A"] != "no/such/model"


# --- runs ----------------------------------------------------------------------------------
def test_run_model_spec(tiny_model, adapter, run, tmp_path):
    from core.errors import UserError
    from core.models.spec import run_model_spec

    assert run_model_spec(run) == (str(tiny_model), (), str(run), None, True)
    assert run_model_spec(adapter).base == str(tiny_model)  # from adapter_config.json
    # A1,A2: A1 was merged into the base, A2 trained further into the final adapter.
    stacked = make_run(tiny_model, tmp_path / "stacked", adapter, template="qwen3",
                       enable_thinking=False, adapter_name_or_path="a1,a2")
    assert run_model_spec(stacked) == (str(tiny_model), ("a1",), str(stacked), "qwen3", False)
    full = make_run(tiny_model, tmp_path / "full", finetuning_type="full")
    assert run_model_spec(full) == (str(full), (), None, None, True)
    # No final model yet: the newest complete checkpoint (checkpoint-6 is being written).
    early = checkpointed(tiny_model, adapter, tmp_path / "early", (2, 4, 6), complete=(2, 4))
    assert run_model_spec(early).adapter == str(early / "checkpoint-4")
    with pytest.raises(UserError, match="incomplete"):
        run_model_spec(early / "checkpoint-6")


def test_which_runs_offer_a_model(tiny_model, adapter, run, tmp_path):
    """A completed run loads its final model; any run that is not running loads its newest
    complete checkpoint; a running or queued one, or one with nothing complete, offers none."""
    from core.models.spec import run_model_folder
    from core.runs.info import RunInfo

    def folder(path, state, alive=False):
        return run_model_folder(RunInfo(path.name, path, state, alive=alive))

    assert folder(run, "completed") == run
    early = checkpointed(tiny_model, adapter, tmp_path / "early")  # checkpoint-6 half-written
    for state in ("aborted", "failed", "completed"):  # completed: the final save went missing
        assert folder(early, state) == early / "checkpoint-4"
    assert folder(early, "running", alive=True) is None
    assert folder(early, "queued") is None
    assert folder(early, "aborted", alive=True) is None  # still exiting
    nothing = checkpointed(tiny_model, adapter, tmp_path / "nothing", complete=())
    assert folder(nothing, "aborted") is None
    assert folder(run, "failed") is None  # a failed run's final model may be half-written


def test_stacked_run_gets_its_own_base(tiny_model, adapter, tmp_path, loads):
    """base + merged(A1) + final adapter, loaded once beside the plain shared base."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.chat.engine import ChatEngine
    from core.data.templates import get_template

    a1 = make_adapter(tiny_model, tmp_path / "a1", seed=1)
    stacked = make_run(tiny_model, tmp_path / "stacked", adapter,
                       adapter_name_or_path=f"{a1},{tmp_path / 'a2'}")
    loads.clear()
    e = ChatEngine()
    e.load_base(str(tiny_model))
    e.add_adapter("stacked", str(stacked))
    e.add_adapter("stacked-again", str(stacked))
    assert len(loads) == 2
    e.set_side("B", "stacked")
    answer = e.generate("B", HI, gen(temperature=0, max_new_tokens=20))
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    model = PeftModel.from_pretrained(PeftModel.from_pretrained(model, a1).merge_and_unload(),
                                      stacked)
    ids = greedy_ids(model, tok, get_template(None, tok).prompt_text(HI), 20)
    expected = tok.decode([i for i in ids], skip_special_tokens=True)
    assert expected.startswith(answer) and answer
    e.unload()


# --- what the picks stand for, which base loads (core.chat.sides, core.chat.host) ----------
def test_what_a_pick_stands_for(tiny_model, adapter, run, tmp_path):
    from core.chat.sides import Side, side_of
    from core.errors import UserError

    assert side_of("base").kind == "base"
    assert side_of(str(run)) == Side("adapter", str(run), "tuned", str(tiny_model))
    early = checkpointed(tiny_model, adapter, tmp_path / "early")
    step = side_of(str(early / "checkpoint-2"))
    assert (step.kind, step.value, step.name) == ("adapter", str(early / "checkpoint-2"),
                                                  "early/checkpoint-2")
    bare = side_of(str(adapter))  # its base from adapter_config.json
    assert (bare.kind, bare.name, bare.base) == ("adapter", "lora", str(tiny_model))
    full = make_run(tiny_model, tmp_path / "full", finetuning_type="full", template="qwen3",
                    enable_thinking=False)
    assert side_of(str(full)) == Side("model", str(full), "full", str(full), "qwen3", False)
    assert side_of("Qwen/Qwen3-0.6B") == Side("model", "Qwen/Qwen3-0.6B", "Qwen3-0.6B",
                                              "Qwen/Qwen3-0.6B")
    with pytest.raises(UserError, match="pick a model"):
        side_of(" ")


def test_which_base_the_picks_load(tiny_model, tiny_qwen3, adapter, run, tmp_path):
    from core.chat.sides import Base, Picks, base_for, side_of

    def base(**picks):
        p = Picks(**picks)
        return base_for(p, {s: side_of(v) for s, v in p.sides.items()})

    # no run picked: the picks' model, template and quantization
    assert base(model="demo", template="qwen", quantization_bit=4, b=str(tiny_model)) == (
        Base("demo", "qwen", True, 4), None)
    # a LoRA run on either side decides the base (its own base and template), the first one wins
    other = make_run(tiny_qwen3, tmp_path / "other", make_adapter(tiny_qwen3, tmp_path / "a3"),
                     template="qwen3", enable_thinking=False)
    chosen, by = base(model="demo", a="base", b=str(run))
    assert chosen == Base(str(tiny_model), None, True, None) and by.name == "tuned"
    assert base(model="demo", a=str(other), b=str(run))[0] == Base(str(tiny_qwen3), "qwen3",
                                                                    False, None)
    assert base(model="demo", b=str(other), compare=False)[0].model == "demo"  # B is hidden
    full = make_run(tiny_model, tmp_path / "full", finetuning_type="full")
    assert base(model="demo", b=str(full)) == (Base("demo", None, True, None), None)
    # only another model or quantization means new weights; a path is a path however written
    same = Base(str(tiny_model), None, True, None)
    assert same.same_weights(Base(f"{tiny_model}/../{tiny_model.name}", "qwen", False, None))
    assert not same.same_weights(Base(str(tiny_model), None, True, 4))
    assert not same.same_weights(Base(str(tiny_qwen3), None, True, None))
    assert not same.same_weights(None)


@pytest.mark.slow
def test_host_loads_once_and_reloads_when_the_base_changes(tiny_model, tiny_qwen3, run,
                                                           tmp_path, loads):
    import shutil

    from core.chat.host import ChatHost, Loaded, Prepared
    from core.chat.sides import Picks

    host = ChatHost()
    pair = Picks(str(tiny_model), a="base", b=str(run))
    assert host.prepare(pair) == Prepared() and len(loads) == 1
    assert host.engine.sides == {"A": "base", "B": "tuned"} and host.adapters == {"tuned": str(run)}
    assert host.loaded() == Loaded(str(tiny_model), ("tuned",), ())
    assert host.prepare(pair) == Prepared() and len(loads) == 1  # loaded already: nothing again
    host.prepare(Picks(str(tiny_model), template="qwen", a="base", compare=False))
    assert len(loads) == 1 and host.base.template == "qwen"  # same weights, another template
    assert host.adapters == {"tuned": str(run)}  # the adapter stays attached
    done = host.prepare(Picks(str(tiny_qwen3), a="base", b=str(run)))  # the run decides
    assert done.reloaded is None and done.run_base.name == "tuned"  # and the user hears so
    assert len(loads) == 1 and host.base.model == str(tiny_model)
    done = host.prepare(Picks(str(tiny_qwen3), a="base"))  # another base: everything reloads
    assert done == Prepared(reloaded=str(tiny_qwen3)) and len(loads) == 2
    assert host.adapters == {} and host.loaded() == Loaded(str(tiny_qwen3), (), ())
    done = host.prepare(Picks(str(tiny_qwen3), a=str(run), b="base"))
    assert done.reloaded == str(tiny_model) and done.run_base.name == "tuned"  # not the top bar's
    assert len(loads) == 3 and host.engine.sides == {"A": "tuned", "B": "base"}
    copy = shutil.copytree(tiny_model, tmp_path / "copy")
    host.prepare(Picks(str(tiny_model), a="base", b=str(copy)))  # a model of its own
    assert len(loads) == 4 and host.loaded().own == ("copy",)
    host.unload()
    assert host.loaded() is None and host.adapters == {}


# --- command line ----------------------------------------------------------------------------
def test_cli_compare_prints_two_labelled_answers(run, loads, capsys):
    from core.__main__ import main

    assert main(["chat", "--run", str(run), "--compare", "base", "--prompt", "hi",
                 "--temperature", "0", "--max-new-tokens", "8"]) == 0
    out = capsys.readouterr().out
    assert "[A: base]" in out and "[B: tuned]" in out
    a, b = out.split("[B: tuned]")
    assert a.replace("[A: base]", "").strip() != b.strip()
    assert len(loads) == 1


def test_cli_interactive_loop(tiny_model, adapter, monkeypatch, capsys):
    import core.cli.chat
    from core.__main__ import main

    turns, real = [], core.cli.chat._print_turn
    monkeypatch.setattr(core.cli.chat, "_print_turn", lambda session, text, g: (
        turns.append((text, len(session.history["A"]))), real(session, text, g)))
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\nmore\n/clear\nhello\n/exit\nnever\n"))
    assert main(["chat", "--model", str(tiny_model), "--adapter", str(adapter),
                 "--max-new-tokens", "4", "--seed", "1"]) == 0
    assert turns == [("hi", 0), ("more", 2), ("hello", 0)]  # history kept, then cleared
    assert "history cleared" in capsys.readouterr().err


def test_cli_errors_are_one_line(capsys):
    from core.__main__ import main

    assert main(["chat", "--run", "no/such/run", "--prompt", "hi"]) == 2
    assert capsys.readouterr().err.startswith("error: no/such/run is not a folder")


@pytest.mark.slow
def test_cli_subprocess(run):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "core", "chat", "--run", str(run), "--compare",
                           "base", "--prompt", "hi", "--max-new-tokens", "6", "--seed", "3"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[A: base]" in done.stdout and "[B: tuned]" in done.stdout
    quick = subprocess.run([sys.executable, "-c", "import core.chat.engine, core.models.export, core.cli.chat, sys; "
                            "print(sorted({'torch', 'transformers', 'peft'} & set(sys.modules)))"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert quick.stdout.strip() == "[]"  # --help stays fast
