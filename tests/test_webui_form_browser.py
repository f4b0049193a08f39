"""The Train form in Debian's headless Chromium (see test_webui_browser.py for the set-up): the
main settings first and collapsed groups that count their changes, a reload that keeps the form
and the language, help shown as written, Save YAML that makes no run and a command that, pasted
into a shell, trains into the server's Runs, the demo's values left behind with the demo, and
Reset. Screenshots go to test-artifacts/.

Run: pytest -q tests/test_webui_form_browser.py   (skipped when /usr/bin/chromium is missing)
"""
from __future__ import annotations

import subprocess
import time

import pytest
from test_webui_browser import (
    ARTIFACTS,
    CHROMIUM,
    RUN_S,
    Server,
    browser_page,
    demo_home,
    open_group,
    open_tab,
    run_row,
    set_field,
    shot,
    stop_runs,
    wait_state,
)

from core.runs.manager import RunManager

__all__ = ["demo_home"]  # a fixture this module uses
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium")
# Every text node the page ever shows, so a raw gradio key (common.complete) cannot flash by.
WATCH = """() => { window.seen = new Set();
  new MutationObserver(() => {
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) window.seen.add(n.data);
  }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_home):
    ARTIFACTS.mkdir(exist_ok=True)
    srv = Server(tmp_path_factory.mktemp("webui-form") / "saves",
                 ARTIFACTS / "webui-form-server.log", demo_home)
    srv.log.write_text("")
    srv.start()
    yield srv
    srv.stop()
    stop_runs(srv.saves)  # the run started from a shell does not outlive the test


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    """One browser profile for the module: what a page stores survives its reloads."""
    with browser_page(tmp_path_factory) as pg:
        yield pg


def value(page, key: str) -> str:
    return page.locator(f"#field-{key} input, #field-{key} textarea").first.input_value()


def group(page, name: str):
    return page.locator(f"#group-{name}").first


def group_title(page, name: str) -> str:
    return group(page, name).locator("button").first.inner_text().splitlines()[0].strip()


def wait_title(page, name: str, text: str) -> None:
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel)?.querySelector('button')?.innerText"
        ".includes(text)", arg=[f"#group-{name}", text], timeout=30_000)


def wait_value(page, key: str, expected: str) -> None:
    page.wait_for_function(
        "([sel, v]) => document.querySelector(sel)?.value === v",
        arg=[f"#field-{key} input, #field-{key} textarea", expected], timeout=30_000)


def fresh_form(page, server) -> None:
    """The page with the Train form reset (this browser keeps what earlier tests set)."""
    page.goto("about:blank")  # a page still busy with the last test never aborts this load
    page.goto(server.url)
    open_tab(page, "train")
    page.locator("#reset-form").click()
    page.locator("#train-status").filter(has_text="Reset").wait_for()
    wait_value(page, "learning_rate", "0.0005")


def pick_model(page, model: str) -> None:
    box = page.locator("#field-model_name_or_path input").first
    box.click()
    box.fill(model)
    box.press("Enter")


def switch_language(page, name: str) -> None:
    page.locator("#lang input").click()
    page.get_by_role("option", name=name).click()


def test_the_form_opens_small_and_counts_changes(server, page):
    page.goto(server.url)
    page.evaluate(WATCH)
    open_tab(page, "train")
    wait_title(page, "optimisation", "1 changed")  # gradient_accumulation_steps: 2 (the demo's)
    assert group_title(page, "output") == "Saving and logging · 2 changed"
    assert group_title(page, "preference") == "Preference"
    for key in ("stage", "dataset", "learning_rate", "num_train_epochs",
                "per_device_train_batch_size", "cutoff_len", "pref_beta", "pref_loss",
                "lora_rank"):
        assert group(page, "main").locator(f"#field-{key}").is_visible(), key
    assert not page.locator("#field-warmup_ratio").is_visible()  # in a collapsed group
    form = page.locator("#train-form").bounding_box()
    assert form["height"] < 1400, form  # was 3,350 px with every group open
    assert page.locator("#train-abort").is_disabled()  # nothing runs: grey, not red
    shot(page, "13-train-form")

    set_field(page, "seed", 7)  # in a collapsed group: its count says so
    wait_title(page, "optimisation", "2 changed")
    page.locator("#preview").click()
    page.locator("#train-status .ps-ok").wait_for(timeout=RUN_S * 1000)  # the dry run
    assert not [t for t in page.evaluate("() => [...window.seen]") if "common." in t]


def test_a_reload_keeps_the_form_and_the_language(server, page):
    fresh_form(page, server)
    set_field(page, "learning_rate", "0.0002")
    set_field(page, "cutoff_len", 384)
    set_field(page, "seed", 9)
    switch_language(page, "中文")
    page.locator("#tab-train-button").filter(has_text="训练").wait_for()
    time.sleep(1)  # the browser stores the form on each change
    page.reload()
    page.locator("#tab-train-button").filter(has_text="训练").wait_for()
    open_tab(page, "train")
    wait_value(page, "cutoff_len", "384")
    wait_title(page, "optimisation", "优化 · 2 项已改")  # the demo's and seed
    open_group(page, "seed")
    assert value(page, "learning_rate") == "0.0002" and value(page, "seed") == "9"
    shot(page, "14-reload-keeps-form-zh")
    switch_language(page, "English")
    page.locator("#tab-train-button").filter(has_text="Train").wait_for()
    time.sleep(1)  # stored again: the next tests (this browser) open in English ...
    page.reload()
    page.locator("#tab-train-button").filter(has_text="Train").wait_for()  # ... as this does


def test_help_is_shown_as_written(server, page):
    fresh_form(page, server)
    page.locator("#field-stage input").click()
    page.get_by_role("option", name="grpo", exact=True).click()
    open_group(page, "reward_format_regex")
    info = page.locator("#field-reward_format_regex .info-text").first
    info.wait_for()
    assert "^<think>.∗?</think>\\s∗\\S" in info.inner_text()
    assert info.locator("em").count() == 0
    shot(page, "15-grpo-help")


def test_save_yaml_makes_no_run_and_the_command_trains(server, page):
    fresh_form(page, server)
    before = {p.relative_to(server.saves) for p in server.saves.rglob("*")}
    set_field(page, "max_steps", 2)
    set_field(page, "max_samples", 16)
    set_field(page, "run_name", "from-shell")
    page.wait_for_function("() => document.querySelector('#preview-command textarea').value"
                           ".includes('configs/from-shell.yaml')", timeout=30_000)
    assert page.locator("#preview-command textarea").input_value().startswith("# Save YAML first")
    page.locator("#save-yaml").click()
    page.locator("#train-status .ps-ok").filter(has_text="Saved").wait_for()
    new = {p.relative_to(server.saves) for p in server.saves.rglob("*")} - before
    assert {str(p) for p in new} <= {"configs", "configs/from-shell.yaml"}, new
    assert (server.saves / "configs" / "from-shell.yaml").is_file()
    assert not [i for i in RunManager(server.saves).list() if i.name == "from-shell"]
    open_tab(page, "runs")
    time.sleep(3)  # a poll of the runs table
    assert page.locator("#runs-table .virtual-row").filter(has_text="from-shell").count() == 0
    open_tab(page, "train")
    box = page.locator("#preview-command textarea")
    page.wait_for_function("() => !document.querySelector('#preview-command textarea')"
                           ".value.startsWith('#')", timeout=30_000)
    command = box.input_value()
    assert "configs/from-shell.yaml" in command and " -m core train " in command
    shot(page, "16-saved-yaml")

    subprocess.run(["bash", "-c", command], cwd="/", check=True, timeout=60)  # as pasted
    open_tab(page, "runs")
    run_row(page, "from-shell").wait_for(timeout=60_000)  # the run lands in the server's Runs
    wait_state(page, "from-shell", "completed")
    assert RunManager(server.saves).get("from-shell").state == "completed"


def test_leaving_the_demo_and_reset(server, page):
    fresh_form(page, server)  # the demo's values, whatever the earlier tests set
    set_field(page, "num_train_epochs", 2)
    pick_model(page, "Qwen/Qwen2.5-0.5B-Instruct")
    status = page.locator("#train-status").filter(has_text="Not the demo any more")
    status.wait_for()
    assert "learning_rate 0.0005 → 5e-05" in status.inner_text()
    wait_value(page, "learning_rate", "0.00005")
    assert value(page, "lora_rank") == "8" and value(page, "cutoff_len") == "2048"
    assert value(page, "num_train_epochs") == "2"  # the user's own value stays
    shot(page, "17-left-the-demo")

    set_field(page, "learning_rate", "0.001")
    page.locator("#reset-form").click()
    page.locator("#train-status").filter(has_text="Reset").wait_for()
    wait_value(page, "learning_rate", "0.00005")  # the config defaults for a real model
    assert value(page, "model_name_or_path") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert value(page, "num_train_epochs") == "3"
    pick_model(page, "demo")
    page.locator("#reset-form").click()
    wait_value(page, "learning_rate", "0.0005")  # the demo's own values again
    assert value(page, "lora_rank") == "16"
