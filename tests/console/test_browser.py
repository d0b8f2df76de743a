"""The console in a real headless Chromium (Debian's, driven by Playwright): sign in, see the
pipelines, pause / resume / restart a connector and see its state change, read a failed
task's trace, and a hostile value (an HTML tag in a config value and in an error) shown as
text, never run. A worker runs datagen into a file over a real HTTP server. On failure the
page's screenshot is saved (``$HUB_TEST_ARTIFACTS``, else the test's tmp dir)."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from connectors.source.datagen import Datagen, DatagenTask
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
    worker = Worker(str(tmp_path / "data"), history_interval_ms=250)  # (charts fill quickly)
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


def _sign_in(page: Any, url: str) -> None:
    page.goto(url + "/console/login")
    page.fill("input[name=token]", TOKEN)
    page.click("form.login button")
    page.wait_for_url(url + "/console/")


def test_topics_messages_and_groups(server: tuple[str, Worker], page: Any, tmp_path: Path) -> None:
    """A change event shows as before/after with the changed column marked; a hostile value
    stays text; the sink's consumer group shows its partitions and lag."""
    from playwright.sync_api import expect

    url, worker = server
    log = worker.log
    assert log is not None
    log.create_topic("shop.items", 1)
    event = {"before": {"id": 7, "name": "old", "qty": 1}, "after": {"id": 7, "name": "new",
             "qty": 1}, "source": {"table": "items"}, "op": "u", "ts_ms": 1}  # fmt: skip
    prod = log.producer()
    prod.send("shop.items", json.dumps({"schema": {}, "payload": event}).encode(), key=b"7")
    prod.send("shop.items", HOSTILE.encode(), key=HOSTILE.encode())
    prod.flush()
    worker.create("out", {"connector.class": "FileStreamSink", "topics": "shop.items",
                          "file": str(tmp_path / "out.txt"), "value.converter": "string",
                          "key.converter": "string"})  # fmt: skip
    _sign_in(page, url)

    page.click('nav a[href="/console/topics"]')
    row = page.locator('tr[data-topic="shop.items"]')
    expect(row).to_contain_text("2")  # records
    row.locator("a").click()
    page.wait_for_url(url + "/console/topics/shop.items")
    expect(page.locator('#messages tr[data-offset="0"] table.diff')).to_be_visible()
    changed = page.locator('#messages tr[data-offset="0"] td.changed')
    expect(changed).to_have_count(2)  # name: before and after
    expect(changed.first).to_have_text('"old"')
    hostile = page.locator('#messages tr[data-offset="1"]')
    expect(hostile).to_contain_text(HOSTILE)
    assert page.locator("img").count() == 0
    assert page.evaluate("window.pwned") is None
    # browse from an offset
    page.fill("#browse input[name=offset]", "1")
    page.click("#browse button")
    expect(page.locator("#messages tbody tr")).to_have_count(1)
    # search by key
    page.fill("#search input[name=key]", "7")
    page.click("#search button")
    expect(page.locator("#range")).to_contain_text("1 record(s) with a key containing")
    expect(page.locator('#messages tr[data-offset="0"] table.diff')).to_be_visible()

    page.click('nav a[href="/console/groups"]')
    group = page.locator('tr[data-group="connect-out"]')
    expect(group).to_be_visible()
    group.locator("a").click()
    expect(page.locator("#lags tbody tr")).to_have_count(1)
    expect(page.locator("#lags tbody tr td").nth(0)).to_have_text("shop.items")
    expect(page.locator("#lags tbody tr td").nth(2)).to_have_text("2")  # committed

    # the sink's group: refused while it runs; stopped, the preview warns that the sink
    # resumes from its own offsets
    page.click("#reset button[type=submit]")
    expect(page.locator("#problem")).to_contain_text("active members")
    worker.stop_connector("out")
    page.click("#reset button[type=submit]")
    expect(page.locator("#reset-note")).to_contain_text("resumes from the offsets kept in its")

    # a plain consumer group: previewed, then applied
    consumer = log.consumer(group_id="billing", auto_offset_reset="earliest")
    consumer.subscribe(["shop.items"])
    while len(consumer.poll(1.0)) == 0:
        pass
    consumer.commit()
    consumer.close()
    page.goto(url + "/console/groups/billing")
    expect(page.locator("#lags tbody tr td").nth(2)).to_have_text("2")
    page.click("#reset button[type=submit]")
    expect(page.locator("#plan tbody tr td").nth(3)).to_have_text("0")
    assert page.locator("#reset-note").is_hidden()
    assert worker.backend.groups.describe("billing").partitions[0].committed == 2
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#apply")
    expect(page.locator("#lags tbody tr td").nth(2)).to_have_text("0")
    assert worker.backend.groups.describe("billing").partitions[0].committed == 0


