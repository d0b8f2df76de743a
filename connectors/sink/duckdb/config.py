from __future__ import annotations

from pydantic import Field

from connectors.sink.engine.config import SinkConfig


def duckdb_path(url: str) -> str | None:
    """The database file of a ``duckdb:`` URL (``duckdb:///abs/x.duckdb``, ``duckdb:x.duckdb``);
    None when ``url`` is not one."""
    if not url.startswith("duckdb:"):
        return None
    rest = url[len("duckdb:") :]
    if rest.startswith("//"):
        rest = rest[2:]  # duckdb:///abs/path -> /abs/path
    return rest or None


class DuckDBSinkConfig(SinkConfig):
    idle_release_ms: int = Field(
        1000,
        alias="duckdb.idle.release.ms",
        ge=0,
        description="close the write connection after this long without a batch, so other "
        "processes can open the file (0: keep it open while the task runs)",
    )
    lock_timeout_ms: int = Field(
        30_000,
        alias="duckdb.lock.timeout.ms",
        ge=0,
        description="how long to wait for readers to release the file before a batch fails "
        "(then retried per errors.retry.timeout)",
    )

    memory_limit: str = Field(
        "",
        alias="duckdb.memory.limit",
        pattern=r"^(\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB))?$",
        description="DuckDB's memory_limit for the sink's connection, e.g. 512MB (empty: "
        "DuckDB's default, 80% of RAM): its cache and indexes grow with the table up to it",
    )

    native_apply: bool = Field(
        True,
        alias="duckdb.native.apply",
        description="let DuckDB parse and collapse batches of Debezium change events itself "
        "(JSON with schemas, no transforms), with the same result as the engine's path, "
        "which takes every batch it does not cover",
    )

    native_min_records: int = Field(
        1200,
        alias="duckdb.native.min.records",
        ge=1,
        description="smaller batches take the engine's path: DuckDB's own costs ~6 ms a batch "
        "however small (measured: faster from ~1200 records a batch on)",
    )

    @classmethod
    def url_problem(cls, url: str) -> str | None:
        if duckdb_path(url) is None:
            return "not a DuckDB URL; use duckdb:///absolute/path.duckdb or duckdb:relative.duckdb"
        return None
