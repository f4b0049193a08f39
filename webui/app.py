"""The WebUI's page: a header with the language switch, the top bar (model, template,
finetuning type, start adapters, quantization) and the registered tabs.

    from webui.app import build_app
    build_app(Workspace()).launch()        # python -m webui does this with the safe defaults

Runs are advanced by a background thread (RunManager.poll every 2 s), not by the page: a queued
run starts and an abort escalates with no browser open.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import gradio as gr

from core.config import ConfigError, RunConfig
from core.runs.manager import RunManager

from . import forms, tabs
from .context import Ctx
from .i18n import DEFAULT, LANGS, t
from .workspace import Workspace

log = logging.getLogger(__name__)
POLL_S = 2.0
DEMO_YAML = "dpo_demo.yaml"  # the prefilled DPO on the demo model and data

CSS = (Path(__file__).parent / "style.css").read_text(encoding="utf-8")


def initial_config(ws: Workspace) -> RunConfig:
    """examples/dpo_demo.yaml without its output_dir/run_name (each Start makes a new run);
    the dataclass defaults when the example is missing or broken."""
    try:
        cfg = RunConfig.load(ws.examples_dir / DEMO_YAML)
    except ConfigError as e:
        log.warning("Using the config defaults: %s", e)
        return RunConfig()
    return cfg.replace(output_dir=None, run_name=None)


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
    cfg, options = initial_config(ws), ws.pick_lists(runs)
    with gr.Blocks(title="PrefStudio", analytics_enabled=False, fill_width=True) as app:
        shown = tabs.available()
        ctx = Ctx(ws, runs, focus_run=gr.State(None), registry=gr.State(0),
                  chat_run=gr.State(None) if "chat" in dict(shown) else None)
        ctx.app = app
        ctx.fields = {key: forms.widget(spec, getattr(cfg, key), DEFAULT, options, render=False,
                                        visible=cfg.relevant(key))
                      for key, spec in forms.SPECS.items()}
        for key, spec in forms.SPECS.items():
            ctx.on_lang(ctx.fields[key], lambda lang, spec=spec: forms.relabel(spec, lang))
        _header(ctx)
        _topbar(ctx)
        with gr.Tabs(elem_id="tabs") as ctx.tabs:
            for name, module in shown:
                with gr.Tab(t(f"tab_{name}"), id=name, elem_id=f"tab-{name}") as tab:
                    ctx.tab = tab
                    module.build(ctx)
                ctx.relabel(tab, f"tab_{name}")
        ctx.wire_language()
    return app


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
