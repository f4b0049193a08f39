"""The phases before a run's first step in Debian's headless Chromium: a DPO run on 550 demo
pairs (its reference pass takes seconds, one pair a batch) shows in the Runs bar what it is
doing (loading the libraries, the data, the model) and then the reference pass as n/N pairs
with the time left, never a bare "step 0/?"; once training begins the step counter takes
over. Screenshot: test-artifacts/runs-phase.png.

Run: pytest -q tests/test_webui_progress_browser.py   (skipped when /usr/bin/chromium is missing)
"""
from __future__ import annotations

import re
import time

import pytest
import test_webui_browser as browser
from conftest import ROOT
from test_webui_browser import CHROMIUM, RUN_S, open_tab, run_row, shot, wait_state
from test_webui_runs_browser import pick, text

from core.config import RunConfig
from core.runs.manager import RunManager

# the same fixtures as test_webui_browser.py: this module gets a server of its own
demo_home, server, page = browser.demo_home, browser.server, browser.page
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium "
                                       "(apt-get install chromium; see DEVELOPERS.md)")
EARLIER = ("Loading the training libraries", "Loading and tokenizing the data",
           "Loading the model")
REFERENCE = re.compile(r"Computing reference log-probs (\d+)/(\d+) pairs · \d+% · elapsed "
                       r"[\d:]+ · left [\d:]+")


def test_pre_step_phases_show_in_the_runs_bar(server, page):
    # Three demo sets (300 + 150 + 100 pairs) not seen before in this session, so the
    # reference log-probs are computed, not read from the cache: for the 8 pairs the one step
    # trains on and every pair of the held-out 90% (evaluation scores them all): seconds.
    cfg = RunConfig.load(ROOT / "examples" / "dpo_demo.yaml").replace(
        output_dir=str(server.saves / "phases"), run_name="phases",
        dataset="demo_pref_en,demo_pref_sharegpt,demo_pref_multiturn", val_size=0.9,
        per_device_eval_batch_size=1, max_steps=1, save_steps=1000)
    page.goto(server.url)
    open_tab(page, "runs")
    RunManager(server.saves).start(cfg)
    run_row(page, "phases").wait_for()
    pick(page, "phases")

    seen, bar = set(), ""
    deadline = time.time() + RUN_S
    while not REFERENCE.search(bar):  # what the bar says on each tick until the reference pass
        assert time.time() < deadline, f"no reference pass with n/N pairs: {bar!r}, saw {seen}"
        bar = text(page, "#run-progress")
        if "running" in bar:  # (a launched run is `starting` until its trainer writes `running`)
            assert "step 0/?" not in bar, bar  # a phase, not a bare counter, before step 1
        seen |= {name for name in EARLIER if name in bar}
        time.sleep(0.3)
    assert seen, "no phase before the reference pass showed"
    done, total = map(int, REFERENCE.search(bar).groups())
    assert 0 < done < total and 495 < total < 550, bar  # 8 train pairs + the held-out
    assert page.locator("#run-progress .ps-fill-phase").count() == 1
    assert "Computing reference log-probs" in run_row(page, "phases").inner_text()
    shot(page, "runs-phase")

    wait_state(page, "phases", "completed")  # one step, then the counter takes over
    page.locator("#run-progress").filter(has_text="step 1/1").wait_for()
    assert "Computing" not in text(page, "#run-progress")
    assert page.locator("#run-progress .ps-fill-phase").count() == 0
