"""The throwaway MariaDB the MySQL/MariaDB source is tested against is what CDC needs."""

from __future__ import annotations

import pytest

from tests.fixtures.mariadb import MariaDBServer

pytestmark = pytest.mark.integration


def test_binlog_is_row_full_with_gtids(mariadb_server: MariaDBServer, mariadb_db: str) -> None:
    rows = dict(
        line.split("\t")
        for line in mariadb_server.client(
            sql="SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', "
            "'binlog_row_image', 'binlog_row_metadata', 'server_id', 'bind_address')"
        ).splitlines()
    )
    assert rows == {
        "log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL",
        "binlog_row_metadata": "FULL", "server_id": "1", "bind_address": "127.0.0.1",
    }  # fmt: skip
    mariadb_server.client(mariadb_db, sql="CREATE TABLE t (id int PRIMARY KEY); "
                          "INSERT INTO t VALUES (1)")  # fmt: skip
    gtid = mariadb_server.client(sql="SELECT @@gtid_binlog_pos").strip()
    assert gtid.startswith("0-1-")  # domain 0, server 1: MariaDB's GTIDs
    grants = mariadb_server.client(sql="SHOW GRANTS FOR 'hub'@'%'")
    assert "REPLICATION SLAVE" in grants and "ALL PRIVILEGES" not in grants
    anonymous = mariadb_server.client(sql="SELECT count(*) FROM mysql.user WHERE user = ''")
    assert anonymous.strip() == "0"  # none to shadow hub@'%' over 127.0.0.1
