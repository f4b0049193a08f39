"""The built page (webui.app.build_app, no browser): the top bar, the six tabs in order with
their labels, and each tab's first controls where the browser tests and users find them."""
import json
import shutil

import pytest
from conftest import ROOT

from core.config import GROUPS
from core.runs.manager import RunManager
from webui import forms
from webui.i18n import t
from webui.workspace import Workspace

TABS = ("data", "train", "runs", "chat", "evaluate", "export")
# The leading controls of each tab (inputs, buttons, tables), in page order.
FIRST = {
    "data": ("registry", "upload-file", "upload-name", "upload-save-as"),
    "runs": ("runs-table", "runs-picked"),
    "chat": ("chat-pick-a", "chat-swap", "chat-pick-b"),
    "evaluate": ("eval-runs", "eval-dataset", "eval-judge", "eval-max-samples"),
    "export": ("export-source", "export-checkpoints", "export-out"),
}
LAYOUT = ("Row", "Column", "Group", "Accordion", "HTML", "Markdown", "Tab", "Tabs", "State",
          "Plot")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    import gradio as gr

    from webui.app import build_app

    root = tmp_path_factory.mktemp("page")
    (root / "data").mkdir()
    shutil.copy(ROOT / "data" / "demo_pref_en.json", root / "data")
    registry = json.loads((ROOT / "dataset_info.json").read_text())
    (root / "data" / "dataset_info.json").write_text(json.dumps(
        {k: v for k, v in registry.items() if v.get("file_name") == "demo_pref_en.json"}))
    ws = Workspace(saves_dir=root / "saves", data_dir=root / "data")
    app = build_app(ws, RunManager(ws.saves_dir, max_concurrent=0))
    assert isinstance(app, gr.Blocks)
    return app


def descendants(block):
    for child in getattr(block, "children", []):
        yield child
        yield from descendants(child)


def tabs_of(app) -> dict:
    import gradio as gr
    return {c.id: c for c in descendants(app) if isinstance(c, gr.Tab)}


def controls(block) -> list[str]:
    """elem_ids of the controls inside `block`, in page order (layout and display skipped)."""
    return [c.elem_id for c in descendants(block)
            if c.elem_id and type(c).__name__ not in LAYOUT]


def test_the_page_has_the_six_tabs_in_order(page):
    tabs = tabs_of(page)
    assert tuple(tabs) == TABS
    for name, tab in tabs.items():
        assert tab.elem_id == f"tab-{name}" and tab.label == t(f"tab_{name}")


@pytest.mark.parametrize("name", FIRST)
def test_each_tab_starts_with_its_controls(page, name):
    found = controls(tabs_of(page)[name])
    assert tuple(found[:len(FIRST[name])]) == FIRST[name], found[:8]


def test_train_tab_holds_every_form_field_but_the_top_bar(page):
    tab = tabs_of(page)["train"]
    ids = {c.elem_id for c in descendants(tab)}
    groups = [c.elem_id for c in descendants(tab) if (c.elem_id or "").startswith("group-")]
    assert groups == [f"group-{g}" for g in GROUPS]  # accordions in the config's group order
    first = controls(tab)[0]
    assert first.startswith("field-") and forms.SPECS[first[6:]].group == "model", first
    form = {k for k in forms.SPECS if k not in forms.TOPBAR_KEYS}
    assert {f"field-{k}" for k in form} <= ids
    assert not {f"field-{k}" for k in forms.TOPBAR_KEYS} & ids
    assert {"start", "train-abort", "preview", "save-yaml", "load-yaml"} <= ids
    (topbar,) = [c for c in descendants(page) if c.elem_id == "topbar"]
    assert controls(topbar) == [f"field-{k}" for k in forms.TOPBAR_KEYS]


def test_upload_takes_the_file_types_core_reads(page):
    from core.data.loading import EXTENSIONS

    (upload,) = [c for c in descendants(tabs_of(page)["data"]) if c.elem_id == "upload-file"]
    assert upload.file_types == list(EXTENSIONS)
