"""The Chat tab's side of core.chat.host.ChatHost (one per app: ctx.chat): picks confined to the
workspace before core resolves them, and what core did, said in the page's language.

    picks = Picks("demo", a="base", b="saves/my-run")
    note = prepare(host, ws, picks, "en")   # core loads demo once and attaches my-run's adapter
    status(host, "en").html()               # "Loaded demo as the base. Adapters on it: my-run."

Which base loads, what a pick stands for and when the engine reloads are core's decisions
(core/chat/sides.py, core/chat/host.py); this module only keeps adapters inside saves/ and
data/, models to 'demo', hub ids and the workspace's model folders (Workspace.check_model),
and turns the results into texts.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from core.chat.host import ChatHost
from core.chat.sides import BASE, Picks, is_tuned
from core.errors import UserError

from .. import runlists
from ..i18n import DEFAULT, sentences, t
from ..i18n_core import say
from ..render import message_html
from ..workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Status:
    """The line above the panes: a text and its kind (render.message_html's info/ok/error)."""

    text: str
    kind: str = "info"

    @property
    def failed(self) -> bool:
        return self.kind == "error"

    def html(self) -> str:
        return message_html(self.text, self.kind)


def confine(ws: Workspace, pick: str | None, lang: str = DEFAULT) -> str:
    """A pick as core takes it: "base", a run/checkpoint/adapter folder inside saves/ or data/
    (absolute), or a model: a hub id, 'demo' or a model folder in ws.model_roots."""
    pick = (pick or "").strip()
    if not pick:
        raise UserError(t("chat_pick_model", lang))
    if pick == BASE:
        return BASE
    path = ws.absolute(pick)
    if is_tuned(path):
        return str(runlists.source(ws, pick, "model"))
    ws.check_model(pick, "model")
    return str(path) if path.is_dir() else pick


def prepare(host: ChatHost, ws: Workspace, picks: Picks, lang: str) -> str:
    """Confine the picks, let core load what they need; returns a note when the base changed
    (or is not the top bar's model). Raises UserError on a bad pick."""
    ws.check_model(picks.model or "", "model_name_or_path")  # the top bar's: the base
    sides = {side: confine(ws, pick, lang) for side, pick in picks.sides.items()}
    done = host.prepare(replace(picks, a=sides["A"], b=sides.get("B", picks.b)))
    notes = []
    if done.reloaded:
        notes.append(t("chat_reloaded", lang, model=done.reloaded))
    if done.run_base:
        notes.append(t("chat_run_base", lang, run=done.run_base.name, model=done.run_base.base,
                       top=picks.model))
    return sentences(notes, lang)


def status(host: ChatHost, lang: str, note: str = "") -> Status:
    """What is loaded, as the line above the panes says it (after `note`)."""
    loaded = host.loaded()
    if loaded is None:
        return Status(t("chat_not_loaded", lang))
    parts = [note] if note else []
    parts.append(t("chat_loaded", lang, model=loaded.model))
    if loaded.adapters:
        parts.append(t("chat_adapters", lang, names=", ".join(loaded.adapters)))
    if loaded.own:  # models of their own (full weights, another model): a second load
        parts.append(t("chat_own_models", lang, names=", ".join(loaded.own)))
    return Status(sentences(parts, lang))


def load(host: ChatHost, ws: Workspace, picks: Picks, lang: str) -> Status:
    """The Load button: what is loaded afterwards, or the problem (never raised)."""
    try:
        return status(host, lang, prepare(host, ws, picks, lang))
    except Exception as e:  # shown beside the button, never raised into the page
        if not isinstance(e, UserError):
            log.exception("Chat load failed")
        return Status(say(str(e), lang) or type(e).__name__, "error")


def unload(host: ChatHost, lang: str) -> Status:
    """The Unload button: every model dropped, the memory free again."""
    host.unload()
    return Status(t("chat_unloaded", lang), "ok")
