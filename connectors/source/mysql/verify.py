"""``hub verify``'s view of the MySQL/MariaDB source: its captured tables, read now, each row
mapped exactly as its change events map it (`MySqlTable.row`), in the comparable form the
sinks' readers give (`cdc.verify`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from connectors.sink.engine.types import Column, columns_of
from connectors.source.cdc.verify import comparable_row, milliseconds
from connectors.source.mysql.config import MySqlSourceConfig
from connectors.source.mysql.schema import MySqlTable
from connectors.source.mysql.snapshot import ident, select_list
from hub.verify import Row, SourceTable

FETCH = 5_000


def verify_tables(
    config: Mapping[str, Any], connector: str, only: set[str] | None = None
) -> list[SourceTable]:
    """The captured tables (``only``: those named ``db.table`` or ``table``)."""
    from connectors.source.cdc.filters import Filters
    from connectors.source.mysql.server import connect, tables
    from connectors.source.mysql.types import TypeMapper

    cfg = MySqlSourceConfig.of(config)
    filters = Filters.from_config(cfg)
    mapper = TypeMapper(cfg.decimal_handling_mode, cfg.time_precision_mode,
                        cfg.binary_handling_mode, cfg.bigint_unsigned_handling_mode)  # fmt: skip
    from connectors.source.cdc.masks import ColumnMasks

    mapper.masks = ColumnMasks.from_config(config)  # (the sinks hold the masked values)
    con = connect(cfg)  # a refused login: one clear error
    out = []
    try:
        definitions = None
        if mapper.masks:  # (a hash is cut to its column's declared length)
            from connectors.source.mysql.history import from_catalog
            from connectors.source.mysql.server import is_mariadb

            definitions = from_catalog(con, is_mariadb(con))
        for t in tables(con, filters):
            if only is not None and not ({t.qualified, t.name} & only):
                continue
            key = filters.key_override(t.db, t.name, [c.name or "" for c in t.columns])
            key = key if key is not None else t.primary_key
            lengths = None
            if definitions is not None:
                from connectors.source.mysql.history import declared_lengths

                lengths = declared_lengths(definitions.get(t.db, t.name))
            table = MySqlTable(
                cfg.topic_prefix, connector, t.db, t.name, t.columns, key, mapper,
                lambda name, d=t.db, n=t.name: filters.column(d, n, name),  # type: ignore[misc]
                lengths=lengths,
            )  # fmt: skip
            columns = tuple(columns_of(table.row_schema))
            names = select_list(t)  # FLOAT widened, as the snapshot reads it
            relation = f"{ident(t.db)}.{ident(t.name)}"
            out.append(SourceTable(
                t.db, t.name, table.topic, columns, table.key_columns,
                rows=_reader(cfg, f"SELECT {names} FROM {relation}", table, columns),
                count=_counter(cfg, f"SELECT count(*) FROM {relation}"),
                block={"db": t.db, "table": t.name},  # (as its events: no schema)
                lossy=_lossy(cfg, t.columns, columns),
            ))  # fmt: skip
    finally:
        con.close()
    return out


def _counter(cfg: MySqlSourceConfig, sql: str) -> Any:
    def count() -> int:
        from connectors.source.mysql.server import connect, query

        con = connect(cfg)
        try:
            return int(query(con, sql)[0][0])
        finally:
            con.close()

    return count


def _reader(
    cfg: MySqlSourceConfig, sql: str, table: MySqlTable, columns: tuple[Column, ...]
) -> Any:
    comparable = comparable_row(columns)

    def rows() -> Iterator[Row]:
        import pymysql.cursors

        from connectors.source.mysql.server import connect

        con = connect(cfg)
        try:
            with con.cursor(pymysql.cursors.SSCursor) as cur:
                cur.execute(sql)
                while batch := cur.fetchmany(FETCH):
                    for values in batch:
                        yield comparable(table.row(values))
        finally:
            con.close()

    return rows


def _lossy(cfg: MySqlSourceConfig, catalog: Any, columns: tuple[Column, ...]) -> tuple[str, ...]:
    """The documented mappings that make values alike, for verify's notes (of the columns
    captured)."""
    from connectors.source.mysql.protocol.values import T

    captured = {c.name for c in columns}
    out = []
    unsigned = [c.name for c in catalog
                if c.type == T.LONGLONG and c.unsigned and c.name in captured]  # fmt: skip
    if unsigned and cfg.bigint_unsigned_handling_mode == "long":
        out.append(
            f"{', '.join(unsigned)}: BIGINT UNSIGNED as a signed 64-bit number "
            "(bigint.unsigned.handling.mode=long): values past 2^63-1 are compared as the sink "
            "holds them, negative"
        )
    return (*out, *milliseconds(cfg.time_precision_mode, columns))
