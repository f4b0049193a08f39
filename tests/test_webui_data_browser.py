"""The Data tab in Debian's headless Chromium (see test_webui_browser.py for the set-up): the
check names the model whose tokenizer counted and lets the user pick another one (a folder the
server was started with via --model-dir loads, one elsewhere is refused with the flag to use),
pages of 4, 10 or 25 rows that keep the rows in view, and an uploaded file previewed as chat
right after detection, following the columns the user picks, before it is registered (nothing
is written to data/). Screenshots go to test-artifacts/.

Run: pytest -q tests/test_webui_data_browser.py   (skipped when /usr/bin/chromium is missing)
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from unittest import mock

import pytest
from conftest import ROOT
from test_webui_browser import (
    ARTIFACTS,
    CHROMIUM,
    RUN_S,
    Server,
    browser_page,
    demo_home,
    shot,
)

__all__ = ["demo_home"]  # a fixture this module uses
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium")
OUTSIDE = "outside the folders the WebUI loads models from"


class ModelDirServer(Server):
    """python -m webui ... --model-dir DIR."""

    def __init__(self, *args, model_dir):
        super().__init__(*args)
        self.model_dir = model_dir

    def start(self) -> None:
        popen = subprocess.Popen
        with mock.patch.object(subprocess, "Popen", lambda cmd, **kw: popen(
                cmd + ["--model-dir", str(self.model_dir)], **kw)):
            super().start()


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_home, tiny_model):
    ARTIFACTS.mkdir(exist_ok=True)
    root = tmp_path_factory.mktemp("webui-data")
    srv = ModelDirServer(root / "saves", ARTIFACTS / "webui-data-server.log", demo_home,
                         model_dir=tiny_model)
    srv.outside = root / "elsewhere" / "model"  # the same model, in a folder not configured
    shutil.copytree(tiny_model, srv.outside)
    srv.log.write_text("")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    with browser_page(tmp_path_factory) as pg:
        pg.goto(server.url)
        pg.locator("#data-preview .ps-pair").first.wait_for(timeout=RUN_S * 1000)
        yield pg


def report(page) -> str:
    return page.locator("#data-report").inner_text()


def pick_model(page, text: str) -> None:
    """Type a model into the check's box (a dropdown that takes any value) and commit it."""
    box = page.locator("#data-model input")
    box.fill(text)
    box.press("Enter")
    box.blur()


def wait_report(page, text: str) -> None:
    page.locator("#data-report").filter(has_text=text).wait_for(timeout=RUN_S * 1000)


def test_the_check_names_its_model_and_takes_another(page, server, tiny_model):
    wait_report(page, "Tokens counted with the tokenizer of demo, template: the tokenizer's own")
    assert page.locator("#data-model input").input_value() == "demo"  # the top bar's
    text = report(page)
    assert "Cutoff length 256, truncation llamafactory" in text and "all 300 rows" in text
    shot(page, "data-1-check-demo")

    pick_model(page, str(tiny_model))  # inside the --model-dir the server was started with
    wait_report(page, f"Tokens counted with the tokenizer of {tiny_model}")
    assert "all 300 rows" in report(page)
    assert page.locator("#field-model_name_or_path input").input_value() == "demo"  # untouched

    pick_model(page, str(server.outside))  # a model folder elsewhere: refused, tokens not counted
    wait_report(page, OUTSIDE)
    text = report(page)
    assert f"--model-dir {server.outside.parent}" in text and "Tokens counted" not in text
    assert "OK: the data can train" in text  # the rest of the check still stands
    shot(page, "data-2-check-refused")

    page.locator("#data-cutoff input").fill("12")
    pick_model(page, "demo")
    wait_report(page, "Cutoff length 12")
    assert "Tokens counted with the tokenizer of demo" in report(page)
    shot(page, "data-3-check-cutoff-12")


def rows_shown(page) -> str:
    return page.locator("#data-preview .ps-chat > .ps-note").first.inner_text()