class SnapshottingTask(DatagenTask):
    """datagen that reports a snapshot in progress, as the CDC sources' tasks do (their
    gauges: rows done and estimated per table), 100 rows a second of an estimated 100 000."""

    def start(self, config: Any, context: Any) -> None:
        super().start(config, context)
        self._began = time.monotonic()

    def metrics(self) -> dict[str, float]:
        done = float(int((time.monotonic() - self._began) * 100))
        return {"snapshot_running": 1.0, "snapshot_rows_done:public.big": done,
                "snapshot_rows_estimated:public.big": 100_000.0}  # fmt: skip


class Snapshotting(Datagen):
    name = "snapshotting"
    aliases = ()
    task_class = SnapshottingTask


def test_postgres_to_duckdb_charts_and_a_snapshot(
    server: tuple[str, Worker], page: Any, tmp_path: Path, pg_server: Any, pg_db: str
) -> None:
    """A real pipeline (PostgreSQL -> DuckDB): both connectors run, the source's page shows
    how far behind it is and its last hour, the sink's its lag; a snapshot in progress shows
    per table a bar with rows done of estimated; the health page lists the jobs."""
    import psycopg
    from playwright.sync_api import expect

    from tests.connectors.postgres.helpers import source_config

    url, worker = server
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as con:
        con.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        con.execute("INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 500) g")
        con.execute("CREATE TABLE debezium_signal (id text PRIMARY KEY, type text, data text)")
    worker.create("pg", source_config(pg_server, pg_db, **{
        "signal.data.collection": "public.debezium_signal",
        "table.exclude.list": r"public\.debezium_signal",
    }))  # fmt: skip
    worker.create("duck", {"connector.class": "duckdb", "topics.regex": "app\\..*",
                           "connection.url": f"duckdb:///{tmp_path / 'w.duckdb'}"})  # fmt: skip
    worker.create("snap", {"connector.class": f"{__name__}:Snapshotting", "topic": "s",
                           "rate": 10})  # fmt: skip
    _sign_in(page, url)
    for name in ("pg", "duck", "snap"):
        expect(page.locator(f'tr[data-connector="{name}"] .state')).to_have_attribute(
            "data-state", "RUNNING"
        )
    expect(page.locator('tr[data-connector="snap"]')).to_contain_text("snapshot")
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as con:
        for i in range(501, 521):
            con.execute("INSERT INTO items VALUES (%s, 'late')", [i])
    expect(page.locator('tr[data-connector="pg"]')).to_contain_text("behind")

    page.click('a[href="/console/connectors/pg"]')
    expect(page.locator("#chart-lag-title")).to_have_text("Behind the source (s)")
    expect(page.locator("#chart-rate polyline")).to_have_count(1)  # (two samples at least)
    # an incremental snapshot of a table, asked for from the page (the source's signal table)
    page.fill("#signal input[name=tables]", "public.items")
    page.click("#signal button")
    expect(page.locator("#signal-sent")).to_contain_text("signal hub-")

    def incremental() -> int:
        log = worker.log
        assert log is not None
        records, _ = log.partition("app.public.items", 0).records(0)
        return sum(b'"snapshot":"incremental"' in (r.value or b"") for r in records)

    wait_for(lambda: incremental() >= 520, what="the table read again, incrementally")
    # a blocking one too: the table read as a snapshot reads it, the stream waiting
    page.select_option("#signal select[name=kind]", "blocking")
    page.click("#signal button")
    expect(page.locator("#signal-sent")).to_contain_text("signal hub-")

    def blocking() -> int:
        log = worker.log
        assert log is not None
        records, _ = log.partition("app.public.items", 0).records(0)
        return sum(b'"snapshot":"last' in (r.value or b"") for r in records)

    wait_for(lambda: blocking() >= 2, what="the table read again, blocking")
    expect(page.locator("#chart-third-title")).to_have_text("WAL kept by the slot")
    expect(page.locator("#chart-third polyline")).to_have_count(1)
    # events/s by operation: the late inserts (c) and the rows read again (r), a line each
    expect(page.locator("#chart-ops-figure")).to_be_visible()
    expect(page.locator('#chart-ops-max [data-op="c"]')).to_contain_text("create")
    expect(page.locator('#chart-ops-max [data-op="r"]')).to_contain_text("read")
    expect(page.locator("#chart-ops polyline.op-r")).to_have_count(1)
    page.goto(url + "/console/connectors/duck")
    expect(page.locator("#chart-lag-title")).to_have_text("Lag (records)")
    expect(page.locator("#chart-lag polyline")).to_have_count(1)
    expect(page.locator("#chart-fourth-title")).to_have_text("Batch write time (ms)")
    expect(page.locator("#chart-fourth polyline")).to_have_count(1)
    assert page.locator("#snapshot").is_hidden()
    assert page.locator("#chart-ops-figure").is_hidden()  # (a sink counts no operations)

    page.goto(url + "/console/connectors/snap")
    row = page.locator('#snapshot-tables tr[data-table="public.big"]')
    expect(row).to_contain_text("/ ~100,000")
    expect(row.locator("td").nth(3)).to_have_text(re.compile(r"\d+ s"))  # an ETA, from the rate
    value = float(row.locator("progress").get_attribute("value") or 0)
    assert 0 < value < 100_000

    page.click('nav a[href="/console/health"]')
    for job in ("log-maintenance", "sink-lag", "metrics-history"):
        expect(page.locator(f'tr[data-job="{job}"]')).to_be_visible()
    expect(page.locator("#worker")).to_contain_text(str(tmp_path / "data"))


