"""GET /metrics over a running datagen -> FileStreamSink pair, parsed as Prometheus text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from hub.api import create_app
from hub.runtime.worker import Worker
from tests.helpers import wait_for

TOKEN = "metrics-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(client: TestClient) -> Samples:
    r = client.get("/metrics", headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def _get(samples: Samples, metric: str, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    w = Worker(str(tmp_path / "data"), retention_check_interval_ms=100, lag_refresh_interval_ms=100)
    yield w
    w.stop()


def test_metrics_for_a_datagen_to_file_pipeline(worker: Worker, tmp_path: Path) -> None:
    client = TestClient(create_app(worker, auth_token=TOKEN))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401

    gen = {"connector.class": "datagen", "topic": "gen", "rate": "500", "batch.size": "50"}
    sink = {
        "connector.class": "FileStreamSink", "topics": "gen", "file": str(tmp_path / "out.txt"),
        "offset.flush.interval.ms": "100", "batch.max.wait.ms": "50", "batch.size": "100",
    }  # fmt: skip
    for name, config in (("gen", gen), ("out", sink)):
        r = client.post("/connectors", json={"name": name, "config": config}, headers=AUTH)
        assert r.status_code == 201

    src = {"connector": "gen", "task": "0", "type": "source"}
    snk = {"connector": "out", "task": "0", "type": "sink"}

    def ready() -> bool:  # (the lag is known from the sink's first commit on: its first
        # batch, of a backlog, may count 100 records before it)
        s = _scrape(client)
        return (
            (_get(s, "hub_task_records_total", **snk) or 0) >= 100
            and (
                _get(s, "hub_scheduler_job_last_duration_seconds", name="log-maintenance")
                is not None
            )
            and _get(s, "hub_task_lag", **snk) is not None
            # (and that commit in the log's metrics: a loaded machine scraped before it)
            and bool(
                _get(s, "hub_log_partition_end_offset", topic="__consumer_offsets", partition="0")
            )  # fmt: skip
        )

    wait_for(ready)
    s = _scrape(client)

    for labels in (src, snk):
        assert _get(s, "hub_task_state", **labels, state="RUNNING") == 1
        assert _get(s, "hub_task_state", **labels, state="FAILED") == 0
        assert _get(s, "hub_task_errors_total", **labels) == 0
        assert _get(s, "hub_task_failures_total", **labels) == 0
        assert (_get(s, "hub_task_records_per_second", **labels) or 0) > 0
    assert _get(s, "hub_connector_state", connector="gen", type="source", state="RUNNING") == 1
    assert _get(s, "hub_connector_state", connector="out", type="sink", state="PAUSED") == 0

    # the series are read one after another while the pipeline runs: bound them by the
    # source's count taken after the scrape, not by its count inside it
    produced = worker.status()["gen"][0].records
    consumed = _get(s, "hub_task_records_total", **snk) or 0
    assert produced >= (_get(s, "hub_task_records_total", **src) or 0) >= 1
    assert produced >= consumed >= 100
    assert 1 <= (_get(s, "hub_task_last_batch_size", **snk) or 0) <= 100
    assert 0 < (_get(s, "hub_task_last_batch_seconds", **snk) or 0) < 10  # (the file's write)
    assert _get(s, "hub_task_last_batch_seconds", **src) is None  # (a sink's only)
    assert 1 <= (_get(s, "hub_task_last_batch_size", **src) or 0) <= 50
    lag = _get(s, "hub_task_lag", **snk)
    assert lag is not None and 0 <= lag <= produced
    assert _get(s, "hub_task_lag", **src) is None  # unknown for a datagen source

    end = _get(s, "hub_log_partition_end_offset", topic="gen", partition="0")
    assert end is not None and consumed <= end <= produced
    assert (_get(s, "hub_log_partition_size_bytes", topic="gen", partition="0") or 0) > end
    assert _get(s, "hub_log_partition_start_offset", topic="gen", partition="0") == 0
    assert _get(s, "hub_log_partition_end_offset", topic="__consumer_offsets", partition="0")

    duration = _get(s, "hub_scheduler_job_last_duration_seconds", name="log-maintenance")
    assert duration is not None and 0 <= duration < 5
    assert (_get(s, "hub_scheduler_job_runs_total", name="sink-lag") or 0) >= 1
    assert _get(s, "hub_scheduler_job_failures_total", name="sink-lag") == 0

    root = client.get("/", headers=AUTH).json()
    assert {"version", "commit", "kafka_cluster_id"} <= set(root)
    jobs = {j["name"]: j for j in root["jobs"]}
    assert set(jobs) == {"log-maintenance", "sink-lag", "metrics-history", "status-store"}
    assert jobs["log-maintenance"]["last_run"] and jobs["log-maintenance"]["next_run"]
    assert jobs["log-maintenance"]["last_error"] is None

    client.put("/connectors/out/pause", headers=AUTH)
    s = _scrape(client)
    assert _get(s, "hub_task_state", **snk, state="PAUSED") == 1
    assert _get(s, "hub_task_state", **snk, state="RUNNING") == 0
