"""The real page in Debian's headless Chromium (Playwright, never `playwright install`):
pick the demo dataset and see it as chat, start a short DPO run on the demo model and watch it
complete with its loss chart, reload and find it again, compare it with its base in Chat (two
streamed answers side by side), evaluate and export it, restart the server mid-run and see the
run live, abort and resume it, switch to 中文. Screenshots go to test-artifacts/.

Run: pytest -q tests/test_webui_browser.py   (skipped when /usr/bin/chromium is missing)
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from core.errors import UserError
from core.runs.manager import RunManager

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
RUN_S = 150  # generous: the first run may build the demo model when it is not shipped

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium "
                                       "(apt-get install chromium; see DEVELOPERS.md)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """python -m webui on a free port with its own saves folder; restartable."""

    def __init__(self, saves: Path, log: Path, home: str):
        self.saves, self.log, self.home, self.port, self.proc = saves, log, home, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PREFSTUDIO_SAVES": str(self.saves), "HF_HUB_OFFLINE": "1",
               "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        if self.home:
            env["PREFSTUDIO_HOME"] = self.home
        out = open(self.log, "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "webui", "--port", str(self.port)],
                                     cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("the WebUI did not answer within 90 s:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> str:
    """PREFSTUDIO_HOME for the server. With the shipped demo model, the test env's; without
    it, a home of its own holding a quick build (few pre-training steps), so the page does not
    wait minutes for the model and no other test gets the quick one for the real one."""
    from core.models import demo
    home = os.environ.get("PREFSTUDIO_HOME", "")
    if (demo.SHIPPED / "config.json").exists():
        return home
    own = str(tmp_path_factory.mktemp("prefstudio_home"))
    os.environ["PREFSTUDIO_HOME"] = own  # demo.home() reads it at call time
    try:
        demo.demo_model_path(rebuild=True, steps=20)
    finally:
        if home:
            os.environ["PREFSTUDIO_HOME"] = home
        else:
            del os.environ["PREFSTUDIO_HOME"]
    return own


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_home):
    ARTIFACTS.mkdir(exist_ok=True)
    root = tmp_path_factory.mktemp("webui")
    srv = Server(root / "saves", ARTIFACTS / "webui-server.log", demo_home)
    srv.log.write_text("")
    srv.start()
    yield srv
    srv.stop()
    stop_runs(srv.saves)


def stop_runs(saves: Path) -> None:
    """No training process a test started (in the page or from a shell) outlives it."""
    from core.runs.manager import RunManager
    manager = RunManager(saves)
    for info in manager.list():
        if info.alive:
            with contextlib.suppress(UserError):  # it ended meanwhile: nothing to stop
                manager.abort(info.name, grace_s=0)
    manager.poll()


@contextlib.contextmanager
def browser_page(tmp_path_factory, profile: str = "chromium-profile") -> Iterator[Any]:
    """A page of Debian's Chromium with a profile of its own: what the page stores survives
    its reloads for as long as the module uses it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp(profile)), executable_path=str(CHROMIUM),
            args=ARGS, headless=True, viewport={"width": 1440, "height": 1000})
        pg = browser.new_page()
        pg.set_default_timeout(30_000)
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    with browser_page(tmp_path_factory) as pg:
        yield pg


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.locator(f"#tab-{name}-button").click()
    page.locator(f"#tab-{name}").wait_for(state="visible")


def open_group(page, key: str) -> None:
    """Open the collapsed group of the Train form that holds `key` (a click toggles it, so
    only when the field is not shown)."""
    from webui.tabs.train import BLOCK_OF

    field = page.locator(f"#field-{key}")
    if key in BLOCK_OF and not field.is_visible():
        page.locator(f"#group-{BLOCK_OF[key]} button").first.click()
        field.wait_for()


def set_field(page, key: str, value) -> None:
    """Type into a generated field (a number box, or the textbox of an optional number),
    in its group of the Train form opened first."""
    open_group(page, key)
    box = page.locator(f"#field-{key} input, #field-{key} textarea").first
    box.fill(str(value))
    box.press("Tab")


def run_row(page, name: str):
    return page.locator("#runs-table .virtual-row").filter(has_text=name).first


