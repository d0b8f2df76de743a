"""A distributed worker's source task writes nothing while its leases are unconfirmed (the
worker was frozen past its session: another worker may run the task now). A poll returning
then is held; a stop meanwhile drops it and commits nothing, since the task's own commit
acknowledges every record it returned (a PostgreSQL slot would move past the dropped ones)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hub.log import Log, TopicPartition
from hub.runtime.api import (
    ConnectorConfig,
    EncodedBatch,
    SourceConnector,
    SourceRecord,
    SourceTask,
    SourceTaskContext,
)
from hub.runtime.worker import ConnectorSpec, Worker
from tests.helpers import wait_for

release = threading.Event()  # the task's second poll returns its records once set
polled = threading.Event()  # ... and sets this when it did
commits: list[int] = []


class Config(ConnectorConfig):
    pass


class Task(SourceTask):
    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        self.n = 0

    def poll(self) -> Sequence[SourceRecord | EncodedBatch]:
        if self.n == 1:
            if not release.wait(0.05):
                return []
        elif self.n > 1:
            release.wait(0.05)
            return []
        self.n += 1
        if self.n == 2:
            polled.set()
        return [SourceRecord("held", f"v{self.n}", "k", {"p": 1}, {"o": self.n})]

    def commit(self) -> None:
        commits.append(self.n)

    def stop(self) -> None:
        pass


class Source(SourceConnector):
    name = "held-test"
    config_model = Config
    task_class = Task


def test_a_poll_returning_while_the_leases_are_unconfirmed_is_not_written(
    tmp_path: Path,
) -> None:
    worker = Worker(str(tmp_path / "data"))
    spec = {"connector.class": f"{__name__}:Source", "name": "src",
            "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
            "offset.flush.interval.ms": 100}  # fmt: skip
    worker.add(ConnectorSpec("src", spec, "test"))
    try:
        log = worker.log
        assert log is not None
        tp = TopicPartition("held", 0)
        wait_for(lambda: log.has_topic("held") and log.partition("held", 0).high_watermark == 1,
                 15, "the first poll's record")  # fmt: skip
        wait_for(lambda: commits, 15, "the first poll's commit")
        runner = worker.connectors["src"].tasks[0].runner
        # frozen past its session, as its leases say, until the stop; then confirmed (a stop
        # while held is no confirmation: the poll must not be written, nor anything committed)
        runner.may_commit = runner.stopping.is_set
        commits.clear()
        release.set()
        assert polled.wait(15)
        threading.Event().wait(0.3)
        assert [r.value for r in log.scan(tp)] == [b'"v1"']  # the second poll is held
        worker.stop()
        assert commits == []  # no commit acknowledged it
        reopened = Log(str(tmp_path / "data"))
        try:
            assert [r.value for r in reopened.scan(tp)] == [b'"v1"']  # dropped at the stop
        finally:
            reopened.close()
    finally:
        release.clear()
        polled.clear()
        worker.stop()
