"""What every tab's build(ctx) receives: the workspace, the run manager, the shared widgets.

    ctx.fields["pref_beta"]          # every form field (top bar and Train), created up front
    ctx.lang                         # the language dropdown (an input of most handlers)
    ctx.relabel(button, "start")     # re-labelled when the language changes
    ctx.remount(file_box)            # gradio's own texts in it ("Drop File Here") follow too
    ctx.focus_run / ctx.registry     # gr.State that Train/Data set and Runs/Train listen to
    ctx.chat_run                     # gr.State Runs sets ("Compare in chat"), Chat listens to
    ctx.chat                         # the app's one core.chat.host.ChatHost (Chat's engine)
    ctx.tab                          # the gr.Tab being built (for its select event)
    ctx.shared["train_status"]       # components a tab offers to the tabs built after it
    button.click(fn, ..., **MODELS)  # every handler that loads a model: one at a time, app-wide
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import gradio as gr

from core.chat.host import ChatHost
from core.runs.manager import RunManager

from .i18n import t
from .workspace import Workspace

# Gradio's own texts (a File's "Drop File Here - or - Click to Upload") come from its frontend
# translations, chosen by the browser's language: this switches them with the page's (gradio's
# changeLocale, as its Settings page does) and answers the page's language when it changed them
# (null when they already matched). A component reads them when it mounts, so the ones given
# to Ctx.remount are hidden and shown again.
GRADIO_LOCALES = {"en": "en", "zh": "zh-CN"}
GRADIO_LOCALE_JS = r"""async (lang) => {
  const locale = %s[lang] || "en";
  if (document.documentElement.lang === locale) return null;
  const url = performance.getEntriesByType("resource").map((e) => e.name)
    .find((n) => /\/assets\/core-[\w-]+\.js$/.test(new URL(n).pathname));
  try {
    const core = url && await import(url);
    if (!core || !core.changeLocale) return null;
    core.changeLocale(locale);
    for (let i = 0; i < 60 && document.documentElement.lang !== locale; i++) {
      await new Promise((done) => setTimeout(done, 50));
    }
  } catch (e) {
    console.warn("PrefStudio: gradio's language did not switch", e);
    return null;
  }
  return lang;
}""" % json.dumps(GRADIO_LOCALES)

# The queue of every handler that loads a model (chat, evaluation, export): one at a time, so
# two models never load at once on a small machine.
MODELS = {"concurrency_id": "models", "concurrency_limit": 1}


@dataclass
class Ctx:
    ws: Workspace
    runs: RunManager
    app: Any = None  # the gr.Blocks (for app.load)
    lang: Any = None  # gr.Dropdown
    tabs: Any = None  # gr.Tabs
    fields: dict[str, Any] = field(default_factory=dict)  # key -> component
    groups: dict[str, Any] = field(default_factory=dict)  # group -> gr.Accordion (Train)
    focus_run: Any = None  # gr.State: name of a run to show in Runs
    registry: Any = None  # gr.State: bumped when a dataset is registered
    chat_run: Any = None  # gr.State: [run folder, nonce] to compare in Chat (None: no Chat tab)
    tab: Any = None  # the gr.Tab whose build(ctx) is running
    chat: ChatHost = field(default_factory=ChatHost)  # one per app: tests and apps never share
    shared: dict[str, Any] = field(default_factory=dict)  # components other tabs write to
    labels: list[tuple[Any, Callable[[str], dict]]] = field(default_factory=list)
    remounts: list[Any] = field(default_factory=list)  # see GRADIO_LOCALE_JS

    def relabel(self, component: Any, key: str, attr: str = "label", prefix: str = "") -> Any:
        """Give `component` the text `key` (after `prefix`, e.g. "### ") on every language
        change; it was created with the default language's text."""
        self.labels.append((component, lambda lang: {attr: prefix + t(key, lang)}))
        return component

    def on_lang(self, component: Any, fn: Callable[[str], dict]) -> Any:
        """Any other per-language update (headers, choices, field help)."""
        self.labels.append((component, fn))
        return component

    def remount(self, component: Any) -> Any:
        """Mount `component` again when gradio's language changes (GRADIO_LOCALE_JS)."""
        self.remounts.append(component)
        return component

    def wire_language(self) -> None:
        """One handler re-labels everything registered with relabel/on_lang; gradio's own
        texts follow the language on every change and on page load."""
        components = [c for c, _ in self.labels]
        fns = [fn for _, fn in self.labels]

        def switch(lang: str):
            return [gr.update(**fn(lang)) for fn in fns]

        self.lang.change(switch, inputs=self.lang, outputs=components, show_progress="hidden")
        if not self.remounts:
            return

        def hide(changed: str | None) -> dict:
            return {c: gr.update(visible=False) if changed else gr.update() for c in self.remounts}

        def show() -> dict:
            return {c: gr.update(visible=True) for c in self.remounts}

        for event in (self.lang.change, self.app.load):
            event(hide, self.lang, self.remounts, js=GRADIO_LOCALE_JS,
                  show_progress="hidden").then(show, None, self.remounts, show_progress="hidden")
