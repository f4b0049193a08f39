"""The Chat tab's votes: A better, B better or tie on the answer pair just streamed, the better
answer editable before saving, a Blind switch, the dataset the votes go to, and the Votes
panel (win rate with its 95% interval and the number of votes).

    rnd = new_round(blind=True)          # {"panes": ["B", "A"], "ballot": None, "revealed": False}
    rnd = offer(host, history, rnd, gen) # after a send: the pair waiting for a vote
    rnd, note, panel, registered = save(ws, "data", "chat_votes", rnd, "A", text, "en")

Core decides (core/chat/ballot.py: the blind order, which side a pane's pick means, the
record; core/data/votes.py: the atomic append, the registration, the win rate); this module
keeps a round in a gr.State and says what happened in the page's language. Plain handlers,
tested without a browser: new_round, offer, pick, save, panel.
"""
from __future__ import annotations

import html
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import gradio as gr

from core.chat.ballot import SIDES, Ballot, draw_panes
from core.chat.host import ChatHost
from core.data.registry import REGISTRY
from core.data.votes import (
    DEFAULT_NAME,
    append_vote,
    last_pair,
    read_votes,
    tally,
    votes_file,
)
from core.errors import UserError

from ..i18n import DEFAULT, t
from ..render import message_html
from ..workspace import Workspace
from .chat_settings import gen_config

log = logging.getLogger(__name__)
Round = dict[str, Any]


def writable(ws: Workspace) -> Callable[[Any, str], Any]:
    """The guard core.data.votes calls before it reads or writes the registry and the votes
    file: inside data/ or saves/ (links resolved), or the project's dataset_info.json (data/'s
    registry); a registry entry naming a file elsewhere is refused, nothing is written."""
    def guard(path, what: str):
        if ws.absolute(path) == ws.root / REGISTRY:
            return path
        return ws.confine(path, what)
    return guard


def new_round(blind: bool) -> Round:
    """A new prompt's round: the sides shown in panes A and B (shuffled when blind), no pair
    to vote on yet, the model names hidden when blind."""
    return {"panes": list(draw_panes(bool(blind))), "ballot": None, "revealed": not blind}


def reset(blind: bool) -> Round:
    """The round after Clear, Swap or new picks: panes in order, nothing to vote on, the names
    hidden while blind (the next prompt shuffles)."""
    return {"panes": list(SIDES), "ballot": None, "revealed": not blind}


def panes_of(rnd: Round | None) -> tuple[str, str]:
    return tuple((rnd or {}).get("panes") or SIDES)


def offer(host: ChatHost, history: dict, rnd: Round, gen: dict[str, Any]) -> Round:
    """The round once both answers are in: the ballot to vote on (none when a side has no
    answer, e.g. single-model chat or a failed turn)."""
    if host.engine is None:  # nothing was loaded
        return {**rnd, "ballot": None}
    try:
        models = {s: host.engine.model_name(s) for s in SIDES}
        ballot = Ballot({s: list(history.get(s) or []) for s in SIDES}, models,
                        gen_config(gen), not rnd.get("revealed", True), panes_of(rnd))
    except UserError as e:  # e.g. an empty answer: said when a vote is tried
        return {**rnd, "ballot": None, "why": str(e)}
    return {**rnd, "ballot": ballot.to_dict()}


def _ballot(rnd: Round | None, lang: str) -> Ballot:
    if not rnd or not rnd.get("ballot"):
        raise UserError((rnd or {}).get("why") or t("vote_nothing", lang))
    return Ballot(**rnd["ballot"])


def pick(rnd: Round | None, choice: str, lang: str) -> tuple[str, str | None]:
    """Pane `choice` is better: (its answer for the edit box, an error or None)."""
    try:
        return _ballot(rnd, lang).answer(choice), None
    except UserError as e:
        return "", str(e)


