"""The Snowflake sink's own surface: config errors that name the property (and never show a
secret), `hub validate --connect`'s checks against the stand-in (its test table dropped:
Snowflake's DDL cannot be rolled back), a wrong password, and names of the schema setting."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sink.snowflake.config import identifier
from connectors.sink.snowflake.connector import SnowflakeSink
from hub.config import ConnectorSpec
from hub.errors import ConfigError
from hub.runtime.validation import validate
from tests.fixtures.snowflake import SnowflakeServer

BASE = {
    "snowflake.url.name": "xy12345.eu-central-1.snowflakecomputing.com",
    "snowflake.user.name": "HUB",
    "snowflake.database.name": "ANALYTICS",
}


def _validate(**config: Any) -> Any:
    spec = ConnectorSpec("sf", {"connector.class": "snowflake", "topics": "t", **config}, "x.yaml")
    return validate(spec)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({**BASE}, ["snowflake.private.key", "snowflake.password"]),
        ({**BASE, "snowflake.password": "hunter2", "snowflake.private.key": "hunter2"},
         ["not both"]),
        ({**BASE, "snowflake.password": "hunter2", "snowflake.url.name": "ftp://x"},
         ["snowflake.url.name", "not a Snowflake URL"]),
        ({**BASE, "snowflake.password": "hunter2", "connection.url": "duckdb:x.db"},
         ["connection.url", "snowflake.url.name"]),
        ({**BASE, "snowflake.password": "x", "connection.password": "hunter2"},
         ["connection.password", "snowflake.password"]),
        ({"snowflake.url.name": "a.snowflakecomputing.com", "snowflake.password": "hunter2"},
         ["snowflake.user.name", "snowflake.database.name"]),
    ],
)  # fmt: skip
def test_bad_configs_name_the_property_and_hide_secrets(
    config: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(ConfigError) as err:
        _validate(**config)
    for w in words:
        assert w in str(err.value)
    assert "hunter2" not in str(err.value)


def test_a_good_config_has_no_warnings_and_masks_its_secrets() -> None:
    valid = _validate(**BASE, **{"snowflake.password": "hunter2"})
    assert not valid.warnings
    assert "snowflake.password" in SnowflakeSink.secret_properties


def test_unquoted_names_are_upper_cased_as_snowflake_reads_them() -> None:
    assert identifier("cdc") == '"CDC"'
    assert identifier('"My Schema"') == '"My Schema"'
    assert identifier("my-schema") == '"my-schema"'


def test_validate_connect_creates_and_drops_a_table(
    snowflake_server: SnowflakeServer, snowflake_schema: str
) -> None:
    config = {"topics": "t", **snowflake_server.config(snowflake_schema)}
    checks = SnowflakeSink.check(config)
    assert [(c.what.split(" ")[0], c.ok) for c in checks] == [("connect", True), ("may", True)]
    con = snowflake_server.connect()
    try:
        cur = con.cursor()
        schemas = cur.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
        tables = cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_hub_check_%'"
        ).fetchall()
    finally:
        con.close()
    assert (snowflake_schema.upper(),) in schemas  # where the check created its table
    assert tables == []  # and dropped it again
