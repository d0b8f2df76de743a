"""``hub verify``'s view of the PostgreSQL source: its captured tables, read now, each row
mapped exactly as its change events would map it (`TableSchema.row`, then the sink engine's
canonical value and its native form), so a sink that applied every event holds the same."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from connectors.sink.engine.types import Column, columns_of
from connectors.source.cdc.verify import comparable_row, milliseconds
from connectors.source.postgres.config import PostgresSourceConfig
from hub.verify import Row, SourceTable


def run_initial_statements(conn: Any, cfg: PostgresSourceConfig) -> None:
    from connectors.source.postgres.connector import run_initial_statements as run

    run(conn, cfg)


FETCH = 5_000


def verify_tables(config: Mapping[str, Any], only: set[str] | None = None) -> list[SourceTable]:
    """The captured tables (``only``: those named ``schema.table`` or ``table``)."""
    from connectors.source.cdc.filters import Filters
    from connectors.source.postgres import catalog
    from connectors.source.postgres.connector import _connect
    from connectors.source.postgres.schemas import TableSchemas

    cfg = PostgresSourceConfig.of(config)
    filters = Filters.from_config(cfg)
    conn = _connect(cfg)  # a refused login or a missing database: one clear error
    from connectors.source.cdc.masks import ColumnMasks

    # (masked as the events are: the sinks hold the masked values)
    schemas = TableSchemas(conn, cfg, filters, masks=ColumnMasks.from_config(config))
    out = []
    for info in catalog.tables(conn, filters):
        if only is not None and not ({info.qualified, info.name} & only):
            continue
        if info.qualified == cfg.signal_data_collection:
            continue
        ts = schemas.for_table(info)
        columns = tuple(columns_of(ts.row_schema))
        # each value's output-function text, as pgoutput sends it (a cast to text would
        # strip char(n)'s padding); num_nulls: a composite whose fields are all NULL IS NULL
        # too, and is sent as '(,)'
        select = ", ".join(
            f"CASE WHEN num_nulls({q}) = 1 THEN NULL ELSE format('%s', {q}) END"
            for q in (catalog.quote(c.name) for c in info.columns)
        )
        # ONLY: an inheritance parent's topic holds its own rows, not its children's
        relation = f"ONLY {catalog.quote(info.schema)}.{catalog.quote(info.name)}"
        out.append(
            SourceTable(
                info.schema, info.name, ts.topic, columns, ts.key_columns,
                rows=_reader(cfg, f"SELECT {select} FROM {relation}", ts, columns),
                count=_counter(cfg, f"SELECT count(*) FROM {relation}"),
                block={"db": cfg.dbname, "schema": info.schema, "table": info.name},
                lossy=_lossy(cfg, columns),
            )
        )  # fmt: skip
    conn.close()
    return out


def _counter(cfg: PostgresSourceConfig, sql: str) -> Any:
    def count() -> int:
        import psycopg

        with psycopg.connect(cfg.conninfo()) as conn:
            run_initial_statements(conn, cfg)  # (a SET ROLE of theirs may be what reads)
            return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]

    return count


def _reader(cfg: PostgresSourceConfig, sql: str, ts: Any, columns: tuple[Column, ...]) -> Any:
    comparable = comparable_row(columns)

    def rows() -> Iterator[Row]:
        import psycopg

        with psycopg.connect(cfg.conninfo()) as conn:
            run_initial_statements(conn, cfg)
            with conn.cursor(name="hub_verify") as cur:
                cur.itersize = FETCH
                cur.execute(sql)
                for values in cur:
                    yield comparable(ts.row([None if v is None else v.encode() for v in values]))

    return rows


def _lossy(cfg: PostgresSourceConfig, columns: tuple[Column, ...]) -> tuple[str, ...]:
    """The documented mappings that make values alike, for verify's notes."""
    out = []
    intervals = [c.name for c in columns if c.type.kind == "interval"]
    if intervals and cfg.interval_handling_mode == "numeric":
        out.append(
            f"{', '.join(intervals)}: intervals as microseconds, a month counting 30.4375 days "
            "(interval.handling.mode=numeric): '1 mon' and '30 days 10:30:00' compare equal"
        )
    return (*out, *milliseconds(cfg.time_precision_mode, columns))