def test_a_connector_made_with_the_form(server: tuple[str, Worker], page: Any) -> None:
    """The plugin's fields, a validation error shown beside its field, the YAML to keep
    (a secret as a reference, never its value), then the connector created and running."""
    from playwright.sync_api import expect

    url, worker = server
    _sign_in(page, url)
    page.click('a[href="/console/new"]')
    page.wait_for_url(url + "/console/new")
    page.select_option("#new select[name=plugin]", "datagen")
    expect(page.locator("#fields h2", has_text="datagen")).to_be_visible()
    rate = page.locator('input[data-field="rate"]')
    expect(rate).to_be_visible()
    page.fill("#new input[name=name]", "made")
    page.fill('input[data-field="topic"]', "2024")
    rate.fill("fast")
    expect(page.locator('[data-errors="rate"]')).not_to_be_empty()
    expect(page.locator("#create")).to_be_disabled()
    rate.fill("20")
    expect(page.locator("#verdict")).to_have_text("Valid.")
    yaml = page.locator("#yaml")
    expect(yaml).to_contain_text("connector.class: datagen")
    # (the YAML reads back as the strings validated: 2024 had been read as a number, which
    # hub validate then refused as a topic name)
    import yaml as pyyaml

    kept = pyyaml.safe_load(yaml.inner_text())
    assert kept == {"name": "made", "config": {"connector.class": "datagen", "topic": "2024",
                                               "rate": "20"}}  # fmt: skip
    page.click("#create")
    page.wait_for_url(url + "/console/connectors/made")
    expect(page.locator("#state .state")).to_have_attribute("data-state", "RUNNING")
    assert worker.get("made").config["topic"] == "2024"

    # a sink with a password: the YAML carries a reference to it, not the value
    page.goto(url + "/console/new")
    page.select_option("#new select[name=plugin]", "postgres-sink")
    expect(page.locator("#fields h2", has_text="postgres-sink")).to_be_visible()
    page.fill('input[data-field="connection.password"]', "hunter2")
    expect(yaml).to_contain_text("connection.password: ${env:HUB_CONNECTION_PASSWORD}")
    assert "hunter2" not in yaml.inner_text()

    # FileStreamSink and FileStreamSource share the name "file": each has its own form
    page.goto(url + "/console/new")
    page.select_option("#new select[name=plugin]", "FileStreamSink")
    expect(page.locator('input[data-field="topics"]')).to_be_visible()
    expect(page.locator('input[data-field="topic"]')).to_have_count(0)
    page.select_option("#new select[name=plugin]", "FileStreamSource")
    expect(page.locator('input[data-field="topic"]')).to_be_visible()


def test_the_form_previews_the_tables_a_source_would_capture(
    server: tuple[str, Worker], page: Any, pg_server: Any, pg_db: str
) -> None:
    import psycopg
    from playwright.sync_api import expect

    url, _ = server
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as con:
        con.execute("CREATE TABLE orders (id int PRIMARY KEY)")
        con.execute("CREATE TABLE customers (id int PRIMARY KEY)")
    _sign_in(page, url)
    page.goto(url + "/console/new")
    page.select_option("#new select[name=plugin]", "postgres")
    expect(page.locator("#fields h2", has_text="postgres")).to_be_visible()
    page.fill("#new input[name=name]", "shop")
    for prop, value in (
        ("database.hostname", pg_server.host),
        ("database.port", str(pg_server.port)),
        ("database.user", pg_server.user),
        ("database.dbname", pg_db),
        ("topic.prefix", "shop"),
        ("table.include.list", r"public\.orders"),
    ):
        page.fill(f'input[data-field="{prop}"]', value)
    expect(page.locator("#verdict")).to_have_text("Valid.")
    page.click("#preview-tables")
    expect(page.locator("#tables tbody tr")).to_have_count(1)
    expect(page.locator('#tables tr[data-table="public.orders"]')).to_contain_text(
        "shop.public.orders"
    )
    # a table named like HTML is shown as its name, never run
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as con:
        quoted = HOSTILE.replace('"', '""')
        con.execute(f'CREATE TABLE "{quoted}" (id int PRIMARY KEY)')
    page.fill('input[data-field="table.include.list"]', r"public\..*")
    expect(page.locator("#verdict")).to_have_text("Valid.")
    page.click("#preview-tables")
    expect(page.locator("#tables tbody tr")).to_have_count(3)
    expect(page.locator("#tables tbody")).to_contain_text(f"public.{HOSTILE}")
    assert page.evaluate("window.pwned") is None
    assert page.locator("#tables img").count() == 0
