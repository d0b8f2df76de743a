"""The console in a real headless Chromium (Debian's, driven by Playwright): sign in, see the
pipelines, pause / resume / restart a connector and see its state change, read a failed
task's trace, and a hostile value (an HTML tag in a config value and in an error) shown as
text, never run. A worker runs datagen into a file over a real HTTP server. On failure the
page's screenshot is saved (``$HUB_TEST_ARTIFACTS``, else the test's tmp dir)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from hub.api import create_app
from hub.runtime.worker import Worker
from tests.helpers import wait_for

CHROMIUM = "/usr/bin/chromium"  # Debian's (.ci/run installs it); Playwright's download cannot
TOKEN = "br0wser-t0ken"
HOSTILE = '<img src=x onerror="window.pwned=1">'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Worker]]:
    worker = Worker(str(tmp_path / "data"))
    port = _free_port()
    config = uvicorn.Config(create_app(worker, auth_token=TOKEN), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_for(lambda: srv.started, what="the HTTP server")
    try:
        yield f"http://127.0.0.1:{port}", worker
    finally:
        srv.should_exit = True
        thread.join(10)
        worker.stop()


@pytest.fixture
def page(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox"])  # (root in CI)  # fmt: skip
        pg = browser.new_page()
        pg.set_default_timeout(15_000)
        try:
            yield pg
        finally:
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                where = Path(os.environ.get("HUB_TEST_ARTIFACTS", tmp_path))
                where.mkdir(parents=True, exist_ok=True)
                pg.screenshot(path=str(where / f"{request.node.name}.png"), full_page=True)
            browser.close()


def test_sign_in_see_pipelines_and_steer_a_connector(server: tuple[str, Worker], page: Any,
                                                    tmp_path: Path) -> None:  # fmt: skip
    from playwright.sync_api import expect

    url, worker = server
    worker.create("gen", {"connector.class": "datagen", "topic": "events", "rate": 500,
                          "keys": 20})  # fmt: skip
    worker.create("out", {"connector.class": "FileStreamSink", "topics": "events",
                          "file": str(tmp_path / "out.jsonl")})  # fmt: skip
    # a sink that fails: its file is under a directory that does not exist, named like a tag
    worker.create("broken", {"connector.class": "FileStreamSink", "topics": "events",
                             "file": str(tmp_path / HOSTILE / "out.jsonl")})  # fmt: skip

    page.goto(url + "/")
    assert page.url.endswith("/console/login")  # a browser without the token: sign in
    page.fill("input[name=token]", "wrong")
    page.click("form.login button")
    assert "not the worker" in page.locator("p.problem").inner_text()
    page.fill("input[name=token]", TOKEN)
    page.click("form.login button")
    page.wait_for_url(url + "/console/")
    assert TOKEN not in page.url

    # the overview: every connector, its state, events/s; the failure's text as text
    for name in ("gen", "out", "broken"):
        page.wait_for_selector(f'tr[data-connector="{name}"]')
    expect(page.locator('tr[data-connector="gen"] .state')).to_have_attribute(
        "data-state", "RUNNING"
    )
    expect(page.locator('tr[data-connector="broken"] td.wrap')).to_contain_text(HOSTILE)
    assert page.locator("img").count() == 0
    assert page.evaluate("window.pwned") is None

    # the connector page: pause, resume, restart; its state follows
    page.click('a[href="/console/connectors/gen"]')
    page.wait_for_url(url + "/console/connectors/gen")
    state = page.locator("#state .state")
    expect(state).to_have_attribute("data-state", "RUNNING")
    assert page.locator("#config td", has_text="datagen").count() == 1
    page.click("button[data-action=pause]")
    expect(state).to_have_attribute("data-state", "PAUSED")
    assert worker.get("gen").state == "PAUSED"
    page.click("button[data-action=resume]")
    expect(state).to_have_attribute("data-state", "RUNNING")
    page.click("button[data-action=restart]")
    expect(state).to_have_attribute("data-state", "RUNNING")
    assert page.locator("#problem").is_hidden()  # (the actions answered without an error)
    wait_for(lambda: worker.status()["gen"][0].records > 0, what="records after the restart")

    # the failed sink's page: its trace and its config value, as text
    page.goto(url + "/console/connectors/broken")
    page.wait_for_selector("pre.trace")
    assert HOSTILE in page.locator("#config").inner_text()
    assert page.locator("img").count() == 0
    assert page.evaluate("window.pwned") is None
