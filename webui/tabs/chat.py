"""Chat tab: model A and model B side by side (base vs the latest finished run by default), one
input that sends the same message to both, streamed answers, the same settings and seed on both
sides; Swap, Clear, Stop, and single-model chat with the B pane hidden. Votes on the answer
pair (A better, B better, tie; blind: the panes shuffled per prompt and the model names hidden
until the vote) become preference data: chat_votes.py.

The app holds one core.chat.host.ChatHost (ctx.chat): A = base and B = tuned share one base
load, and a run trained on another base reloads it (core decides; the status says so). Models
load lazily, on the first message or with Load. Plain handlers, tested without a browser:
side_choices(), defaults(), pane_label(), heads(), send(), swap() here; confine(), prepare(),
status(), load(), unload() in chat_engine.py; new_round(), offer(), pick(), save(), panel() in
chat_votes.py.
"""
from __future__ import annotations

import html
import itertools
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import gradio as gr

from core.chat.engine import SIDES, ChatSession
from core.chat.host import ChatHost
from core.chat.sides import BASE, Picks
from core.config.run import coerce
from core.errors import UserError
from core.runs.manager import RunManager
from core.runs.rundir import CHECKPOINT

from .. import forms, runlists
from ..context import MODELS
from ..i18n import DEFAULT, sentences, t
from ..i18n_core import say
from ..render import message_html
from ..workspace import Workspace
from . import chat_settings, chat_votes
from .chat_engine import Status, load, prepare, status, unload
from .chat_settings import gen_config

log = logging.getLogger(__name__)
History = dict[str, list[dict]]


# --- pickers -------------------------------------------------------------------------------
def side_choices(ws: Workspace, runs: RunManager, model: str, checkpoints: bool,
                 lang: str) -> list[tuple[str, str]]:
    """"base (top bar model)", then every finished run (and its checkpoints)."""
    return [(t("chat_base_choice", lang, model=model or "?"), BASE)] + runlists.model_choices(
        ws, runs, checkpoints)


def defaults(ws: Workspace, runs: RunManager) -> tuple[str, str | None]:
    """(A, B): base and the latest finished run; B is None when there is none (single chat)."""
    latest = runlists.model_choices(ws, runs)[:1]
    return BASE, (latest[0][1] if latest else None)


def pane_label(value: str | None, model: str, lang: str) -> str:
    """What a pane shows as its model: "base (demo)", "my-run", "my-run · checkpoint-20"."""
    if not value:
        return "–"
    if value == BASE:
        return t("chat_base_choice", lang, model=model or "?")
    path = Path(value)
    shown = f"{path.parent.name} · {path.name}" if CHECKPOINT.match(path.name) else path.name
    return shown or value


def pane_head(side: str, value: str | None, model: str, lang: str, hidden: bool = False) -> str:
    """The bar above a pane: the side's letter and its model (hidden: blind voting)."""
    name = html.escape(t("vote_hidden", lang) if hidden else pane_label(value, model, lang))
    extra = " ps-pane-hidden" if hidden else ""
    return (f'<div class="ps-pane-head{extra}"><span class="ps-side ps-side-{side.lower()}">'
            f'{side}</span><span class="ps-pane-model">{name}</span></div>')


def heads(rnd: dict | None, lang: str, model: str, a: str | None, b: str | None) -> list[str]:
    """Both pane heads for a round: pane A shows the side rnd["panes"][0] (shuffled when
    blind), the names hidden until the round is revealed."""
    picks, hidden = {"A": a, "B": b}, not (rnd or {}).get("revealed", True)
    return [pane_head(pane, picks[side], model, lang, hidden)
            for pane, side in zip(SIDES, chat_votes.panes_of(rnd))]


# --- chatting ------------------------------------------------------------------------------
def empty() -> History:
    return {side: [] for side in SIDES}


def shown(messages: list[dict], lang: str) -> list[dict]:
    """A pane's messages as shown: an answer that ended empty says so (the history keeps "")."""
    return [{**m, "content": t("chat_empty_answer", lang)}
            if m.get("role") == "assistant" and not str(m.get("content") or "").strip() else m
            for m in messages]


def swap(a: str | None, b: str | None, history: History) -> tuple[str | None, str | None, History]:
    """Sides exchange their picks and their conversations."""
    history = history or empty()
    return b, a, {"A": history.get("B", []), "B": history.get("A", [])}