def status(server, name: str) -> dict:
    try:
        return json.loads((server.saves / name / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def start_run(page, server, steps: int) -> str:
    """Fill in a short run on the Train tab, Start, land on Runs; returns the run's name."""
    before = set(os.listdir(server.saves)) if server.saves.exists() else set()
    open_tab(page, "train")
    set_field(page, "max_steps", steps)
    set_field(page, "logging_steps", 1)
    set_field(page, "save_steps", 1000)
    set_field(page, "max_samples", 64)  # reference log-probs for 64 pairs, not 300
    page.locator("#start").click()
    page.locator("#tab-runs").wait_for(state="visible")  # Start switches to Runs
    deadline = time.time() + 20
    while time.time() < deadline:
        new = set(os.listdir(server.saves)) - before - {".runs.lock"}
        if new:
            return new.pop()
        time.sleep(0.2)
    raise AssertionError("Start made no run folder: " + page.locator("#train-status").inner_text())


def wait_step(server, name: str, step: int, timeout: float = RUN_S) -> None:
    deadline = time.time() + timeout
    while status(server, name).get("step", 0) < step or status(server, name).get("state") != "running":
        assert time.time() < deadline, f"no step {step}: {status(server, name)}"
        time.sleep(0.3)


def wait_state(page, name: str, state: str, timeout: float = RUN_S) -> None:
    run_row(page, name).filter(has_text=state).wait_for(timeout=timeout * 1000)


def test_data_train_runs_in_the_browser(server, page):
    page.goto(server.url)
    page.locator("#registry").get_by_text("demo_pref_en", exact=True).filter(visible=True).first.click()
    page.locator("#data-preview .ps-pair").first.wait_for()
    assert page.locator("#data-preview .ps-chosen").count() >= 1
    page.locator("#data-report .ps-verdict").wait_for(timeout=RUN_S * 1000)  # may build the demo model
    page.locator("#data-lengths .js-plotly-plot").wait_for(timeout=RUN_S * 1000)
    shot(page, "1-data")

    name = start_run(page, server, steps=4)
    run_row(page, name).wait_for()
    shot(page, "2-run-started")
    wait_state(page, name, "completed")
    page.locator("#chart-loss .js-plotly-plot .scatterlayer .trace").first.wait_for()
    assert status(server, name)["state"] == "completed"
    shot(page, "3-run-completed")
    open_tab(page, "train")  # nothing of this page's runs: Abort is grey again
    page.locator("#train-abort:disabled").wait_for()
    open_tab(page, "runs")

    page.reload()
    open_tab(page, "runs")
    run_row(page, name).filter(has_text="completed").wait_for()
    page.locator("#chart-loss .js-plotly-plot .scatterlayer .trace").first.wait_for()
    shot(page, "4-after-reload")


def tuned_run(server, demo_dpo_run) -> str:
    """The README's demo DPO run (trained once per test session), copied into the server's
    saves folder like any finished run."""
    out = server.saves / demo_dpo_run.name
    if not out.exists():
        shutil.copytree(demo_dpo_run, out)
    return out.name


def test_chat_compares_base_and_tuned_in_the_browser(server, page, demo_dpo_run):
    name = tuned_run(server, demo_dpo_run)
    page.goto(server.url)
    open_tab(page, "runs")
    run_row(page, name).click()
    page.locator("#run-to-chat:enabled").click()  # Compare in chat: base on A, the run on B
    page.locator("#tab-chat").wait_for(state="visible")
    page.locator("#chat-head-a").filter(has_text="base (demo)").wait_for()
    page.locator("#chat-head-b").filter(has_text=name).wait_for()
    page.evaluate("""() => {  // every text a pane shows while the answers stream in
        window.seen = {a: new Set(), b: new Set()};
        for (const side of ['a', 'b']) {
            new MutationObserver(() => {
                const bot = document.querySelectorAll(`#chat-${side} [data-testid=bot]`);
                if (bot.length) window.seen[side].add(bot[bot.length - 1].innerText);
            }).observe(document.querySelector(`#chat-${side}`),
                       {subtree: true, childList: true, characterData: true});
        }
    }""")
    page.locator("#chat-input textarea").fill("What sound does a dog make?")
    page.locator("#chat-send").click()
    page.locator("#chat-status").filter(has_text="Loaded demo").wait_for(timeout=RUN_S * 1000)
    answers = [page.locator(f"#chat-{side} [data-testid=bot]").last.inner_text() for side in "ab"]
    assert all(a.strip() for a in answers), answers
    seen = page.evaluate("() => [window.seen.a.size, window.seen.b.size]")
    assert sum(seen) >= 3, seen  # partial answers were shown before the whole ones
    a, b = (page.locator(f"#chat-{side}").bounding_box() for side in "ab")
    assert b["x"] >= a["x"] + a["width"] - 1 and abs(a["y"] - b["y"]) < 2  # side by side
    assert abs(a["width"] - b["width"]) < 2 and abs(a["height"] - b["height"]) < 2
    shot(page, "10-chat-compare")


def test_evaluate_and_export_in_the_browser(server, page, demo_dpo_run):
    tuned_run(server, demo_dpo_run)
    done = [i for i in RunManager(server.saves).list() if i.state == "completed"]
    name = done[0].name  # the newest finished run: the Train run of the first test, if it ran
    page.goto(server.url)
    open_tab(page, "evaluate")
    page.locator("#eval-runs").filter(has_text=name).wait_for()  # picked for us
    for key, value in (("max-samples", 8), ("samples", 2), ("max-new-tokens", 16)):
        set_box(page, f"#eval-{key}", value)
    page.locator("#eval-run").click()
    page.locator("#eval-status .ps-ok").wait_for(timeout=RUN_S * 1000)
    rows = page.locator("#eval-table .virtual-row")
    assert rows.count() == 2
    assert "base" in rows.first.inner_text() and name in rows.last.inner_text()
    page.locator("#eval-chart .js-plotly-plot .barlayer .trace").first.wait_for()
    assert page.locator("#eval-samples-view .ps-generated").count() == 4
    shot(page, "11-evaluate")

    open_tab(page, "export")
    page.locator("#export-out textarea, #export-out input").first.wait_for()
    page.locator("#export-run").click()
    page.locator("#export-status .ps-ok").wait_for(timeout=RUN_S * 1000)
    assert (server.saves / "exports" / name / "config.json").is_file()
    assert "from_pretrained" in page.locator("#export-snippet").inner_text()
    shot(page, "12-export")


def set_box(page, selector: str, value) -> None:
    box = page.locator(f"{selector} input, {selector} textarea").first
    box.fill(str(value))
    box.press("Tab")


def test_run_survives_a_server_restart_then_abort_and_resume(server, page):
    page.goto(server.url)
    name = start_run(page, server, steps=1000)  # long: it is aborted, never left to finish
    wait_step(server, name, 2)
    page.goto("about:blank")  # the closed tab
    server.stop()  # the run goes on without the server
    assert status(server, name).get("state") == "running"
    server.start()
    page.goto(server.url, wait_until="domcontentloaded")
    open_tab(page, "runs")
    run_row(page, name).filter(has_text="running").wait_for()
    first = page.locator("#run-progress").inner_text()
    page.wait_for_function(
        "([sel, old]) => document.querySelector(sel)?.innerText !== old",
        arg=["#run-progress", first], timeout=30_000)  # live: the step counter moves
    page.locator("#chart-loss .js-plotly-plot .scatterlayer .trace").first.wait_for()
    shot(page, "5-live-after-restart")

    page.locator("#run-abort").click()
    wait_state(page, name, "aborted", timeout=60)
    step = status(server, name)["step"]
    assert 2 <= step < 1000
    shot(page, "6-aborted")
    page.locator("#run-resume").click()
    run_row(page, name).filter(has_text="running").wait_for(timeout=60_000)
    wait_step(server, name, step + 2)  # continues from its checkpoint
    shot(page, "7-resumed")
    page.locator("#run-abort").click()
    wait_state(page, name, "aborted", timeout=60)

    page.locator("#lang input").click()
    page.get_by_role("option", name="中文").click()
    page.locator("#tab-train-button").filter(has_text="训练").wait_for()
    run_row(page, name).filter(has_text="已中止").wait_for()
    shot(page, "8-zh-runs")
    open_tab(page, "train")
    shot(page, "9-zh-train")
