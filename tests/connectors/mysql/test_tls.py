"""The MySQL/MariaDB source over TLS (`database.ssl.*`), against a MariaDB of its own that has
a certificate (signed by a CA made here for it, naming 127.0.0.1) and a user that must use TLS
(`REQUIRE SSL`): every connection the source makes, the snapshot's and the binlog stream's,
is refused to that user in plain text. Before, every `database.ssl.*` property was warned of
and ignored: PyMySQL took whatever TLS the server offered, unverified (a server's certificate
signed by another CA was taken under verify_ca), and went on in plain text when it offered
none (under required)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.source.mysql.config import MySqlSourceConfig
from connectors.source.mysql.server import connect, query
from hub.config import ConnectorSpec
from hub.demo.mariadb import MariaDBServer, start_server, stop_server
from hub.errors import ConfigError
from hub.runtime.validation import validate
from tests.connectors.mysql.helpers import poll_until, root, source_config, start_task
from tests.fixtures.tls import make_ca, make_server_cert

USER, PASSWORD = "tlsonly", "tls-only-pw"


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[MariaDBServer, Path]]:
    """A MariaDB with TLS and the user ``tlsonly`` (REQUIRE SSL); the directory holding
    ``ca.pem`` (its CA) and ``other-ca.pem`` (a CA that signed nothing of it)."""
    base = Path(tempfile.mkdtemp(prefix="hub-mariadb-tls-"))
    certs = base / "certs"
    certs.mkdir()
    make_server_cert(certs, make_ca(certs, "ca"))
    make_ca(certs, "other-ca")
    try:
        server = start_server(base, ssl_ca=str(certs / "ca.pem"),
                              ssl_cert=str(certs / "server.pem"),
                              ssl_key=str(certs / "server-key.pem"))  # fmt: skip
        try:
            server.client(sql=(
                f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}' REQUIRE SSL; "
                f"GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR "
                f"ON *.* TO '{USER}'@'%'; CREATE DATABASE shop"
            ))  # fmt: skip
            yield server, certs
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _config(server: MariaDBServer, **ssl: Any) -> dict[str, Any]:
    return source_config(server, "shop", **{
        "database.user": USER, "database.password": PASSWORD, **ssl})  # fmt: skip


def test_verified_tls_carries_the_snapshot_and_the_stream(
    tls_server: tuple[MariaDBServer, Path],
) -> None:
    server, certs = tls_server
    con = root(server, "shop")
    con.cursor().execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    con.cursor().execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    for mode in ("required", "verify_ca", "verify_identity"):
        cfg = MySqlSourceConfig.of(_config(server, **{
            "database.ssl.mode": mode, "database.ssl.ca": str(certs / "ca.pem")}))  # fmt: skip
        [(_, cipher)] = query(connect(cfg), "SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cipher, mode
    verified = {"database.ssl.mode": "verify_identity", "database.ssl.ca": str(certs / "ca.pem")}
    task = start_task(_config(server, **verified))
    try:
        snapshot = poll_until(task, 2)
        assert sorted(r.value["after"]["v"] for r in snapshot) == ["a", "b"]
        con.cursor().execute("INSERT INTO t VALUES (3, 'c')")
        [change] = poll_until(task, 1)  # (the binlog connection: as the user, so over TLS)
        assert change.value["op"] == "c" and change.value["after"] == {"id": 3, "v": "c"}
    finally:
        task.stop()
    # preferred (Debezium's default) takes the TLS the server offers
    [(_, cipher)] = query(connect(MySqlSourceConfig.of(_config(server))),
                          "SHOW SESSION STATUS LIKE 'Ssl_cipher'")  # fmt: skip
    assert cipher


def test_tls_that_cannot_be_had_is_refused_naming_the_property(
    tls_server: tuple[MariaDBServer, Path], mariadb_server: MariaDBServer
) -> None:
    server, certs = tls_server

    def refused(srv: MariaDBServer, *words: str, **ssl: Any) -> None:
        with pytest.raises(ConfigError) as err:
            connect(MySqlSourceConfig.of(_config(srv, **ssl)))
        for word in words:
            assert word in str(err.value), (word, str(err.value))
        assert PASSWORD not in str(err.value)

    refused(server, "database.ssl.mode is disabled", **{"database.ssl.mode": "disabled"})
    refused(server, "over TLS (database.ssl.mode=verify_ca)", "certificate verify failed",
            **{"database.ssl.mode": "verify_ca",
               "database.ssl.ca": str(certs / "other-ca.pem")})  # fmt: skip
    refused(
        server,
        "database.ssl.ca: cannot read CA certificates",
        **{"database.ssl.mode": "verify_ca", "database.ssl.ca": str(certs / "none.pem")},
    )
    refused(server, "over TLS (database.ssl.mode=verify_identity)", "localhost",
            **{"database.ssl.mode": "verify_identity", "database.hostname": "localhost",
               "database.ssl.ca": str(certs / "ca.pem")})  # fmt: skip
    # a server without TLS: required is refused, preferred goes on in plain text
    refused(
        mariadb_server, "over TLS (database.ssl.mode=required)", **{"database.ssl.mode": "required"}
    )
    plain = connect(MySqlSourceConfig.of(source_config(mariadb_server, "x")))
    assert query(plain, "SELECT 1") == [(1,)]


def test_java_keystores_are_refused_with_what_to_give_instead() -> None:
    for key in ("database.ssl.truststore", "database.ssl.keystore.password"):
        config = {"connector.class": "mysql", "database.hostname": "h", "database.user": "u",
                  "topic.prefix": "p", "database.server.id": "5400", key: "x"}  # fmt: skip
        with pytest.raises(ConfigError) as err:
            validate(ConnectorSpec("a", config, "a.yaml"))
        assert f"{key}: Java keystores are not read: give PEM files in database.ssl.ca" in str(
            err.value
        )
