"""The WebUI's page: a header with the language switch, the top bar (model, template,
finetuning type, start adapters, quantization) and the registered tabs.

    from webui.app import build_app
    build_app(Workspace()).launch()        # python -m webui does this with the safe defaults

Runs are advanced by a background thread (RunManager.poll every 2 s), not by the page: a queued
run starts and an abort escalates with no browser open.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import gradio as gr

from core.config.demo import demo_config
from core.runs.manager import RunManager

from . import forms, tabs
from .context import Ctx
from .i18n import DEFAULT, LANGS, t
from .workspace import Workspace

log = logging.getLogger(__name__)
POLL_S = 2.0

CSS = (Path(__file__).parent / "style.css").read_text(encoding="utf-8")
# gradio 6.31 announces a finished event to screen readers as t("common.complete"), a key its
# own translations lack, so the raw key shows; python -m webui passes these to launch(i18n=).
GRADIO_I18N = gr.I18n(**{locale: {"common": {"complete": t("done", lang)}}
                         for locale, lang in (("en", "en"), ("zh-CN", "zh"), ("zh-TW", "zh"))})
# The form and the language, kept in the browser (localStorage) and restored on load. The
# secret reaches the page with its config (BrowserState decrypts there), so it hides nothing
# from the page; a fixed one keeps the stored form readable after a server restart.
STORAGE_KEY, STORAGE_SECRET = "prefstudio-form", "prefstudio-form-v1"


def _header(ctx: Ctx) -> None:
    with gr.Row(elem_classes=["ps-header"]):
        with gr.Column(scale=4):
            title = gr.Markdown(f"# {t('title')}\n{t('subtitle')}")
            ctx.on_lang(title, lambda lang: {"value": f"# {t('title', lang)}\n{t('subtitle', lang)}"})
        ctx.lang = gr.Dropdown([(name, code) for code, name in LANGS.items()], value=DEFAULT,
                               label=t("language"), scale=1, min_width=140, elem_id="lang")
        ctx.relabel(ctx.lang, "language")


def _topbar(ctx: Ctx) -> None:
    with gr.Row(variant="panel", elem_id="topbar"):
        for key in forms.TOPBAR_KEYS:
            if key in ctx.fields:
                ctx.fields[key].render()


def build_app(ws: Workspace | None = None, runs: RunManager | None = None) -> gr.Blocks:
    # transformers' first import is not thread-safe: two handlers importing it at once (the
    # Data tab's tokenizer and a chat's model on page load) fail with "cannot import name
    # AutoTokenizer". Import it here, once, before any handler thread runs.
    import transformers  # noqa: F401
    ws = ws or Workspace()
    runs = runs or RunManager(ws.saves_dir)
    runs.confined = True  # every run a handler names (and the API too) must be in saves/
    cfg, options = demo_config(), ws.pick_lists(runs)  # a new browser's form: the demo
    with gr.Blocks(title="PrefStudio", analytics_enabled=False, fill_width=True) as app:
        shown = tabs.available()
        ctx = Ctx(ws, runs, focus_run=gr.State(None), registry=gr.State(0),
                  chat_run=gr.State(None) if "chat" in dict(shown) else None)
        ctx.app = app
        ctx.fields = {key: forms.widget(spec, getattr(cfg, key), DEFAULT, options, render=False,
                                        visible=cfg.relevant(key))
                      for key, spec in forms.SPECS.items()}
        for key, spec in forms.SPECS.items():
            ctx.on_lang(ctx.fields[key], lambda lang, spec=spec: forms.relabel(
                spec, lang, options["models"]))
        _header(ctx)
        _topbar(ctx)
        with gr.Tabs(elem_id="tabs") as ctx.tabs:
            for name, module in shown:
                with gr.Tab(t(f"tab_{name}"), id=name, elem_id=f"tab-{name}") as tab:
                    ctx.tab = tab
                    module.build(ctx)
                ctx.relabel(tab, f"tab_{name}")
        ctx.wire_language()
        _keep_in_browser(ctx)
    return app


def _keep_in_browser(ctx: Ctx) -> None:
    """Store the language and every form value in the browser on each change (in the page,
    no server call) and put them back on load, so a reload keeps them."""
    keys = list(ctx.fields)
    fields = [ctx.fields[k] for k in keys]
    saved = gr.BrowserState({}, storage_key=STORAGE_KEY, secret=STORAGE_SECRET)
    store = ("(lang, ...values) => { const keys = " + json.dumps(keys) + "; const form = {}; "
             "keys.forEach((k, i) => { form[k] = values[i]; }); return {lang, form}; }")
    gr.on([ctx.lang.change] + [f.change for f in fields], None, [ctx.lang] + fields, saved,
          js=store, show_progress="hidden")

    def restore(stored, lang, *current):
        """Only what differs: an update fires the field's change events (checks, relabels)."""
        stored = stored if isinstance(stored, dict) else {}
        now = dict(zip(keys, current))
        values = forms.restore(stored.get("form"), now)
        kept = stored.get("lang")
        return ([kept if kept in LANGS and kept != lang else gr.update()]
                + [values[k] if values[k] != now[k] else gr.update() for k in keys])

    ctx.app.load(restore, [saved, ctx.lang] + fields, [ctx.lang] + fields, show_progress="hidden")


def start_poller(runs: RunManager, interval: float = POLL_S) -> threading.Thread:
    """Advance runs (launch queued ones, settle dead ones, escalate aborts) every `interval`."""
    def loop() -> None:
        while True:
            try:
                runs.poll()
            except Exception:  # keep polling; the next round may succeed
                log.exception("RunManager.poll failed")
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="run-poller", daemon=True)
    thread.start()
    return thread
