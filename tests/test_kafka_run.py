"""`hub run --worker-config` with `log.backend: kafka`: the worker keeps its topics, source
offsets and sink progress on a Kafka-protocol broker (Tansu, tests/fixtures/kafka.py) instead of
the data directory, and a kill -9 at any moment still loses and doubles nothing end to end
(datagen → Kafka → FileStreamSink)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import run_killed, wait_for

pytestmark = pytest.mark.integration

TOTAL = 6000


def _lines(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    return path.read_bytes().split(b"\n")[:-1]  # (a torn last line is not one yet)


@pytest.mark.slow
def test_datagen_to_file_through_kafka_survives_kill_9(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    kafka_broker = own_kafka_broker  # (its connectors' offsets are this test's alone)
    topic, out = f"events-{uuid.uuid4().hex[:8]}", tmp_path / "out.jsonl"
    worker = tmp_path / "worker.yaml"
    # (a killed worker's group member is let go after session.timeout.ms: short here)
    worker.write_text(f"log.backend: kafka\nbootstrap.servers: {kafka_broker}\n"
                      "replication.factor: 1\n"
                      "session.timeout.ms: 2000\nheartbeat.interval.ms: 500\n")  # fmt: skip
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(json.dumps({"connectors": [
        {"name": "gen", "config": {
            "connector.class": "datagen", "topic": topic, "rate": 400, "keys": 50,
            "max.records": TOTAL, "batch.size": 100, "topic.creation.default.partitions": 2,
            "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
        }},
        {"name": "out", "config": {
            "connector.class": "FileStreamSink", "topics": topic, "file": str(out),
            "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
            "offset.flush.interval.ms": 300,
        }},
    ]}))  # fmt: skip
    cmd = [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), "run",
           "--worker-config", str(worker), str(pipeline)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    # killed twice while both connectors run
    run_killed(cmd, env, tmp_path / "worker.log", lambda: len(_lines(out)), (1500, 3500),
               lambda: len(_lines(out)) >= TOTAL)  # fmt: skip
    seqs = sorted(json.loads(line)["seq"] for line in _lines(out))
    assert seqs == list(range(TOTAL))
    assert not (tmp_path / "data").exists()  # (nothing in the data directory: all on Kafka)
    assert "failed" not in (tmp_path / "worker.log").read_text()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("log.backend: kafak\n", "log.backend must be 'embedded' or 'kafka', not 'kafak'"),
        ("log.backend: kafka\n", "log.backend kafka needs bootstrap.servers"),
        ("log.backend: kafka\nbootstrap.servers: h:9092\nreplication.factor: x\n",
         "replication.factor must be -1 (the cluster's default.replication.factor) or at least "
         "1, not 'x'"),
        ("- a list\n", "the worker config must be a mapping"),
        ("log.backend: kafka\nbootstrap.servers: 127.0.0.1:1\nsasl.password: hunter2\n",
         "cannot reach the Kafka cluster at bootstrap.servers 127.0.0.1:1"),
        ("log.backend: kafka\nbootstrap.servers: h:9092\nsasl.pasword: hunter2\n",
         'No such configuration property: "sasl.pasword"'),
        # a consumer's own property: found at the first consumer, after the offsets topic
        ("log.backend: kafka\nbootstrap.servers: h:9092\nsession.timeout.ms: abc\n",
         'Invalid value for configuration property "session.timeout.ms"'),
        # (a security mismatch fails as an unreachable cluster does: both are named)
        ("log.backend: kafka\nbootstrap.servers: 127.0.0.1:1\nsecurity.protocol: SASL_PLAINTEXT"
         "\nsasl.mechanism: PLAIN\nsasl.username: u\nsasl.password: hunter2\n",
         "cannot reach the Kafka cluster at bootstrap.servers 127.0.0.1:1"),
        # source tasks in Kafka transactions (tests/test_kafka_transactions.py)
        ("log.backend: kafka\nbootstrap.servers: h:9092\nexactly.once.source.support: enable\n",
         "exactly.once.source.support must be 'enabled' (source tasks write their records and "
         "offsets in Kafka transactions) or 'disabled', not 'enable'"),
        ("exactly.once.source.support: enabled\n",
         "exactly.once.source.support is for log.backend: kafka"),
        ("log.backend: kafka\nbootstrap.servers: h:9092\ntransaction.timeout.ms: 60000\n",
         "transaction.timeout.ms must be a whole number of milliseconds from 1000 to 25000"),
        # a misspelt log.backend had run the worker on the embedded log, silently; the
        # password is not shown
        ("log.backnd: kafka\nbootstrap.servers: h:9092\nsasl.password: hunter2\n",
         "bootstrap.servers, log.backnd (did you mean log.backend?), sasl.password: not used "
         "by a worker on the embedded log"),
    ],
)  # fmt: skip
def test_a_bad_worker_config_is_named_and_nothing_starts(
    tmp_path: Path, text: str, said: str
) -> None:
    worker = tmp_path / "worker.yaml"
    worker.write_text(text)
    r = subprocess.run(
        [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), "run",
         "--worker-config", str(worker), "configs/datagen-to-file.yaml"],
        env=dict(os.environ, PYTHONPATH=os.getcwd()), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert f"{worker}: {said}" in r.stderr and "Traceback" not in r.stderr
    if "security.protocol" in text:
        assert ("and that the listener there takes security.protocol=SASL_PLAINTEXT and "
                "sasl.mechanism=PLAIN") in r.stderr  # fmt: skip
    assert "hunter2" not in r.stderr
    assert not (tmp_path / "data").exists()


def test_hub_serve_on_kafka_answers_and_keeps_its_configs_there(
    own_kafka_broker: str, tmp_path: Path
) -> None:
    kafka_broker = own_kafka_broker  # (the configs it restores are this test's alone)
    import httpx

    from tests.fixtures.standin import free_port

    topic, out = f"served-{uuid.uuid4().hex[:8]}", tmp_path / "out.jsonl"
    worker = tmp_path / "worker.yaml"
    worker.write_text(f"log.backend: kafka\nbootstrap.servers: {kafka_broker}\n"
                      "replication.factor: 1\n"
                      "session.timeout.ms: 2000\nheartbeat.interval.ms: 500\n")  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), "serve",
           "--port", str(port), "--worker-config", str(worker)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    gen = {
        "connector.class": "datagen",
        "topic": topic,
        "rate": 0,
        "max.records": 300,
        "value.converter.schemas.enable": "false",
        "key.converter.schemas.enable": "false",
    }
    sink = {
        "connector.class": "FileStreamSink",
        "topics": topic,
        "file": str(out),
        "value.converter.schemas.enable": "false",
        "key.converter.schemas.enable": "false",
    }

    def up() -> bool:
        try:
            return httpx.get(f"{url}/connectors", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    log = (tmp_path / "serve.log").open("ab")
    proc = subprocess.Popen(cmd, env=env, stderr=log)
    try:
        wait_for(up, 60, "the REST API")
        for name, config in (("gen", gen), ("out", sink)):
            assert httpx.post(f"{url}/connectors", json={"name": name, "config": config},
                              timeout=30).status_code == 201  # fmt: skip
        wait_for(lambda: len(_lines(out)) >= 300, 60, "the file sink's lines")
        httpx.put(f"{url}/connectors/out/stop", timeout=30)
        # a STOPPED sink's offsets: its group's, read from Kafka
        offsets = wait_for(
            lambda: httpx.get(f"{url}/connectors/out/offsets", timeout=30).json()["offsets"],
            30, "the sink's offsets",
        )  # fmt: skip
        assert sum(o["offset"]["kafka_offset"] for o in offsets) == 300
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    proc = subprocess.Popen(cmd, env=env, stderr=log)  # the configs come back from Kafka
    try:
        wait_for(up, 60, "the REST API again")
        assert sorted(httpx.get(f"{url}/connectors", timeout=30).json()) == ["gen", "out"]
        state = httpx.get(f"{url}/connectors/out/status", timeout=30).json()["connector"]["state"]
        assert state == "STOPPED"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    log.close()
    assert sorted(json.loads(line)["seq"] for line in _lines(out)) == list(range(300))
    assert not (tmp_path / "data").exists()


def test_a_replication_factor_past_the_brokers_is_refused_at_start(
    kafka_broker: str, tmp_path: Path
) -> None:
    """The default replication.factor is 3 (Connect's): on a one-broker cluster the worker
    says so at start, not when it first creates a topic."""
    worker = tmp_path / "worker.yaml"
    worker.write_text(f"log.backend: kafka\nbootstrap.servers: {kafka_broker}\n"
                      "offset.storage.replication.factor: 2\n")  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), "run",
         "--worker-config", str(worker), "configs/datagen-to-file.yaml"],
        env=dict(os.environ, PYTHONPATH=os.getcwd()), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "replication.factor 3, offset.storage.replication.factor 2, but" in r.stderr
    assert "has 1 broker(s)" in r.stderr and "Traceback" not in r.stderr
