"""Distributed workers (issue 16): several `hub serve` processes with one ``group.id`` on a
Kafka-protocol broker (Tansu) share the connectors of their config topic and run each task on
exactly one of them; a worker killed with SIGKILL has its tasks moved to the others, which
go on from its last commit with nothing lost or doubled; any worker's REST API answers for
the cluster."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from hub.config import load_connector_file
from hub.demo import job, shop
from hub.log import TopicPartition
from hub.log.kafka import KafkaLog
from hub.runtime.validation import validate
from tests.fixtures.postgres import PgServer
from tests.fixtures.workers import Workers
from tests.helpers import freeze, wait_for

pytestmark = pytest.mark.integration

TOTAL = 9000


def _seqs(path: Path) -> list[int]:
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")[:-1]  # (a torn last line is not one yet)
    return [json.loads(line)["seq"] for line in lines]


def _pipeline(topic: str, out: Path, **gen: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """datagen into ``topic`` (``gen``: its settings) and a FileStreamSink of it into ``out``."""
    source = {
        "connector.class": "datagen", "topic": topic, "keys": 50,
        "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
        **gen,
    }  # fmt: skip
    sink = {
        "connector.class": "FileStreamSink", "topics": topic, "file": str(out),
        "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
        "offset.flush.interval.ms": 300,
    }  # fmt: skip
    return source, sink


@pytest.mark.slow
def test_three_workers_share_the_tasks_and_take_over_a_killed_ones(
    kafka_broker: str, tmp_path: Path
) -> None:
    topic, out = f"events-{uuid.uuid4().hex[:8]}", tmp_path / "out.jsonl"
    gen, sink = _pipeline(topic, out, **{"rate": 400, "max.records": TOTAL, "batch.size": 100,
                                         "topic.creation.default.partitions": 2})  # fmt: skip
    cluster = Workers(kafka_broker, tmp_path, {"HUB_TEST_TOPIC": f"{topic}-x"})
    try:
        # (c lacks an environment variable a connector's config names: it fails there)
        a, b = cluster.start(), cluster.start()
        c = cluster.start({k: v for k, v in cluster.env.items() if k != "HUB_TEST_TOPIC"})
        cluster.create(a, "gen", gen)
        # at once on the other workers (each reads the config topic first): its config put
        # is an update (200), a create of the same name is refused (409)
        r = cluster.http.put(cluster.url(b, "/connectors/gen/config"), json=gen, timeout=60)
        assert r.status_code == 200, r.text
        r = cluster.http.post(cluster.url(c, "/connectors"), json={"name": "gen", "config": sink},
                              timeout=60)  # fmt: skip
        assert r.status_code == 409, r.text
        cluster.create(b, "out", sink)
        # every worker knows both; each task runs on one of them, and all of them say which
        for port in (a, b, c):
            wait_for(lambda p=port: cluster.get(p, "/connectors") == ["gen", "out"], 30,
                     f"worker {port} listing both connectors")  # fmt: skip
        placed = cluster.settle([("gen", 0), ("out", 0)])
        source_on = placed[("gen", 0)]
        other = next(p for p in (a, b, c) if p != source_on)
        # each worker's /hub/health: the cluster, its live workers, what runs there
        health = cluster.get(source_on, "/hub/health")["cluster"]
        assert health["group.id"].startswith("cluster-") and "gen-0" in health["tasks"]
        assert sorted(health["workers"]) == sorted(f"127.0.0.1:{p}" for p in (a, b, c))
        # the connector's state as one worker (its lease's holder) reports it, on every worker
        wait_for(lambda: len({(st["connector"]["state"], st["connector"]["worker_id"])
                              for p in (a, b, c)
                              for st in [cluster.get(p, "/connectors/gen/status")]}) == 1,
                 30, "every worker reporting gen's state alike")  # fmt: skip
        # a state change through a worker that does not run the task reaches the one that does
        assert (
            cluster.http.put(cluster.url(other, "/connectors/gen/pause"), timeout=30).status_code
            == 202
        )
        for port in (a, b, c):
            wait_for(
                lambda p=port: cluster.owners(p, "gen") == [("PAUSED", f"127.0.0.1:{source_on}")],
                30,
                f"worker {port} saying PAUSED",
            )
        paused_at = len(_seqs(out))
        time.sleep(1)
        assert len(_seqs(out)) <= paused_at + 400  # (what the source had sent on drains)
        assert (
            cluster.http.put(cluster.url(other, "/connectors/gen/resume"), timeout=30).status_code
            == 202
        )
        # a task's restart asked of another worker is forwarded to the one running it
        r = cluster.http.post(cluster.url(other, "/connectors/gen/tasks/0/restart"), timeout=60)
        assert r.status_code == 204, r.text
        wait_for(lambda: len(_seqs(out)) >= 1500, 60, "1 500 lines")

        # the worker running the source killed mid-stream: another takes the task over
        cluster.kill(source_on)
        killed_at = time.monotonic()
        assert len(_seqs(out)) < TOTAL
        moved_to = cluster.running_on("gen")
        took = time.monotonic() - killed_at
        assert moved_to != source_on and took < 20, took  # (session.timeout.ms 2 s)
        wait_for(lambda: len(_seqs(out)) >= 3500, 60, "3 500 lines")
        # then the worker running the sink; a new worker joins meanwhile
        sink_on = cluster.settle([("gen", 0), ("out", 0)])[("out", 0)]
        cluster.kill(sink_on)
        cluster.start()
        assert cluster.running_on("out") != sink_on
        wait_for(lambda: len(_seqs(out)) >= TOTAL, 120, "every line")
        time.sleep(1)  # (nothing more comes)
        assert sorted(_seqs(out)) == list(range(TOTAL))  # every record once

        # deleted through one worker: gone on every worker
        live = cluster.live()
        r = cluster.http.delete(cluster.url(live[0], "/connectors/gen"), timeout=60)
        assert r.status_code == 204, r.text
        for port in live:
            wait_for(lambda p=port: cluster.get(p, "/connectors") == ["out"], 30,
                     f"worker {port} forgetting gen")  # fmt: skip

        # a connector that cannot start on one worker (c) keeps no other from starting
        if c not in live:
            c = cluster.start({k: v for k, v in cluster.env.items() if k != "HUB_TEST_TOPIC"})
        x = {**gen, "topic": "${env:HUB_TEST_TOPIC}", "max.records": 10}
        has_env = next(p for p in cluster.live() if p != c)
        cluster.create(has_env, "x", x)
        for verb, state in (("stop", "STOPPED"), ("resume", "FAILED")):
            r = cluster.http.put(cluster.url(has_env, f"/connectors/x/{verb}"), timeout=30)
            assert r.status_code == 202, r.text
            wait_for(lambda s=state: [x["state"] for x in cluster.get(c, "/hub/connectors")
                                      if x["name"] == "x"] == [s], 30,
                     f"worker c having x {state}")  # fmt: skip
        cluster.create(has_env, "y", {**gen, "topic": f"{topic}-y", "max.records": 10})
        wait_for(lambda: cluster.get(c, "/connectors") == ["out", "x", "y"], 30,
                 "worker c listing y")  # fmt: skip
        cluster.stop_all()
    finally:
        cluster.reap()
    for port in cluster.procs:
        text = (tmp_path / f"worker-{port}.log").read_text()
        if port != c:
            assert "Traceback" not in text and "failed" not in text, text[-3000:]
        # (the file sink's file is this machine's own: said, as a task may move)
        assert f"connector out writes {out} on the machine that runs it" in text


def test_a_worker_that_joins_gets_its_share_of_the_tasks(kafka_broker: str, tmp_path: Path) -> None:
    """A worker alone runs every task; a second one joining gets half of them (the first
    gives them up), and the records each task writes arrive once. (The sink is paused while
    the sources write: Tansu sometimes skips records for a reader at the end of a partition
    that several producers write at once, docs/kafka-backend.md; it reads them after.)"""
    topic, out = f"shared-{uuid.uuid4().hex[:8]}", tmp_path / "out.jsonl"
    per_task = 1500
    gen, sink = _pipeline(topic, out, **{"rate": 150, "max.records": per_task,
                                         "batch.size": 50, "tasks.max": 4})  # fmt: skip
    cluster = Workers(kafka_broker, tmp_path)
    try:
        first = cluster.start()
        cluster.create(first, "gen", gen)
        cluster.create(first, "out", sink, initial_state="PAUSED")
        for task in range(4):
            assert cluster.running_on("gen", task) == first
        second = cluster.start()

        def spread() -> list[str]:
            on = [w for n in ("gen", "out") for s, w in cluster.owners(first, n)
                  if s in ("RUNNING", "PAUSED")]  # fmt: skip
            return sorted(on)

        # 5 tasks over 2 workers: 3 and 2, one way or the other
        ids = (f"127.0.0.1:{first}", f"127.0.0.1:{second}")
        wait_for(lambda: spread() in (sorted([ids[0]] * 3 + [ids[1]] * 2),
                                      sorted([ids[0]] * 2 + [ids[1]] * 3)), 60,
                 "the second worker running 2 or 3 of the 5 tasks")  # fmt: skip
        log = KafkaLog({"bootstrap.servers": kafka_broker})
        try:  # every record of the sources written (and once), then the sink reads them
            wait_for(lambda: sum(1 for _ in log.scan(TopicPartition(topic, 0))) >= 4 * per_task,
                     120, "every record in the topic", 0.5)  # fmt: skip
        finally:
            log.close()
        r = cluster.http.put(cluster.url(second, "/connectors/out/resume"), timeout=60)
        assert r.status_code == 202, r.text
        wait_for(lambda: len(_seqs(out)) >= 4 * per_task, 120, "every line")
        time.sleep(1)
        lines = [json.loads(x) for x in out.read_bytes().split(b"\n")[:-1]]
        assert sorted((d["task"], d["seq"]) for d in lines) == [
            (t, n) for t in range(4) for n in range(per_task)
        ]
        cluster.stop_all()
    finally:
        cluster.reap()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("group.id: c1\n", "group.id makes the worker one of a cluster of workers, which share "
         "their connectors through a Kafka cluster: it needs log.backend: kafka"),
        ("log.backend: kafka\nbootstrap.servers: h:9092\ngroup.id: a b\n",
         "group.id must be a name of letters, digits, '.', '_' and '-'"),
        ("log.backend: kafka\nbootstrap.servers: h:9092\ngroup.id: c1\n"
         "rest.advertised.port: http\n", "rest.advertised.port must be a port number"),
    ],
)  # fmt: skip
def test_a_bad_cluster_config_is_named(tmp_path: Path, text: str, said: str) -> None:
    worker = tmp_path / "worker.yaml"
    worker.write_text(text)
    r = subprocess.run(
        [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), "serve",
         "--worker-config", str(worker)],
        env=dict(os.environ, PYTHONPATH=os.getcwd()), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert f"{worker}: {said}" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_clusters_worker_takes_no_connector_files(
    kafka_broker: str, tmp_path: Path, command: str
) -> None:
    """Its connectors are the cluster's (created over REST): `hub run` is refused, and so
    are files on `hub serve`'s command line."""
    worker = tmp_path / "worker.yaml"
    worker.write_text(f"log.backend: kafka\nbootstrap.servers: {kafka_broker}\n"
                      "replication.factor: 1\ngroup.id: files\n")  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "hub", "--data-dir", str(tmp_path / "data"), command,
         "--worker-config", str(worker), "configs/datagen-to-file.yaml"],
        env=dict(os.environ, PYTHONPATH=os.getcwd()), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    expected = "'hub run' runs the files' connectors on one worker" if command == "run" else (
        "create them over the REST API")  # fmt: skip
    assert expected in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_postgres_to_duckdb_across_workers_killed_mid_stream(
    kafka_broker: str, pg_server: PgServer, pg_db: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """configs/postgres-to-duckdb.yaml's two connectors created on a cluster of two workers
    while the sample shop is written to; the worker running the source is killed with SIGKILL
    (twice) and so is the one running the sink, a new worker starting after each: the
    warehouse ends equal to PostgreSQL, table for table (`hub verify`'s comparison). The
    source writes in transactions (exactly.once.source.support): each worker taking it over
    fences the producer of the one before (on Tansu an aborted transaction's records stay
    visible, and the sink's upserts absorb them)."""
    env = {
        "PGHOST": pg_server.host, "PGPORT": str(pg_server.port), "PGUSER": pg_server.user,
        "PGDATABASE": pg_db, "HUB_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
    }  # fmt: skip
    for name, value in env.items():  # the configs' ${env:...}, for the comparison below
        monkeypatch.setenv(name, value)
    path = str(Path(os.getcwd()) / "configs" / "postgres-to-duckdb.yaml")
    specs = load_connector_file(path)
    listed = yaml.safe_load(Path(path).read_text())["connectors"]
    raw = {c["name"]: dict(c["config"]) for c in listed}
    raw["shop-source"]["slot.name"] = f"hub_{pg_db}"  # (slots are the server's, not the db's)
    valid = [validate(s) for s in specs]
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as pg:
        shop.create(pg)
        stop = threading.Event()
        writer = shop.Writer(pg, seed=5, customers=200, products=50)
        thread = threading.Thread(target=writer.run, args=(100, stop))
        cluster = Workers(kafka_broker, tmp_path, env, exactly_once=True)
        rnd = random.Random(31)
        try:
            a, _b = cluster.start(), cluster.start()
            for name, config in raw.items():  # as given: the workers resolve ${env:...}
                cluster.create(a, name, config)
            thread.start()
            for name in ("shop-source", "shop-warehouse", "shop-source"):
                time.sleep(rnd.uniform(1.5, 3.5))
                cluster.kill(cluster.running_on(name))
                cluster.start()
            cluster.running_on("shop-source")
            time.sleep(2)
            stop.set()
            thread.join()
            assert writer.error is None, writer.error
            result: dict[str, tuple[int, int, bool]] = {}

            def equal() -> bool:
                nonlocal result
                try:
                    result = job.compare(valid)
                except Exception:  # noqa: BLE001 - the sink holds the file right now
                    return False
                return all(eq for _, _, eq in result.values())

            wait_for(equal, 120, "the warehouse equal to PostgreSQL", 1.0)
            cluster.stop_all()
        finally:
            stop.set()
            cluster.reap()
    result = job.compare(valid)
    assert all(eq for _, _, eq in result.values()), result
    assert result["orders"][0] > 300 and result["order_lines"][0] > 600, result


def _topic_seqs(broker: str, topic: str) -> dict[int, list[int]]:
    """datagen's seq of each record of ``topic`` (one partition) -> the timestamps of its
    copies."""
    log = KafkaLog({"bootstrap.servers": broker})
    try:
        assert log.partition_count(topic) == 1
        out: dict[int, list[int]] = {}
        for r in log.scan(TopicPartition(topic, 0)):
            out.setdefault(json.loads(r.value)["seq"], []).append(r.timestamp)
        return out
    finally:
        log.close()


def _committed_offsets(broker: str, offsets_topic: str) -> list[int]:
    """datagen's offset in each closed checkpoint of the offsets topic, in log order."""
    log = KafkaLog({"bootstrap.servers": broker})
    try:
        out = []
        for r in log.scan(TopicPartition(offsets_topic, 0)):
            if r.key is None or b'"hub.task"' not in r.key or r.value is None:
                continue
            doc = json.loads(r.value)
            if doc.get("window") is None and doc.get("offsets"):
                out.append(int(doc["offsets"][0][1]["seq"]))
        return out
    finally:
        log.close()


@pytest.mark.slow
def test_a_worker_frozen_past_its_session_commits_no_older_offsets(
    kafka_broker: str, tmp_path: Path
) -> None:
    """A worker paused past its session (SIGSTOP here: a VM paused, a long GC) had its source
    task taken over. Resumed, it committed the task's older offsets after the new holder's
    (its periodic commit at once, its last one when it noticed the loss): a restart of the
    task then wrote again what the new holder had written (917 k records in a review's run).
    It also wrote the polls it made after it was resumed, before it heard of the loss: their
    records landed after the new holder's newer ones (a PostgreSQL source's too, read from
    the WAL its socket still held: stale rows in the sinks, a keyless table's twice)."""
    import signal

    topic = f"frozen-{uuid.uuid4().hex[:8]}"
    gen, _ = _pipeline(topic, tmp_path / "unused.jsonl", **{
        "rate": 2000, "max.records": 10**8, "batch.size": 50, "offset.flush.interval.ms": 300,
    })  # fmt: skip
    cluster = Workers(kafka_broker, tmp_path)
    offsets_topic = cluster.config.read_text().split("offset.storage.topic: ")[1].split()[0]
    try:
        a, b = cluster.start(), cluster.start()
        cluster.create(a, "gen", gen)
        frozen = cluster.running_on("gen")
        other = b if frozen == a else a
        wait_for(lambda: len(_committed_offsets(kafka_broker, offsets_topic)) >= 2, 30,
                 "the first holder's commits")  # fmt: skip
        freeze(cluster.procs[frozen].pid)
        try:
            written = max(_topic_seqs(kafka_broker, topic), default=0)  # (the frozen one's)
            held = ("RUNNING", f"127.0.0.1:{other}")
            wait_for(lambda: cluster.owners(other, "gen")[0] == held, 60, "the task taken over")
            # the new holder writes and commits past where the frozen one was (and past its
            # records still in flight: a poll or two), before the freeze ends
            taken = time.monotonic()
            wait_for(lambda: max(_committed_offsets(kafka_broker, offsets_topic)) > written + 500,
                     60, "the new holder past the frozen one")  # fmt: skip
            time.sleep(max(0.0, taken + 2 - time.monotonic()))  # (2 s at least, as it was)
        finally:
            resumed_ms = time.time() * 1000
            cluster.procs[frozen].send_signal(signal.SIGCONT)
        wait_for(lambda: "moves to another worker" in cluster.log(frozen), 30,
                 "the frozen worker letting the task go")  # fmt: skip
        time.sleep(1)
        committed = _committed_offsets(kafka_broker, offsets_topic)
        assert committed == sorted(committed), committed
        # a record both wrote: the frozen one's copy is from before the freeze (its records
        # still in flight then land late, as without fencing they may), never from a poll it
        # made once resumed
        copies = _topic_seqs(kafka_broker, topic)
        late = sorted(s for s, stamps in copies.items() if len(stamps) > 1
                      and max(stamps) >= resumed_ms)  # fmt: skip
        assert not late, f"{len(late)} records written again after the resume: {late[:5]}"
        cluster.stop_all()
    finally:
        cluster.reap()


def test_workers_of_two_group_ids_over_the_same_topics_are_told(
    kafka_broker: str, tmp_path: Path
) -> None:
    """A typo in one worker's group.id, its storage topics the same: each group runs every
    connector, every record twice, and nothing said so (a review's). Each side now logs an
    error naming the other's worker."""
    cluster = Workers(kafka_broker, tmp_path)
    (tmp_path / "b").mkdir()
    other = Workers(kafka_broker, tmp_path / "b")
    text = cluster.config.read_text()
    gid = text.split("group.id: ")[1].split()[0]
    other.config.write_text(text.replace(f"group.id: {gid}", f"group.id: {gid}-typo"))
    told = "of another cluster (its beats in"
    try:
        a, b = cluster.start(), other.start()
        wait_for(lambda: told in cluster.log(a) and told in other.log(b), 40, "the errors")
        assert f"its beats in {gid}-typo.workers) uses this cluster's" in cluster.log(a)
        assert f"its beats in {gid}.workers) uses this cluster's" in other.log(b)
    finally:
        for w in (cluster, other):
            w.reap()
