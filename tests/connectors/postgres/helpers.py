"""Helpers for the PostgreSQL source's tests: a connector config for a test database, a
worker running it, and the events of a topic as ``(key, value)`` JSON payloads."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from hub.config import ConnectorSpec
from hub.log import Log
from hub.runtime.worker import Worker
from tests.fixtures.postgres import PgServer
from tests.helpers import (
    loads,
    wait_for,  # noqa: F401  (re-exported: tests import it from here)
)


def source_config(server: PgServer, db: str, **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "postgres",
        "database.hostname": server.host,
        "database.port": server.port,
        "database.user": server.user,
        "database.dbname": db,
        "topic.prefix": "app",
        "slot.name": f"s_{uuid.uuid4().hex[:12]}",
        "offset.flush.interval.ms": 100,
        "poll.interval.ms": 100,
        **extra,
    }


def start_task(
    cfg: dict[str, Any], offset: dict[str, Any] | None = None,
    json_encoding: tuple[bool, bool] | None = None,
) -> Any:  # fmt: skip
    """A PostgresSourceTask driven by hand (no worker), from ``offset``; with
    ``json_encoding`` it takes the encoded paths, as under JSON converters."""
    from connectors.source.postgres import PostgresSourceTask
    from connectors.source.postgres.errors import SlotInUseError
    from hub.runtime.api import SourceTaskContext
    from hub.runtime.offsets import partition_key

    offsets = {partition_key({"server": "app"}): offset} if offset else {}
    deadline = time.monotonic() + 15
    while True:
        task = PostgresSourceTask()
        try:
            task.start(cfg, SourceTaskContext("pg", 0, offsets, None, json_encoding))
            return task
        except SlotInUseError:
            # the server has not yet seen a crashed task's stream go: stop and start again,
            # as the worker does after a transient error
            task.stop()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        except BaseException:
            task.stop()
            raise


def start(tmp_path: Path, config: dict[str, Any], name: str = "pg") -> Worker:
    worker = Worker(str(tmp_path / "data"))
    worker.add(ConnectorSpec(name, config, "test"))
    return worker


def events(log: Log, topic: str) -> list[tuple[Any, Any]]:
    """(key payload, value payload) of every record of ``topic`` in offset order (one
    partition), None for a tombstone's value."""
    return list(TopicEvents(log, topic)())


class TopicEvents:
    """``events(log, topic)`` read as the topic grows: each call decodes
    only the records appended since the last (a wait that scanned the whole topic every
    50 ms spent the process on ever longer scans while the worker it waited for ran in it)."""

    def __init__(self, log: Log, topic: str) -> None:
        self.log, self.topic = log, topic
        self.seen: list[tuple[Any, Any]] = []
        self._next: dict[int, int] = {}

    def __call__(self) -> list[tuple[Any, Any]]:
        if not self.log.has_topic(self.topic):
            return self.seen
        for p in self.log.topic(self.topic).partitions:
            offset = self._next.get(p.index, 0)
            while True:
                recs, offset = self.log.partition(self.topic, p.index).records(offset)
                if not recs:
                    break
                for r in recs:
                    key = loads(r.key)["payload"] if r.key else None
                    value = loads(r.value)["payload"] if r.value else None
                    self.seen.append((key, value))
            self._next[p.index] = offset
        return self.seen


def failure(worker: Worker, name: str = "pg") -> str | None:
    """The trace of the connector's failed task, if it failed."""
    for st in worker.status().get(name, []):
        if st.state == "FAILED":
            return st.trace
    return None