def send(host: ChatHost, ws: Workspace, picks: Picks, text: str, gen: dict[str, Any],
         history: History, lang: str,
         panes: tuple[str, str] = SIDES) -> Iterator[tuple[History | None, Status]]:
    """Stream the answers to `text`: yields (history, status) as tokens arrive, pane A's side
    first (`panes`: the sides panes A and B show). On a problem the turn is dropped and the
    status says why (failed; history None: nothing changed, the typed message stays)."""
    before = {side: list((history or {}).get(side) or []) for side in SIDES}
    text = (text or "").strip()
    try:
        if not text:
            raise UserError(t("chat_empty_message", lang))
        settings = gen_config(gen)
    except UserError as e:
        yield None, Status(say(str(e), lang), "error")
        return
    sides = tuple(s for s in panes if s in picks.sides)
    question = [{"role": "user", "content": text}]
    asked = {s: before[s] + (question if s in sides else []) for s in SIDES}
    yield asked, Status(t("chat_loading", lang, model=picks.model))
    host.stopping.clear()
    try:
        note = prepare(host, ws, picks, lang)
        session = ChatSession(host.engine, sides)
        session.history = {s: list(before[s]) for s in SIDES}
        yield from _stream(host, session, text, settings, lang, dict(zip(panes, SIDES)))
    except Exception as e:  # a load or generation failure is shown, not raised into the page
        if not isinstance(e, UserError):
            log.exception("Chat failed")
        yield before, Status(say(str(e), lang) or type(e).__name__, "error")
        return
    done = ""
    if host.stopping.is_set():  # a side stopped before its turn still shows the question
        done = t("chat_stopped", lang)
        for s in sides:
            if len(session.history[s]) == len(before[s]):
                session.history[s] = asked[s] + [{"role": "assistant", "content": ""}]
    yield session.history, status(host, lang, sentences([note, done], lang))


def _stream(host: ChatHost, session: ChatSession, text: str, settings, lang: str,
            pane: dict[str, str]) -> Iterator[tuple[History, Status]]:
    stream = session.send(text, settings)
    try:
        for side, _ in stream:
            if host.stopping.is_set():
                break
            yield session.history, Status(t("chat_answering", lang, side=pane[side]))
    finally:
        stream.close()  # stops the engine's generation thread at once


# --- the tab -------------------------------------------------------------------------------
def _layout(ctx) -> SimpleNamespace:
    ui, lang = SimpleNamespace(), DEFAULT
    with gr.Row(equal_height=False, elem_id="chat-pickers"):
        ui.a = ctx.relabel(gr.Dropdown([], value=BASE, allow_custom_value=True, scale=5,
                                       label=t("chat_model_a"), info=t("chat_pick_info"),
                                       elem_id="chat-pick-a"), "chat_model_a")
        ui.swap = ctx.relabel(gr.Button(t("chat_swap"), size="sm", scale=0, min_width=100,
                                        elem_id="chat-swap"), "chat_swap", "value")
        ui.b = ctx.relabel(gr.Dropdown([], value=None, allow_custom_value=True, scale=5,
                                       label=t("chat_model_b"), info=t("chat_pick_info"),
                                       elem_id="chat-pick-b"), "chat_model_b")
    with gr.Row(equal_height=False, elem_id="chat-options"):
        ui.compare = ctx.relabel(gr.Checkbox(True, label=t("chat_compare"), scale=0, min_width=260,
                                             container=False, elem_id="chat-compare"),
                                 "chat_compare")
        ui.checkpoints = ctx.relabel(gr.Checkbox(False, label=t("chat_checkpoints"), scale=0,
                                                 min_width=200, container=False,
                                                 elem_id="chat-checkpoints"), "chat_checkpoints")
        blind = chat_votes.blind_box(ctx, lang)
        ui.status = gr.HTML(status(ctx.chat, lang).html(), elem_id="chat-status")
        ui.load = ctx.relabel(gr.Button(t("chat_load"), size="sm", scale=0, min_width=80,
                                        elem_id="chat-load"), "chat_load", "value")
        ui.unload = ctx.relabel(gr.Button(t("chat_unload"), size="sm", scale=0, min_width=80,
                                          elem_id="chat-unload"), "chat_unload", "value")
    ui.note = gr.HTML(visible=False, elem_id="chat-note")
    ui.heads, ui.panes, ui.columns = {}, {}, {}
    with gr.Row(equal_height=True, elem_id="chat-panes"):
        for side in SIDES:
            with gr.Column(min_width=320, elem_classes=["ps-pane"]) as ui.columns[side]:
                ui.heads[side] = gr.HTML(pane_head(side, None, "", lang),
                                         elem_id=f"chat-head-{side.lower()}")
                ui.panes[side] = gr.Chatbot(show_label=False, height=430, buttons=["copy"],
                                            feedback_options=None, elem_id=f"chat-{side.lower()}")
    ui.vote = chat_votes.widgets(ctx, blind, lang)
    _compose(ctx, ui, lang)
    for box in (ui.a, ui.b):
        ctx.on_lang(box, lambda lang: {"info": t("chat_pick_info", lang)})
    ui.history = gr.State(empty())
    ui.round = gr.State(chat_votes.reset(False))
    return ui


