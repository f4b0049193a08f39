"""中文 shows no English UI text on the six tabs: the real page in Debian's headless Chromium
(Playwright, never `playwright install`), switched to 中文, walked through the demo path (the
data checked and an upload detected, the Train form with every group open and a problem next
to a field, a run stopped by an alarm, a chat with base and tuned, an evaluation, an export).
At each stop every visible text node (and placeholder) is read and must hold no English word
beyond tests/zh_text.py's allow-list (config keys and values, model ids, dataset, run and file
names, numbers and units, the terms Chinese ML texts keep in Latin letters). Not read: model
output and dataset records (.ps-text, the chat panes' messages), code and YAML (.cm-editor),
the log tail (.ps-logbox). Screenshots: test-artifacts/zh-*.png; every text with Latin letters
that passed (for a reviewer of the allow-list): test-artifacts/zh-texts.tsv.

Run: pytest -q tests/test_webui_zh.py   (skipped when /usr/bin/chromium is missing)
"""
from __future__ import annotations

import json
import re
import shutil
import time

import pytest
from conftest import ROOT
from test_webui_browser import (
    ARTIFACTS,
    CHROMIUM,
    RUN_S,
    Server,
    browser_page,
    demo_home,
    open_tab,
    run_row,
    set_box,
    set_field,
)

__all__ = ["demo_home"]  # a fixture this module uses
from zh_text import english

from core.config import RunConfig
from core.runs.rundir import RunDir

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium "
                                       "(apt-get install chromium; see DEVELOPERS.md)")
RUN, STOPPED = "dpo-zh", "dpo-zh-alarm"
# Not UI text of ours: model output, logs, YAML, and gradio's own queue status ("In queue: 1
# of 1"), which only screen readers get (.sr-only) while an event waits, with no translation in
# gradio.
SKIP = (".ps-text, .cm-editor, .ps-logbox, #chat-a .message-row, #chat-b .message-row, "
        "div.wrap > div.sr-only")
TEXTS = """(skip) => {
  const out = [];
  const where = (el) => { const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 3; e = e.parentElement)
      parts.push(e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.classList[0] ? '.' + e.classList[0] : ''));
    return parts.join(' < '); };
  const shown = (el) => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})
    && !el.closest(skip);
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const text = walk.currentNode.nodeValue.trim(), el = walk.currentNode.parentElement;
    if (text && el && !['SCRIPT', 'STYLE'].includes(el.tagName) && shown(el))
      out.push([text, where(el)]);
  }
  for (const el of document.querySelectorAll('input[placeholder], textarea[placeholder]'))
    if (el.placeholder && !el.value && shown(el)) out.push([el.placeholder, 'placeholder ' + where(el)]);
  return out;
}"""
UPLOAD = [{"instruction": "Say hi.", "input": "", "chosen": "Hi there!", "rejected": "No."},
          {"instruction": "Say bye.", "input": "", "chosen": "", "rejected": "Bye."},
          {"instruction": "Count.", "input": "", "chosen": "1 2 3", "rejected": "1 2 3"}]


@pytest.fixture(scope="module")
def saves(tmp_path_factory, demo_home):
    """A saves folder with a finished tiny DPO run on the demo model, and a copy of it that
    an alarm stopped (status.json as the training callback writes it)."""
    import os

    from core.training.run import run
    saves = tmp_path_factory.mktemp("zh") / "saves"
    previous = os.environ.get("PREFSTUDIO_HOME")
    if demo_home:
        os.environ["PREFSTUDIO_HOME"] = demo_home
    try:
        cfg = RunConfig.load(ROOT / "examples" / "dpo_demo.yaml", [
            f"output_dir={saves / RUN}", f"dataset_dir={ROOT / 'data'}", "max_steps=4",
            "max_samples=16", "logging_steps=1", "save_steps=2"])
        run(cfg)
    finally:
        if previous is not None:
            os.environ["PREFSTUDIO_HOME"] = previous
    shutil.copytree(saves / RUN, saves / STOPPED)
    stop_on_alarm(RunDir(saves / STOPPED))
    return saves


def stop_on_alarm(rd: RunDir) -> None:
    from types import SimpleNamespace

    from test_alarms import pair

    from core.methods.alarms import AlarmWatch
    from core.methods.callbacks import GracefulStop
    watch = AlarmWatch(rd, RunConfig(stop_on_alarm=True), GracefulStop(rd))
    state = SimpleNamespace(max_steps=100, global_step=0)
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    metrics = rd.metrics_file.read_bytes()  # the watch starts from no records, stuck ones come
    rd.metrics_file.unlink()
    watch.on_train_begin(None, state, control)
    rd.metrics_file.write_bytes(metrics)
    for record in [pair(s, 1e-6, 2e-6) for s in range(1, 12)]:
        state.global_step = record.pop("step")
        watch.on_log(None, state, control, logs=record)
    rd.update_status(state="aborted")


@pytest.fixture(scope="module")
def server(saves, demo_home):
    ARTIFACTS.mkdir(exist_ok=True)
    srv = Server(saves, ARTIFACTS / "webui-zh-server.log", demo_home)
    srv.log.write_text("")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    with browser_page(tmp_path_factory, "chromium-zh") as pg:
        yield pg


