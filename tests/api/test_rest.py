"""The Kafka Connect compatible REST API over a real Worker (tmp data dir, real connectors)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import Field

from connectors.source.datagen.connector import Datagen
from connectors.source.file import FileStreamSource, FileStreamSourceTask
from connectors.source.file.config import FileSourceConfig
from hub.api import create_app
from hub.errors import ConfigError
from hub.runtime.api import SourceTaskContext
from hub.runtime.worker import Worker
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-s3cr3t"


# A FileStreamSource with a database-style password, to see it masked everywhere.
class SecretConfig(FileSourceConfig):
    database_password: str = Field("", alias="database.password")
    endpoint: str = ""  # (not a secret property: a URL's password in it is one)
    fail: bool = False


class SecretTask(FileStreamSourceTask):
    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        cfg = SecretConfig.of(config)
        if cfg.fail:
            raise RuntimeError(
                f"login refused for password {cfg.database_password} at {cfg.endpoint}"
            )
        super().start(config, context)


class SecretSource(FileStreamSource):
    name = "secret-file"
    aliases = ()
    config_model = SecretConfig
    task_class = SecretTask


SECRET_CLASS = f"{__name__}:SecretSource"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    w = Worker(str(tmp_path / "data"))
    yield w
    w.stop()


@pytest.fixture
def client(worker: Worker) -> TestClient:
    return TestClient(create_app(worker))


def _gen(topic: str = "gen", **extra: Any) -> dict[str, Any]:
    return {"connector.class": "datagen", "topic": topic, "rate": "200", **extra}


def _file_source(path: Path, topic: str = "lines") -> dict[str, Any]:
    return {
        "connector.class": "FileStreamSource", "file": str(path), "topic": topic,
        "offset.flush.interval.ms": "100",
    }  # fmt: skip


def _state(client: TestClient, name: str) -> tuple[str, list[str]]:
    s = client.get(f"/connectors/{name}/status").json()
    return s["connector"]["state"], [t["state"] for t in s["tasks"]]


def _records(worker: Worker, topic: str) -> int:
    if not worker.log.has_topic(topic):
        return 0
    return sum(p.high_watermark for p in worker.log.topic(topic).partitions)


def test_create_list_get_status_shapes(client: TestClient) -> None:
    root = client.get("/").json()
    assert set(root) == {"version", "commit", "kafka_cluster_id", "jobs"}
    plugins = client.get("/connector-plugins").json()
    assert {"class", "type", "version"} <= set(plugins[0])
    assert {p["type"] for p in plugins} == {"source", "sink"}

    r = client.post("/connectors", json={"name": "gen", "config": _gen()})
    assert r.status_code == 201
    named = {**_gen(), "name": "gen"}  # (Connect's configs hold their name)
    assert r.json() == {
        "name": "gen", "config": named, "tasks": [{"connector": "gen", "task": 0}],
        "type": "source",
    }  # fmt: skip
    assert client.get("/connectors").json() == ["gen"]
    assert client.get("/connectors/gen").json()["config"] == named
    assert client.get("/connectors/gen/config").json() == named
    wait_for(lambda: _state(client, "gen") == ("RUNNING", ["RUNNING"]))
    status = client.get("/connectors/gen/status").json()
    assert status == {
        "name": "gen", "connector": {"state": "RUNNING", "worker_id": "127.0.0.1:8083"},
        "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "127.0.0.1:8083"}],
        "type": "source",
    }  # fmt: skip
    tasks = client.get("/connectors/gen/tasks").json()
    assert tasks[0]["id"] == {"connector": "gen", "task": 0}
    assert tasks[0]["config"]["topic"] == "gen"
    assert client.get("/connectors/gen/tasks/0/status").json()["state"] == "RUNNING"
    both = client.get("/connectors?expand=status&expand=info").json()
    assert both["gen"]["status"]["connector"]["state"] == "RUNNING"
    assert both["gen"]["info"]["type"] == "source"
    assert set(client.get("/connectors?expand=info").json()["gen"]) == {"info"}


def test_conflict_not_found_and_bad_config_errors(client: TestClient) -> None:
    assert client.post("/connectors", json={"name": "gen", "config": _gen()}).status_code == 201
    r = client.post("/connectors", json={"name": "gen", "config": _gen()})
    assert r.status_code == 409
    assert r.json() == {"error_code": 409, "message": "Connector gen already exists"}
    for path in ("/connectors/nope", "/connectors/nope/status", "/connectors/nope/offsets"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json() == {"error_code": 404, "message": "Connector nope not found"}
    r = client.get("/connectors/gen/tasks/7/status")
    assert r.status_code == 404 and r.json()["error_code"] == 404
    assert client.put("/connectors/nope/pause").status_code == 404
    assert client.delete("/connectors/nope").status_code == 404

    bad = {"connector.class": "datagen", "rate": "-5", "colour": "blue"}
    r = client.post("/connectors", json={"name": "bad", "config": bad})
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == 400
    for problem in ("topic", "rate", "colour"):  # every problem named
        assert problem in body["message"]
    assert client.put("/connectors/bad/config", json=bad).status_code == 400
    assert client.get("/connectors").json() == ["gen"]
    r = client.post("/connectors", json={"config": _gen()})
    assert r.status_code == 400 and "name" in r.json()["message"]


def test_configs_persist_across_a_worker_restart(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    w = Worker(data)
    try:
        c = TestClient(create_app(w))
        assert c.post("/connectors", json={"name": "a", "config": _gen("a")}).status_code == 201
        assert c.put("/connectors/b/config", json=_gen("b")).status_code == 201
        updated = _gen("b2", rate="50")
        r = c.put("/connectors/b/config", json=updated)
        assert r.status_code == 200 and r.json()["config"] == {**updated, "name": "b"}
        assert c.post("/connectors", json={"name": "gone", "config": _gen("g")}).status_code == 201
        assert c.delete("/connectors/gone").status_code == 204
        assert c.post("/connectors", json={"name": "p", "config": _gen("p")}).status_code == 201
        assert c.put("/connectors/p/pause").status_code == 202
        assert c.post("/connectors", json={"name": "s", "config": _gen("s")}).status_code == 201
        assert c.put("/connectors/s/stop").status_code == 202
    finally:
        w.stop()
    w = Worker(data)
    try:
        c = TestClient(create_app(w))
        assert c.get("/connectors").json() == ["a", "b", "p", "s"]
        assert c.get("/connectors/b/config").json() == {**updated, "name": "b"}
        wait_for(lambda: _state(c, "b") == ("RUNNING", ["RUNNING"]))
        wait_for(lambda: _records(w, "b2") > 0)
        # target states set over REST survive the restart, as in Kafka Connect
        assert _state(c, "p")[0] == "PAUSED"
        assert _state(c, "s")[0] == "STOPPED"
    finally:
        w.stop()


def test_pause_resume_stop_restart(client: TestClient, worker: Worker) -> None:
    assert client.post("/connectors", json={"name": "gen", "config": _gen()}).status_code == 201
    wait_for(lambda: _records(worker, "gen") > 0)

    assert client.put("/connectors/gen/pause").status_code == 202
    assert _state(client, "gen") == ("PAUSED", ["PAUSED"])
    time.sleep(0.3)
    n = _records(worker, "gen")
    time.sleep(0.5)
    assert _records(worker, "gen") == n  # no polling while paused
    # (its rate is 0 at once: the last 10 s' average had shown 399, 295, 189... beside PAUSED)
    (task,) = client.get("/hub/connectors").json()[0]["tasks"]
    assert task["state"] == "PAUSED" and task["records_per_second"] == 0

    assert client.put("/connectors/gen/resume").status_code == 202
    assert _state(client, "gen") == ("RUNNING", ["RUNNING"])
    wait_for(lambda: _records(worker, "gen") > n)

    assert client.put("/connectors/gen/stop").status_code == 202
    assert _state(client, "gen") == ("STOPPED", [])
    assert client.get("/connectors/gen/tasks").json() == []
    kept = client.get("/connectors/gen/config").json()
    assert kept == {**_gen(), "name": "gen"}  # the config is kept
    assert client.put("/connectors/gen/resume").status_code == 202
    wait_for(lambda: _state(client, "gen") == ("RUNNING", ["RUNNING"]))

    assert client.post("/connectors/gen/restart").status_code == 204
    r = client.post("/connectors/gen/restart?includeTasks=true")
    assert r.status_code == 202 and r.json()["name"] == "gen"
    assert client.post("/connectors/gen/tasks/0/restart").status_code == 204
    wait_for(lambda: _state(client, "gen") == ("RUNNING", ["RUNNING"]))
    assert client.post("/connectors/gen/tasks/3/restart").status_code == 404


def test_a_failed_connector_paused_then_fixed_or_restarted_starts_paused(
    client: TestClient, tmp_path: Path
) -> None:
    # (it ran: its stored target state was PAUSED, and the worker's next start paused it)
    bad = {"connector.class": f"{__name__}:RefusingSource", "topic": "refused", "rate": 10}
    assert client.post("/connectors", json={"name": "s", "config": bad}).status_code == 201
    assert _state(client, "s")[0] == "FAILED"
    assert client.put("/connectors/s/pause").status_code == 202
    assert client.post("/connectors/s/restart").status_code in (202, 204)
    assert _state(client, "s")[0] == "FAILED"  # (still refused)
    r = client.put("/connectors/s/config", json={**bad, "topic": "ok"})
    assert r.status_code == 200, r.text
    assert _state(client, "s") == ("PAUSED", ["PAUSED"])
    assert client.put("/connectors/s/resume").status_code == 202
    assert _state(client, "s") == ("RUNNING", ["RUNNING"])


class RefusingSource(Datagen):
    """A source whose connector refuses to start with topic "refused" (as one naming a
    table that does not exist does)."""

    def start(self, config: Mapping[str, Any]) -> None:
        if config.get("topic") == "refused":
            raise ConfigError("table.include.list: no such table")
        super().start(config)


def test_a_connector_naming_an_internal_topic_is_refused_not_stored(client: TestClient) -> None:
    # (it was stored with 201, and FAILED at every start of the worker)
    bad = {"connector.class": "FileStreamSink", "topics": "__connect_status", "file": "o.txt"}
    r = client.post("/connectors", json={"name": "s", "config": bad})
    assert r.status_code == 400 and "one of the worker's internal topics" in r.text, r.text
    assert client.get("/connectors/s").status_code == 404


def test_the_same_config_again_leaves_the_tasks_running(client: TestClient, worker: Worker) -> None:
    # (each PUT of an unchanged config stopped and started the connector and its tasks: a
    # database source reconnected at every apply of a GitOps loop)
    assert client.post("/connectors", json={"name": "gen", "config": _gen()}).status_code == 201
    wait_for(lambda: _state(client, "gen") == ("RUNNING", ["RUNNING"]))
    thread = worker.connectors["gen"].tasks[0].thread
    for _ in range(3):
        assert client.put("/connectors/gen/config", json=_gen()).status_code == 200
    assert worker.connectors["gen"].tasks[0].thread is thread and thread is not None
    assert thread.is_alive()
    assert client.put("/connectors/gen/config", json=_gen(rate="300")).status_code == 200
    wait_for(lambda: _state(client, "gen") == ("RUNNING", ["RUNNING"]))
    assert worker.connectors["gen"].tasks[0].thread is not thread  # (a change restarts it)


def test_names_of_dots_and_a_tasks_max_past_reason_are_refused(client: TestClient) -> None:
    # (".." was taken and then unreachable: clients read /connectors/.. as a step up; one
    # request of tasks.max 10^9 built that many task configs, 15 GB)
    for name in (".", ".."):
        r = client.post("/connectors", json={"name": name, "config": _gen()})
        assert r.status_code == 400 and "dots alone" in r.json()["message"], r.text
    r = client.post("/connectors", json={"name": "g", "config": _gen(**{"tasks.max": 10**9})})
    assert r.status_code == 400 and "tasks.max" in r.json()["message"], r.text
    r = client.post("/connectors", json={"name": "g", "config": _gen(**{"value.size": 10**9})})
    assert r.status_code == 400 and "value.size" in r.json()["message"], r.text
    assert client.get("/connectors").json() == []


def test_offsets_of_a_source_and_a_sink(client: TestClient, worker: Worker, tmp_path: Path) -> None:
    src_file, out_file = tmp_path / "in.txt", tmp_path / "out.txt"
    src_file.write_text("a\nb\nc\n")
    assert client.post("/connectors", json={"name": "src", "config": _file_source(src_file)})
    sink = {
        "connector.class": "FileStreamSink", "topics": "lines", "file": str(out_file),
        "offset.flush.interval.ms": "100", "batch.max.wait.ms": "50",
    }  # fmt: skip
    assert client.post("/connectors", json={"name": "sink", "config": sink}).status_code == 201
    wait_for(lambda: client.get("/connectors/src/offsets").json()["offsets"])
    (stored,) = client.get("/connectors/src/offsets").json()["offsets"]
    assert stored["partition"] == {"filename": str(src_file)}
    # (Kafka's position, and what tells the file: its inode and its first bytes' digest)
    assert stored["offset"]["position"] == 6 and stored["offset"].keys() == {
        "position", "inode", "head"}  # fmt: skip
    sink_offsets = {
        "offsets": [
            {"partition": {"kafka_topic": "lines", "kafka_partition": 0},
             "offset": {"kafka_offset": 3}}
        ]
    }  # fmt: skip
    wait_for(lambda: client.get("/connectors/sink/offsets").json() == sink_offsets)
    assert client.put("/connectors/sink/pause").status_code == 202  # a paused sink puts nothing
    assert _state(client, "sink") == ("PAUSED", ["PAUSED"])
    with src_file.open("a") as f:
        f.write("d\n")
    wait_for(lambda: _records(worker, "lines") == 4)
    time.sleep(0.5)
    assert out_file.read_text() == "a\nb\nc\n"
    assert client.put("/connectors/sink/resume").status_code == 202
    wait_for(lambda: out_file.read_text() == "a\nb\nc\nd\n")
    sink_offsets["offsets"][0]["offset"]["kafka_offset"] = 4
    wait_for(lambda: client.get("/connectors/sink/offsets").json() == sink_offsets)

    reset = {"offsets": [{"partition": {"filename": str(src_file)}, "offset": {"position": 0}}]}
    r = client.patch("/connectors/src/offsets", json=reset)
    assert r.status_code == 400 and "STOPPED" in r.json()["message"]
    assert client.delete("/connectors/sink/offsets").status_code == 400

    assert client.put("/connectors/src/stop").status_code == 202
    r = client.patch("/connectors/src/offsets", json=reset)
    assert r.status_code == 200, r.json()
    assert client.get("/connectors/src/offsets").json() == reset
    assert client.put("/connectors/src/resume").status_code == 202
    wait_for(lambda: _records(worker, "lines") == 8)  # the file was read again from position 0
    wait_for(lambda: client.get("/connectors/src/offsets").json()["offsets"][0]["offset"][
        "position"] == 8)  # fmt: skip

    # FileStreamSink resumes from offsets kept with its file where it has them: the answer
    # says so (the group's offsets change all the same)
    assert client.put("/connectors/sink/stop").status_code == 202
    r = client.delete("/connectors/sink/offsets")
    assert r.status_code == 200 and "resumes from the offsets kept in its target" in r.json()[
        "warning"]  # fmt: skip
    assert client.get("/connectors/sink/offsets").json() == {"offsets": []}
    r = client.patch("/connectors/sink/offsets", json=sink_offsets)
    assert r.status_code == 200 and "warning" in r.json()
    assert client.get("/connectors/sink/offsets").json() == sink_offsets

    # refused with 400, nothing stored: a partition the topic lacks (stored, it had failed
    # the group's views and every sink's lag once the topic existed), one of a topic not
    # there, one that is not an object (a 500), booleans for numbers, and a source task's
    # own checkpoint (written, the resumed task skipped the records it replayed)
    def sink_patch(partition: Any, offset: Any = 1) -> Any:
        return client.patch("/connectors/sink/offsets", json={"offsets": [
            {"partition": partition, "offset": {"kafka_offset": offset}}]})  # fmt: skip

    for partition, offset, said in [
        ({"kafka_topic": "lines", "kafka_partition": 7}, 1, "topic 'lines' has no partition 7"),
        ({"kafka_topic": "nope", "kafka_partition": 0}, 1, "no topic 'nope'"),
        ("lines-0", 1, "an object with kafka_topic"),
        (["lines", 0], 1, "an object with kafka_topic"),
        ({"kafka_topic": "lines", "kafka_partition": True}, 1, "an object with kafka_topic"),
        ({"kafka_topic": "lines", "kafka_partition": 0}, True, "needs kafka_offset"),
    ]:
        r = sink_patch(partition, offset)
        assert r.status_code == 400 and said in r.json()["message"], (partition, r.text)
    assert client.get("/connectors/sink/offsets").json() == sink_offsets
    assert client.get("/hub/groups").status_code == 200
    assert client.put("/connectors/src/stop").status_code == 202
    for reserved in ({"hub.task": 0}, {"hub.offsets": "src"}):
        r = client.patch("/connectors/src/offsets", json={"offsets": [
            {"partition": reserved, "offset": {"seq": 0}}]})  # fmt: skip
        assert r.status_code == 400 and "hub's own" in r.json()["message"], r.text
    (kept,) = client.get("/connectors/src/offsets").json()["offsets"]  # (unchanged)
    assert kept["partition"] == {"filename": str(src_file)} and kept["offset"]["position"] == 8


def test_validate_endpoint_counts_errors(client: TestClient) -> None:
    r = client.put(
        "/connector-plugins/datagen/config/validate",
        json={"connector.class": "datagen", "rate": "-1", "colour": "blue"},
    )
    assert r.status_code == 200
    infos = r.json()
    assert infos["error_count"] == 3  # topic missing, rate < 0, colour unknown
    by_name = {c["value"]["name"]: c for c in infos["configs"]}
    assert by_name["topic"]["value"]["errors"] and by_name["rate"]["value"]["errors"]
    assert by_name["colour"]["value"]["errors"]
    assert by_name["tasks.max"]["value"]["errors"] == []
    assert by_name["topic"]["definition"]["required"] is True
    ok = client.put("/connector-plugins/datagen/config/validate", json={"topic": "t"}).json()
    assert ok["error_count"] == 0
    r = client.put("/connector-plugins/nosuch/config/validate", json={})
    assert r.status_code == 400 and r.json()["error_code"] == 400
    # a URL's password, in a property not declared secret, as GET .../config masks it (the
    # answer, which the console's form shows, had it in the clear)
    r = client.put("/connector-plugins/bigquery/config/validate", json={
        "connector.class": "bigquery", "topics": "x", "project": "p", "defaultDataset": "d",
        "bigquery.endpoint": "http://admin:S3cretPW99@host:9050"})  # fmt: skip
    assert r.status_code == 200 and "S3cretPW99" not in r.text and "admin:********@" in r.text
    # connection.url, declared secret by every sink, is masked whole
    url = "jdbc:redshift://admin:S3cretPW99@host:5439/dev"
    r = client.put("/connector-plugins/redshift/config/validate", json={
        "connector.class": "redshift", "topics": "x", "connection.url": url,
        "connection.username": "u", "connection.password": "pw12345"})  # fmt: skip
    assert r.status_code == 200 and "S3cretPW99" not in r.text and "host:5439" not in r.text


def test_plugin_config_definitions(client: TestClient) -> None:
    keys = client.get("/connector-plugins/datagen/config").json()
    by_name = {k["name"]: k for k in keys}
    assert {
        "name",
        "type",
        "required",
        "default_value",
        "importance",
        "documentation",
        "group",
        "order_in_group",
        "width",
        "display_name",
        "dependents",
    } <= set(keys[0])
    assert by_name["topic"]["required"] is True and by_name["topic"]["group"] == "datagen"
    assert by_name["tasks.max"]["group"] == "Common"
    assert by_name["tasks.max"]["default_value"] == "1" and by_name["tasks.max"]["type"] == "INT"
    pg = {k["name"]: k for k in client.get("/connector-plugins/postgres/config").json()}
    assert pg["database.password"]["type"] == "PASSWORD"
    assert client.get("/connector-plugins/nosuch/config").status_code == 400


def test_active_topics_of_a_source_and_a_sink_and_their_reset(
    client: TestClient, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    assert client.post("/connectors", json={"name": "gen", "config": _gen("g1")}).status_code
    sink = {"connector.class": "FileStreamSink", "topics": "g1", "file": str(out)}
    assert client.post("/connectors", json={"name": "sink", "config": sink}).status_code == 201
    wait_for(lambda: client.get("/connectors/gen/topics").json() == {"gen": {"topics": ["g1"]}})
    wait_for(lambda: client.get("/connectors/sink/topics").json() == {"sink": {"topics": ["g1"]}})
    assert client.put("/connectors/gen/topics/reset").status_code == 202
    # used again at once, so back again (a stopped connector stays empty)
    wait_for(lambda: client.get("/connectors/gen/topics").json()["gen"]["topics"] == ["g1"])
    assert client.put("/connectors/sink/stop").status_code == 202
    wait_for(lambda: _state(client, "sink")[0] == "STOPPED")
    assert client.put("/connectors/sink/topics/reset").status_code == 202
    assert client.get("/connectors/sink/topics").json() == {"sink": {"topics": []}}
    assert client.get("/connectors/nosuch/topics").status_code == 404


def test_admin_loggers_read_and_set_levels(client: TestClient) -> None:
    import logging

    child = logging.getLogger("hub.testlevels.child")
    child.setLevel(logging.ERROR)
    try:
        assert client.get("/admin/loggers").json()["root"]["level"] in {"INFO", "WARN", "DEBUG"}
        assert client.get("/admin/loggers/hub.testlevels.child").json() == {
            "level": "ERROR", "last_modified": None,
        }  # fmt: skip
        r = client.put("/admin/loggers/hub.testlevels", json={"level": "DEBUG"})
        assert r.status_code == 200
        assert r.json() == ["hub.testlevels", "hub.testlevels.child"]
        assert child.getEffectiveLevel() == logging.DEBUG  # (its own level was set too)
        got = client.get("/admin/loggers/hub.testlevels.child").json()
        assert got["level"] == "DEBUG" and got["last_modified"] > 0
        assert client.get("/admin/loggers").json()["hub.testlevels"]["level"] == "DEBUG"
        client.put("/admin/loggers/hub.testlevels", json={"level": "warn"})
        assert child.getEffectiveLevel() == logging.WARNING
        bad = client.put("/admin/loggers/hub.testlevels", json={"level": "LOUD"})
        assert bad.status_code == 400 and "Invalid log level" in bad.json()["message"]
        assert client.get("/admin/loggers/no.such.logger.here").status_code == 404
        # a standalone worker is its whole cluster: scope=cluster is the worker's, 204
        r = client.put("/admin/loggers/hub.testlevels?scope=cluster", json={"level": "INFO"})
        assert r.status_code == 204 and child.getEffectiveLevel() == logging.INFO
    finally:
        for name in ("hub.testlevels", "hub.testlevels.child"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_a_rest_config_reads_only_the_references_the_worker_allows(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference's value reaches the connector, and from there records, topic names or a
    server the client names: masking it in the config views is not enough. A REST client had
    read any environment variable and any file the worker could (an InsertField static.value
    of ${env:AWS_SECRET} came back in the topic's records). By default a config sent over
    REST reads neither; the worker config's allow-lists open them (KIP-887's and KIP-993's
    names)."""
    from hub.config import allow_rest_references

    monkeypatch.setenv("HUB_TEST_SECRET", "very-secret")
    secret_file = tmp_path / "secret.properties"
    secret_file.write_text("key=from-the-file\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "s").write_text("outside\n")
    (tmp_path / "escape").symlink_to(outside / "s")

    def post(value: str) -> Any:
        return client.post("/connectors", json={"name": "leak", "config": _gen(**{
            "transforms": "a", "transforms.a.type": "InsertField$Value",
            "transforms.a.static.field": "x", "transforms.a.static.value": value})})  # fmt: skip

    for ref, setting in [("${env:HUB_TEST_SECRET}", "allowlist.pattern"),
                         ("${env:HUB_TEST_SECRET:-x}", "allowlist.pattern"),
                         (f"${{file:{secret_file}:key}}", "allowed.paths")]:  # fmt: skip
        r = post(ref)
        assert r.status_code == 400, r.text
        assert "may not read" in r.json()["message"] and setting in r.json()["message"]
        assert "very-secret" not in r.text and "from-the-file" not in r.text
    assert client.get("/connectors").json() == []
    allow_rest_references(r"HUB_TEST_S.*", [str(tmp_path)])
    try:
        assert post("${env:HUB_TEST_SECRET}").status_code == 201
        assert client.delete("/connectors/leak").status_code == 204
        assert post(f"${{file:{secret_file}:key}}").status_code == 201
        assert client.delete("/connectors/leak").status_code == 204
        assert post("${env:PATH}").status_code == 400  # (not matched whole)
        assert post(f"${{file:{outside / 's'}}}").status_code == 400
        assert post(f"${{file:{tmp_path / 'escape'}}}").status_code == 400  # (a link out)
    finally:
        allow_rest_references(None, [])


def test_validate_takes_a_config_as_post_connectors_does(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rest_references: None
) -> None:
    # references resolved first (a ${file:...} rate was "not a valid number"), the value of
    # one masked; a body of another plugin than the path's is refused (it had validated one
    # and described the other)
    (tmp_path / "n.properties").write_text("rate=7\n")
    monkeypatch.setenv("HUB_TEST_TOPIC", "S3cretTopic")
    body = {"connector.class": "datagen", "topic": "${env:HUB_TEST_TOPIC}",
            "rate": f"${{file:{tmp_path / 'n.properties'}:rate}}"}  # fmt: skip
    r = client.put("/connector-plugins/datagen/config/validate", json=body)
    assert r.status_code == 200 and r.json()["error_count"] == 0, r.text
    assert "S3cretTopic" not in r.text
    assert client.post("/connectors", json={"name": "v", "config": body}).status_code == 201
    other = {"connector.class": "FileStreamSink", "topics": "a", "file": str(tmp_path / "o")}
    r = client.put("/connector-plugins/datagen/config/validate", json=other)
    assert r.status_code == 400 and "another plugin" in r.text, r.text
    by_ref = {"connector.class": "${env:HUB_TEST_TOPIC}", "topic": "t"}
    r = client.put("/connector-plugins/datagen/config/validate", json=by_ref)
    assert r.status_code == 400 and "S3cretTopic" not in r.text, r.text


def test_a_rest_client_cannot_make_the_worker_import_a_module(client: TestClient) -> None:
    # (connector.class as module:Class imported any installed module a REST client named,
    # running its code; only its form was checked)
    import sys

    assert "tabnanny" not in sys.modules
    config = {"connector.class": "tabnanny:Anything", "topic": "t"}
    r = client.post("/connectors", json={"name": "imp", "config": config})
    assert r.status_code == 400 and "over the REST API a module:Class" in r.text, r.text
    r = client.put("/connector-plugins/tabnanny:Anything/config/validate", json=config)
    assert r.status_code == 400, r.text
    assert "tabnanny" not in sys.modules
    # a module the worker has loaded (a connector file's, a plugin's) is taken
    ok = {"connector.class": SECRET_CLASS, "file": "/dev/null", "topic": "t"}
    assert client.post("/connectors", json={"name": "mine", "config": ok}).status_code == 201


def test_secrets_are_masked_everywhere(client: TestClient, tmp_path: Path) -> None:
    config = {
        "connector.class": SECRET_CLASS, "file": str(tmp_path / "x.txt"), "topic": "s",
        "database.password": PASSWORD, "fail": "true",
    }  # fmt: skip
    responses = [client.post("/connectors", json={"name": "sec", "config": config})]
    assert responses[0].status_code == 201
    wait_for(lambda: _state(client, "sec")[1] == ["FAILED"])
    for path in ("/connectors/sec", "/connectors/sec/config", "/connectors/sec/status",
                 "/connectors/sec/tasks", "/connectors/sec/tasks/0/status",
                 "/connectors?expand=status&expand=info"):  # fmt: skip
        responses.append(client.get(path))
    status = client.get("/connectors/sec/status").json()
    assert "login refused for password ********" in status["tasks"][0]["trace"]
    assert client.get("/connectors/sec/config").json()["database.password"] == "********"
    responses.append(client.put("/connector-plugins/SecretSource/config/validate", json=config))
    responses.append(client.put(f"/connector-plugins/{SECRET_CLASS}/config/validate", json=config))
    bad = {**config, "rate": "x"}  # unknown property: the error names it, the password masked
    responses.append(client.put("/connectors/sec2/config", json=bad))
    responses.append(client.put("/connectors/sec2/config", json={**bad, "user.password": "pw1"}))
    for r in responses:
        assert PASSWORD not in r.text and "pw1" not in r.text, r.text
    assert (
        responses[-1].status_code == 400 and "user.password: unknown property" in responses[-1].text
    )


def test_no_secret_through_references_drivers_or_unexpected_errors(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rest_references: None
) -> None:
    # a reference's value was quoted by errors: connector.class: ${env:X} or ${file:...}
    # returned the variable or the file to any REST client
    monkeypatch.setenv("HUB_TEST_REF_SECRET", "Sup3rS3cret")
    (tmp_path / "secret.txt").write_text("FileS3cret")
    for config in (
        {"connector.class": "${env:HUB_TEST_REF_SECRET}", "topic": "t"},
        {"connector.class": f"${{file:{tmp_path / 'secret.txt'}}}", "topic": "t"},
        {**_gen(), "name": "${env:HUB_TEST_REF_SECRET}"},
        {**_gen(), "transforms": "r", "transforms.r.type": "${env:HUB_TEST_REF_SECRET}"},
        {**_gen(), "topic.creation.default.retention.ms": "${env:HUB_TEST_REF_SECRET}"},
    ):
        r = client.post("/connectors", json={"name": "ref", "config": config})
        assert r.status_code == 400, r.text
        assert "Sup3rS3cret" not in r.text and "FileS3cret" not in r.text, r.text
    # a password a driver quotes on its own (libpq: invalid percent-encoded token: "Pa%zz")
    config = {"connector.class": SECRET_CLASS, "file": str(tmp_path / "x.txt"), "topic": "s",
              "database.password": "postgresql://u:Pa%zzw0rd@h/db", "fail": "true"}  # fmt: skip
    assert client.post("/connectors", json={"name": "url", "config": config}).status_code == 201
    wait_for(lambda: _state(client, "url")[1] == ["FAILED"])
    for path in ("/connectors/url/status", "/connectors?expand=status&expand=info"):
        assert "Pa%zzw0rd" not in client.get(path).text
    # a connector.class no import can take (it had raised TypeError: a 500)
    r = client.post("/connectors", json={"name": "imp", "config": {
        "connector.class": ".${env:HUB_TEST_REF_SECRET}:X", "topic": "t"}})  # fmt: skip
    assert r.status_code == 400 and "module.path:ClassName" in r.text, r.text
    assert "Sup3rS3cret" not in r.text


def test_an_unexpected_error_is_answered_and_goes_no_further(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # uvicorn had logged the traceback, message and all, and dropped the keep-alive
    # connection; TestClient raises what escapes the app
    from starlette.applications import Starlette
    from starlette.routing import Route

    from hub.api.guards import Contained

    def boom(_request: Any) -> Any:
        raise TypeError("the password is Sup3rS3cret")

    app = Starlette(routes=[Route("/boom", boom)])
    app.add_middleware(Contained)
    r = TestClient(app).get("/boom")
    assert r.status_code == 500 and r.json()["message"].startswith("internal error (TypeError)")
    assert "Sup3rS3cret" not in r.text and "Sup3rS3cret" not in caplog.text
    assert "GET /boom failed: TypeError" in caplog.text


def test_a_url_password_is_masked_whatever_the_property() -> None:
    # a stored config that no longer validates is masked by names only: connection.url had
    # shown its password
    from hub.config import mask, scrub, url_passwords

    masked = mask({"connection.url": "postgresql://postgres:UrlPw2@127.0.0.1:5432/db"})
    assert masked == {"connection.url": "postgresql://postgres:********@127.0.0.1:5432/db"}
    text = 'invalid percent-encoded token: "Pa%zzw0rd"; unexpected spaces found in "My Pass"'
    out = scrub(text, ["postgresql://u:Pa%zzw0rd@h/db", "host=h password='My Pass'"])
    assert out == 'invalid percent-encoded token: "********"; unexpected spaces found in "********"'
    # a password holding "/" or "@" unencoded: libpq reads a part of it as the host, port or
    # database, and `hub validate` printed "connect to @cdc:S3cr3tLONG/PW-tail@127.0.0.1..."
    # and "connect to cdc@PWat@127.0.0.1..." (the config views showed the first whole)
    for url, said in (
        ("postgresql://cdc:S3cr3tLONG/PW-tail@127.0.0.1:42321/tgt",
         "connect to @cdc:S3cr3tLONG/PW-tail@127.0.0.1:42321/tgt: failed to resolve host 'cdc'"),
        ("postgresql://cdc:S3cr3t@PWat@127.0.0.1:42321/tgt",
         "connect to cdc@PWat@127.0.0.1:42321/tgt"),
    ):  # fmt: skip
        assert mask({"connection.url": url})["connection.url"] == (
            "postgresql://cdc:********@127.0.0.1:42321/tgt"
        )
        out = scrub(said, url_passwords(url))
        assert not any(part in out for part in ("S3cr3t", "PW-tail", "PWat")), out
    # a URL with no password is shown as it is (but one whose path has "user:x@": rather a
    # path masked than a password holding "/" shown)
    for url in ("postgresql://u@h/db", "s3://bucket/p@x", "http://[::1]:8080/api/@v1"):
        assert mask({"x": url})["x"] == url and url_passwords(url) == []
    assert mask({"x": "postgresql://u:p1pe@h/db?x=@y"})["x"] == "postgresql://u:********@h/db?x=@y"
    # (a review's shapes: every password of a list, of a URL in another's query, one holding
    # "/" and "?" or digits only, a password= parameter of a JDBC URL or a conninfo)
    for value, secret in (
        ("postgresql://u:S3cretPW1@h1/db,postgresql://u:S3cretPW2@h2/db", "S3cretPW"),
        ("http://proxy.example/?next=http://u:S3cretPW@inner/", "S3cretPW"),
        ("postgresql://u:1234/5678@h/db", "1234/5678"),
        ("postgresql://u:ab/cd?ef@h/db", "ab/cd?ef"),
        ("jdbc:postgresql://h:5432/db?user=u&password=S3cretPW", "S3cretPW"),
        ("host=h user=u password='S3cret PW' dbname=db", "S3cret PW"),
    ):  # fmt: skip
        assert secret not in mask({"x": value})["x"], value
        assert secret not in scrub(f"cannot connect: {value}", url_passwords(value)), value


def test_a_url_password_in_any_property_is_masked_in_errors_and_the_status_topic(
    client: TestClient, tmp_path: Path
) -> None:
    # a URL's password in a property that is not a secret one (bigquery.endpoint:
    # http://u:pw@host) was masked by GET /config only: task errors, the status trace, the
    # logs and the status topic on disk held it
    config = {"connector.class": SECRET_CLASS, "file": str(tmp_path / "x.txt"), "topic": "s",
              "endpoint": "http://u:Endp0int-Secret@127.0.0.1:9", "fail": "true"}  # fmt: skip
    assert client.post("/connectors", json={"name": "ep", "config": config}).status_code == 201
    wait_for(lambda: _state(client, "ep")[1] == ["FAILED"])
    status = client.get("/connectors/ep/status").json()
    assert "at http://u:********@127.0.0.1:9" in status["tasks"][0]["trace"], status
    for path in ("/connectors/ep", "/connectors/ep/config", "/connectors/ep/status",
                 "/connectors/ep/tasks/0/status", "/connectors?expand=status&expand=info",
                 "/hub/connectors"):  # fmt: skip
        assert "Endp0int-Secret" not in client.get(path).text, path

    # a URL pasted into a property of another kind is quoted by the validation error: masked
    bad = {**_gen(), "rate": "postgresql://u:Endp0int-Secret@h/db"}
    r = client.post("/connectors", json={"name": "bad", "config": bad})
    assert r.status_code == 400 and "u:********@h/db" in r.text, r.text
    assert "Endp0int-Secret" not in r.text

    def stored() -> bytes:
        files = (tmp_path / "data" / "__connect_status").rglob("*.log")
        return b"".join(p.read_bytes() for p in files)

    wait_for(lambda: b"at http://u:********@127.0.0.1:9" in stored())
    assert b"Endp0int-Secret" not in stored()


def test_bearer_token(worker: Worker) -> None:
    client = TestClient(create_app(worker, auth_token="t0k"))
    r = client.get("/connectors")
    assert r.status_code == 401 and r.json()["error_code"] == 401
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/connectors", headers={"Authorization": "Bearer t0k"}).json() == []
    # the scheme is case-insensitive (RFC 7235), the token is not
    assert client.get("/connectors", headers={"Authorization": "bearer t0k"}).json() == []
    assert client.get("/connectors", headers={"Authorization": "BEARER  t0k"}).json() == []
    assert client.get("/connectors", headers={"Authorization": "Bearer T0K"}).status_code == 401
    assert client.get("/connectors", headers={"Authorization": "Basic t0k"}).status_code == 401


def test_request_bodies_are_capped_and_never_echoed(worker: Worker) -> None:
    client = TestClient(create_app(worker, max_request_bytes=4096))
    big = {"name": "big", "config": {**_gen(), "topic": "x" * 10_000}}
    r = client.post("/connectors", json=big)  # Content-Length says it is too large
    assert r.status_code == 413 and "larger than 4096 bytes" in r.json()["message"]
    assert "xxxx" not in r.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        body = json.dumps(big).encode()
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    r = client.post("/connectors", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "xxxx" not in r.text
    assert client.get("/connectors").json() == []
    # under the cap, a long bad value is quoted cut short
    r = client.post("/connectors", json={"name": "long", "config": {**_gen(), "keys": "9x" * 1500}})
    assert r.status_code == 400 and "(3002 characters)" in r.text and len(r.text) < 1000


@pytest.mark.integration
def test_hub_serve_and_connectors_cli(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cfg = tmp_path / "gen.yaml"
    cfg.write_text(json.dumps({"name": "gen", "config": _gen()}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    hub = [sys.executable, "-m", "hub"]
    down = subprocess.run(
        [*hub, "connectors", "list", "--url", url], capture_output=True, text=True, env=env
    )
    assert down.returncode == 1
    assert down.stderr.count("\n") == 1 and "cannot reach" in down.stderr
    worker = tmp_path / "worker.yaml"  # (REST configs may read HUB_TEST_* variables)
    worker.write_text("config.providers.env.param.allowlist.pattern: HUB_TEST_.*\n")
    proc = subprocess.Popen(
        [*hub, "--data-dir", str(tmp_path / "d"), "serve", "--port", str(port),
         "--worker-config", str(worker), str(cfg)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            r = subprocess.run(
                [*hub, "connectors", "list", "--url", url], capture_output=True, text=True, env=env
            )
            if r.returncode == 0 and "RUNNING" in r.stdout:
                break
            assert time.monotonic() < deadline, (r.stdout, r.stderr)
            time.sleep(0.3)
        assert "gen" in r.stdout
        r = subprocess.run(
            [*hub, "connectors", "pause", "gen", "--url", url], capture_output=True, text=True,
            env=env,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        r = subprocess.run(
            [*hub, "connectors", "status", "gen", "--url", url], capture_output=True, text=True,
            env=env,
        )  # fmt: skip
        assert "PAUSED" in r.stdout
        # a file's connectors created over REST, its references sent as written (resolved
        # by the worker: the value never leaves its machine)
        more = tmp_path / "more.yaml"
        more.write_text(json.dumps({"name": "gen2", "config": _gen("${env:HUB_TEST_T:-g2}")}))
        r = subprocess.run(
            [*hub, "connectors", "create", str(more), "--url", url], capture_output=True,
            text=True, env=env,
        )  # fmt: skip
        assert r.returncode == 0 and "gen2: source connector, 1 task(s)" in r.stdout, r.stderr
        with urllib.request.urlopen(f"{url}/connectors/gen2/config") as resp:
            assert json.loads(resp.read())["topic"] == "${env:HUB_TEST_T:-g2}"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_a_restart_that_cannot_validate_leaves_the_connector_failed_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rest_references: None
) -> None:
    # the restart had stopped the connector before validating it: STOPPED, its reason gone
    monkeypatch.setenv("HUB_TEST_TOPIC", "t")
    data = str(tmp_path / "data")
    w = Worker(data)
    try:
        c = TestClient(create_app(w))
        r = c.post("/connectors", json={"name": "g", "config": _gen("${env:HUB_TEST_TOPIC}")})
        assert r.status_code == 201, r.text
    finally:
        w.stop()
    monkeypatch.delenv("HUB_TEST_TOPIC")
    w = Worker(data)  # its stored config no longer validates
    try:
        c = TestClient(create_app(w))
        before = c.get("/connectors/g/status").json()["connector"]
        assert before["state"] == "FAILED" and "HUB_TEST_TOPIC" in before["trace"]
        assert c.post("/connectors/g/restart").status_code == 400
        assert c.get("/connectors/g/status").json()["connector"] == before
    finally:
        w.stop()


def test_other_sites_requests_are_refused(worker: Worker) -> None:
    # (without a token, a page of any site the user visited restarted a connector with a
    # no-cors POST, and a name pointed at 127.0.0.1 (DNS rebinding) could read and change
    # everything: the worker took any Origin and any Host)
    local = TestClient(create_app(worker), base_url="http://127.0.0.1:8083")
    assert local.post("/connectors", json={"name": "g", "config": _gen()}).status_code == 201
    r = local.post("/connectors/g/restart", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "another site than this worker's" in r.json()["message"]
    r = local.post("/connectors/g/restart", headers={"Origin": "null"})
    assert r.status_code == 403
    same = local.post("/connectors/g/restart", headers={"Origin": "http://127.0.0.1:8083"})
    assert same.status_code in (200, 202, 204)  # (the console's own requests)
    assert local.get("/connectors", headers={"Origin": "https://evil.example"}).status_code == 200
    for host in ("evil.example:8083", "127.0.0.1.evil.example:8083", ""):
        r = local.get("/connectors/g/config", headers={"Host": host})
        assert r.status_code == 403 and "is not this worker's" in r.json()["message"], host
    # loopback names, and the machine's own (Debian maps it to 127.0.1.1: workers on one
    # machine forward requests to each other by it)
    own = socket.gethostname()
    for host in ("localhost:8083", "127.0.0.1:8083", "[::1]:8083", "app.localhost", own):
        assert local.get("/connectors", headers={"Host": host}).status_code == 200, host
    # with a token (what guards a worker served to other names, or behind a proxy that
    # rewrites Host, which makes every browser's Origin another), any name and any Origin:
    # another site can send neither the bearer header nor the console's own header
    guarded = TestClient(create_app(worker, auth_token="t0k"), base_url="http://127.0.0.1:8083")
    bearer = {"Authorization": "Bearer t0k"}
    assert guarded.get("/connectors", headers={**bearer, "Host": "hub.example"}).status_code == 200
    r = guarded.post("/connectors/g/restart",
                     headers={**bearer, "Origin": "https://hub.example"})  # fmt: skip
    assert r.status_code in (200, 202, 204)
    r = guarded.post("/connectors/g/restart", headers={"Origin": "https://evil.example"})
    assert r.status_code == 401
    # served on another address (a remote client's names are not known): the Origin check
    remote = TestClient(create_app(worker), base_url="http://10.1.2.3:8083")
    assert remote.get("/connectors", headers={"Host": "hub.example"}).status_code == 200
    r = remote.post("/connectors/g/restart", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


def test_a_lone_surrogate_in_a_value_is_a_bad_request(client: TestClient) -> None:
    # (JSON's "\ud800" passed validation, and the driver failed on it later: "Preview tables"
    # answered 500, a connector created with it failed at its start)
    body = ('{"name": "s", "config": {"connector.class": "postgres", "database.hostname": "h", '
            '"database.user": "u", "database.dbname": "d", "topic.prefix": "p", '
            '"database.password": "S3cret\\u00e9\\ud800Lone"}}')  # fmt: skip
    headers = {"Content-Type": "application/json"}
    r = client.post("/connectors", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert "database.password: holds a lone surrogate" in r.json()["message"]
    assert "S3cret" not in r.text
    config = body.split('"config": ', 1)[1][:-1]
    r = client.put("/hub/connector-plugins/postgres/tables", content=config, headers=headers)
    assert r.status_code == 400 and "database.password: holds a lone surrogate" in r.text
    odd = body.replace('"database.password"', '"x\\udc80"')  # (in a name)
    r = client.post("/connectors", content=odd, headers=headers)
    assert r.status_code == 400 and "a property name with a lone surrogate" in r.text, r.text


@pytest.mark.integration
def test_the_cli_says_how_to_give_a_worker_its_token(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "HUB_REST_AUTH_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    hub = [sys.executable, "-m", "hub"]
    proc = subprocess.Popen(
        [*hub, "--data-dir", str(tmp_path / "d"), "serve", "--port", str(port),
         "--auth-token", "T0kSecret"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip

    def listed(*more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*hub, "connectors", "list", "--url", url, *more],
                              capture_output=True, text=True, env=env)  # fmt: skip

    try:
        deadline = time.monotonic() + 20
        while "cannot reach" in (r := listed()).stderr:
            assert time.monotonic() < deadline, r.stderr
            time.sleep(0.3)
        assert r.returncode == 1 and "(HTTP 401)" in r.stderr
        assert "give the worker's token with --token or HUB_REST_AUTH_TOKEN" in r.stderr
        r = listed("--token", "Wr0ngTok")
        assert "is not the worker's" in r.stderr and "Wr0ngTok" not in r.stderr
        assert listed("--token", "T0kSecret").returncode == 0
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
