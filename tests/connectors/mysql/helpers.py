"""Helpers for the MySQL/MariaDB source's tests: a connector config for a test database, a
task driven by hand, a root connection for the tests' own writes."""

from __future__ import annotations

import time
from typing import Any

import pymysql

from hub.runtime.api import SourceRecord
from tests.fixtures.mariadb import MariaDBServer


def source_config(server: MariaDBServer, db: str, **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "mariadb",
        "database.hostname": server.host,
        "database.port": server.port,
        "database.user": server.user,
        "database.password": server.password,
        "database.include.list": db,
        "database.server.id": 7000 + hash(db) % 1000,
        "topic.prefix": "app",
        "offset.flush.interval.ms": 100,
        "poll.interval.ms": 100,
        **extra,
    }


def root(server: MariaDBServer, db: str) -> Any:
    return pymysql.connect(unix_socket=str(server.socket), user="root", database=db,
                           autocommit=True)  # fmt: skip


# the log's internal topics as a task driven by hand sees them (its schema history), by
# (database.include.list, topic): each test has its own database
TOPICS: dict[tuple[str, str], list[bytes | None]] = {}


def context(cfg: dict[str, Any], offsets: dict[str, Any], **more: Any) -> Any:
    from hub.runtime.api import SourceTaskContext

    db = str(cfg.get("database.include.list"))

    def internal(name: str, config: Any) -> list[bytes | None]:
        return list(TOPICS.setdefault((db, name), []))

    return SourceTaskContext("my", 0, offsets, internal_topic=internal, **more)


def poll(task: Any) -> list[SourceRecord]:
    """A poll's records but the schema history's (kept in TOPICS, as the runtime writes them
    to the log), schema change events (topic ``app``) and the captured tables' set (an
    offset of its own partition: the tests pass the task's position by hand)."""
    db = str(task.cfg.database_include_list)
    out = []
    for r in task.poll():
        if "captured" in r.source_partition:
            continue
        if r.topic.startswith("__schema_history."):
            TOPICS.setdefault((db, r.topic), []).append(r.value)
        elif r.topic != "app":
            out.append(r)
    return out


def start_task(cfg: dict[str, Any], offset: dict[str, Any] | None = None) -> Any:
    from connectors.source.mysql import MariaDbSourceTask
    from hub.runtime.offsets import partition_key

    offsets = {partition_key({"server": "app"}): offset} if offset else {}
    task = MariaDbSourceTask()
    task.start(cfg, context(cfg, offsets))
    return task


def start_position(cfg: dict[str, Any]) -> dict[str, Any]:
    """The offset a task of ``cfg`` (snapshot.mode no_data) stores when it starts: where a
    restarted one streams from, so that changes made after this call come to it."""
    task = start_task(cfg)
    offset: dict[str, Any] = {}
    try:
        for r in poll_for(task, 0.3):
            offset = dict(r.source_offset)
    finally:
        task.stop()
    return offset


def poll_until(task: Any, want: int, seconds: float = 20) -> list[SourceRecord]:
    """Records with a topic (no offset-only updates) until ``want`` of them came; the offset
    of the last record of the last poll (an update included) is in ``task.test_offset``."""
    out: list[SourceRecord] = []
    deadline = time.monotonic() + seconds
    while len(out) < want:
        assert time.monotonic() < deadline, f"{len(out)} of {want}: {out[-3:]}"
        got = poll(task)
        if got:
            task.test_offset = dict(got[-1].source_offset)
        out += [r for r in got if r.topic]
    return out


def poll_for(task: Any, seconds: float) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out += poll(task)
    return out


def replay(state: dict[Any, Any], records: list[SourceRecord], column: str) -> bool:
    """``records`` applied to ``state`` (id -> the after image's ``column``; a delete drops
    the id); True when the snapshot's last row was among them."""
    last = False
    for r in records:
        if not r.topic or r.value is None:
            continue
        if r.value["op"] == "d":
            state.pop(r.key["id"], None)
        else:
            state[r.key["id"]] = r.value["after"][column]
        last = last or r.value["source"]["snapshot"] == "last"
    return last


def catch_up(task: Any, state: dict[Any, Any], column: str, table: dict[Any, Any]) -> None:
    """Poll until the replayed ``state`` equals ``table`` (read after its writers stopped:
    however long the stream takes on a loaded machine), then 0.5 s more (a late extra
    change would show); assert they are equal."""
    deadline = time.monotonic() + 60
    while state != table and time.monotonic() < deadline:
        replay(state, poll(task), column)
    replay(state, poll_for(task, 0.5), column)
    assert state == table


def restart_after_every_poll(
    cfg: dict[str, Any], offset: dict[str, Any], done: Any, rounds: int = 200
) -> list[SourceRecord]:
    """The task started from ``offset``, polled until it returns something new, stopped, and
    started again from the offset of the last record it returned, until ``done(records with
    a topic so far)``: every change must come once however often a task restarts."""
    seen: list[SourceRecord] = []
    for _ in range(rounds):
        task = start_task(cfg, offset)
        try:
            got: list[SourceRecord] = []
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                # a poll that ends before reaching the transaction (a slow machine) may say
                # the resume point again: no progress, so poll on rather than restart
                got = [r for r in poll(task) if r.topic or dict(r.source_offset) != offset]
        finally:
            task.stop()
        if got:
            offset = dict(got[-1].source_offset)
        seen += [r for r in got if r.topic]
        if done(seen):
            return seen
    raise AssertionError(f"not done after {rounds} restarts: {seen[-3:]}")


_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)


def decimal_bytes(unscaled: int, precision: int, scale: int) -> bytes:
    """NEWDECIMAL's binary form of ``unscaled`` * 10**-scale (values._decimal's inverse)."""
    sign = unscaled < 0
    text = str(abs(unscaled)).rjust(precision, "0")
    ip, fp = text[: precision - scale], text[precision - scale :]
    int_full, int_rest = divmod(precision - scale, 9)
    frac_full, frac_rest = divmod(scale, 9)
    out = bytearray()
    if int_rest:
        out += int(ip[:int_rest]).to_bytes(_DIG2BYTES[int_rest], "big")
    for g in range(int_full):
        out += int(ip[int_rest + 9 * g : int_rest + 9 * g + 9]).to_bytes(4, "big")
    for g in range(frac_full):
        out += int(fp[9 * g : 9 * g + 9]).to_bytes(4, "big")
    if frac_rest:
        out += int(fp[9 * frac_full :]).to_bytes(_DIG2BYTES[frac_rest], "big")
    out[0] ^= 0x80
    if sign:
        out = bytearray(b ^ 0xFF for b in out)
    return bytes(out)


def snapshot_and_stream(
    server: MariaDBServer, db: str, table: str, row: str, **config: Any
) -> tuple[SourceRecord, SourceRecord]:
    """Table ``t`` made by ``CREATE TABLE t (table)`` with one row ``(1, row)`` before the
    start: (that row's snapshot record, the record of the same row inserted as id 2 after)."""
    cur = root(server, db).cursor()
    cur.execute("SET SESSION sql_mode = ''")  # zero dates allowed
    cur.execute("SET SESSION time_zone = '+00:00'")
    cur.execute(f"CREATE TABLE t ({table})")
    cur.execute(f"INSERT INTO t VALUES (1, {row})")
    task = start_task(source_config(server, db, **config))
    try:
        snap = poll_until(task, 1)[0]
        cur.execute(f"INSERT INTO t VALUES (2, {row})")
        return snap, poll_until(task, 1)[0]
    finally:
        task.stop()