def _compose(ctx, ui, lang: str) -> None:
    """The input with Send, Stop and Clear, and the generation settings under it."""
    with gr.Row(equal_height=True, elem_id="chat-compose"):
        ui.text = ctx.relabel(gr.Textbox(show_label=False, lines=1, max_lines=8, scale=6,
                                         label=t("chat_message"),  # read by screen readers
                                         placeholder=t("chat_placeholder"), elem_id="chat-input"),
                              "chat_placeholder", "placeholder")
        ctx.relabel(ui.text, "chat_message")
        with gr.Column(scale=1, min_width=180):
            ui.send = ctx.relabel(gr.Button(t("chat_send"), variant="primary",
                                            elem_id="chat-send"), "chat_send", "value")
            with gr.Row():
                ui.stop = ctx.relabel(gr.Button(t("chat_stop"), variant="stop", size="sm",
                                                min_width=60, elem_id="chat-stop"),
                                      "chat_stop", "value")
                ui.clear = ctx.relabel(gr.Button(t("chat_clear"), size="sm", min_width=60,
                                                 elem_id="chat-clear"), "chat_clear", "value")
    with gr.Accordion(t("chat_settings"), open=False, elem_id="chat-settings") as acc:
        ui.gen = chat_settings.widgets(lang)  # numbers in a row, then the texts and switches
    ctx.relabel(acc, "chat_settings")
    for name, box in ui.gen.items():
        ctx.on_lang(box, lambda lang, name=name: chat_settings.relabel(name, lang))


def _picks(model, template, quant, a, b, compare) -> Picks:
    try:
        bits = coerce("quantization_bit", forms.from_widget(forms.SPECS["quantization_bit"], quant))
    except (ValueError, KeyError):
        bits = None
    return Picks(model or "", template or None, bits, a, b, bool(compare))


def _pickers(ctx, lang, model, checkpoints, a, b, compare, rnd=None) -> list:
    """Choices, values, heads and visibility of the pickers, panes and votes for these values
    (an empty B gets the latest finished run when comparing)."""
    choices = side_choices(ctx.ws, ctx.runs, model, checkpoints, lang)
    b = b or (defaults(ctx.ws, ctx.runs)[1] if compare else None)
    note = t("chat_no_runs", lang) if len(choices) == 1 else ""
    return [gr.update(choices=choices, value=a),
            gr.update(choices=choices, value=b, visible=bool(compare)),
            gr.update(visible=bool(compare)), compare,
            gr.update(value=message_html(note, "info"), visible=bool(note)),
            *heads(rnd, lang, model, a, b), gr.update(visible=bool(compare)),
            gr.update(visible=bool(compare)), gr.update(visible=bool(compare))]


def build(ctx) -> None:
    ui = _layout(ctx)
    model, template, quant = (ctx.fields[k] for k in ("model_name_or_path", "template",
                                                      "quantization_bit"))
    top = [model, template, quant]
    picked = [ui.a, ui.b, ui.compare]
    panes = [ui.panes["A"], ui.panes["B"]]
    shown = [ui.a, ui.b, ui.swap, ui.compare, ui.note, ui.heads["A"], ui.heads["B"],
             ui.columns["B"], ui.vote.row, ui.vote.blind]
    gen = list(ui.gen.values())

    def on_page(lang, model, checkpoints) -> list:
        a, b = defaults(ctx.ws, ctx.runs)
        return _pickers(ctx, lang, model, checkpoints, a, b, b is not None) + [
            status(ctx.chat, lang).html()]

    def refresh(lang, model, checkpoints, a, b, compare, rnd) -> list:
        return _pickers(ctx, lang, model, checkpoints, a, b, compare, rnd)

    def compare_run(request, lang, model, checkpoints, blind) -> list:
        value, rnd = (request[0] if request else None), chat_votes.reset(blind)
        return _pickers(ctx, lang, model, checkpoints, BASE, value, True, rnd) + [
            [], [], empty(), rnd]

    def choices(lang, model, checkpoints) -> tuple:  # runs finished meanwhile; picks stay
        update = gr.update(choices=side_choices(ctx.ws, ctx.runs, model, checkpoints, lang))
        return update, update

    state = [ctx.lang, model, ui.checkpoints]
    ctx.app.load(on_page, state, shown + [ui.status], show_progress="hidden")
    ctx.lang.change(lambda lang: status(ctx.chat, lang).html(), ctx.lang, ui.status,
                    show_progress="hidden")
    if ctx.tab is not None:
        ctx.tab.select(choices, state, [ui.a, ui.b], show_progress="hidden")
    for event in (ui.checkpoints.change, ui.compare.input, ctx.lang.change, model.change):
        event(refresh, state + picked + [ui.round], shown, show_progress="hidden")
    two_heads = [ui.heads["A"], ui.heads["B"]]
    for box in (ui.a, ui.b):
        box.change(lambda lang, m, a, b, rnd: heads(rnd, lang, m, a, b),
                   [ctx.lang, model, ui.a, ui.b, ui.round], two_heads, show_progress="hidden")
    if ctx.chat_run is not None:
        ctx.chat_run.change(compare_run, [ctx.chat_run] + state + [ui.vote.blind],
                            shown + panes + [ui.history, ui.round], show_progress="hidden")
    chat_votes.wire(ctx, ui.vote, ui.round, heads, [model, ui.a, ui.b], two_heads)
    _wire_chat(ctx, ui, top + picked, gen, panes)


