"""What the WebUI may read and who may use it: paths a registry, a form or an API call names
stay in data/, saves/ (and examples/ for reading), links resolved; with --auth no route
answers before the login. Handlers are called as plain functions; the login is checked on the
real server (`python -m webui --auth`), route by route from the app's own router, with
gradio_client, and in Debian's Chromium when it is installed.

Run: pytest -q tests/test_webui_security.py
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT

from core.config import RunConfig
from core.data import list_datasets, load_rows
from core.errors import UserError
from core.runs.manager import RunManager
from core.runs.rundir import RunDir
from webui import forms
from webui.tabs import data as data_tab
from webui.tabs import evaluate as evaluate_tab
from webui.tabs import runs as runs_tab
from webui.tabs import train as train_tab
from webui.workspace import Workspace

SECRET = "TOPSECRET-7f3a"  # in every file outside the allowed folders: must never be shown
OUTSIDE = "outside the folders the WebUI may use"
DEMO = "demo_pref_en"


def secret_records() -> list[dict]:
    """A valid preference file: were it read, its rows would preview and check fine."""
    return [{"instruction": f"{SECRET} question {i}", "input": "", "chosen": "yes",
             "rejected": "no"} for i in range(3)]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    """data/sub holds an uploaded registry whose entries point out of data/ in every way
    (absolute path, link, a folder holding a link, a local 'hub id'), next to a good one."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.json"
    secret.write_text(json.dumps(secret_records()))
    sub = tmp_path / "data" / "sub"
    (sub / "mixed").mkdir(parents=True)
    shutil.copy(ROOT / "data" / f"{DEMO}.json", sub / f"{DEMO}.json")
    shutil.copy(ROOT / "data" / f"{DEMO}.json", sub / "mixed" / "good.json")
    (sub / "link.json").symlink_to(secret)
    (sub / "mixed" / "linked.json").symlink_to(secret)
    pair = {"ranking": True, "columns": {"prompt": "instruction", "query": "input",
                                         "chosen": "chosen", "rejected": "rejected"}}
    registry = {DEMO: {"file_name": f"{DEMO}.json", **pair},
                "absolute": {"file_name": str(secret), **pair},
                "dotdot": {"file_name": "../../outside/secret.json", **pair},
                "link": {"file_name": "link.json", **pair},
                "folder": {"file_name": "mixed", **pair},
                "hub": {"hf_hub_url": str(outside), **pair}}
    (sub / "dataset_info.json").write_text(json.dumps(registry, indent=2))
    return Workspace(saves_dir=tmp_path / "saves", data_dir=tmp_path / "data")


def sub(ws: Workspace) -> str:
    return str(ws.data_dir / "sub")


ESCAPES = ("absolute", "dotdot", "link", "folder", "hub")


# --- item 3: registry entries in the Data tab ----------------------------------------------
def test_data_tab_lists_entries_that_escape_with_the_reason_and_reads_nothing(ws):
    table, infos = data_tab.registry_table(ws, sub(ws), "en")
    by_name = {i.name: i for i in infos}
    assert by_name[DEMO].records == 300 and by_name[DEMO].error is None
    for name in ESCAPES:
        info = by_name[name]
        assert info.records is None and info.stages == [] and OUTSIDE in info.error, name
    assert "file_name 'link.json'" in by_name["link"].error
    assert "file linked.json" in by_name["folder"].error  # the folder is fine, one file is not
    assert "hf_hub_url" in by_name["hub"].error
    assert SECRET not in json.dumps(table)


