"""Debezium change events exactly as the PostgreSQL source emits them, for sink tests.

Column values are given in PostgreSQL's text form and turned into Connect values and schemas
by the source's own `TypeMapper`; the record then goes through the JSON converter both ways
(``schemas.enable``), so a sink sees what it would see behind a real log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.source.postgres.types import Oid, TypeMapper
from hub.runtime.api import SinkRecord
from hub.runtime.converters import JsonConverter

JSON = JsonConverter(schemas_enable=True)
MAPPER = TypeMapper()


class PgTable:
    """One source table: columns as (name, type OID, typmod), and its key columns."""

    def __init__(
        self,
        name: str,
        columns: Sequence[tuple[str, int, int]],
        pk: Sequence[str] = ("id",),
        prefix: str = "srv",
        schema: str = "public",
        mapper: TypeMapper = MAPPER,
    ) -> None:
        self.name, self.schema, self.prefix = name, schema, prefix
        self.columns = list(columns)
        self.pk = list(pk)
        self.mapper = mapper
        self.topic = f"{prefix}.{schema}.{name}"
        self.converters = {c: mapper.converter(oid, tm) for c, oid, tm in self.columns}

    def _fields(self, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        out = []
        for c, oid, tm in self.columns:
            if names is None or c in names:
                out.append({**self.mapper.schema(oid, tm, optional=c not in self.pk), "field": c})
        return out

    def value_schema(self) -> dict[str, Any]:
        row = {"type": "struct", "optional": True, "name": f"{self.topic}.Value",
               "fields": self._fields()}  # fmt: skip
        source = {"type": "struct", "optional": False,
                  "name": "io.debezium.connector.postgresql.Source",
                  "fields": [{"type": "string", "optional": False, "field": f} for f in
                             ("connector", "name", "db", "schema", "table")] +
                  [{"type": "int64", "optional": True, "field": f} for f in
                   ("ts_ms", "txId", "lsn")]}  # fmt: skip
        return {
            "type": "struct", "optional": False, "name": f"{self.topic}.Envelope", "version": 2,
            "fields": [{**row, "field": "before"}, {**row, "field": "after"},
                       {**source, "field": "source"},
                       {"type": "string", "optional": False, "field": "op"},
                       {"type": "int64", "optional": True, "field": "ts_ms"}],
        }  # fmt: skip

    def key_schema(self) -> dict[str, Any] | None:
        if not self.pk:
            return None
        return {"type": "struct", "optional": False, "name": f"{self.topic}.Key",
                "fields": self._fields(self.pk)}  # fmt: skip

    def row(self, text: Mapping[str, str | None] | None) -> dict[str, Any] | None:
        if text is None:
            return None
        return {c: self.converters[c](None if text.get(c) is None else str(text[c]).encode())
                for c, _, _ in self.columns}  # fmt: skip

    def _send(self, key: Any, value: Any, offset: int, partition: int, vschema: Any) -> SinkRecord:
        ks = self.key_schema() if key is not None else None
        k, ks2 = JSON.to_value(JSON.from_value(key, ks))
        v, vs2 = JSON.to_value(JSON.from_value(value, vschema))
        return SinkRecord(self.topic, partition, offset, 0, k, v, (), ks2, vs2)

    def event(
        self,
        op: str,
        offset: int,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        partition: int = 0,
        lsn: int = 0,
    ) -> SinkRecord:
        b, a = self.row(before), self.row(after)
        keyrow = a if a is not None else b
        key = {c: keyrow[c] for c in self.pk} if (self.pk and keyrow) else None
        source = {"connector": "postgresql", "name": self.prefix, "db": "db",
                  "schema": self.schema, "table": self.name, "ts_ms": 1700000000000 + offset,
                  "txId": 1, "lsn": lsn or 1000 + offset}  # fmt: skip
        value = {"before": b, "after": a, "source": source, "op": op, "ts_ms": 1700000000000}
        return self._send(key, value, offset, partition, self.value_schema())

    def insert(self, offset: int, row: Mapping[str, Any], **kw: Any) -> SinkRecord:
        return self.event("c", offset, None, row, **kw)

    def update(self, offset: int, row: Mapping[str, Any], **kw: Any) -> SinkRecord:
        return self.event("u", offset, None, row, **kw)

    def delete(self, offset: int, key: Mapping[str, Any], **kw: Any) -> SinkRecord:
        return self.event("d", offset, key, None, **kw)

    def tombstone(self, offset: int, key: Mapping[str, Any], partition: int = 0) -> SinkRecord:
        k = self.row({**{c: None for c, _, _ in self.columns}, **key})
        assert k is not None
        return self._send({c: k[c] for c in self.pk}, None, offset, partition, None)

    def truncate(self, offset: int) -> SinkRecord:
        source = {
            "connector": "postgresql",
            "name": self.prefix,
            "db": "db",
            "schema": self.schema,
            "table": self.name,
            "ts_ms": 0,
            "txId": 1,
            "lsn": 1,
        }
        value = {"before": None, "after": None, "source": source, "op": "t", "ts_ms": 0}
        return self._send(None, value, offset, 0, self.value_schema())  # fmt: skip


def people(**kw: Any) -> PgTable:
    return PgTable(
        "people",
        [("id", Oid.INT4, -1), ("name", Oid.TEXT, -1), ("score", Oid.NUMERIC, (10 << 16) + 2 + 4)],
        **kw,
    )
