"""Encoded binlog events (`encoded.EventEncoder` + the C ``RowsCodec``, the hot path with JSON
converters and no transforms) are byte for byte what Kafka's JsonConverter writes for the slow
path's records: every type of the matrix, every handling mode, both converter settings,
inserts, updates (a changed key too), deletes with tombstones, keyless and wide tables,
multi-row events."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from typing import Any

import pytest

from connectors.source.mysql import MariaDbSourceTask, encoded
from hub.runtime.api import EncodedBatch, SourceRecord, SourceTaskContext
from hub.runtime.converters import JsonConverter
from tests.connectors.mysql.helpers import poll_for, root, source_config
from tests.connectors.mysql.test_types import MATRIX
from tests.fixtures.mariadb import MariaDBServer

if os.environ.get("HUB_REQUIRE_SPEEDUPS") == "1":  # CI: a missing C build fails here
    assert encoded.ACCELERATED, (
        "the C binlog codec (connectors.source.mysql._binlogcodec) is missing"
    )

pytestmark = [
    pytest.mark.integration,
    # without a C compiler at install time there is no encoded path to compare (CI sets
    # HUB_REQUIRE_SPEEDUPS: it never skips there)
    pytest.mark.skipif(not encoded.ACCELERATED, reason="the C binlog codec is not built"),
]

_TS = re.compile(rb'("op":"[crud]"),"ts_ms":\d+,"ts_us":\d+,"ts_ns":\d+')


def _plain(data: bytes | None) -> bytes | None:
    """A value without the envelope's processing-time fields (all else byte for byte)."""
    return None if data is None else _TS.sub(rb"\1", data)


def _bytes(records: list[Any], encoding: tuple[bool, bool]) -> list[Any]:
    kc, vc = JsonConverter(encoding[0]), JsonConverter(encoding[1])
    out: list[Any] = []
    for r in records:
        if type(r) is EncodedBatch:
            keys, values = r.packed.lists() if r.packed is not None else (r.keys, r.values)
            out += [(r.topic, k, _plain(v)) for k, v in zip(keys, values, strict=True)]
        elif isinstance(r, SourceRecord) and r.topic and r.encoded:
            out.append((r.topic, r.key, _plain(r.value)))
        elif isinstance(r, SourceRecord) and r.topic:
            out.append((r.topic, kc.from_value(r.key, r.key_schema),
                        _plain(vc.from_value(r.value, r.value_schema))))  # fmt: skip
    return out


def _tasks(server: MariaDBServer, db: str, encoding: tuple[bool, bool],
           **extra: Any) -> list[Any]:  # fmt: skip
    tasks = []
    for n, json_encoding in enumerate((encoding, None)):
        cfg = source_config(server, db, **{"snapshot.mode": "no_data", "skipped.operations":
                                           "none", **extra})  # fmt: skip
        cfg["database.server.id"] = int(cfg["database.server.id"]) + 1000 * n
        task = MariaDbSourceTask()
        task.start(cfg, SourceTaskContext("my", 0, {}, json_encoding=json_encoding))
        tasks.append(task)
    for task in tasks:
        poll_for(task, 0.3)
    return tasks


def _workload(cur: Any) -> None:
    columns = ", ".join(f"c{i} {d}" for i, (d, *_) in enumerate(MATRIX))
    row = ", ".join(v for _, v, *_ in MATRIX)
    cur.execute("SET SESSION sql_mode = ''")  # zero dates allowed
    cur.execute("SET SESSION time_zone = '+00:00'")
    cur.execute(f"CREATE TABLE m (id int PRIMARY KEY, {columns})")
    cur.execute(f"INSERT INTO m VALUES (1, {row}), (2, {row}), (3, {row})")
    cur.execute("UPDATE m SET c0 = 5")
    cur.execute("UPDATE m SET id = 30 WHERE id = 3")  # a key change
    cur.execute("DELETE FROM m WHERE id = 1")
    # two raw keys the events read alike (a zero date and 1970-01-01 are both day 0): an
    # update, not a key change, on both paths
    cur.execute("CREATE TABLE z (d date NOT NULL PRIMARY KEY, v int)")
    cur.execute("INSERT INTO z VALUES ('0000-00-00', 1)")
    cur.execute("UPDATE z SET d = '1970-01-01'")
    # a keyless table, NULLs, another charset, duplicate rows
    cur.execute("CREATE TABLE nk (v varchar(10) CHARACTER SET latin1, w int, d decimal(40,3))")
    cur.execute("INSERT INTO nk VALUES ('çà', 1, -1.5), ('çà', 1, -1.5), (NULL, NULL, NULL)")
    cur.execute("UPDATE nk SET w = 2")
    cur.execute("DELETE FROM nk")
    # a wide table (more fields than the codec keeps on its stack) with a composite key
    wide = ", ".join(f"w{i} int" for i in range(70))
    cur.execute(f"CREATE TABLE wide (a int, b varchar(5), {wide}, PRIMARY KEY (b, a))")
    values = ", ".join(str(i) for i in range(70))
    cur.execute(f"INSERT INTO wide VALUES (1, 'x', {values}), (2, 'y', {values})")
    cur.execute("UPDATE wide SET w3 = -1, b = 'z' WHERE a = 2")
    # a multi-row event of many rows in one transaction
    cur.execute("CREATE TABLE many (id int PRIMARY KEY, s varchar(30), t datetime(6), "
                "z timestamp(6) NULL, tm time(4))")  # fmt: skip
    cur.execute("INSERT INTO many SELECT seq, CONCAT('r\"\\\\', seq), '2024-05-06 07:08:09.5', "
                "'2001-02-03 04:05:06.000007', '-12:00:00.1234' FROM seq_1_to_500")  # fmt: skip
    cur.execute("UPDATE many SET s = NULL WHERE id % 3 = 0")
    cur.execute("DELETE FROM many WHERE id > 250")


