"""The snapshot cuts' bookkeeping (connectors/source/cdc/cuts.py)."""

from __future__ import annotations

from connectors.source.cdc.cuts import SnapshotCuts, precedes, truncated


def test_a_later_attempt_moves_the_cut_of_the_tables_it_reads_again() -> None:
    cuts = SnapshotCuts().extended(["s.a", "s.b"], 100).extended(["s.b", "s.c"], 250)
    assert [cuts.position(t) for t in ("s.a", "s.b", "s.c", "s.d")] == [100, 250, 250, None]
    assert not cuts.passed(249) and cuts.passed(250)
    assert SnapshotCuts.load(cuts.to_json()) == cuts


def test_binlog_positions_compare_by_file_then_position() -> None:
    cuts = SnapshotCuts().extended(["d.h"], ["binlog.000002", 400])
    assert not cuts.passed(["binlog.000001", 9_999_999])
    assert not cuts.passed(["binlog.000002", 399])
    assert cuts.passed(["binlog.000002", 400]) and cuts.passed(["binlog.000003", 4])


def test_no_cuts_is_falsy_and_passed() -> None:
    assert not SnapshotCuts() and SnapshotCuts().passed(0)


def test_the_keyless_tables_from_the_resume_point_are_truncated() -> None:
    tables = [("s.a", False), ("s.b", True), ("s.c", False), ("s.d", False)]
    assert truncated(tables, 0) == ["s.a", "s.c", "s.d"]
    assert truncated(tables, 2) == ["s.c", "s.d"]
    assert truncated(tables, 4) == []


def test_binlog_files_order_by_number_past_a_rollover_of_digits() -> None:
    cuts = SnapshotCuts().extended(["d.h"], ["binlog.999999", 100])
    assert not cuts.passed(["binlog.999999", 99])
    assert cuts.passed(["binlog.1000000", 4])  # a name that sorts lower as text
    assert precedes(["binlog.999999", 5], ["binlog.1000000", 4])
    assert not precedes(["binlog.1000000", 4], ["binlog.999999", 5])


def test_truncate_statements_name_their_table() -> None:
    from connectors.source.mysql.stream import truncate_target

    cases = {
        "TRUNCATE TABLE `t`": ("cur", "t"),
        "truncate t": ("cur", "t"),
        "TRUNCATE TABLE\n  shop.orders;": ("shop", "orders"),
        "TRUNCATE\tTABLE\tt": ("cur", "t"),
        "TRUNCATE /* why */ TABLE `d b`.`x``y`": ("d b", "x`y"),
        "TRUNCATE TABLE tables": ("cur", "tables"),
        # spaces around the dot, an executable comment (the server runs what it holds)
        "TRUNCATE TABLE db1 . t": ("db1", "t"),
        "TRUNCATE `db2` .t": ("db2", "t"),
        "TRUNCATE TABLE /*!40000 db2.*/t": ("db2", "t"),
        "TRUNCATE /*M!100100 TABLE */ d.x": ("d", "x"),
    }
    for sql, want in cases.items():
        assert truncate_target(sql, "cur") == want, sql
    assert truncate_target("TRUNCATE t", "") is None  # no database to name
