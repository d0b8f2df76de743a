"""The PostgreSQL source over verified TLS: `database.sslmode` (libpq's values only) and
Debezium's `database.sslrootcert`, `database.sslcert`, `database.sslkey`,
`database.sslpassword`, for the snapshot's connection and the replication stream's. Before,
`database.sslrootcert` was an unknown property (verify-ca and verify-full could only read
libpq's environment) and `database.sslmode: verify-ful` passed validation."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.source.postgres.config import PostgresSourceConfig
from hub.config import ConnectorSpec
from hub.errors import ConfigError
from hub.runtime.validation import validate
from tests.connectors.postgres.helpers import source_config, start_task
from tests.fixtures.postgres import PG_OS_USER, PgServer
from tests.fixtures.tls import make_ca, make_server_cert


@pytest.fixture
def tls_on(pg_server: PgServer, tmp_path: Path) -> Iterator[Path]:
    """The session's server taking TLS (a reload turns it on and off) with a certificate for
    127.0.0.1; the directory of ``ca.pem`` and ``other-ca.pem``."""
    certs = pg_server.data_dir / "hub-test-certs"
    certs.mkdir(exist_ok=True)
    make_server_cert(certs, make_ca(certs, "ca"))
    make_ca(certs, "other-ca")
    if os.geteuid() == 0:  # (the server reads its key as its own user)
        for f in [certs, *certs.iterdir()]:
            shutil.chown(f, PG_OS_USER, PG_OS_USER)
    os.chmod(certs / "server-key.pem", 0o600)
    mine = tmp_path / "certs"
    shutil.copytree(certs, mine)
    with psycopg.connect(pg_server.dsn(), autocommit=True) as con:
        con.execute(f"ALTER SYSTEM SET ssl_cert_file = '{certs / 'server.pem'}'")
        con.execute(f"ALTER SYSTEM SET ssl_key_file = '{certs / 'server-key.pem'}'")
        con.execute("ALTER SYSTEM SET ssl = on")
        con.execute("SELECT pg_reload_conf()")
    time.sleep(0.3)  # (the postmaster reloads asynchronously)
    try:
        yield mine
    finally:
        with psycopg.connect(pg_server.dsn(), autocommit=True, sslmode="disable") as con:
            con.execute("ALTER SYSTEM RESET ssl")
            con.execute("ALTER SYSTEM RESET ssl_cert_file")
            con.execute("ALTER SYSTEM RESET ssl_key_file")
            con.execute("SELECT pg_reload_conf()")
        shutil.rmtree(certs, ignore_errors=True)


def _ssl_in_use(cfg: dict[str, Any]) -> bool:
    with psycopg.connect(PostgresSourceConfig.of(cfg).conninfo()) as con:
        row = con.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    return bool(row and row[0])


def test_verified_tls_carries_the_snapshot_and_the_stream(
    pg_server: PgServer, pg_db: str, tls_on: Path
) -> None:
    with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as con:
        con.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        con.execute("INSERT INTO t VALUES (1, 'a')")
    verified = {"database.sslmode": "verify-full", "database.sslrootcert": str(tls_on / "ca.pem")}
    cfg = source_config(pg_server, pg_db, **verified)
    assert _ssl_in_use(cfg)
    task = start_task(cfg)
    try:
        got: list[Any] = []
        deadline = time.monotonic() + 20
        while not any(r.topic == "app.public.t" for r in got):
            assert time.monotonic() < deadline
            got += task.poll()
        streamed: list[Any] = []
        with psycopg.connect(pg_server.dsn(pg_db), autocommit=True) as con:
            con.execute("INSERT INTO t VALUES (2, 'b')")
            walsenders: list[Any] = []
            while not walsenders:  # (the stream opens at the poll after the snapshot's last)
                assert time.monotonic() < deadline
                streamed += task.poll()
                walsenders = con.execute(
                    "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_replication r USING (pid)"
                ).fetchall()
        assert walsenders and all(ssl for (ssl,) in walsenders)  # (the stream's: over TLS)
        while not any(r.topic == "app.public.t" for r in streamed):
            assert time.monotonic() < deadline
            streamed += task.poll()
        assert [r.value["after"] for r in streamed if r.topic == "app.public.t"] == [
            {"id": 2, "v": "b"}
        ]
    finally:
        task.stop()


def test_a_certificate_that_does_not_verify_is_refused(
    pg_server: PgServer, pg_db: str, tls_on: Path
) -> None:
    for mode, ca, host, words in (
        ("verify-ca", "other-ca.pem", pg_server.host, "certificate verify failed"),
        ("verify-full", "ca.pem", "localhost", "localhost"),
    ):
        cfg = source_config(pg_server, pg_db, **{
            "database.sslmode": mode, "database.sslrootcert": str(tls_on / ca),
            "database.hostname": host})  # fmt: skip
        with pytest.raises(psycopg.OperationalError, match=words):
            _ssl_in_use(cfg)


def test_an_sslmode_libpq_lacks_is_refused_by_validation() -> None:
    config = {"connector.class": "postgres", "database.hostname": "h", "database.user": "u",
              "database.dbname": "d", "topic.prefix": "p"}  # fmt: skip
    config["database.sslmode"] = "verify-ful"
    with pytest.raises(ConfigError, match="database.sslmode"):
        validate(ConnectorSpec("a", config, "a.yaml"))