@pytest.mark.parametrize(
    ("encoding", "modes"),
    [
        ((True, True), {}),
        ((False, False), {}),
        ((False, True), {
            "decimal.handling.mode": "string", "binary.handling.mode": "base64",
            "time.precision.mode": "connect", "bigint.unsigned.handling.mode": "precise",
        }),
        ((True, True), {
            "decimal.handling.mode": "double", "binary.handling.mode": "hex",
            "tombstones.on.delete": "false",
            "column.exclude.list": r".*\.m\.c3",
        }),
    ],
    ids=["schemas", "no_schemas", "modes_a", "modes_b"],
)  # fmt: skip
def test_the_encoded_stream_equals_the_converted_stream(
    mariadb_server: MariaDBServer, mariadb_db: str, encoding: tuple[bool, bool],
    modes: dict[str, Any],
) -> None:  # fmt: skip
    con = root(mariadb_server, mariadb_db)
    tasks = _tasks(mariadb_server, mariadb_db, encoding, **modes)
    try:
        _workload(con.cursor())
        fast = poll_for(tasks[0], 2.0)
        slow = poll_for(tasks[1], 2.0)

        def count() -> list[dict[str, float]]:
            return [{k: v for k, v in t.metrics().items() if k.startswith("op_events:")}
                    for t in tasks]  # fmt: skip

        # (on a loaded machine one task may not have read the whole workload in 2 s: the
        # one behind reads on until both counted the same, 30 s at most)
        deadline = time.monotonic() + 30
        while (counted := count())[0] != counted[1] and time.monotonic() < deadline:
            behind = 0 if sum(counted[0].values()) < sum(counted[1].values()) else 1
            got = poll_for(tasks[behind], 0.5)
            (fast if behind == 0 else slow).extend(got)
    finally:
        for task in tasks:
            task.stop()
    # both paths count the events they emit by operation (the console's chart)
    ops = Counter(r.value["op"] for r in slow if r.topic.startswith("app.") and r.value)
    assert ops["u"] and ops["d"] and ops["c"] and ops["t"] == 0
    assert counted[0] == counted[1] == {f"op_events:{op}": ops[op] for op in "cudrt"}
    batches = [r for r in fast if type(r) is EncodedBatch]
    assert sum(len(b.packed or b.keys) for b in batches) > 500  # the fast path ran
    assert any(b.packed is not None for b in batches)
    assert not [r for r in slow if type(r) is EncodedBatch]
    got, want = _bytes(fast, encoding), _bytes(slow, encoding)
    assert len(got) == len(want) > 900
    # the same records in the same order: a restart inside a transaction takes the slow path
    # for its rest, and the runtime recognizes what the first run wrote by sequence alone
    for n, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, n
    # the last offset is the same (but for each task's own replica id): a restart resumes at
    # the same place
    offsets = [{**r[-1].source_offset, "server_id": 0} for r in (fast, slow)]
    assert offsets[0] == offsets[1]


_ALL_TS = re.compile(rb'"ts_(ms|us|ns)":\d+')


@pytest.mark.parametrize("encoding", [(True, True), (False, False)], ids=["schemas", "plain"])
def test_the_encoded_snapshot_equals_the_converted_snapshot(
    mariadb_server: MariaDBServer, mariadb_db: str, encoding: tuple[bool, bool]
) -> None:
    """Snapshot reads from the text protocol's packets encoded in C (runs of rows as packed
    batches, the rows with markers of their own one by one) are the slow path's bytes, in
    small chunks and polls (every marker and run boundary), keyed and keyless tables."""
    con = root(mariadb_server, mariadb_db)
    _workload(con.cursor())
    con.cursor().execute("INSERT INTO nk VALUES ('çà', 1, -1.5), (NULL, 2, 3), ('x', 3, 4)")
    got: list[list[Any]] = []
    for n, json_encoding in enumerate((encoding, None)):
        cfg = source_config(mariadb_server, mariadb_db, **{
            "snapshot.mode": "initial_only", "snapshot.fetch.size": 7, "max.batch.size": 5,
        })  # fmt: skip
        cfg["database.server.id"] = int(cfg["database.server.id"]) + 1000 * n
        task = MariaDbSourceTask()
        task.start(cfg, SourceTaskContext("my", 0, {}, json_encoding=json_encoding))
        try:
            records = poll_for(task, 3.0)
        finally:
            task.stop()
        if json_encoding is not None:
            assert sum(len(r.packed or ()) for r in records if type(r) is EncodedBatch) > 200
        got.append([(t, k, None if v is None else _ALL_TS.sub(rb'"ts_\1":0', v))
                    for t, k, v in _bytes(records, encoding)])  # fmt: skip
        got[-1].append(dict(records[-1].source_offset))
    assert len(got[0]) == len(got[1]) > 250
    for n, (g, w) in enumerate(zip(*got, strict=True)):
        assert g == w, n