def save(ws: Workspace, dataset_dir: str, name: str, rnd: Round | None, choice: str,
         text: str | None, lang: str) -> tuple[Round | None, str, str | None, bool]:
    """Save the vote for pane `choice` (A, B or tie) with the edited answer: (the round, now
    revealed and without a ballot; the message; the Votes panel; whether the dataset was
    registered just now). On a problem nothing is saved, the round stays to vote again and
    the panel is None."""
    try:
        ballot = _ballot(rnd, lang)
        folder = ws.confine(dataset_dir or "data", "dataset_dir")
        vote = ballot.vote(choice, text if choice != "tie" else None)
        saved = append_vote(vote, name or DEFAULT_NAME, folder, writable(ws))
    except UserError as e:
        return rnd, message_html(str(e), "error", lang), None, False
    note = t("vote_saved", lang, n=saved.count, name=saved.name, file=ws.shown(saved.path))
    if saved.registered:
        note += " " + t("vote_registered", lang, registry=ws.shown(saved.registry),
                        name=saved.name)
    if ballot.blind:
        shown = [ballot.models[s] for s in ballot.panes]
        note += " " + t("vote_reveal", lang, a=shown[0], b=shown[1])
    pair = (ballot.models["B"], ballot.models["A"])
    done = {**rnd, "ballot": None, "revealed": True}
    shown = panel(ws, dataset_dir, saved.name, pair, lang)
    return done, message_html(note, "ok"), shown, saved.registered


def panel(ws: Workspace, dataset_dir: str, name: str, pair: tuple[str, str] | None,
          lang: str) -> str:
    """The Votes panel: `pair[0]`'s win rate over `pair[1]` (default: the newest vote's
    models, B over A) in dataset `name`, its 95% Wilson interval and the number of votes."""
    try:
        folder = ws.confine(dataset_dir or "data", "dataset_dir")
        name, guard = name or DEFAULT_NAME, writable(ws)
        path, votes = votes_file(name, folder, guard), read_votes(name, folder, guard)
    except UserError as e:
        return message_html(str(e), "error", lang)
    pair = pair or last_pair(votes)
    title = t("votes_title", lang, name=name, file=ws.shown(path))  # where the next vote goes
    title = f'<div class="ps-votes-title">{html.escape(title)}</div>'
    if not votes or pair is None:
        return f'<div class="ps-votes">{title}{html.escape(t("votes_none", lang))}</div>'
    result = tally(votes, *pair)
    if not result.n:
        body = html.escape(t("votes_none_pair", lang, a=pair[0], b=pair[1], total=len(votes)))
        return f'<div class="ps-votes">{title}{body}</div>'
    low, high, rate = (round(100 * x) for x in (result.low, result.high, result.rate))
    bar = (f'<div class="ps-votes-bar"><span class="ps-votes-ci" style="left:{low}%;'
           f'width:{max(high - low, 1)}%"></span><span class="ps-votes-mark" '
           f'style="left:{rate}%"></span></div>')
    line = t("votes_rate", lang, a=pair[0], b=pair[1], rate=rate, low=low, high=high,
             n=result.n, ties=result.ties)
    return f'<div class="ps-votes">{title}<div>{html.escape(line)}</div>{bar}</div>'


# --- the widgets and their events ---------------------------------------------------------
def blind_box(ctx, lang: str = DEFAULT) -> Any:
    """The Blind switch (beside Compare, created in the caller's row)."""
    return ctx.relabel(gr.Checkbox(False, label=t("vote_blind", lang), scale=0, min_width=240,
                                   container=False, elem_id="chat-blind"), "vote_blind")