@pytest.mark.parametrize("name", ESCAPES)
def test_preview_and_check_refuse_an_entry_that_escapes(ws, name):
    with pytest.raises(UserError, match=OUTSIDE):
        data_tab.preview_rows(ws, name, sub(ws), "dpo", 1, "en")
    with pytest.raises(UserError, match=OUTSIDE):
        data_tab.check(ws, name, sub(ws), "dpo", None, None, 256, False, "en")
    html, _ = data_tab.on_preview(ws, name, sub(ws), "dpo", 1, "en")
    report, plot = data_tab.on_check(ws, name, sub(ws), "dpo", None, None, 256, False, "en")
    for shown in (html, report):  # the message names the dataset, the key and the folders
        assert "ps-error" in shown and f"dataset &#x27;{name}&#x27;" in shown and OUTSIDE in shown
        assert SECRET not in shown
    assert re.search(r"data/ or .*saves/ or .*examples/", html)
    good, _ = data_tab.preview_rows(ws, DEMO, sub(ws), "dpo", 1, "en")
    assert "ps-chosen" in good


def test_the_cli_still_reads_what_its_user_names(ws):
    """The guard is the WebUI's: core without one reads the absolute path and the link."""
    for name in ("absolute", "link", "folder"):
        assert any(SECRET in str(r) for r in load_rows(name, sub(ws), "dpo").rows), name
    assert all(i.error is None for i in list_datasets(sub(ws)) if i.name != "hub")


def test_a_registry_that_is_a_link_out_of_data_is_not_read(ws, tmp_path):
    (ws.data_dir / "linked").mkdir()
    (ws.data_dir / "linked" / "dataset_info.json").symlink_to(ws.data_dir / ".." / "outside"
                                                              / "secret.json")
    with pytest.raises(UserError, match=f"registry: .*leads to .*secret.json.*{OUTSIDE}"):
        data_tab.registry_table(ws, str(ws.data_dir / "linked"), "en")
    assert ws.pick_lists(RunManager(ws.saves_dir, max_concurrent=0),
                         str(ws.data_dir / "linked"))["datasets"] == []


def test_training_and_evaluation_refuse_data_that_escapes(ws):
    """Runs and evaluations read the data in a subprocess or a worker, without the guard:
    the WebUI refuses them before they start."""
    manager = RunManager(ws.saves_dir, max_concurrent=0, confined=True)
    for name in ESCAPES:
        values = forms.config_values(RunConfig(dataset=name, dataset_dir=sub(ws), max_steps=2,
                                               run_name=f"r-{name}"))
        started, found = train_tab.start(ws, manager, values)
        assert started is None and found[0][0] == "dataset" and OUTSIDE in found[0][1], name
        assert train_tab.preview(ws, values)[2][0][0] == "dataset"
        both = {**values, "dataset": DEMO, "eval_dataset": name}
        assert train_tab.data_problems(ws, forms.build_config(both, ws)[0])[0][0] == "eval_dataset"
    assert manager.list() == [] and not any(ws.saves_dir.iterdir())
    run = ws.saves_dir / "some-run"
    run.mkdir()
    view = next(evaluate_tab.run(ws, [str(run)], "link", sub(ws), None, None, 1, 8, "en"))
    assert "ps-error" in view.status and OUTSIDE in view.status
    assert evaluate_tab.datasets(ws, sub(ws))[0] == [DEMO]


# --- item 3: run names in the Runs tab -------------------------------------------------------
def outside_run(tmp_path: Path) -> Path:
    run = tmp_path / "elsewhere" / "run"
    run.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "dpo_demo.yaml", run / "config.yaml")
    (run / "train.log").write_text(f"{SECRET}\n")
    return run


def test_runs_tab_refuses_folders_outside_saves(ws, tmp_path):
    run = outside_run(tmp_path)
    (ws.saves_dir / "linked").symlink_to(run)
    shutil.copytree(run, ws.saves_dir / "mine")
    manager = RunManager(ws.saves_dir, max_concurrent=0, confined=True)  # as the WebUI's
    for name in (str(run), os.path.relpath(run, ws.saves_dir), "linked"):
        values, message = runs_tab.load_config(manager, name, "en")
        assert values is None and "not inside the saves folder" in message, name
        view = runs_tab.view(manager, [name], "en")
        assert SECRET not in view.log and view.config == "" and not any(view.actions.values())
        assert runs_tab.act(manager, "delete", name, "en")[0] is False and run.exists()
        assert train_tab.abort(manager, name) is None
    assert [i.name for i in manager.list()] == ["mine"]  # the link out is not listed
    values, message = runs_tab.load_config(manager, "mine", "en")
    assert values["stage"] == "dpo" and "cleared" in message
    cli = RunManager(ws.saves_dir, max_concurrent=0)  # the CLI may name any run folder
    assert cli.get(run).path == run


