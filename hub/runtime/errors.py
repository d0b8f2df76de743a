"""Error handling of tasks, with Kafka Connect's properties.

* ``errors.tolerance``: ``none`` (default) - the first bad record fails the task;
  ``all`` - the record is skipped, and never silently: it is counted in the task's status,
  logged when ``errors.log.enable``, and written to ``errors.deadletterqueue.topic.name``
  (sinks) with, when ``errors.deadletterqueue.context.headers.enable``, Connect's
  ``__connect.errors.*`` headers (topic, partition, offset, stage, exception).
* ``errors.retry.timeout`` (ms, -1 = forever) and ``errors.retry.delay.max.ms``: how long a
  ``TransientError`` is retried, with exponential backoff, before it counts as a failure.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import TypeVar

from hub.errors import ConfigError, FatalError, TransientError
from hub.log import Record, RecordTooLargeError
from hub.log.backend import LogBackend
from hub.runtime.validation import CommonConfig

log = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "__connect.errors."
# hub's converters by the names Kafka Connect's dead letters give them
_CONNECTS = "org.apache.kafka.connect."
_CONNECT_NAMES = {
    "hub.runtime.converters.JsonConverter": _CONNECTS + "json.JsonConverter",
    "hub.runtime.converters.StringConverter": _CONNECTS + "storage.StringConverter",
    "hub.runtime.converters.ByteArrayConverter": _CONNECTS + "converters.ByteArrayConverter",
}


class RecordFailedError(FatalError):
    """A record that failed a stage other than ``put`` under errors.tolerance=none: where it
    is, and what to change (a record the converter cannot read fails again at every retry)."""

    def __init__(
        self, stage: str, exc: Exception, record: Record, executing: type | str | None
    ) -> None:
        what = executing if isinstance(executing, str) else getattr(executing, "__name__", "")
        if stage in ("KEY_CONVERTER", "VALUE_CONVERTER"):
            side = "key" if stage == "KEY_CONVERTER" else "value"
            hint = (
                f"the {side} is not what {what or 'the converter'} reads: set "
                f"{side}.converter to what the topic holds (text: "
                "org.apache.kafka.connect.storage.StringConverter; JSON without Connect's "
                f"schema envelope: {side}.converter.schemas.enable: false)"
            )
        else:
            hint = f"{what or 'the stage'} failed on it: check its configuration"
        super().__init__(
            f"{stage} failed for the record at {record.topic}[{record.partition}] offset "
            f"{record.offset}: {exc}; {hint}, or set errors.tolerance: all to skip such "
            "records (errors.deadletterqueue.topic.name keeps them)"
        )
        self.stage, self.record = stage, record


class RetryStopped(Exception):
    """A retry given up because its task is stopping: what it tried (a batch's put, its
    flush) is not committed, and the task's next run does it again."""