class English:
    """What each stop of the walk showed in English (collected, reported together)."""

    def __init__(self, page, names: set[str]):
        self.page, self.names, self.found, self.latin = page, names, [], []

    def words(self, stop: str = "") -> list[tuple[list[str], str, str]]:
        """(English words, text, where) of every visible text that has some."""
        time.sleep(0.5)  # the last updates render
        texts = self.page.evaluate(TEXTS, SKIP)
        assert len(texts) > 30, texts  # the page is there, and read
        self.latin += [f"{stop}\t{text[:200]!r}\t{where}" for text, where in texts
                       if re.search("[A-Za-z]{2}", text)]  # what the allow-list let through
        return [(english(text, self.names), text, where) for text, where in texts
                if english(text, self.names)]

    def check(self, stop: str) -> None:
        self.found += [f"{stop}: {words} in {text[:120]!r} ({where})"
                       for words, text, where in self.words(stop)]
        self.page.screenshot(path=str(ARTIFACTS / f"zh-{stop}.png"), full_page=True)
        (ARTIFACTS / "zh-texts.tsv").write_text("\n".join(self.latin) + "\n")


def names_shown(saves) -> set[str]:
    registry = json.loads((ROOT / "dataset_info.json").read_text())
    return set(registry) | {RUN, STOPPED, "upload_demo", "upload_demo.json"}


def test_chinese_shows_no_english_on_the_six_tabs(server, page, saves, tmp_path):
    page.goto(server.url)
    page.locator("#data-report .ps-verdict").wait_for(timeout=RUN_S * 1000)  # English first
    seen = English(page, names_shown(saves))
    shown = " ".join(w for words, _, _ in seen.words() for w in words)
    seen.latin = []
    for word in ("Registered", "Records", "Upload", "lengths"):  # the check sees English
        assert word in shown.split(), (word, shown)
    page.locator("#lang input").click()
    page.get_by_role("option", name="中文").click()
    page.locator("#tab-train-button").filter(has_text="训练").wait_for()

    # Data: the demo data previewed and checked, an upload with a bad record detected
    page.locator("#data-report .ps-verdict").filter(has_text="通过").wait_for(timeout=60_000)
    page.locator("#upload").click()
    page.locator("#upload-file").filter(has_text="将文件拖放到此处").wait_for()
    upload = tmp_path / "upload_demo.json"
    upload.write_text(json.dumps(UPLOAD))
    page.locator("#upload-file input[type=file]").set_input_files(str(upload))
    page.locator("#upload-message").filter(has_text="检测到").wait_for(timeout=60_000)
    assert "文本为空" in page.locator("#upload-message").inner_text()
    seen.check("1-data")

    # Train: every group open, a value out of range marked next to its field
    open_tab(page, "train")
    for group in page.locator("#tab-train .label-wrap").all():
        if group.is_visible() and "open" not in (group.get_attribute("class") or ""):
            group.click()
    set_field(page, "cutoff_len", 8)
    page.locator("#preview").click()
    page.locator("#field-cutoff_len").filter(has_text="低于最小值 16").wait_for(timeout=60_000)
    seen.check("2-train")
    page.locator("#field-stage input").click()
    page.get_by_role("option", name="grpo", exact=True).click()
    page.locator("#group-grpo").wait_for(state="visible")
    seen.check("3-train-grpo")
    page.locator("#field-stage input").click()
    page.get_by_role("option", name="dpo", exact=True).click()
    set_field(page, "cutoff_len", 256)

    # Runs: the run an alarm stopped, its reason in 中文
    open_tab(page, "runs")
    run_row(page, STOPPED).click()
    page.locator("#run-progress").filter(has_text="告警").wait_for()
    assert "因“停滞”告警在第" in page.locator("#run-progress").inner_text()
    seen.check("4-runs")

    # Chat: base and the tuned run side by side, the models loaded by a message
    open_tab(page, "chat")
    page.locator("#chat-settings").click()
    page.locator("#chat-input textarea").fill("What sound does a dog make?")
    page.locator("#chat-send").click()
    page.locator("#chat-status").filter(has_text="已加载基座").wait_for(timeout=RUN_S * 1000)
    seen.check("5-chat")

    # Evaluate and Export the finished run
    open_tab(page, "evaluate")
    page.locator("#eval-runs").filter(has_text=RUN).wait_for()
    for key, value in (("max-samples", 4), ("samples", 1), ("max-new-tokens", 8)):
        set_box(page, f"#eval-{key}", value)
    page.locator("#eval-run").click()
    page.locator("#eval-status .ps-ok").wait_for(timeout=RUN_S * 1000)
    assert "基座" in page.locator("#eval-table").inner_text()
    seen.check("6-evaluate")
    open_tab(page, "export")
    page.locator("#export-run").click()
    page.locator("#export-status .ps-ok").wait_for(timeout=RUN_S * 1000)
    assert "已导出到" in page.locator("#export-status").inner_text()
    seen.check("7-export")

    assert not seen.found, "English in the 中文 UI:\n" + "\n".join(seen.found)

    # ... and back: gradio's own texts too, and the uploaded file is still there
    page.locator("#lang input").click()
    page.get_by_role("option", name="English").click()
    open_tab(page, "data")
    page.locator("#data-report .ps-verdict").filter(has_text="OK").wait_for(timeout=60_000)
    # every label comes back in one update after the report's; on a loaded machine, after
    # the walk, that took 25-30 s (the first switch is quicker)
    page.locator("#tab-train-button").filter(has_text="Train").wait_for(timeout=60_000)
    page.locator("#upload-file").filter(has_text="upload_demo").wait_for()  # name | .json
    page.locator("#upload-file").get_by_role("button", name="Clear").click()
    page.locator("#upload-file").filter(has_text="Drop File Here").wait_for()
    shot = ARTIFACTS / "zh-8-back-to-english.png"
    page.screenshot(path=str(shot), full_page=True)
