"""Tables the lists match whose rows would not reach the sinks, said instead of left out: a
partitioned table (its rows are in its partitions, captured as tables of their own), an
UNLOGGED table (its changes are not in the WAL), a table whose row-level security would
show the snapshot only some rows (the stream gets every change)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import psycopg
import pytest

import connectors.source.postgres.connector as pg_connector
from hub.errors import ConfigError
from tests.connectors.postgres.helpers import source_config, start_task
from tests.fixtures.postgres import PgServer
from tests.helpers import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sql(pg_server: PgServer, pg_db: str) -> Any:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as conn:
        yield conn


def _checks(cfg: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    from connectors.source.postgres.checks import check

    return {c.what: (c.ok, c.detail) for c in check(cfg)}


def test_a_partitioned_table_whose_partitions_the_lists_leave_out_is_refused(
    pg_server: PgServer, pg_db: str, sql: Any, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sql.execute("CREATE TABLE meas (id int, region text, PRIMARY KEY (id, region)) "
                "PARTITION BY LIST (region)")  # fmt: skip
    sql.execute("CREATE TABLE meas_eu PARTITION OF meas FOR VALUES IN ('eu')")
    sql.execute("CREATE TABLE meas_us PARTITION OF meas FOR VALUES IN ('us')")
    sql.execute("CREATE TABLE other (id int PRIMARY KEY)")
    cfg = source_config(pg_server, pg_db, **{"table.include.list": r"public\.meas,public\.other"})
    with pytest.raises(ConfigError, match=r"public\.meas is a partitioned table.*take none "
                       r"of them \(public\.meas_eu, public\.meas_us\): include the"):  # fmt: skip
        start_task(cfg)
    ok, detail = _checks(cfg)["the lists take partitioned tables' partitions"]
    assert not ok and "public.meas_eu" in detail
    # a partition left out on purpose, beside others taken: captured as the lists say; one
    # made while the task runs that they leave out is warned of
    monkeypatch.setattr(pg_connector, "PUBLICATION_CHECK_S", 0.2)
    caplog.set_level(logging.WARNING)
    task = start_task({**cfg, "table.include.list": r"public\.(meas|meas_eu|other)"})
    try:
        assert "partition" not in caplog.text
        sql.execute("CREATE TABLE meas_cn PARTITION OF meas FOR VALUES IN ('cn')")
        wait_for(lambda: task.poll() is not None and "public.meas_cn: partition(s) of a "
                 "captured partitioned table made while the task ran" in caplog.text,
                 what="the warning for meas_cn")  # fmt: skip
    finally:
        task.stop()


def test_unlogged_tables_are_warned_of_at_the_start_and_when_made_so(
    pg_server: PgServer, pg_db: str, sql: Any, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sql.execute("CREATE UNLOGGED TABLE ul (id int PRIMARY KEY)")
    sql.execute("CREATE TABLE lg (id int PRIMARY KEY)")
    cfg = source_config(pg_server, pg_db)
    monkeypatch.setattr(pg_connector, "PUBLICATION_CHECK_S", 0.2)
    caplog.set_level(logging.WARNING)
    task = start_task(cfg)
    try:
        assert "public.ul: UNLOGGED: their changes are not in the WAL" in caplog.text
        assert "public.lg" not in caplog.text
        sql.execute("ALTER TABLE lg SET UNLOGGED")
        wait_for(lambda: task.poll() is not None and "public.lg: UNLOGGED" in caplog.text,
                 what="the warning for lg")  # fmt: skip
    finally:
        task.stop()
    ok, detail = _checks(cfg)["the tables the lists match are logged"]
    assert not ok and detail.startswith("public.lg, public.ul: UNLOGGED")


def test_row_level_security_whose_policies_apply_to_the_role_is_warned_of(
    pg_server: PgServer, pg_db: str, sql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # (the snapshot read only the rows the policies showed the role, the stream gave every
    # change: rows missing in the sinks, without a word; a policy may show every row, so it
    # is said, not refused)
    role = f"cdc_{uuid.uuid4().hex[:8]}"
    sql.execute(f"CREATE ROLE {role} LOGIN REPLICATION")
    sql.execute("CREATE TABLE acct (id int PRIMARY KEY, tenant text)")
    sql.execute("INSERT INTO acct VALUES (1, 'a'), (2, 'b')")
    sql.execute("ALTER TABLE acct ENABLE ROW LEVEL SECURITY")
    sql.execute("CREATE POLICY only_a ON acct USING (tenant = 'a')")
    sql.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    sql.execute("CREATE PUBLICATION pub_rls FOR ALL TABLES")
    cfg = source_config(pg_server, pg_db, **{
        "database.user": role, "publication.name": "pub_rls",
        "publication.autocreate.mode": "disabled",
    })  # fmt: skip
    caplog.set_level(logging.WARNING)
    task = start_task(cfg)
    task.stop()
    assert (f"public.acct have row-level security policies that apply to {role}: a snapshot "
            "reads only the rows they show it") in caplog.text  # fmt: skip
    assert f"ALTER ROLE {role} BYPASSRLS" in caplog.text
    ok, detail = _checks(cfg)[f"row-level security of the tables for role {role}"]
    assert "public.acct" in detail
    sql.execute(f"ALTER ROLE {role} BYPASSRLS")
    assert f"row-level security of the tables for role {role}" not in _checks(cfg)
    sql.execute(f"SELECT pg_drop_replication_slot('{cfg['slot.name']}')")


def test_a_publication_named_after_the_slots_position_is_said_not_retried(
    pg_server: PgServer, pg_db: str, sql: Any
) -> None:
    # (publication.name changed between runs: pgoutput reads the publication as the catalog
    # was at the WAL it decodes, and ends the stream with "publication ... does not exist";
    # the task restarted for ever on "the server ended replication", the reason dropped)
    sql.execute("CREATE TABLE t (id int PRIMARY KEY)")
    cfg = source_config(pg_server, pg_db, **{"publication.name": "pub_one",
                                             "snapshot.mode": "no_data"})  # fmt: skip
    task = start_task(cfg)
    offset: dict[str, Any] = {}
    try:
        sql.execute("INSERT INTO t VALUES (1)")
        got = wait_for(lambda: [r for r in task.poll() if r.topic], what="the insert")
        offset = dict(got[-1].source_offset)
    finally:
        task.stop()
    sql.execute("INSERT INTO t VALUES (2)")  # (made while stopped: decoded at the restart)
    task = start_task({**cfg, "publication.name": "pub_two"}, offset)
    try:
        with pytest.raises(ConfigError, match=r'publication "pub_two" does not exist.*did not '
                           r"exist at the WAL position the slot resumes from"):  # fmt: skip
            wait_for(lambda: task.poll() and None, what="the stream's end")
    finally:
        task.stop()


def test_a_slot_this_connector_has_no_position_for_is_said_and_keyless_tables_truncated(
    pg_server: PgServer, pg_db: str, sql: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # (a connector renamed, or its offsets reset: its slot was dropped and made again without
    # a word, and a keyless table's rows came again, twice in the sinks)
    sql.execute("CREATE TABLE k (v int)")
    sql.execute("ALTER TABLE k REPLICA IDENTITY FULL")
    sql.execute("INSERT INTO k VALUES (1), (2)")
    cfg = source_config(pg_server, pg_db)
    task = start_task(cfg)
    try:
        wait_for(lambda: [r for r in task.poll() if r.topic], what="the snapshot")
    finally:
        task.stop()
    caplog.set_level(logging.WARNING)
    task = start_task(cfg)  # (no stored position: as under another name)
    try:
        got = wait_for(lambda: [r for r in task.poll() if r.topic], what="the new snapshot")
    finally:
        task.stop()
    assert f"replication slot {cfg['slot.name']} exists, but this connector has no stored" in (
        caplog.text
    )
    assert got[0].value["op"] == "t" and got[0].topic == "app.public.k"


def test_a_table_new_to_the_lists_at_a_restart_is_warned_of_with_how_to_copy_its_rows(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Any,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # a table added to table.include.list has its changes streamed from the stored position;
    # the rows it held are not read (as in Debezium): they were missing from the sinks
    # without a word. A table made while the task streamed is captured from its first row:
    # no warning for it at the next start.
    from tests.connectors.postgres.helpers import events, start

    for t in ("a", "b"):
        sql.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
        sql.execute(f"INSERT INTO {t} SELECT generate_series(1, 3)")
    monkeypatch.setattr(pg_connector, "PUBLICATION_CHECK_S", 0.2)
    cfg = source_config(pg_server, pg_db, **{"table.include.list": r"public\.a"})
    caplog.set_level(logging.WARNING)
    told = "captured from now on"

    def run(config: dict[str, Any], made: str | None = None, stream: bool = True) -> None:
        worker = start(tmp_path, config)
        try:
            wait_for(lambda: len(events(worker.log, "app.public.a")) >= 3, what="a's rows")
            if not stream:  # (the set goes with the snapshot's rows: an idle stream sends
                time.sleep(0.5)  # nothing it could go with)
                return
            n = len(events(worker.log, "app.public.a"))
            sql.execute("INSERT INTO a VALUES (%s)", (100 + n,))  # streamed
            wait_for(lambda: len(events(worker.log, "app.public.a")) > n, what="a's change")
            if made is not None:
                sql.execute(f"CREATE TABLE {made} (id int PRIMARY KEY)")
                sql.execute(f"INSERT INTO {made} VALUES (1)")
                wait_for(lambda: events(worker.log, f"app.public.{made}"), what=made)
                time.sleep(0.5)  # (a check of the tables after it: 0.2 s apart)
                sql.execute("INSERT INTO a VALUES (%s)", (500 + n,))
                wait_for(lambda: len(events(worker.log, "app.public.a")) > n + 1, what="a poll")
        finally:
            worker.stop()

    run(cfg, stream=False)  # the first start: a snapshot, nothing new, nothing streamed
    assert told not in caplog.text
    wider = {**cfg, "table.include.list": r"public\.(a|b|c\d*)"}
    run(wider, made="c1")
    lines = [r.getMessage() for r in caplog.records if told in r.getMessage()]
    assert len(lines) == 1 and "pg: public.b captured from now on" in lines[0], lines
    assert (
        "rows it held before that position (left out by the lists until now) are not read"
        in lines[0]
        and "execute-snapshot" in lines[0]
    )
    assert "one made while the connector was stopped needs none" in lines[0]
    caplog.clear()
    run(wider)  # b is known now; c1 was made while streaming
    assert told not in caplog.text


def test_a_column_taken_out_of_the_exclude_list_is_warned_of_at_a_restart(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # its values reach the topics as rows change; the rows the sinks hold keep it null (they
    # did without a word). The key's column, always kept, is not named.
    from tests.connectors.postgres.helpers import events, start

    sql.execute("CREATE TABLE a (id int PRIMARY KEY, v int, secret text)")
    sql.execute("INSERT INTO a SELECT g, g, 's' FROM generate_series(1, 3) g")
    cfg = source_config(pg_server, pg_db, **{"column.exclude.list": r"public\.a\.(id|secret)"})
    caplog.set_level(logging.WARNING)
    told = "captured from now on (column.include.list or column.exclude.list changed"

    def run(config: dict[str, Any]) -> list[Any]:
        worker = start(tmp_path, config)
        try:
            wait_for(lambda: len(events(worker.log, "app.public.a")) >= 3, what="a's rows")
            n = len(events(worker.log, "app.public.a"))
            sql.execute("UPDATE a SET v = v + 1 WHERE id = 1")  # (streamed: the set stored)
            wait_for(lambda: len(events(worker.log, "app.public.a")) > n, what="a's change")
            return events(worker.log, "app.public.a")
        finally:
            worker.stop()

    assert "secret" not in run(cfg)[-1][1]["after"]
    assert told not in caplog.text
    got = run({**cfg, "column.exclude.list": ""})
    assert got[-1][1]["after"]["secret"] == "s"
    lines = [r.getMessage() for r in caplog.records if told in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("pg: column(s) public.a.secret captured"), lines
    caplog.clear()
    run({**cfg, "column.exclude.list": ""})  # (told once)
    assert told not in caplog.text


def test_a_renamed_connector_with_another_slot_truncates_keyless_tables_its_topics_hold(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # (renamed with a new slot.name: no stored position and no slot, the keyless table's
    # rows came again after the first run's, twice in a sink; the keyed table's are upserts)
    from tests.connectors.postgres.helpers import events, start

    sql.execute("CREATE TABLE k (v int)")
    sql.execute("ALTER TABLE k REPLICA IDENTITY FULL")
    sql.execute("INSERT INTO k VALUES (1), (2)")
    sql.execute("CREATE TABLE z (id int PRIMARY KEY)")
    sql.execute("INSERT INTO z VALUES (1)")

    def run(name: str, runs: int, k_records: int) -> list[Any]:
        slot = f"s_{uuid.uuid4().hex[:12]}"
        worker = start(tmp_path, source_config(pg_server, pg_db, **{"slot.name": slot}), name)
        try:  # (the keyed table after the keyless one: its row ends the snapshot; the log
            # makes each topic durable on its own, so k's records are waited for too)
            def done() -> bool:
                z = len(events(worker.log, "app.public.z"))
                return z == runs and len(events(worker.log, "app.public.k")) >= k_records

            wait_for(done, what="a snapshot")
            return events(worker.log, "app.public.k")
        finally:
            worker.stop()

    caplog.set_level(logging.WARNING)
    told = "hold records already"
    assert [v["op"] for _, v in run("pg", 1, 2)] == ["r", "r"] and told not in caplog.text
    assert [v["op"] for _, v in run("pg2", 2, 5)[2:]] == ["t", "r", "r"]
    lines = [r.getMessage() for r in caplog.records if told in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("pg2: no stored position, but the topics of public.k (without")


def test_a_table_taken_out_of_the_publication_while_streaming_is_said_lost_and_told_again(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Any,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # (publication.autocreate.mode disabled, a review's: the task stopped with the start's
    # message, ADD TABLE as it said, and the task went on without a word of the changes
    # made while the table was out, lost)
    from tests.connectors.postgres.helpers import events, failure, start

    monkeypatch.setattr(pg_connector, "PUBLICATION_CHECK_S", 0.2)
    pub = f"p_{uuid.uuid4().hex[:8]}"
    sql.execute("CREATE TABLE k (id int PRIMARY KEY)")
    sql.execute("INSERT INTO k VALUES (1)")
    sql.execute(f"CREATE PUBLICATION {pub} FOR TABLE k")
    cfg = source_config(pg_server, pg_db, **{
        "publication.name": pub, "publication.autocreate.mode": "disabled",
    })  # fmt: skip
    worker = start(tmp_path, cfg)
    try:
        wait_for(lambda: len(events(worker.log, "app.public.k")) == 1, what="the snapshot")
        sql.execute("INSERT INTO k VALUES (2)")  # (streamed: the stream's position stored)
        wait_for(lambda: len(events(worker.log, "app.public.k")) == 2, what="a change")
        sql.execute(f"ALTER PUBLICATION {pub} DROP TABLE k")
        sql.execute("INSERT INTO k VALUES (3)")  # lost to the stream
        trace = wait_for(lambda: failure(worker), what="the task's stop")
    finally:
        worker.stop()
    assert "no longer publishes 1 captured table(s), public.k" in trace, trace
    assert "signal an incremental snapshot" in trace
    sql.execute(f"ALTER PUBLICATION {pub} ADD TABLE k")
    caplog.set_level(logging.WARNING)
    worker = start(tmp_path, cfg)
    try:
        sql.execute("INSERT INTO k VALUES (4)")
        wait_for(lambda: len(events(worker.log, "app.public.k")) == 3, what="the next change")
    finally:
        worker.stop()
    told = [r.getMessage() for r in caplog.records if "were not captured" in r.getMessage()]
    assert len(told) == 1 and told[0].startswith("pg: public.k: its changes for a while"), told
    assert f"out of publication {pub} while the connector streamed" in told[0]
    caplog.clear()
    worker = start(tmp_path, cfg)  # (told once)
    try:
        sql.execute("INSERT INTO k VALUES (5)")
        wait_for(lambda: len(events(worker.log, "app.public.k")) == 4, what="another change")
    finally:
        worker.stop()
    assert "were not captured" not in caplog.text


def test_a_table_dropped_and_made_again_while_stopped_is_warned_of_at_the_start(
    pg_server: PgServer, pg_db: str, sql: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # (a review's: the sinks kept the old table's rows, 1 000 against the new one's 100,
    # without a word; the same while the task ran is warned of)
    from tests.connectors.postgres.helpers import events, start

    sql.execute("CREATE TABLE t (id int PRIMARY KEY)")
    sql.execute("INSERT INTO t SELECT generate_series(1, 3)")
    cfg = source_config(pg_server, pg_db)
    told = "dropped and created again while the connector was stopped"

    def run(want: int) -> None:
        worker = start(tmp_path, cfg)
        try:
            wait_for(lambda: len(events(worker.log, "app.public.t")) >= want, what="t's rows")
            n = len(events(worker.log, "app.public.t"))
            sql.execute("INSERT INTO t VALUES (%s)", (100 + n,))  # (streamed: the set stored)
            wait_for(lambda: len(events(worker.log, "app.public.t")) > n, what="a change")
        finally:
            worker.stop()

    caplog.set_level(logging.WARNING)
    run(3)
    run(4)  # (nothing dropped: no word)
    assert told not in caplog.text
    sql.execute("DROP TABLE t")
    sql.execute("CREATE TABLE t (id int PRIMARY KEY)")
    sql.execute("INSERT INTO t VALUES (1)")
    run(6)
    lines = [r.getMessage() for r in caplog.records if told in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith(f"pg: public.t {told}"), lines
    assert "Empty its table in the sinks" in lines[0] and "execute-snapshot" in lines[0]
    caplog.clear()
    run(7)  # (told once)
    assert told not in caplog.text