class ErrorReporter:
    def __init__(
        self,
        connector: str,
        task_id: int,
        common: CommonConfig,
        log_: LogBackend,
        scrub: Callable[[str], str] = str,
    ) -> None:
        """``scrub`` masks the connector's secrets in any text this reporter logs or sends
        to the dead letter queue (exception messages may quote a config value)."""
        self.scrub = scrub
        self.connector = connector
        self.task_id = task_id
        self.tolerate = common.errors_tolerance == "all"
        self.log_enable = common.errors_log_enable
        self.include_messages = common.errors_log_include_messages
        self.dlq = common.errors_deadletterqueue_topic_name
        self.dlq_replication = common.errors_deadletterqueue_topic_replication_factor
        self.context_headers = common.errors_deadletterqueue_context_headers_enable
        self.retry_timeout = common.errors_retry_timeout
        self.retry_delay_max = common.errors_retry_delay_max_ms / 1000
        self._log = log_
        self._producer = log_.producer() if self.dlq else None
        self.errors = 0
        # set when the task stops: a retry waiting out a transient error gives up at once
        self.stopping = threading.Event()

    def retry(self, stage: str, fn: Callable[[], T]) -> T:
        """Run ``fn``, retrying a TransientError until errors.retry.timeout has passed."""
        deadline = None if self.retry_timeout < 0 else time.monotonic() + self.retry_timeout / 1000
        delay = 0.1
        while True:
            try:
                return fn()
            except TransientError as exc:
                if deadline is not None:  # (as Connect: the last wait ends at the deadline,
                    # and one more try is made there; it gave up a backoff before it)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise
                    delay = min(delay, left)
                log.warning(
                    "%s task %d: %s failed, retrying in %.1f s: %s",
                    self.connector, self.task_id, stage, delay, self.scrub(str(exc)),
                )  # fmt: skip
                if self.stopping.wait(delay):  # (with errors.retry.timeout=-1 and the target
                    # down, a stop, a pause, a config change and SIGTERM had all waited)
                    raise RetryStopped(f"{stage} given up: the task is stopping") from exc
                delay = min(delay * 2, max(self.retry_delay_max, 0.1))

    def failed(
        self, stage: str, exc: BaseException, record: Record | None = None,
        executing: type | str | None = None,
    ) -> None:  # fmt: skip
        """A record failed at ``stage`` (in the class ``executing`` it: the converter's, the
        transforms', the task's): re-raise (tolerance none) or report and skip it."""
        self.errors += 1
        if not self.tolerate:
            if record is not None and isinstance(exc, Exception):
                raise RecordFailedError(stage, exc, record, executing) from exc
            raise exc
        where = f" {record.topic}-{record.partition}@{record.offset}" if record else ""
        if self.log_enable:
            detail = (
                f" value={record.value!r}" if record is not None and self.include_messages else ""
            )
            log.error("%s task %d: %s failed for record%s, skipped (errors.tolerance=all): %s%s",
                      self.connector, self.task_id, stage, where, self.scrub(str(exc)),
                      detail)  # fmt: skip
        if self._producer is not None and record is not None:
            self._to_dlq(stage, exc, record, executing)

    def _to_dlq(
        self, stage: str, exc: BaseException, record: Record,
        executing: type | str | None = None,
    ) -> None:  # fmt: skip
        assert self._producer is not None
        if not self._log.has_topic(self.dlq):
            try:
                self._log.create_topic(self.dlq, 1, None, self.dlq_replication)
            except Exception:
                if not self._log.has_topic(self.dlq):
                    raise
        headers = list(record.headers)
        if self.context_headers:
            ctx = {
                "topic": record.topic,
                "partition": str(record.partition),
                "offset": str(record.offset),
                "connector.name": self.connector,
                "task.id": str(self.task_id),
                "stage": stage,
                "class.name": _CONNECT_NAMES.get(
                    name := (
                        executing
                        if isinstance(executing, str)
                        else f"{executing.__module__}.{executing.__qualname__}"
                        if executing
                        else type(self).__module__
                    ),
                    name,
                ),  # fmt: skip
                # (a converter's failure is Connect's DataException there: tools filter on it)
                "exception.class.name": (
                    "org.apache.kafka.connect.errors.DataException"
                    if stage.endswith("_CONVERTER")
                    else f"{type(exc).__module__}.{type(exc).__qualname__}"
                ),
                "exception.message": self.scrub(str(exc)),
                "exception.stacktrace": self.scrub("".join(traceback.format_exception(exc)))[
                    -8000:
                ],
            }
            headers += [(PREFIX + k, v.encode()) for k, v in ctx.items()]
        try:
            self._send(record, headers)
        except RecordTooLargeError as exc:
            # (a record near its topic's limit, with the headers past the queue's: the task
            # failed on it at every restart) without the stack trace, the bulk of them
            trace = PREFIX + "exception.stacktrace"
            try:
                self._send(record, [h for h in headers if h[0] != trace])
            except RecordTooLargeError:
                raise ConfigError(
                    f"{self.connector} task {self.task_id}: the dead letter of "
                    f"{record.topic}[{record.partition}]@{record.offset} takes {exc.size} bytes "
                    f"with its error headers, more than the dead letter queue {self.dlq!r} "
                    f"takes (max.message.bytes={exc.limit}): raise it (hub topics alter "
                    f"{self.dlq} --config max.message.bytes={exc.size + 65536}) and restart "
                    "the task"
                ) from None

    def _send(self, record: Record, headers: list[tuple[str, bytes | None]]) -> None:
        assert self._producer is not None
        self._producer.send(self.dlq, record.value, key=record.key, headers=headers,
                            timestamp=record.timestamp)  # fmt: skip
        self._producer.flush()