def test_the_page_confines_the_run_manager_it_is_given(ws):
    from webui.app import build_app
    manager = RunManager(ws.saves_dir, max_concurrent=0)
    build_app(ws, manager)
    assert manager.confined


# --- item 4: the login in front of every route, on the real server -------------------------
USER, PASSWORD = "alice", "s3cret:pass"
RUN = "run-only-logged-in-users-see"


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """python -m webui --auth on a free port; its saves hold one run, and a run folder
    lies outside them."""
    root = tmp_path_factory.mktemp("auth-server")
    saves = root / "saves"
    shutil.copytree(outside_run(root), saves / RUN)
    (saves / RUN / "train.log").write_text("fine\n")
    RunDir(saves / RUN).update_status(state="completed", stage="dpo", started_at=1000.0,
                                      ended_at=1060.0)  # nothing to launch
    port, log = free_port(), root / "server.log"
    env = {**os.environ, "PREFSTUDIO_SAVES": str(saves), "PREFSTUDIO_AUTH": f"{USER}:{PASSWORD}",
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "webui", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        yield url, saves, root / "elsewhere" / "run"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def app_routes(routes, prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every route of a FastAPI app, included routers flattened."""
    from starlette.routing import Route
    out = []
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router (gradio_api/...)
            out += app_routes(route.original_router.routes, prefix + route.include_context.prefix)
        else:  # a Mount or a websocket would need a request of its own: fail, then add one
            assert isinstance(route, Route), f"a route this test does not request: {route!r}"
            out.append((prefix + route.path, set(route.methods)))
    return out


@pytest.fixture(scope="module")
def routes(tmp_path_factory) -> list[tuple[str, set[str]]]:
    """The routes of the page the server serves: gradio's app for build_app's Blocks."""
    from gradio.routes import App

    from webui.app import build_app
    saves = tmp_path_factory.mktemp("routes") / "saves"
    found = app_routes(App.create_app(build_app(Workspace(saves_dir=saves))).routes)
    assert len(found) > 50 and ("/", {"GET"}) in found and ("/login", {"POST"}) in found
    return found


LEAKS = ("gradio_api_info", "gradio_config", "named_endpoints", "components", RUN, DEMO,
         "on_preview", "to_train")


@pytest.mark.slow
def test_every_route_asks_for_the_login_first(server, routes):
    url, _, _ = server
    paths = [(re.sub(r"\{[^}]*\}", "x", path), methods) for path, methods in routes]
    paths.append(("/no/such/route", {"GET", "POST"}))
    checked = 0
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as http:
        for path, methods in paths:
            for method in sorted(methods):
                for accept in ("*/*", "text/html"):
                    r = http.request(method, path, headers={"accept": accept})
                    checked += 1
                    where = f"{method} {path} ({accept}): {r.status_code}"
                    for leak in LEAKS:
                        assert leak not in r.text, f"{where} shows {leak}"
                    if path.rstrip("/") == "/login":  # the login itself: its form, or its check
                        assert (method == "POST" and r.status_code in (400, 422)) or (
                            r.status_code == 200 and 'id="login"' in r.text), where
                    elif r.status_code == 303:
                        assert accept == "text/html" and r.headers["location"] == "/login", where
                    else:
                        assert r.status_code == 401, where
                        assert method == "HEAD" or "Not authenticated" in r.text, where
    assert checked > 150  # ~85 routes, both kinds of client


@pytest.mark.slow
def test_named_routes_of_the_issue_are_closed(server):
    url, _, _ = server
    for method, path in (("GET", "/"), ("POST", "/gradio_api/cancel"),
                         ("POST", "/gradio_api/reset"), ("GET", "/config"),
                         ("GET", "/gradio_api/info"), ("GET", "/gradio_api/startup-events")):
        assert httpx.request(method, url + path).status_code == 401, path
    page = httpx.get(url + "/", headers={"accept": "text/html"}, follow_redirects=True)
    assert page.url.path == "/login" and 'name="password"' in page.text and RUN not in page.text


@pytest.mark.slow
def test_a_login_opens_the_page_and_the_api(server):
    url, _, _ = server
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/login", data={"username": USER, "password": "wrong"}).status_code == 400
        assert http.get("/config").status_code == 401
        assert http.post("/login", data={"username": USER, "password": PASSWORD}).json() == {
            "success": True}
        config = http.get("/config").json()
        assert config["components"] and config["mode"] == "blocks"
        page = http.get("/", headers={"accept": "text/html"})
        assert page.status_code == 200 and "gradio_api_info" in page.text and DEMO in page.text
        assert http.get("/login", follow_redirects=False).status_code == 303  # logged in


@pytest.mark.slow
def test_load_into_train_through_the_api_stays_in_saves(server):
    """The endpoint behind Runs' "Load into Train", called with gradio_client (which logs in
    through /login): a folder outside saves/ is refused, a run inside loads."""
    from gradio_client import Client
    url, saves, elsewhere = server
    with pytest.raises(ValueError, match="credentials were not provided"):
        Client(url, verbose=False)
    client = Client(url, auth=(USER, PASSWORD), verbose=False)
    for name in (str(elsewhere), os.path.relpath(elsewhere, saves)):
        message = client.predict([name], "en", api_name="/to_train")[0]
        assert "not inside the saves folder" in message and "ps-error" in message, name
    texts = [v for v in client.predict([RUN], "en", api_name="/to_train") if isinstance(v, str)]
    assert any("ps-ok" in v and RUN in v for v in texts)  # Train's status says it loaded
    assert any(v.startswith("model_name_or_path: demo") and "stage: dpo" in v for v in texts)


CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_the_login_form_works_in_the_browser(server):
    from playwright.sync_api import sync_playwright
    url, _, _ = server
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        assert page.url.endswith("/login")
        page.fill("#username", USER)
        page.fill("#password", "wrong")
        page.click("#login-button")
        page.wait_for_selector("#failed", state="visible")
        page.screenshot(path=str(artifacts / "login-refused.png"))
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_selector("#tabs")
        assert page.url.rstrip("/") == url
        # the page's own calls (queue, events) pass with the session: the registry fills in
        page.wait_for_selector(f"#registry :text('{DEMO}')")
        page.screenshot(path=str(artifacts / "login-done.png"))
        browser.close()


@pytest.mark.parametrize("key", ["deepspeed", "fsdp_config"])
def test_a_distributed_config_file_is_read_from_the_allowed_folders_only(ws, key):
    """deepspeed / fsdp_config name a file to read unless they hold a preset or inline
    settings: a file outside data/, saves/ and examples/ is refused next to the field."""
    secret = ws.data_dir.parent / "outside" / "settings.json"  # a readable JSON file
    secret.write_text('{"train_micro_batch_size_per_gpu": 1}')
    values = forms.config_values(RunConfig(output_dir=str(ws.saves_dir / "ds"),
                                           dataset_dir=str(ws.data_dir)))
    if key == "fsdp_config":
        values["fsdp"] = "full_shard auto_wrap"  # fsdp_config is shown (and used) with fsdp
    _, found = forms.build_config({**values, key: str(secret)}, ws)
    assert [k for k, m in found if "outside" in m and "inside" in m] == [key], found
    inline = "z2" if key == "deepspeed" else '{"version": 1}'
    _, found = forms.build_config({**values, key: inline}, ws)
    assert not [m for k, m in found if k == key and "inside" in m], found
