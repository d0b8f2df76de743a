"""Shared fixtures. Servers (PostgreSQL, MariaDB, a Snowflake stand-in) join here as the
connectors arrive."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator

import pytest

# Run the repository's code even when hub is not installed (plain `pytest` from a checkout).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pytest caches a test module's assertion-rewritten bytecode only when bytecode may be written:
# under PYTHONDONTWRITEBYTECODE=1 (this machine's environment) each of the six xdist workers
# rewrote and compiled every test module again, 8-11 s of CPU each a run. The test modules are
# ours to cache, as the hub modules are (pytest_configure below).
sys.dont_write_bytecode = False

# BigQuery: `bigquery_server` (bqemulator, one per session) and `bigquery_dataset`.
from tests.fixtures.bigquery import bigquery_dataset, bigquery_server  # noqa: E402, F401

# Kafka: `kafka_broker` (a Kafka-protocol broker, Tansu, one per session).
from tests.fixtures.kafka import kafka_broker, own_kafka_broker  # noqa: E402, F401

# PostgreSQL: `pg_server` (one throwaway server per session) and `pg_db` (a database per test);
# MariaDB: `mariadb_server` and `mariadb_db` the same way, for the MySQL/MariaDB source.
from tests.fixtures.mariadb import mariadb_db, mariadb_server  # noqa: E402, F401
from tests.fixtures.postgres import pg_db, pg_server  # noqa: E402, F401

# Redshift: `redshift_server` (PostgreSQL behind a protocol proxy, S3 from moto) and
# `redshift_schema`.
from tests.fixtures.redshift import redshift_schema, redshift_server  # noqa: E402, F401

# Snowflake: `snowflake_server` (fakesnow's server, one per session) and `snowflake_schema`.
from tests.fixtures.snowflake import snowflake_schema, snowflake_server  # noqa: E402, F401
from tests.fixtures.tmpfs import tmpfs_dir  # noqa: E402, F401  (disk-full tests)


@pytest.fixture
def rest_references() -> Iterator[None]:
    """Configs sent over REST may read the environment variables named HUB_TEST_* and the
    files under /tmp (as a worker config's config.providers.*.param.* allow), for this test;
    by default they may read neither."""
    from hub.config import allow_rest_references

    allow_rest_references(r"HUB_TEST_.*", [tempfile.gettempdir()])
    try:
        yield
    finally:
        allow_rest_references(None, [])


def pytest_configure(config: pytest.Config) -> None:
    """Bytecode for hub, its connectors and the tests, as an installed package has it: in a
    checkout run with PYTHONDONTWRITEBYTECODE=1 (this machine's environment sets it), every
    ``hub`` process a test starts compiled ~90 modules from source, ~0.2 s of CPU each, a few
    hundred times a run. Once, in the controlling process (py_compile writes the files
    whatever that variable says); a later run only checks their dates."""
    if hasattr(config, "workerinput"):
        return
    import compileall

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for package in ("hub", "connectors", "tests"):
        compileall.compile_dir(os.path.join(root, package), quiet=2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the tests marked slow first, dealt round-robin to the heads of the blocks
    xdist's work-stealing scheduler hands each worker at the start (contiguous blocks of
    ``left // workers_left`` tests): a 30-60 s kill -9 or chaos test that starts last keeps
    its worker busy after the others have finished. Every worker computes the same order."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 0))
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if workers < 2 or not slow or len(items) < 4 * workers:
        return
    rest = [item for item in items if item.get_closest_marker("slow") is None]
    sizes, left = [], len(items)
    for i in range(workers):
        sizes.append(left // (workers - i))
        left -= sizes[-1]
    heads: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for i, item in enumerate(slow):
        heads[i % workers].append(item)
    ordered: list[pytest.Item] = []
    for head, size in zip(heads, sizes, strict=True):
        take = max(0, size - len(head))
        ordered += head + rest[:take]
        rest = rest[take:]
    items[:] = ordered + rest


def pytest_collection_finish(session: pytest.Session) -> None:
    """Slow one-off preparations of fixtures the selected tests use start now, in the
    background, so they overlap with the tests that run first."""
    if session.config.option.collectonly:
        return
    if any("bigquery_server" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.fixtures.bigquery import prefetch

        prefetch()