def widgets(ctx, blind: Any, lang: str = DEFAULT) -> SimpleNamespace:
    """Under the panes: the vote buttons; the edit box with Save and Cancel (shown after A or
    B is picked); the message, the Votes panel and the dataset the votes go to."""
    ui = SimpleNamespace(blind=blind)
    with gr.Row(equal_height=True, elem_id="chat-vote-row") as ui.row:
        for key, side in (("vote_a", "a"), ("vote_tie", "tie"), ("vote_b", "b")):
            button = gr.Button(t(key, lang), scale=1, min_width=110, elem_id=f"chat-vote-{side}")
            setattr(ui, side, ctx.relabel(button, key, "value"))
    with gr.Group(visible=False, elem_id="chat-vote-edit") as ui.edit_box:
        ui.text = ctx.relabel(gr.Textbox(label=t("vote_edit", lang), lines=3, max_lines=12,
                                         elem_id="chat-vote-text"), "vote_edit")
        with gr.Row():
            ui.save = ctx.relabel(gr.Button(t("vote_save", lang), variant="primary", size="sm",
                                            elem_id="chat-vote-save"), "vote_save", "value")
            ui.cancel = ctx.relabel(gr.Button(t("vote_cancel", lang), size="sm",
                                              elem_id="chat-vote-cancel"), "vote_cancel", "value")
    with gr.Row(equal_height=False, elem_id="chat-vote-result"):
        ui.message = gr.HTML(elem_id="chat-vote-status")
        ui.panel = gr.HTML(elem_id="chat-votes")
        ui.name = ctx.relabel(gr.Textbox(DEFAULT_NAME, label=t("vote_dataset", lang), scale=0,
                                         min_width=200, max_lines=1, elem_id="chat-votes-name"),
                              "vote_dataset")
    ui.choice = gr.State(None)
    return ui


def wire(ctx, vote, rnd_state, heads_fn, head_inputs: list, heads: list) -> None:
    """Events: A/B open the edit box, Save and Tie save, Cancel closes; a saved vote reveals
    the heads (heads_fn(round, lang, *head_inputs) -> two pane heads) and refreshes the panel;
    registering the dataset bumps ctx.registry, so the Train form offers it at once."""
    dataset_dir = ctx.fields["dataset_dir"]

    def on_pick(choice, rnd, lang):
        text, problem = pick(rnd, choice, lang)
        if problem:
            return None, gr.skip(), gr.update(visible=False), message_html(problem, "error", lang)
        return choice, text, gr.update(visible=True), ""

    def on_save(choice, rnd, text, folder, name, bump, lang, *head_values):
        done, note, shown, registered = save(ctx.ws, folder, name, rnd, choice or "", text, lang)
        if shown is None:  # not saved: everything stays to try again
            return (gr.skip(), note) + (gr.skip(),) * 5
        return (done, note, shown, gr.update(visible=False),
                (bump or 0) + 1 if registered else gr.skip(), *heads_fn(done, lang, *head_values))

    def on_panel(folder, name, lang):
        return panel(ctx.ws, folder, name, None, lang)

    for side, button in (("A", vote.a), ("B", vote.b)):
        button.click(lambda rnd, lang, side=side: on_pick(side, rnd, lang), [rnd_state, ctx.lang],
                     [vote.choice, vote.text, vote.edit_box, vote.message], show_progress="hidden")
    saved = [rnd_state, vote.message, vote.panel, vote.edit_box, ctx.registry] + heads
    common = [rnd_state, vote.text, dataset_dir, vote.name, ctx.registry, ctx.lang] + head_inputs
    vote.save.click(on_save, [vote.choice] + common, saved, show_progress="hidden")
    vote.tie.click(lambda *a: on_save("tie", *a), common, saved, show_progress="hidden")
    vote.cancel.click(lambda: (None, gr.update(visible=False)), None,
                      [vote.choice, vote.edit_box], show_progress="hidden")
    for event in (vote.name.blur, vote.name.submit, ctx.lang.change, dataset_dir.blur):
        event(on_panel, [dataset_dir, vote.name, ctx.lang], vote.panel, show_progress="hidden")
    ctx.app.load(on_panel, [dataset_dir, vote.name, ctx.lang], vote.panel,
                 show_progress="hidden")
    def on_blind(blind, rnd, lang, *head_values):  # the names hide at once; shuffled next prompt
        rnd = {**(rnd or new_round(False)), "revealed": not blind}
        if not blind and rnd.get("ballot"):  # the names were seen before the vote
            rnd["ballot"] = {**rnd["ballot"], "blind": False}
        return (rnd, *heads_fn(rnd, lang, *head_values))

    vote.blind.change(on_blind, [vote.blind, rnd_state, ctx.lang] + head_inputs,
                      [rnd_state] + heads, show_progress="hidden")