def wait_rows(page, text: str) -> None:
    page.locator("#data-preview .ps-chat > .ps-note").filter(has_text=text).wait_for()


def test_pages_show_4_10_or_25_rows_and_keep_them_in_view(page):
    assert rows_shown(page) == "Rows 1–4 of 300"
    page.locator("#data-per-page").get_by_text("10", exact=True).click()
    wait_rows(page, "Rows 1–10 of 300")
    assert page.locator("#data-preview .ps-row").count() == 10
    box = page.locator("#data-page input")
    box.fill("3")
    box.press("Enter")
    wait_rows(page, "Rows 21–30 of 300")
    assert "(3/30)" in page.locator("#data-page").inner_text()
    page.locator("#data-per-page").get_by_text("4", exact=True).click()
    wait_rows(page, "Rows 21–24 of 300")  # row 21 stays in view: page 6 of 75
    assert box.input_value() == "6" and "(6/75)" in page.locator("#data-page").inner_text()
    page.locator("#data-per-page").get_by_text("25", exact=True).click()
    wait_rows(page, "Rows 1–25 of 300")
    assert page.locator("#data-preview .ps-row").count() == 25
    shot(page, "data-4-25-rows")


def test_an_upload_is_previewed_as_chat_before_it_is_registered(page, tmp_path):
    data_before = {p.name: p.stat().st_mtime for p in (ROOT / "data").iterdir()}
    upload = tmp_path / "mine.jsonl"
    rows = [{"question": f"Question {i}?", "good": f"Good answer {i}.", "bad": f"Bad {i}."}
            for i in range(12)]
    upload.write_text("".join(json.dumps(r) + "\n" for r in rows))
    page.locator("#upload").get_by_text("Upload and register a file").click()
    page.locator("#upload-file input[type=file]").set_input_files(str(upload))
    preview = page.locator("#upload-preview")
    preview.locator(".ps-row").first.wait_for()
    assert "Preview before registering" in preview.inner_text()
    assert "mine.jsonl · #0" in preview.inner_text()  # the uploaded file's name, not a temp path
    shot(page, "data-5-upload-detected")

    for key, column in (("chosen", "good"), ("rejected", "bad")):  # the user maps the pair
        box = page.locator(f"#upload-col-{key} input")
        box.click()
        page.get_by_role("option", name=column, exact=True).click()
    preview.locator(".ps-pair").first.wait_for()
    pair = preview.locator(".ps-row").first
    assert "Question 0?" in pair.inner_text()
    assert "Good answer 0." in pair.locator(".ps-chosen").inner_text()
    assert "Bad 0." in pair.locator(".ps-rejected").inner_text()
    assert "Rows 1–4 of 12" in preview.inner_text()
    page.locator("#upload-per-page").get_by_text("10", exact=True).click()
    preview.locator(".ps-note").filter(has_text="Rows 1–10 of 12").wait_for()
    box = page.locator("#upload-page input")
    box.fill("2")
    box.press("Enter")
    preview.locator(".ps-note").filter(has_text="Rows 11–12 of 12").wait_for()
    assert "(2/2)" in page.locator("#upload-page").inner_text()
    shot(page, "data-6-upload-mapped")

    page.locator("#upload-col-chosen input").fill("")  # a pair without chosen: no rows, and why
    page.locator("#upload-col-chosen input").press("Enter")
    page.locator("#upload-message").filter(has_text="chosen").wait_for()
    assert {p.name: p.stat().st_mtime for p in (ROOT / "data").iterdir()} == data_before


def test_in_chinese(page):
    page.locator("#lang input").click()
    page.get_by_role("option", name="中文").click()
    page.locator("#data-report").filter(has_text="分词器统计").wait_for()
    page.locator("#data-per-page").filter(has_text="每页行数").wait_for()
    page.locator("#data-page").filter(has_text=re.compile(r"页 \(\d+/\d+\)")).wait_for()
    shot(page, "data-7-zh")
