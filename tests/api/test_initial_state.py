"""Connect's ``initial_state`` (KIP-980) on POST /connectors: a connector created PAUSED or
STOPPED starts so, and stays so across a restart of the worker (its target state is written
before its config, so no reader of the config topic starts it running first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.api import create_app
from hub.log import TopicPartition
from hub.runtime.worker import Worker

GEN = {"connector.class": "datagen", "topic": "t", "rate": 0, "max.records": 5}


@pytest.mark.parametrize("initial", ["PAUSED", "STOPPED", "paused"])  # (any case, as Connect)
def test_a_connector_created_paused_or_stopped_starts_so(tmp_path: Path, initial: str) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        client = TestClient(create_app(worker))
        r = client.post("/connectors", json={"name": "g", "config": GEN, "initial_state": initial})
        assert r.status_code == 201, r.text
        state = initial.upper()
        assert client.get("/connectors/g/status").json()["connector"]["state"] == state
        assert not worker.backend.has_topic("t")  # (nothing ran: no record written)
        keys = [r.key for r in worker.backend.scan(TopicPartition("__connect_configs", 0))]
        assert keys == [b"target-state-g", b"connector-g"]  # the state first
    finally:
        worker.stop()
    worker = Worker(str(tmp_path / "data"))  # restarted: the same state
    try:
        assert worker.connectors["g"].state == initial.upper()
    finally:
        worker.stop()


def test_an_unknown_initial_state_is_refused(tmp_path: Path) -> None:
    worker = Worker(str(tmp_path / "data"))
    try:
        client = TestClient(create_app(worker))
        r = client.post("/connectors", json={"name": "g", "config": GEN, "initial_state": "go"})
        assert r.status_code == 400
        assert r.json()["message"] == (
            "connector 'g': initial_state must be RUNNING, PAUSED or STOPPED, not 'GO'"
        )
        assert client.get("/connectors").json() == []
    finally:
        worker.stop()
