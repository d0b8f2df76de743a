"""GTID positions in the offsets, both flavours: MariaDB's position per domain, MySQL's
executed set (kept in the offset as Debezium's is; a MySQL task resumes by file and
position, the only form testable here: the machine has no MySQL server)."""

from __future__ import annotations

from types import SimpleNamespace

from connectors.source.cdc.filters import Filters
from connectors.source.mysql.config import MySqlSourceConfig
from connectors.source.mysql.gtids import MySqlGtidSet, format_mysql, mariadb_after, parse_mysql
from connectors.source.mysql.protocol.events import HEADER, E, header
from connectors.source.mysql.stream import ChangeStream
from connectors.source.mysql.types import TypeMapper

U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
U2 = "a1b2c3d4-0000-0000-0000-000000000001"


def test_mariadb_positions_keep_one_entry_per_domain() -> None:
    assert mariadb_after(None, "0-1-5") == "0-1-5"
    assert mariadb_after("0-1-5,1-2-3", "1-2-4") == "0-1-5,1-2-4"
    assert mariadb_after("1-2-3", "0-7-9") == "0-7-9,1-2-3"


def test_mysql_sets_as_the_server_prints_them() -> None:
    text = f"{U1.upper()}:1-5:7,\n {U2}:1-3:2-4"  # SHOW MASTER STATUS wraps lines
    assert format_mysql(parse_mysql(text)) == f"{U1}:1-5:7,{U2}:1-4"
    s = MySqlGtidSet(text)
    assert s.add(f"{U1}:6") == f"{U1}:1-7,{U2}:1-4"  # fills the gap: one interval
    assert s.add(f"{U1}:8") == f"{U1}:1-8,{U2}:1-4"  # the next number: extended in place
    assert s.add(f"{U1}:20") == f"{U1}:1-8:20,{U2}:1-4"
    assert s.add(f"{U2.upper()}:5") == f"{U1}:1-8:20,{U2}:1-5"
    assert MySqlGtidSet(None).add(f"{U2}:1") == f"{U2}:1"


def _event(type_: int, body: bytes, log_pos: int) -> tuple[object, memoryview]:
    raw = (1_700_000_000).to_bytes(4, "little") + bytes((type_,)) + (1).to_bytes(4, "little")
    raw += (HEADER + len(body)).to_bytes(4, "little") + log_pos.to_bytes(4, "little") + b"\0\0"
    raw += body
    return header(raw), memoryview(raw)


def test_a_mysql_stream_stores_its_executed_set_after_each_transaction() -> None:
    cfg = MySqlSourceConfig.of({"database.user": "u", "topic.prefix": "app"})
    stream = ChangeStream(
        cfg, "mysql", Filters.from_config(cfg), TypeMapper("precise", "adaptive_time_microseconds",
                                                           "bytes", "long"),
        {"server": "app"}, {"file": "binlog.000001", "pos": 4, "gtids": f"{U1}:1-10"}, False,
    )  # fmt: skip
    stream.stream = SimpleNamespace(file="binlog.000001", checksum=False)  # type: ignore[assignment]
    out: list = []
    for gno, pos in ((11, 200), (13, 400)):
        gtid = b"\x01" + bytes.fromhex(U1.replace("-", "")) + gno.to_bytes(8, "little")
        stream._event(*_event(E.GTID, gtid, pos - 50), out)  # type: ignore[arg-type]
        stream._event(*_event(E.XID, (7).to_bytes(8, "little"), pos), out)  # type: ignore[arg-type]
        assert stream.position()["pos"] == pos
    assert stream.position()["gtids"] == f"{U1}:1-11:13"


def test_a_set_hub_cannot_read_is_not_kept() -> None:
    """MySQL 8.3's tagged GTIDs (uuid:tag:1-3): the offset keeps no set rather than the
    stream failing at its first transaction (a MySQL task resumes by file and position)."""
    assert MySqlGtidSet(f"{U1}:1-5:tag:1-3").add(f"{U1}:6") is None
    s = MySqlGtidSet(f"{U1}:1-5")
    assert s.add(f"{U1}:tag:6") is None and s.add(f"{U1}:7") is None


def test_the_rotate_a_gtid_connect_begins_with_never_takes_the_position_back() -> None:
    """MariaDB opens a GTID dump with an artificial rotate (log_pos 0) naming the file and
    position 4. Taken as the position, a first poll that ended before a heartbeat stored
    {file, pos: 4}, and the next start replayed the schema history only up to there: the
    DDL earlier in that file was missed, rows decoded under the old column names (a
    review's run: two columns' values swapped in the sink)."""
    cfg = MySqlSourceConfig.of({"database.user": "u", "topic.prefix": "app"})
    mapper = TypeMapper("precise", "adaptive_time_microseconds", "bytes", "long")
    stream = ChangeStream(
        cfg, "mariadb", Filters.from_config(cfg), mapper,
        {"server": "app"}, {"file": "binlog.000007", "pos": 9000, "gtids": "0-1-40"}, True,
    )  # fmt: skip
    stream.stream = SimpleNamespace(file="binlog.000007", checksum=False)  # type: ignore[assignment]

    def rotate(file: str, pos: int, log_pos: int) -> None:
        body = pos.to_bytes(8, "little") + file.encode()
        stream._event(*_event(E.ROTATE, body, log_pos), [])  # type: ignore[arg-type]

    rotate("binlog.000007", 4, 0)  # the GTID connect's, in the stored file
    assert (stream.position()["file"], stream.position()["pos"]) == ("binlog.000007", 9000)
    rotate("binlog.000006", 4, 0)  # an earlier file (the server starts where it finds it)
    assert (stream.position()["file"], stream.position()["pos"]) == ("binlog.000007", 9000)
    rotate("binlog.000008", 4, 0)  # a later one (the stored file rotated, nothing since)
    assert (stream.position()["file"], stream.position()["pos"]) == ("binlog.000008", 4)
    rotate("binlog.000009", 4, 512)  # a real rotate at the end of a file
    assert (stream.position()["file"], stream.position()["pos"]) == ("binlog.000009", 4)


def test_a_gtid_position_is_kept_when_the_oldest_binlog_begins_at_or_before_it() -> None:
    from connectors.source.mysql.gtids import gtids_after

    assert gtids_after("[]", "0-1-1")
    assert gtids_after("[0-1-100,1-2-5]", "0-1-150,1-2-5")
    assert gtids_after("[0-1-100]", "0-1-100,3-1-7")  # (a domain the list lacks: not purged)
    assert not gtids_after("[0-1-100,1-2-5]", "0-1-99,1-2-5")  # (0-1-100 purged)
    assert not gtids_after("[0-1-100,1-2-5]", "0-1-150")  # (domain 1's first five purged)
    assert not gtids_after("[0-1-100]", "not a position")
    # a state listing a domain once per server: its highest sequence number counts
    assert gtids_after("[0-1-100]", "0-2-150,0-1-90")
