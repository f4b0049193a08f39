"""Blind votes in the real page (Debian's headless Chromium, Playwright; never `playwright
install`): base vs a LoRA run on the demo model, Blind on, three prompts each voted (A edited,
tie, B), the names hidden until each vote and revealed after it; the dataset then holds three
records and is registered. A second page (another user) votes at the same time as the first:
both votes are in the file. Screenshots go to test-artifacts/.

Run: pytest -q tests/test_webui_votes_browser.py   (skipped when /usr/bin/chromium is missing)
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import ROOT, make_adapter, make_run
from test_webui_browser import (
    ARGS,
    ARTIFACTS,
    CHROMIUM,
    Server,
    demo_home,
    open_group,
    open_tab,
    shot,
)

from core.config import RunConfig
from core.data import load_rows
from core.data.registry import read_registry

__all__ = ["demo_home"]  # a fixture this module uses
HIDDEN = "hidden until you vote"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium "
                                       "(apt-get install chromium; see DEVELOPERS.md)")


def project_data() -> dict[str, bytes]:
    """The project's registry and data files: no vote may land there."""
    files = [ROOT / "dataset_info.json"] + sorted((ROOT / "data").iterdir())
    return {str(f): f.read_bytes() for f in files if f.is_file()}


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_home):
    """The WebUI with one finished LoRA run on the demo model in its saves folder. Should a
    vote reach the project's data/ anyway, it is undone and the test fails."""
    from core.models import demo

    ARTIFACTS.mkdir(exist_ok=True)
    root = tmp_path_factory.mktemp("webui-votes")
    base = demo.demo_model_path()
    run = make_run(base, root / "saves" / "tuned", make_adapter(base, root / "lora", scale=0.1))
    config = RunConfig.load(run / "config.yaml")  # on "demo", as the demo run is
    config.replace(model_name_or_path="demo").save(run / "config.yaml")
    srv = Server(root / "saves", ARTIFACTS / "webui-votes-server.log", demo_home)
    srv.log.write_text("")
    before = project_data()
    srv.start()
    yield srv
    srv.stop()
    after = project_data()
    for name in set(after) - set(before):
        Path(name).unlink()
    for name, data in before.items():
        Path(name).write_bytes(data)
    assert after == before, "a vote was written into the project's data/"


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()


