"""One captured MySQL table as its events see it: topic, key, the row struct's schema and
the converters, built from a `Column` list (a TABLE_MAP's or the catalog's), and the
``source`` block (``io.debezium.connector.mysql.Source``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from connectors.source.cdc.envelope import VERSION, envelope_schema, source_schema
from connectors.source.cdc.masks import after
from connectors.source.cdc.topics import topic_name
from connectors.source.mysql.protocol.values import Column, T
from connectors.source.mysql.types import BINARY_CHARSET, TypeMapper
from hub.errors import ConfigError
from hub.runtime import json_default
from hub.runtime.api import FILL

SOURCE_FIELDS = (
    {"type": "string", "optional": True, "field": "table"},
    {"type": "int64", "optional": False, "field": "server_id"},
    {"type": "string", "optional": True, "field": "gtid"},
    {"type": "string", "optional": False, "field": "file"},
    {"type": "int64", "optional": False, "field": "pos"},
    {"type": "int32", "optional": False, "field": "row"},
    {"type": "int64", "optional": True, "field": "thread"},
    {"type": "string", "optional": True, "field": "query"},
)


def mysql_source_schema(connector: str) -> dict[str, Any]:
    return source_schema(f"io.debezium.connector.{connector}.Source", SOURCE_FIELDS)


_STRINGS = frozenset({T.STRING, T.VAR_STRING, T.VARCHAR, T.ENUM, T.SET, T.TINY_BLOB,
                      T.MEDIUM_BLOB, T.LONG_BLOB, T.BLOB})  # fmt: skip


def _mask_kind(c: Column) -> str:
    """A column as a mask sees it: text (Debezium's CHAR, VARCHAR...: CHAR, VARCHAR, TEXT,
    ENUM, SET), json (truncated, not masked), binary (BINARY, VARBINARY, BLOB) or other."""
    if c.real_type == T.JSON:
        return "json"
    if c.ext or c.real_type not in _STRINGS:
        return "other"
    return "binary" if c.charset == BINARY_CHARSET else "text"


def _fill(mapper: TypeMapper, c: Column, convert: Callable[[Any], Any], text: str | None) -> str:
    """A `FILL` parameter: the JSON of the value ``text`` gives the column (null: NULL, or
    a text the type cannot take)."""
    raw = None if text is None else mapper.default_of(c, text)
    try:
        value = None if raw is None else convert(raw)
    except (ValueError, TypeError, ArithmeticError):
        value = None
    return orjson.dumps(value, default=json_default).decode()


class MySqlTable:
    def __init__(
        self, prefix: str, connector: str, db: str, table: str, columns: Sequence[Column],
        key: Sequence[str], mapper: TypeMapper, include: Callable[[str], bool],
        primary_key: Sequence[str] = (), defaults: Mapping[str, str] | None = None,
        lengths: Mapping[str, int] | None = None, fills: Mapping[str, str | None] | None = None,
    ) -> None:  # fmt: skip
        """``lengths``: the text and binary columns' declared lengths (the schema history's:
        a hash mask is cut to it, a truncation skips a column that cannot hold more);
        ``fills``: the text of the values the rows got when a column was added, where its
        default has changed since (`history.fills`): in the field's parameters (`FILL`),
        which a sink adding the column fills them with instead of the default."""
        self.db, self.table, self.connector = db, table, connector
        masks = mapper.masks
        # the masked and truncated columns' converters, after their own (`cdc.masks`); such
        # a table's events take the values path (the codecs write a NULL as null)
        self.masks: list[tuple[str, Callable[[Any], Any]]] = []
        self.topic = topic_name(prefix, db, table)
        names = [c.name or f"UNKNOWN_COL{i}" for i, c in enumerate(columns)]
        missing = [k for k in key if k not in names]
        if missing:
            raise ConfigError(
                f"table {db}.{table}: key column(s) {missing} do not exist (check "
                "message.key.columns)"
            )
        self.column_names = tuple(names)
        self.columns = tuple(columns)
        self.key_columns = tuple(key)
        keyset = set(key)
        fields: list[dict[str, Any]] = []
        # the event's fields: (column index, name, converter)
        self.fields: list[tuple[int, str, Callable[[Any], Any]]] = []
        for i, (name, c) in enumerate(zip(names, columns, strict=True)):
            if name not in keyset and not include(name):
                continue
            optional = c.nullable and name not in keyset
            fs = {**mapper.schema(c, optional), "field": name}
            convert = mapper.converter(c, c.nullable)
            shown = convert  # (the default and the fill as the values are shown: masked too)
            if masks:
                length = lengths.get(name) if lengths else None
                mask, params = masks.column(db, table, name, _mask_kind(c), length,
                                            name in keyset)  # fmt: skip
                if mask is not None:
                    self.masks.append((name, mask))
                    fs["parameters"] = {**fs.get("parameters", {}), **params}
                    shown = after(convert, mask)
            text = defaults.get(name) if defaults else None
            raw = None if text is None else mapper.default_of(c, text)
            if raw is not None:  # (as Debezium's: a sink adding the column fills its rows)
                try:
                    value = shown(raw)
                except (ValueError, TypeError, ArithmeticError):
                    value = None
                if value is not None:  # (in the JSON converter's form: bytes as base64)
                    fs["default"] = orjson.loads(orjson.dumps(value, default=json_default))
            if fills and name in fills:
                fs["parameters"] = {**fs.get("parameters", {}),
                                    FILL: _fill(mapper, c, shown, fills[name])}  # fmt: skip
            fields.append(fs)
            self.fields.append((i, name, convert))
        self.row_schema: dict[str, Any] = {
            "type": "struct", "fields": fields, "optional": True, "name": f"{self.topic}.Value",
        }  # fmt: skip
        by_name = {f["field"]: f for f in fields}
        self.key_schema: dict[str, Any] | None = None
        if key:
            self.key_schema = {
                "type": "struct", "optional": False, "name": f"{self.topic}.Key",
                "fields": [{**by_name[k], "optional": False} for k in key],
            }  # fmt: skip
        self.value_schema = envelope_schema(
            f"{self.topic}.Envelope", self.row_schema, mysql_source_schema(connector)
        )
        self._key_index = tuple(names.index(k) for k in key)
        # the primary key (what an incremental snapshot chunks and matches rows by: the
        # message key may be a non-unique message.key.columns), each with its converter
        self._pk = tuple(
            (names.index(k), mapper.converter(columns[names.index(k)], False))
            for k in primary_key if k in names
        )  # fmt: skip

    @property
    def masked(self) -> bool:
        return bool(self.masks)

    def row(self, values: Sequence[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, name, convert in self.fields:
            v = values[i]
            out[name] = None if v is None else convert(v)
        for name, mask in self.masks:
            out[name] = mask(out[name])
        return out

    def primary_values(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The primary key's values as the event would carry them (comparable whatever
        decoded them: the binlog or the text protocol)."""
        return tuple(None if values[i] is None else convert(values[i]) for i, convert in self._pk)

    def event_key(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The key columns as the event carries them (comparable whatever decoded them)."""
        convert = {i: c for i, _, c in self.fields}
        return tuple(None if values[i] is None else convert[i](values[i]) for i in self._key_index)

    def key(self, row: dict[str, Any]) -> dict[str, Any] | None:
        if not self.key_columns:
            return None
        return {k: row[k] for k in self.key_columns}

    def source(
        self, name: str, *, ts_ms: int, snapshot: str = "false", server_id: int = 0,
        gtid: str | None = None, file: str = "", pos: int = 0, row: int = 0,
        thread: int | None = None, query: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        return {
            "version": VERSION, "connector": self.connector, "name": name, "ts_ms": ts_ms,
            "snapshot": snapshot, "db": self.db, "sequence": None, "ts_us": ts_ms * 1000,
            "ts_ns": ts_ms * 1_000_000, "table": self.table, "server_id": server_id,
            "gtid": gtid, "file": file, "pos": pos, "row": row, "thread": thread, "query": query,
        }  # fmt: skip