def _wire_chat(ctx, ui, request_inputs: list, gen: list, panes: list) -> None:
    names, host = list(ui.gen), ctx.chat

    def on_send(lang, *args) -> Iterator[tuple]:
        picks = _picks(*args[:6])
        history, text, blind = args[6], args[7], bool(args[8]) and picks.compare
        values = dict(zip(names, args[10:]))
        rnd = chat_votes.new_round(blind)  # a new prompt: shuffled again when blind
        order = chat_votes.panes_of(rnd)
        updates = send(host, ctx.ws, picks, text, values, history, lang, order)
        last, prev, started = None, next(updates), False
        for item in itertools.chain(updates, [None]):  # one behind: the last is final
            (hist, state), final = prev, item is None
            panes = ([gr.skip()] * 3 if hist is None else
                     [shown(hist[s], lang) if final else hist[s] for s in order] + [hist])
            votes = [gr.skip()] * 5  # heads, round, edit box, vote message: at start and end
            if hist is not None and (final or not started):
                vote_now = final and not state.failed  # a failed turn shows the last pair again
                done = chat_votes.offer(host, hist, rnd, values) if vote_now else rnd
                votes = [*heads(rnd, lang, picks.model, picks.a, picks.b), done,
                         gr.update(visible=False), ""]
                started = True
            yield (*panes, gr.skip() if state == last else state.html(),
                   text if state.failed else "", *votes)  # a failed message stays to retry
            last, prev = state, item

    def on_load(lang, *args) -> Iterator[str]:
        picks = _picks(*args)
        yield Status(t("chat_loading", lang, model=picks.model)).html()
        yield load(host, ctx.ws, picks, lang).html()

    def on_unload(lang) -> str:
        return unload(host, lang).html()

    def on_swap(lang, a, b, history, blind) -> tuple:
        a, b, history = swap(a, b, history)
        return (a, b, history, shown(history["A"], lang), shown(history["B"], lang),
                chat_votes.reset(blind))

    def on_clear(lang, model, a, b, blind) -> tuple:
        rnd = chat_votes.reset(blind)
        return ([], [], empty(), rnd, *heads(rnd, lang, model, a, b))

    # One model load at a time in the whole app (chat, evaluation, export share the queue);
    # Stop bypasses the queue to reach a running answer.
    one = dict(**MODELS, show_progress="hidden")
    send_inputs = [ctx.lang] + request_inputs + [ui.history, ui.text, ui.vote.blind, ui.round] + gen
    two_heads = [ui.heads["A"], ui.heads["B"]]
    send_outputs = (panes + [ui.history, ui.status, ui.text] + two_heads
                    + [ui.round, ui.vote.edit_box, ui.vote.message])
    ui.send.click(on_send, send_inputs, send_outputs, **one)
    ui.text.submit(on_send, send_inputs, send_outputs, **one)
    ui.load.click(on_load, [ctx.lang] + request_inputs, ui.status, **one)
    ui.unload.click(on_unload, ctx.lang, ui.status, **one)
    ui.stop.click(host.stop, None, None, queue=False)
    ui.clear.click(on_clear, [ctx.lang, request_inputs[0], ui.a, ui.b, ui.vote.blind],
                   panes + [ui.history, ui.round] + two_heads, show_progress="hidden")
    ui.swap.click(on_swap, [ctx.lang, ui.a, ui.b, ui.history, ui.vote.blind],
                  [ui.a, ui.b, ui.history] + panes + [ui.round], show_progress="hidden")
