"""The tab registry. A tab is a module `webui.tabs.<name>` with `build(ctx)`, which creates its
components inside the open gr.Tab and wires their events (see webui/context.py for ctx).

Tabs are shown in TABS order, and only those whose module exists: Chat, Evaluate and Export
plug in by adding their module, nothing else changes.
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

TABS = ("data", "train", "runs", "chat", "evaluate", "export")


def available() -> list[tuple[str, ModuleType]]:
    """(name, module) for every tab whose module is present, in TABS order."""
    out = []
    for name in TABS:
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            out.append((name, importlib.import_module(f"{__name__}.{name}")))
    return out
