"""The Runs tab in Debian's headless Chromium (Playwright, never `playwright install`): a run
that fails before its first step says why and where to fix it, with Resume off; with
--max-concurrent 1 (the default) runs started while one trains show their place in the queue;
aborting a queued run says it had not started; an action's message does not stay under
another run; charts fit their panels after a language switch on another tab; alarms and the
comparison of two runs. Screenshots go to test-artifacts/runs-*.png.

Run: pytest -q tests/test_webui_runs_browser.py   (skipped when /usr/bin/chromium is missing)
"""
from __future__ import annotations

import time

import pytest
import test_webui_browser as browser
from conftest import ROOT
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_webui_browser import (
    CHROMIUM,
    open_tab,
    run_row,
    shot,
    start_run,
    status,
    wait_state,
)
from test_webui_handlers import diverging_alarms

from core.config import RunConfig
from core.runs.manager import RunManager
from core.runs.rundir import RunDir

# the same fixtures as test_webui_browser.py: this module gets a server of its own
demo_home, server, page = browser.demo_home, browser.server, browser.page
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium "
                                       "(apt-get install chromium; see DEVELOPERS.md)")
CHART_FIT = """() => [...document.querySelectorAll('[id^=chart-]')].map(panel => {
    const svg = panel.querySelector('.main-svg');
    return [panel.id, panel.getBoundingClientRect().width,
            svg ? svg.getBoundingClientRect().width : 0];
})"""


def pick(page, name: str, has_text: str | None = None) -> None:
    """Click a run's row until its view shows (the table is redrawn every tick while a run
    trains, which can swallow a click)."""
    for _ in range(3):
        row = run_row(page, name)
        (row.filter(has_text=has_text) if has_text else row).click()
        try:
            page.locator("#run-progress b").filter(has_text=name).wait_for(timeout=15_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{name}'s view did not show: {text(page, '#run-progress')}")


def text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def finished_run(saves, name: str, steps: int, **config) -> None:
    """A finished run folder as training leaves it (config, status, metrics), made directly."""
    rd = RunDir(saves / name)
    rd.path.mkdir(parents=True)
    RunConfig(run_name=name, output_dir=str(rd.path), **config).save(rd.config)
    now = time.time()
    rd.update_status(state="completed", stage="dpo", model="demo", dataset="demo_pref_en",
                     step=steps, total_steps=steps, started_at=now - 900, ended_at=now - 800)
    for step in range(1, steps + 1):
        rd.append_metrics({"step": step, "loss": 0.69 - 0.01 * step, "learning_rate": 1e-4,
                           "grad_norm": 1.0, "rewards/chosen": 0.05 * step,
                           "rewards/rejected": -0.05 * step, "rewards/margins": 0.1 * step,
                           "rewards/accuracies": 0.5 + 0.02 * step})
    rd.log_file.write_text("done\n")


def test_failure_queue_alarms_and_compare_in_runs(server, page):
    # A run whose prompts do not fit cutoff_len 16, and that drops such records rather than
    # cutting them, fails before its first step.
    cfg = RunConfig.load(ROOT / "examples" / "dpo_demo.yaml").replace(
        output_dir=str(server.saves / "too-short"), run_name="too-short", cutoff_len=16,
        max_samples=16, truncation="drop")
    RunManager(server.saves).start(cfg)
    page.goto(server.url)
    open_tab(page, "runs")
    wait_state(page, "too-short", "failed")
    pick(page, "too-short")
    notice = page.locator("#run-notice .ps-failure")
    notice.wait_for()
    headline = text(page, "#run-notice .ps-headline")
    assert "cutoff_len 16" in headline and "\n" not in headline.strip()
    assert "raise Cutoff length · cutoff_len in Train → Data" in notice.inner_text()
    assert page.locator("#run-resume").is_disabled()
    assert not page.locator("#run-notice details pre").is_visible()  # folded away ...
    page.locator("#run-notice details summary").click()
    assert "max_bad_ratio" in text(page, "#run-notice details pre")  # ... until opened
    shot(page, "runs-1-failed")

    # Three runs with --max-concurrent 1: the first trains, the others wait in line.
    first = start_run(page, server, steps=1000)
    deadline = time.time() + 30
    while not status(server, first).get("pid"):
        assert time.time() < deadline, status(server, first)
        time.sleep(0.2)
    second = start_run(page, server, steps=1000)
    third = start_run(page, server, steps=1000)  # Start lands on Runs with it picked
    run_row(page, second).filter(has_text="queued · #1 in the queue").wait_for()
    run_row(page, third).filter(has_text="queued · #2 in the queue").wait_for()
    page.locator("#run-progress").filter(has_text="#2 in the queue").wait_for()
    assert "just now" not in run_row(page, third).inner_text()  # it has not started
    shot(page, "runs-2-queue")

    page.locator("#run-abort").click()
    page.locator("#runs-message").filter(has_text=f"Took {third} off the queue").wait_for()
    assert "checkpoint" not in text(page, "#runs-message")
    run_row(page, third).filter(has_text="aborted").wait_for()
    page.locator("#run-delete").click()
    page.locator("#run-delete-confirm").click()
    page.locator("#runs-empty").filter(has_text=f"Deleted {third}.").wait_for()
    pick(page, second)
    assert "#1 in the queue" in text(page, "#run-progress")
    assert "Deleted" not in page.locator("#runs-message").inner_text()  # not under another run
    shot(page, "runs-3-next-in-line")

    # Alarms and two runs compared (folders as finished runs leave them).
    finished_run(server.saves, "lr-high", 12, learning_rate=1e-4)
    finished_run(server.saves, "lr-low", 12, learning_rate=5e-6)
    RunDir(server.saves / "lr-high").update_status(
        state="aborted", alarms=[a.to_dict() for a in diverging_alarms()])
    pick(page, "lr-high", has_text="⚠ Gradient spike, Training is diverging")
    page.locator('#run-notice .ps-alarm-error[data-alarm="diverging"]').wait_for()
    assert "learning_rate 3-10x lower" in text(page, "#run-notice")
    page.locator("#runs-picked input").click()
    page.get_by_role("option", name="lr-low").click()
    page.keyboard.press("Escape")
    table = page.locator("#runs-compare .ps-diff")
    table.filter(has_text="Learning rate · learning_rate").wait_for()
    assert "5e-06" in table.inner_text() and "dataset_dir" not in table.inner_text()
    page.wait_for_function(f"() => ({CHART_FIT})().every(([, panel, svg]) => svg && svg <= panel)",
                           timeout=10_000)
    shot(page, "runs-4-alarms-and-compare")

    # Charts redrawn while their tab is hidden still fit their panels.
    pick(page, first)
    page.locator("#chart-loss .js-plotly-plot").wait_for()
    open_tab(page, "train")
    page.locator("#lang input").click()
    page.get_by_role("option", name="中文").click()
    page.locator("#tab-train-button").filter(has_text="训练").wait_for(timeout=90_000)
    time.sleep(3)  # the Runs tab's redraw arrives while it is hidden
    open_tab(page, "runs")
    page.wait_for_function(f"() => ({CHART_FIT})().every(([, panel, svg]) => svg && svg <= panel)",
                           timeout=10_000)
    shot(page, "runs-5-zh-charts")

    # Nothing left running: the queued run first, so it is never launched.
    runs = RunManager(server.saves)
    for name in (second, first):
        runs.abort(name, grace_s=60)
    deadline = time.time() + 90
    while status(server, first).get("state") != "aborted":
        assert time.time() < deadline, status(server, first)
        time.sleep(0.5)
    assert status(server, second)["state"] == "aborted" and not status(server, second).get("pid")
