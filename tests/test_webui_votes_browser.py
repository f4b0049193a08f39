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
from conftest import make_adapter, make_run
from test_webui_browser import ARGS, ARTIFACTS, CHROMIUM, Server, demo_home, open_tab, shot

from core.config import RunConfig
from core.data import load_rows
from core.data.registry import read_registry

__all__ = ["demo_home"]  # a fixture this module uses
HIDDEN = "hidden until you vote"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium "
                                       "(apt-get install chromium; see DEVELOPERS.md)")


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_home):
    """The WebUI with one finished LoRA run on the demo model in its saves folder."""
    from core.models import demo

    ARTIFACTS.mkdir(exist_ok=True)
    root = tmp_path_factory.mktemp("webui-votes")
    base = demo.demo_model_path()
    run = make_run(base, root / "saves" / "tuned", make_adapter(base, root / "lora", scale=0.1))
    config = RunConfig.load(run / "config.yaml")  # on "demo", as the demo run is
    config.replace(model_name_or_path="demo").save(run / "config.yaml")
    srv = Server(root / "saves", ARTIFACTS / "webui-votes-server.log", demo_home)
    srv.log.write_text("")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            args=ARGS, headless=True, viewport={"width": 1440, "height": 1100})
        context.set_default_timeout(60_000)
        yield context
        context.close()


def open_chat(page, server, folder: Path) -> None:
    """The page with the votes going to `folder` (the Train form's data folder, inside the
    server's saves: nothing is written into the project's data/), short answers, Blind on."""
    page.goto(server.url)
    open_tab(page, "train")
    box = page.locator("#field-dataset_dir input, #field-dataset_dir textarea").first
    box.fill(str(folder))
    box.press("Tab")
    open_tab(page, "chat")
    page.locator("#chat-head-b").filter(has_text="tuned").wait_for()
    page.locator("#chat-settings").get_by_text("Generation settings").click()
    number = page.locator("#gen-max_new_tokens input").first
    number.fill("24")
    number.press("Tab")
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
    page = browser.new_page()
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
    page.close()


def test_two_users_voting_at_once_lose_no_vote(server, browser):
    folder = server.saves / "votes-two"
    pages = [browser.new_page() for _ in range(2)]
    for n, page in enumerate(pages):
        open_chat(page, server, folder)
        ask(page, f"Say hello to user {n}.", 1)
    started = time.time()
    for page in pages:  # both clicks go out before either vote is written
        page.locator("#chat-vote-tie").click(no_wait_after=True)
    for page in pages:
        page.locator("#chat-vote-status").filter(has_text="Saved vote").wait_for()
    assert time.time() - started < 30
    votes = records(folder)
    assert sorted(v["conversations"][-1]["value"] for v in votes) == [
        "Say hello to user 0.", "Say hello to user 1."]
    assert list(read_registry(folder / "dataset_info.json")) == ["chat_votes"]
    shot(pages[1], "24-votes-second-user")
    for page in pages:
        page.close()
