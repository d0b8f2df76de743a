"""Notifications (``notification.enabled.channels``), as Debezium sends them: how an initial
(or blocking) snapshot and an incremental snapshot get on, each a `Notification` with an
aggregate type, a type and string data, to the ``log`` channel (a line in hub's log at once)
and the ``sink`` channel (a record in ``notification.sink.topic.name``, keyed by its id, in
Debezium's schemas, written with the source's records at the place it happened).

The sink channel's records carry the offset of the records before them, so they never move
the source's position; they are not part of the replay (as heartbeats: one may repeat after
a crash, an initial snapshot's with a new id). A stopped or failed snapshot sends no ABORTED
(hub stops a task without a poll to write it in)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hub.runtime.api import EncodedBatch, JsonMap, SourceRecord

log = logging.getLogger(__name__)

INITIAL = "Initial Snapshot"
INCREMENTAL = "Incremental Snapshot"
CHANNELS = ("sink", "log", "jmx")  # (jmx: none in hub; warned of, ignored)

KEY_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": False, "version": 1,
    "name": "io.debezium.connector.common.NotificationKey",
    "fields": [{"type": "string", "optional": False, "field": "id"}],
}  # fmt: skip
VALUE_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": False, "version": 1,
    "name": "io.debezium.connector.common.Notification",
    "fields": [
        {"type": "string", "optional": False, "field": "id"},
        {"type": "string", "optional": False, "field": "type"},
        {"type": "string", "optional": False, "field": "aggregate_type"},
        {"type": "map", "keys": {"type": "string", "optional": False},
         "values": {"type": "string", "optional": False}, "optional": True,
         "field": "additional_data"},
        {"type": "int64", "optional": False, "field": "timestamp"},
    ],
}  # fmt: skip


def channels(value: str) -> tuple[str, ...]:
    """The channel names of ``notification.enabled.channels`` (a comma-separated list),
    lower-cased; ValueError naming an unknown one."""
    names = tuple(dict.fromkeys(c.strip().lower() for c in value.split(",") if c.strip()))
    bad = [c for c in names if c not in CHANNELS]
    if bad:
        raise ValueError(
            f"unknown notification channel(s) {', '.join(bad)}: hub sends notifications to "
            "sink (records in notification.sink.topic.name) and log"
        )
    return names


class Notifier:
    """Sends a connector's notifications to its enabled channels: ``log`` at once, ``sink``
    kept until the source writes them (`drain`) with its records."""

    def __init__(self, enabled: Sequence[str], topic: str, connector: str) -> None:
        self.log = "log" in enabled
        self.sink = "sink" in enabled and bool(topic)
        self.topic = topic
        self.connector = connector  # Debezium's logical name: topic.prefix
        self._pending: list[tuple[str, dict[str, Any]]] = []  # (id, value) to write

    @property
    def enabled(self) -> bool:
        return self.log or self.sink

    def notify(
        self, aggregate: str, kind: str, data: Mapping[str, str] | None = None,
        ident: str | None = None,
    ) -> None:  # fmt: skip
        """One notification: ``kind`` (STARTED, IN_PROGRESS, TABLE_SCAN_COMPLETED...) of
        ``aggregate`` (`INITIAL` or `INCREMENTAL`), ``data`` its additional data (the
        connector's name added), ``ident`` its id (an incremental snapshot's is its signal's,
        as Debezium's; else a new UUID)."""
        if not self.enabled:
            return
        ident = ident or str(uuid.uuid4())
        value = {
            "id": ident, "type": kind, "aggregate_type": aggregate,
            "additional_data": {**(data or {}), "connector_name": self.connector},
            "timestamp": time.time_ns() // 1_000_000,
        }  # fmt: skip
        if self.log:  # (Debezium's LogNotificationChannel's line)
            log.info("[Notification Service] {id='%s', aggregateType='%s', type='%s', "
                     "additionalData=%s, timestamp=%d}", ident, aggregate, kind,
                     value["additional_data"], value["timestamp"])  # fmt: skip
        if self.sink:
            self._pending.append((ident, value))

    def drain(self, out: list[Any], partition: JsonMap, offset: JsonMap | None = None) -> None:
        """The sink channel's notifications sent since the last call, appended to ``out`` as
        records of the source ``partition`` at ``offset`` (None: the offset of the last
        record in ``out``, where they move no position; kept for a later call if it holds
        none)."""
        if not self._pending:
            return
        if offset is None:
            offset = next((r.source_offset for r in reversed(out)
                           if type(r) in (SourceRecord, EncodedBatch)), None)  # fmt: skip
        if offset is None:
            return
        pending, self._pending = self._pending, []
        for ident, value in pending:
            out.append(SourceRecord(
                self.topic, value, {"id": ident}, partition, offset,
                key_schema=KEY_SCHEMA, value_schema=VALUE_SCHEMA, replayable=False,
            ))  # fmt: skip


class SnapshotNotes:
    """An initial (or blocking) snapshot's notifications, as Debezium sends them: STARTED,
    then for each table in the order the snapshot reads them IN_PROGRESS before its rows and
    TABLE_SCAN_COMPLETED (with how many) after them, then COMPLETED; a table without rows
    gets both as the read passes it. Tables read before a resume are not announced again.

    The source calls `table` before each chunk's rows, `completed` after the last, and
    `drain` with its poll's records (the notifications go in with the offset of the records
    before them: ``position`` at the start of a poll, the last one handed out)."""

    def __init__(
        self, notifier: Notifier, partition: JsonMap, tables: Sequence[str],
        resumed: str | None, rows: Callable[[str], int], position: JsonMap,
    ) -> None:  # fmt: skip
        """``resumed``: the table a resumed snapshot goes on in (those before it are done)."""
        self.notifier, self.partition, self.tables = notifier, partition, list(tables)
        # the first table not yet announced
        self.next = self.tables.index(resumed) if resumed in self.tables else 0
        self.rows = rows  # a table's rows read so far
        self.position = position
        self.current: str | None = None
        self.ended = False  # COMPLETED or ABORTED said
        notifier.notify(INITIAL, "STARTED")

    def table(self, name: str, out: list[Any]) -> None:
        """A chunk of ``name`` is next: the tables before it are done."""
        if name == self.current or not self.notifier.enabled:
            return
        self._close()
        while self.next < len(self.tables) and self.tables[self.next] != name:
            self._passed(self.tables[self.next])
            self.next += 1
        self.next += 1
        self.current = name
        self._progress(name)
        self.drain(out)

    def completed(self, out: list[Any]) -> None:
        """The last chunk's rows are out (``out`` then gets the snapshot's end)."""
        if self.notifier.enabled:
            self._close()
            for name in self.tables[self.next :]:
                self._passed(name)
            self.next = len(self.tables)
            self.notifier.notify(INITIAL, "COMPLETED")
        self.ended = True
        self.drain(out)

    def aborted(self) -> None:
        """The task stopped (or failed) before the snapshot's end: ABORTED, as Debezium's
        snapshot says it when its task stops. The log channel says it; the sink channel's
        record would need a poll that no longer comes (a resumed snapshot says STARTED
        again)."""
        if not self.ended and self.notifier.enabled:
            self.ended = True
            self.notifier.notify(INITIAL, "ABORTED")

    def drain(self, out: list[Any]) -> None:
        self.notifier.drain(out, self.partition, None if out else self.position)
        if out:
            self.position = out[-1].source_offset

    def _progress(self, name: str) -> None:
        self.notifier.notify(INITIAL, "IN_PROGRESS", {
            "current_collection_in_progress": name, "data_collections": collections(self.tables),
        })  # fmt: skip

    def _passed(self, name: str) -> None:
        self._progress(name)
        self._done(name)

    def _close(self) -> None:
        if self.current is not None:
            self._done(self.current)
            self.current = None

    def _done(self, name: str) -> None:
        self.notifier.notify(INITIAL, "TABLE_SCAN_COMPLETED", {
            "scanned_collection": name, "data_collections": collections(self.tables),
            "total_rows_scanned": str(self.rows(name)), "status": "SUCCEEDED",
        })  # fmt: skip


NO_NOTIFIER = Notifier((), "", "")


def collections(tables: Sequence[str]) -> str:
    """Debezium's list of data collections in additional data: names joined by commas."""
    return ",".join(tables)