def user(browser):
    """A page of its own (another user: its own window, cookies and gradio session)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1100})
    context.set_default_timeout(60_000)
    return context.new_page()


def fill(page, selector: str, value: str) -> None:
    """Type into a box and leave it; again if the page had not finished showing the box
    (a tab or accordion shown for the first time can reset what was typed at once)."""
    box = page.locator(f"{selector} input, {selector} textarea").first
    box.wait_for(state="visible")
    for _ in range(10):
        box.fill(value)
        box.press("Tab")
        page.wait_for_timeout(500)
        if box.input_value() == value:
            return
    raise AssertionError(f"{selector} keeps {box.input_value()!r}, not {value!r}")


def open_chat(page, server, folder: Path) -> None:
    """The page with the votes going to `folder` (the Train form's data folder, inside the
    server's saves: nothing is written into the project's data/), short answers, Blind on."""
    page.goto(server.url)
    # the page's load events have run: what is typed from now on is not overwritten
    page.locator("#registry").get_by_text("demo_pref_en", exact=True).first.wait_for()
    open_tab(page, "train")
    open_group(page, "dataset_dir")  # the form opens with its groups folded
    fill(page, "#field-dataset_dir", str(folder))
    open_tab(page, "chat")
    page.locator("#chat-head-b").filter(has_text="tuned").wait_for()
    target = str(folder / "chat_votes.jsonl")
    page.locator("#chat-votes").filter(has_text=target).wait_for(timeout=180_000)  # votes go there
    page.locator("#chat-settings").get_by_text("Generation settings").click()
    fill(page, "#gen-max_new_tokens", "24")
    page.locator("#chat-blind input").check()
    for side in "ab":
        page.locator(f"#chat-head-{side}").filter(has_text=HIDDEN).wait_for()


def ask(page, text: str, turn: int) -> None:
    """Send `text` and wait for both answers of this turn."""
    page.locator("#chat-input textarea").fill(text)
    page.locator("#chat-send").click()
    for side in "ab":
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length >= n",
            arg=[f"#chat-{side} [data-testid=bot]", turn], timeout=180_000)
    page.locator("#chat-status").filter(has_text="Loaded demo").wait_for(timeout=180_000)
    for side in "ab":  # still blind: the answers are in, the names are not
        assert HIDDEN in page.locator(f"#chat-head-{side}").inner_text()


def saved(page, n: int) -> str:
    message = page.locator("#chat-vote-status").filter(has_text=f"Saved vote {n} ")
    message.wait_for()
    heads = [page.locator(f"#chat-head-{side}").inner_text() for side in "ab"]
    assert all(HIDDEN not in h for h in heads), heads  # revealed
    assert sorted("tuned" in h for h in heads) == [False, True], heads
    return message.inner_text()


def records(folder: Path) -> list[dict]:
    path = folder / "chat_votes.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_three_blind_votes_become_a_registered_dataset(server, browser):
    folder = server.saves / "votes-data"
    page = user(browser)
    open_chat(page, server, folder)

    ask(page, "What sound does a dog make?", 1)
    shot(page, "20-votes-blind-answers")
    page.locator("#chat-vote-a").click()  # pane A is better; edit it first
    text = page.locator("#chat-vote-text textarea")
    text.wait_for(state="visible")
    before = text.input_value()
    assert before.strip()  # the answer pane A shows
    text.fill(before.strip() + " Woof!")
    shot(page, "21-votes-edit")
    page.locator("#chat-vote-save").click()
    first = saved(page, 1)
    assert "Registered it in" in first and "A was " in first
    shot(page, "22-votes-revealed")

    ask(page, "Name a fruit.", 2)
    page.locator("#chat-vote-tie").click()
    saved(page, 2)
    ask(page, "How many legs does a cat have?", 3)
    page.locator("#chat-vote-b").click()
    page.locator("#chat-vote-save").click()
    saved(page, 3)
    page.locator("#chat-votes").filter(has_text="3 votes, 1 ties").wait_for()
    shot(page, "23-votes-panel")

    votes = records(folder)
    assert len(votes) == 3 and all(v["blind"] for v in votes)
    assert [v["tie"] for v in votes] == [False, True, False]
    assert votes[0]["edited"] and votes[0]["chosen"]["value"].endswith(" Woof!")
    assert votes[0]["winner"] == votes[0]["panes"][0] and votes[2]["winner"] == votes[2]["panes"][1]
    assert {v["model_b"] for v in votes} == {"tuned"} and {v["model_a"] for v in votes} == {"demo"}
    assert votes[2]["generation"]["max_new_tokens"] == 24
    assert [m["value"] for m in votes[2]["conversations"] if m["from"] == "human"][-1] == \
        "How many legs does a cat have?"
    registry = read_registry(folder / "dataset_info.json")
    assert registry["chat_votes"]["file_name"] == "chat_votes.jsonl"
    assert len(load_rows("chat_votes", folder, "dpo").rows) == 2  # the tie trains nothing
    page.context.close()


def test_two_users_voting_at_once_lose_no_vote(server, browser):
    folder = server.saves / "votes-two"
    pages = [user(browser) for _ in range(2)]
    prompts = ["What sound does a dog make?", "Name a fruit."]  # the demo model answers these
    for page, prompt in zip(pages, prompts):
        open_chat(page, server, folder)
        ask(page, prompt, 1)
    started = time.time()
    for page in pages:  # both clicks go out before either vote is written
        page.locator("#chat-vote-tie").click(no_wait_after=True)
    for page in pages:
        page.locator("#chat-vote-status").filter(has_text="Saved vote").wait_for()
    assert time.time() - started < 30
    votes = records(folder)
    assert sorted(v["conversations"][-1]["value"] for v in votes) == sorted(prompts)
    assert all(v["generation"]["max_new_tokens"] == 24 and v["tie"] for v in votes)
    assert list(read_registry(folder / "dataset_info.json")) == ["chat_votes"]
    shot(pages[1], "24-votes-second-user")
    for page in pages:
        page.context.close()
