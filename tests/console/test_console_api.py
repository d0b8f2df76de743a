"""The web console's server side: browsers get the console at ``/`` (API clients keep
Connect's JSON), signing in keeps the token in an HttpOnly cookie (never in a URL), the
cookie is accepted by the API in place of the bearer header but a change made with it needs
the console's own header (no cross-site request forgery), and ``/hub/connectors`` gives the
figures the pages show. Against a real worker running datagen into a file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.api import create_app
from hub.runtime.worker import Worker
from tests.helpers import wait_for

TOKEN = "t0ken-s3cret"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    w = Worker(str(tmp_path / "data"))
    yield w
    w.stop()


def _gen(worker: Worker, name: str = "gen") -> None:
    worker.create(name, {"connector.class": "datagen", "topic": "events", "rate": 200,
                         "keys": 10})  # fmt: skip


def test_browsers_get_the_console_api_clients_connects_json(worker: Worker) -> None:
    client = TestClient(create_app(worker))
    page = client.get("/", headers=HTML, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/console/"
    assert "version" in client.get("/").json()  # (no Accept: text/html)
    shell = client.get("/console/", headers=HTML)
    assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in shell.headers["content-security-policy"]
    assert "/console/static/console.js" in shell.text and "Sign out" not in shell.text
    js = client.get("/console/static/console.js")
    assert js.status_code == 200 and "textContent" in js.text and "innerHTML" not in js.text
    assert client.get("/console/static/../app.py").status_code == 404


def test_hub_connectors_gives_states_and_figures(worker: Worker) -> None:
    client = TestClient(create_app(worker))
    _gen(worker)
    wait_for(lambda: client.get("/hub/connectors").json()[0]["tasks"][0]["records"] > 0,
             what="records counted")  # fmt: skip
    (c,) = client.get("/hub/connectors").json()
    assert (c["name"], c["type"], c["state"]) == ("gen", "source", "RUNNING")
    (t,) = c["tasks"]
    assert t["state"] == "RUNNING" and t["records"] > 0 and t["records_per_second"] >= 0
    client.put("/connectors/gen/pause")
    wait_for(lambda: client.get("/hub/connectors").json()[0]["state"] == "PAUSED")


def test_signing_in_keeps_the_token_in_an_httponly_cookie(worker: Worker) -> None:
    client = TestClient(create_app(worker, auth_token=TOKEN))
    _gen(worker)
    first = client.get("/console/", headers=HTML, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/console/login"
    assert client.get("/hub/connectors").status_code == 401  # (an API client: no redirect)
    form = client.get("/console/login", headers=HTML)
    assert form.status_code == 200 and 'type="password"' in form.text
    wrong = client.post("/console/login", data={"token": "nope"}, follow_redirects=False)
    assert wrong.status_code == 303 and "failed" in wrong.headers["location"]
    assert not list(client.cookies)
    ok = client.post("/console/login", data={"token": TOKEN}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/console/"
    assert TOKEN not in ok.headers["location"]
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert cookie.startswith("hub_console_80=")  # (one per port: a host's ports share cookies)
    assert TOKEN not in cookie  # a session derived from it, no credential elsewhere
    # the cookie reads the API, and changes it with the console's header only
    assert client.get("/hub/connectors").status_code == 200
    assert client.put("/connectors/gen/pause").status_code == 401  # (a forged request)
    assert client.put("/connectors/gen/pause", headers={"X-Hub-Console": "1"}).status_code == 202
    out = client.post("/console/logout", follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/hub/connectors").status_code == 401


def test_a_hostile_connector_name_is_text_in_the_page(worker: Worker) -> None:
    """The shell holds the name of the connector page it serves: escaped."""
    client = TestClient(create_app(worker))
    page = client.get("/console/connectors/" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                      headers=HTML)  # fmt: skip
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_host_header_cannot_make_a_request_look_public(worker: Worker) -> None:
    """(Starlette before 1.0.1 rebuilt url.path from the Host header: the token check reads
    the path the router matches)"""
    client = TestClient(create_app(worker, auth_token=TOKEN))
    for host in ("x/console/login?", "x/console/static/console.js?"):
        body = {"name": "evil", "config": {"connector.class": "datagen"}}
        got = client.post("/connectors", headers={"Host": host}, json=body)
        assert got.status_code == 401, host
    assert "evil" not in worker.connectors
