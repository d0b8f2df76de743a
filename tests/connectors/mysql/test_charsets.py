"""Text in MySQL's other charsets, as the server reads it, on the binlog path too (a review's
differential run: sjis backslashes became U+FF3C, eucjpms read as EUC-JP changed six characters
and could not read 1 211 others, cp866 "²" became "¤", all silently, in the stream only; the
snapshot reads text the server converts). `charset_oracle` asks the server for its tables."""

from __future__ import annotations

import pytest

from connectors.source.mysql import charsets
from hub.errors import FatalError
from tests.connectors.mysql import charset_oracle as oracle
from tests.connectors.mysql.helpers import poll_until, root, source_config, start_task
from tests.fixtures.mariadb import MariaDBServer


def test_every_charset_reads_its_codes_as_the_server_does(mariadb_server: MariaDBServer) -> None:
    from connectors.source.mysql._charset_fixes import FIXES

    con = root(mariadb_server, "mysql")
    for cs in oracle.SINGLE + oracle.MULTI:
        # every code of a single-byte charset; of the others every 5th and every one the
        # fixes name (a sample: all of them take ~6 s)
        pairs, coded = FIXES.get(cs, ("", ""))
        named = {bytes.fromhex(e.partition(":")[0]) for e in coded.split(";") if e}
        which = sorted(set(oracle.codes(cs, step=5)) | named)
        server = oracle.server_table(con, cs, which)
        assert len(server) > len(which) // 3, cs
        codec = charsets._CODECS[cs]
        ambiguous = oracle.ambiguous(cs, server)
        wrong, raw_only = [], []
        for code, want in server.items():
            try:
                got = code.decode(codec)
            except UnicodeDecodeError:
                got = None  # (refused by name where the stream meets it)
            if got == want:
                continue
            if oracle.undefined(code, want) or code in ambiguous:
                # (no character of the server's for it, or one Python gives for another code
                # too: only raw bytes hold these; hub reads them as Python does, or refuses)
                raw_only.append((code.hex(), want, got))
            else:
                wrong.append((code.hex(), want, got))
        assert not wrong, (cs, wrong[:10])
        assert len([r for r in raw_only if r[2] not in (None, "?")]) <= 8, (cs, raw_only[:10])
    # ASCII is ASCII in every one of them (a swap had turned eucjpms's "~" into "～")
    for cs in oracle.MULTI:
        assert bytes(range(128)).decode(charsets._CODECS[cs]) == bytes(range(128)).decode()


def test_streamed_text_in_other_charsets_is_the_snapshots(
    mariadb_server: MariaDBServer, mariadb_db: str
) -> None:
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20) CHARACTER SET sjis, "
        "e VARCHAR(20) CHARACTER SET eucjpms, c VARCHAR(20) CHARACTER SET cp866, "
        "g VARCHAR(20) CHARACTER SET greek, b VARCHAR(20) CHARACTER SET big5, "
        "w VARCHAR(20) CHARACTER SET cp1250)"
    )
    row = ("C:\\dir", "～－∥①", "x² yⁿ", "ʽʼ", "碁銹")
    cur.execute("INSERT INTO t VALUES (1, %s, %s, %s, %s, %s, NULL)", row)
    task = start_task(source_config(mariadb_server, mariadb_db))
    try:
        [snap] = poll_until(task, 1)
        cur.execute("INSERT INTO t VALUES (2, %s, %s, %s, %s, %s, NULL)", row)
        [streamed] = poll_until(task, 1)
        cols = ("s", "e", "c", "g", "b")
        assert tuple(snap.value["after"][k] for k in cols) == row
        assert tuple(streamed.value["after"][k] for k in cols) == row
        # bytes the column's charset has no character for (written raw): named, not a
        # bare codec error restarting the task for ever with nothing said of where
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("INSERT INTO t (id, w) VALUES (3, _cp1250 X'81')")
        with pytest.raises(FatalError) as err:
            poll_until(task, 1, seconds=5)
        assert f"{mariadb_db}.t: a row holds bytes" in str(err.value)
        assert "charset has no character for" in str(err.value) and "w (cp1250)" in str(err.value)
    finally:
        task.stop()


def test_labels_the_catalog_cannot_show_are_warned_of_under_minimal_metadata(
    mariadb_server: MariaDBServer, mariadb_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    # (MariaDB's catalog shows "😀" in a label as "?" (utf8mb3), SHOW CREATE TABLE too; with
    # binlog_row_metadata=MINIMAL the stream takes its labels from there, and streamed "?"
    # silently; with FULL the binlog carries them)
    con = root(mariadb_server, mariadb_db)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (id INT PRIMARY KEY, e ENUM('plain','😀'), s SET('a','𝄞'))")
    cur.execute("INSERT INTO t VALUES (1, '😀', 'a,𝄞')")
    for metadata in ("FULL", "MINIMAL"):
        mariadb_server.client(sql=f"SET GLOBAL binlog_row_metadata = '{metadata}'")
        caplog.clear()
        try:
            task = start_task(source_config(mariadb_server, mariadb_db, **{
                "database.server.id": 7100 + len(metadata)}))  # fmt: skip
            try:
                [snap] = poll_until(task, 1)
                cur.execute("UPDATE t SET id = id + 1")
                streamed = poll_until(task, 2)[-1]
            finally:
                task.stop()
        finally:
            mariadb_server.client(sql="SET GLOBAL binlog_row_metadata = 'FULL'")
        assert (snap.value["after"]["e"], snap.value["after"]["s"]) == ("😀", "a,𝄞")
        warned = [r.getMessage() for r in caplog.records if ".t.e: the catalog shows" in
                  r.getMessage()]  # fmt: skip
        if metadata == "FULL":
            assert (streamed.value["after"]["e"], streamed.value["after"]["s"]) == ("😀", "a,𝄞")
            assert not warned
        else:
            assert warned and "Set binlog_row_metadata=FULL" in warned[0], caplog.text
