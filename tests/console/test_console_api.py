"""The web console's server side: browsers get the console at ``/`` (API clients keep
Connect's JSON), signing in keeps the token in an HttpOnly cookie (never in a URL), the
cookie is accepted by the API in place of the bearer header but a change made with it needs
the console's own header (no cross-site request forgery), and ``/hub/connectors`` gives the
figures the pages show. Against a real worker running datagen into a file."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    began = time.monotonic()
    wrong = client.post("/console/login", data={"token": "nope"}, follow_redirects=False)
    assert wrong.status_code == 303 and "failed" in wrong.headers["location"]
    assert time.monotonic() - began >= 1  # (guessing: one try a second)
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
    session = client.cookies["hub_console_80"]
    out = client.post("/console/logout", follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/hub/connectors").status_code == 401
    # (the session ends: its cookie, kept by someone, no longer works; it had been a fixed
    # function of the token, valid until the token changed)
    kept = {"Cookie": f"hub_console_80={session}"}
    assert client.get("/hub/connectors", headers=kept).status_code == 401
    again = client.post("/console/login", data={"token": TOKEN}, follow_redirects=False)
    assert again.status_code == 303 and client.cookies["hub_console_80"] != session
    other = TestClient(create_app(worker, auth_token=TOKEN))  # (a worker started again)
    assert other.get("/hub/connectors", headers=kept).status_code == 401


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


def test_topics_messages_and_groups_are_served_read_only(worker: Worker) -> None:
    client = TestClient(create_app(worker))
    log = worker.log
    assert log is not None
    log.create_topic("orders", 2, {"retention.ms": "86400000"})
    prod = log.producer()
    for i in range(30):
        prod.send("orders", b'{"n":%d}' % i, key=b"k%d" % i, partition=i % 2,
                  timestamp=1_700_000_000_000 + i, headers=[("h", b"\xff\x00")])  # fmt: skip
    prod.send("orders", b"x" * (70 << 10), partition=0, timestamp=1_700_000_000_100)
    prod.flush()
    topics = {t["name"]: t for t in client.get("/hub/topics").json()}
    assert topics["orders"]["partitions"] == 2 and topics["orders"]["records"] == 31
    assert topics["orders"]["config"] == {"retention.ms": "86400000"}
    one = client.get("/hub/topics/orders").json()
    assert [p["end_offset"] for p in one["partitions"]] == [16, 15]
    assert one["effective_config"]["retention.ms"] == "86400000"
    # the newest records by default, then from an offset, then from a time
    newest = client.get("/hub/topics/orders/messages", params={"partition": 0, "limit": 3}).json()
    assert [r["offset"] for r in newest["records"]] == [13, 14, 15]
    big = newest["records"][-1]["value"]
    assert big["truncated"] and big["size"] == 70 << 10 and len(big["text"]) == 64 << 10
    first = newest["records"][0]
    assert first["key"] == {"text": "k26", "encoding": "utf-8", "size": 3, "truncated": False}
    assert first["headers"][0][1]["encoding"] == "base64"  # (not UTF-8)
    got = client.get("/hub/topics/orders/messages",
                     params={"partition": 1, "offset": 2, "limit": 2}).json()  # fmt: skip
    assert [r["value"]["text"] for r in got["records"]] == ['{"n":5}', '{"n":7}']
    at = client.get("/hub/topics/orders/messages",
                    params={"partition": 0, "timestamp": 1_700_000_000_020}).json()  # fmt: skip
    assert at["records"][0]["offset"] == 10 and at["records"][0]["value"]["text"] == '{"n":20}'
    # by key: the keys holding "k2" (k2, k20..k29), newest first, from both partitions
    found = client.get("/hub/topics/orders/search", params={"key": "k2"}).json()
    assert found["matches"] == 11 and found["scanned"] == 31
    assert [r["key"]["text"] for r in found["records"]][:3] == ["k29", "k28", "k27"]
    assert {r["partition"] for r in found["records"]} == {0, 1}
    few = client.get("/hub/topics/orders/search", params={"key": "k2", "scan": 5}).json()
    assert few["scanned"] == 10 and [r["key"]["text"] for r in few["records"]] == [
        f"k{i}" for i in range(29, 20, -1)
    ]  # (k20 is older than the last 5 of partition 0)
    assert client.get("/hub/topics/orders/search", params={"key": ""}).status_code == 400
    assert client.get("/hub/topics/nope").status_code == 404
    bad = client.get("/hub/topics/orders/messages", params={"partition": 5})
    assert bad.status_code == 400 and "0..1" in bad.json()["message"]
    # the internal topics' records are not served (connector configs, as they were sent)
    worker.create("gen", {"connector.class": "datagen", "topic": "events", "rate": 100})
    internal = client.get("/hub/topics/__connect_configs/messages")
    assert internal.status_code == 400 and "internal" in internal.json()["message"]
    assert "records" not in internal.json()
    # groups: a sink's, with its lag
    worker.create("out", {"connector.class": "FileStreamSink", "topics": "orders",
                          "file": str(Path(log.path) / ".." / "out.txt"),
                          "key.converter": "string", "value.converter": "string",
                          "offset.flush.interval.ms": 100})  # fmt: skip

    def committed() -> dict[str, Any]:
        got = client.get("/hub/groups/connect-out")
        return got.json() if got.status_code == 200 else {"partitions": []}

    wait_for(lambda: sum(p["committed"] or 0 for p in committed()["partitions"]) == 31,
             what="the sink's group at the end")  # fmt: skip
    assert [g for g in client.get("/hub/groups").json() if g["group"] == "connect-out"] == [
        {"group": "connect-out", "state": "Stable", "members": 1, "lag": 0, "partitions": 2}
    ]
    group = committed()
    assert {(p["topic"], p["partition"], p["committed"]) for p in group["partitions"]} == {
        ("orders", 0, 16), ("orders", 1, 15)}  # fmt: skip
    assert client.get("/hub/groups/nope").status_code == 404  # (as an unknown topic)


def test_health_and_the_last_hour_of_a_connector(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path / "data"), history_interval_ms=100)
    try:
        client = TestClient(create_app(worker))
        _gen(worker)
        h = client.get("/hub/health").json()
        assert h["backend"] == "embedded" and h["uptime_s"] >= 0
        assert h["data_dir"] == str(tmp_path / "data") and h["disk_free_bytes"] > 0
        assert h["data_bytes"] > 0
        assert {"log-maintenance", "sink-lag", "metrics-history"} <= {j["name"] for j in h["jobs"]}
        wait_for(lambda: len(client.get("/hub/connectors/gen/history").json()["samples"]) >= 3,
                 what="samples")  # fmt: skip
        got = client.get("/hub/connectors/gen/history").json()
        assert got["interval_s"] == 0.1
        times = [s["t"] for s in got["samples"]]
        assert times == sorted(times)
        wait_for(lambda: client.get("/hub/connectors/gen/history").json()["samples"][-1][
            "records_per_second"] > 0, what="a rate")  # fmt: skip
        assert client.get("/hub/connectors/nope/history").status_code == 404
        # an hour at most: the samples of a connector gone are forgotten
        worker.delete("gen")
        wait_for(lambda: worker.history.of("gen") == [], what="the deleted one forgotten")
    finally:
        worker.stop()


def test_history_keeps_an_hour_and_sums_the_tasks() -> None:
    from hub.runtime.history import History
    from hub.runtime.status import TaskStatus

    h = History(interval_s=600)  # (6 samples an hour)

    def task(rate: float, lag: int | None, done: float) -> TaskStatus:
        return TaskStatus(0, "RUNNING", None, 10, rate, None, lag, 0, last_batch_size=5,
                          metrics={"snapshot_rows_done:public.t": done,
                                   "milliseconds_behind_source": 40.0,
                                   "lag_bytes": 100.0 * (lag or 0)})  # fmt: skip

    for i in range(8):
        h.sample({"c": [task(1.5, 3, i), task(2.0, None, 10)]}, now_ms=i)
    samples = h.of("c")
    assert [s["t"] for s in samples] == [2, 3, 4, 5, 6, 7]
    assert samples[-1] == {"t": 7, "records_per_second": 3.5, "lag": 3, "behind_ms": 40.0,
                           "batch_size": 10, "snapshot_rows": 17.0, "apply_ms": None,
                           "retained_bytes": None, "unread_bytes": 300.0,
                           "ops": None}  # fmt: skip


def test_history_gives_events_per_second_by_operation() -> None:
    from hub.runtime.history import History
    from hub.runtime.status import TaskStatus

    h = History(interval_s=5)

    def task(i: int, c: float, d: float) -> TaskStatus:
        return TaskStatus(i, "RUNNING", None, 0, 0.0, None, None, 0,
                          metrics={"op_events:c": c, "op_events:d": d})  # fmt: skip

    h.sample({"s": [task(0, 100, 0), task(1, 10, 0)]}, now_ms=0)
    h.sample({"s": [task(0, 600, 50), task(1, 20, 0)]}, now_ms=5000)
    # task 1 restarted (a count went down): all it counted since is the interval's, even
    # the count that is higher than before the restart
    h.sample({"s": [task(0, 600, 50), task(1, 5, 5)]}, now_ms=10_000)
    # task 1 failed (no counts): forgotten; back, its first sample gives no rate
    h.sample({"s": [task(0, 650, 50), TaskStatus(1, "FAILED", None, 0, 0.0, None, None, 0)]},
             now_ms=15_000)  # fmt: skip
    h.sample({"s": [task(0, 650, 50), task(1, 7, 0)]}, now_ms=20_000)
    h.sample({"s": [task(0, 650, 50), task(1, 12, 0)]}, now_ms=25_000)
    assert [x["ops"] for x in h.of("s")] == [
        None, {"c": 102.0, "d": 10.0}, {"c": 1.0, "d": 1.0}, {"c": 10.0, "d": 0.0},
        {"c": 0.0, "d": 0.0}, {"c": 1.0, "d": 0.0}]  # fmt: skip


def test_a_group_is_reset_only_without_active_members(worker: Worker, tmp_path: Path) -> None:
    client = TestClient(create_app(worker))
    log = worker.log
    assert log is not None
    log.create_topic("orders", 2)
    prod = log.producer()
    for i in range(20):
        prod.send("orders", b'"%d"' % i, partition=i % 2, timestamp=1_700_000_000_000 + i)
    prod.flush()
    consumer = log.consumer(group_id="billing", auto_offset_reset="earliest")
    consumer.subscribe(["orders"])
    got = 0
    while got < 20:
        got += len(consumer.poll(1.0))
    consumer.commit()

    def committed() -> list[int | None]:
        return [p["committed"] for p in client.get("/hub/groups/billing").json()["partitions"]]

    assert committed() == [10, 10]
    body = {"topic": "orders", "to": "earliest", "dry_run": False}
    refused = client.post("/hub/groups/billing/reset", json=body)
    assert refused.status_code == 400 and "active members" in refused.json()["message"]
    consumer.close()
    preview = client.post("/hub/groups/billing/reset",
                          json={"topic": "orders", "to": "timestamp",
                                "value": 1_700_000_000_010}).json()  # fmt: skip
    assert preview["applied"] is False and preview["warning"] is None
    assert [(p["partition"], p["current"], p["new"]) for p in preview["partitions"]] == [
        (0, 10, 5), (1, 10, 5)]  # fmt: skip
    assert committed() == [10, 10]  # (a preview changes nothing)
    one = client.post("/hub/groups/billing/reset",
                      json={"topic": "orders", "to": "offset", "value": 3, "partition": 1,
                            "dry_run": False}).json()  # fmt: skip
    assert one["applied"] and committed() == [10, 3]
    bad = client.post(
        "/hub/groups/billing/reset",
        json={"topic": "orders", "to": "offset", "value": 99, "dry_run": False},
    )
    assert bad.status_code == 400 and committed() == [10, 3]
    assert client.post("/hub/groups/billing/reset", json={"topic": "orders", "to": "x"}
                       ).status_code == 400  # fmt: skip

    # a sink connector that resumes from offsets in its target: warned (preview and apply)
    worker.create(
        "out",
        {
            "connector.class": "FileStreamSink",
            "topics": "orders",
            "file": str(tmp_path / "out.txt"),
            "offset.flush.interval.ms": 100,
        },
    )
    wait_for(lambda: any(g["group"] == "connect-out" for g in client.get("/hub/groups").json()))
    client.put("/connectors/out/stop")
    wait_for(lambda: client.get("/hub/groups/connect-out").json()["members"] == [])
    look = client.post(
        "/hub/groups/connect-out/reset", json={"topic": "orders", "to": "earliest"}
    ).json()
    assert "resumes from the offsets kept in its target" in look["warning"]
    apply = client.post("/hub/groups/connect-out/reset", json={**body})
    assert apply.status_code == 200 and "_hub_offsets" in apply.json()["warning"]


def test_signals_go_to_sources_with_a_channel(worker: Worker, tmp_path: Path) -> None:
    """(a PostgreSQL source's signal reaching its stream: tests/console/test_browser.py)"""
    client = TestClient(create_app(worker))
    _gen(worker)
    worker.create("out", {"connector.class": "FileStreamSink", "topics": "events",
                          "file": str(tmp_path / "o.txt")})  # fmt: skip
    body = {"type": "execute-snapshot", "data": {"data-collections": ["public.t"]}}
    gen = client.post("/hub/connectors/gen/signals", json=body)
    assert gen.status_code == 400 and "takes no signals" in gen.json()["message"]
    out = client.post("/hub/connectors/out/signals", json=body)
    assert out.status_code == 400 and "not a source" in out.json()["message"]
    assert client.post("/hub/connectors/gen/signals", json={"data": {}}).status_code == 400
    assert client.post("/hub/connectors/nope/signals", json=body).status_code == 404


def test_a_source_config_previews_the_tables_it_captures(
    worker: Worker, pg_server: Any, pg_db: str, rest_references: None
) -> None:
    import psycopg

    client = TestClient(create_app(worker))
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as con:
        con.execute("CREATE TABLE orders (id int PRIMARY KEY, v text)")
        con.execute("CREATE TABLE order_lines (id int, line int, PRIMARY KEY (id, line))")
        con.execute("CREATE TABLE audit (v text)")
    config = {"database.hostname": pg_server.host, "database.port": pg_server.port,
              "database.user": pg_server.user, "database.dbname": pg_db, "topic.prefix": "shop",
              "table.include.list": r"public\.order.*"}  # fmt: skip
    got = client.put("/hub/connector-plugins/postgres/tables", json=config)
    assert got.status_code == 200, got.text
    assert sorted((t["table"], t["topic"], tuple(t["key"])) for t in got.json()["tables"]) == [
        ("order_lines", "shop.public.order_lines", ("id", "line")),
        ("orders", "shop.public.orders", ("id",)),
    ]
    bad = client.put("/hub/connector-plugins/postgres/tables", json={"topic.prefix": "x"})
    assert bad.status_code == 400 and "database.dbname: required" in bad.json()["message"]
    gen = client.put("/hub/connector-plugins/datagen/tables", json={"topic": "t"})
    assert gen.status_code == 400 and "cannot list" in gen.json()["message"]
    # a database it cannot reach: the config's to change (a 500 before)
    down = client.put("/hub/connector-plugins/postgres/tables",
                      json={**config, "database.port": 1})  # fmt: skip
    assert down.status_code == 400 and "refused" in down.json()["message"], down.text
    # a config as the console's form sends it, with references (they had reached the
    # driver as written: "${env:...}" as the host name)
    os.environ["HUB_TEST_PREVIEW_DB"] = pg_db
    try:
        ref = {**config, "database.dbname": "${env:HUB_TEST_PREVIEW_DB}"}
        got = client.put("/hub/connector-plugins/postgres/tables", json=ref)
        assert got.status_code == 200, got.text
        assert len(got.json()["tables"]) == 2
    finally:
        del os.environ["HUB_TEST_PREVIEW_DB"]


def test_topics_messages_and_groups_on_kafka(own_kafka_broker: str, tmp_path: Path) -> None:
    """The same views and reset on a worker whose log is a Kafka cluster (Tansu): no sizes
    (null), watermarks as offsets, the group's members and offsets through Kafka's admin
    API. (Tansu reports a topic's set config as defaults and answers every time lookup
    with offset 0: the config set and the reset to a time are checked on the embedded log.)"""
    from hub.log.kafka import KafkaLog

    worker = Worker(
        str(tmp_path / "data"), backend=KafkaLog({"bootstrap.servers": own_kafka_broker})
    )
    try:
        client = TestClient(create_app(worker))
        log = worker.backend
        log.create_topic("orders", 2, {"retention.ms": "86400000"})
        prod = log.producer()
        for i in range(30):  # (one record a batch: Tansu's high watermark after a batch is
            # its first offset + 1, where Kafka's is its last + 1)
            prod.send("orders", b'{"n":%d}' % i, key=b"k%d" % i, partition=i % 2,
                      timestamp=1_700_000_000_000 + i, headers=[("h", b"\xff\x00")])  # fmt: skip
            prod.flush()
        topics = {t["name"]: t for t in client.get("/hub/topics").json()}
        assert topics["orders"]["partitions"] == 2 and topics["orders"]["records"] == 30
        assert topics["orders"]["size_bytes"] is None  # (Kafka does not say)
        one = client.get("/hub/topics/orders").json()
        assert [(p["start_offset"], p["end_offset"], p["durable_offset"], p["size_bytes"])
                for p in one["partitions"]] == [(0, 15, 15, None), (0, 15, 15, None)]  # fmt: skip
        assert one["effective_config"]["retention.ms"] == "86400000"
        newest = client.get("/hub/topics/orders/messages",
                            params={"partition": 0, "limit": 3}).json()  # fmt: skip
        assert [(r["offset"], r["key"]["text"]) for r in newest["records"]] == [
            (12, "k24"), (13, "k26"), (14, "k28")]  # fmt: skip
        assert newest["records"][0]["headers"][0][1]["encoding"] == "base64"
        got = client.get("/hub/topics/orders/messages",
                         params={"partition": 1, "offset": 2, "limit": 2}).json()  # fmt: skip
        assert [r["value"]["text"] for r in got["records"]] == ['{"n":5}', '{"n":7}']
        found = client.get("/hub/topics/orders/search", params={"key": "k2"}).json()
        assert found["matches"] == 11 and found["scanned"] == 30
        assert [r["key"]["text"] for r in found["records"]][:3] == ["k29", "k28", "k27"]
        assert client.get("/hub/topics/nope").status_code == 404
        # a sink's group: its members and committed offsets, then a reset while stopped
        worker.create("out", {"connector.class": "FileStreamSink", "topics": "orders",
                              "file": str(tmp_path / "out.txt"), "key.converter": "string",
                              "offset.flush.interval.ms": 100})  # fmt: skip

        def group() -> dict[str, Any]:
            got = client.get("/hub/groups/connect-out")
            return got.json() if got.status_code == 200 else {"partitions": [], "members": []}

        wait_for(lambda: sum(p["committed"] or 0 for p in group()["partitions"]) == 30,
                 what="the sink's group at the end")  # fmt: skip
        # (Tansu describes a group's state but lists none of its members)
        listed = [g for g in client.get("/hub/groups").json() if g["group"] == "connect-out"]
        assert listed == [{"group": "connect-out", "state": "Stable", "members": 0, "lag": 0,
                           "partitions": 2}]  # fmt: skip
        body = {"topic": "orders", "to": "offset", "value": 4, "dry_run": False}
        refused = client.post("/hub/groups/connect-out/reset", json=body)
        assert refused.status_code == 400 and "active members" in refused.json()["message"]
        client.put("/connectors/out/stop")
        wait_for(lambda: group()["state"] == "Empty", what="the stopped sink gone from its group")
        preview = client.post("/hub/groups/connect-out/reset",
                              json={"topic": "orders", "to": "earliest"}).json()  # fmt: skip
        assert [(p["partition"], p["current"], p["new"]) for p in preview["partitions"]] == [
            (0, 15, 0), (1, 15, 0)]  # fmt: skip
        done = client.post("/hub/groups/connect-out/reset", json=body).json()
        assert done["applied"]
        assert [p["committed"] for p in group()["partitions"]] == [4, 4]
    finally:
        worker.stop()
