"""Binlog change events written straight as the bytes Kafka's JsonConverter would give them.

With JSON converters and no transforms (`SourceTaskContext.json_encoding`), a rows event's
changes need not become row tuples, dicts and envelopes first: the C codec
(``_binlogcodec.RowsCodec``) reads the event's row images and writes each change's value and
key bytes, filling a per-table template (schema, envelope) and a per-event ``source`` block,
as the PostgreSQL source's encoded path does (``connectors/source/postgres/encoded.py``).
The bytes equal ``JsonConverter.from_value`` of the slow path's records exactly (the tests
compare them); the slow path (`stream.ChangeStream._rows`) still serves what the codec
declines, open incremental snapshots, savepoint-held rows, a restart inside a transaction
and transaction metadata.

Each column's binary value is rendered as the text MySQL's text protocol prints for it, then
encoded by the shared row codec core (``hub/_c/rowcodec.h``): a fast path per field kind, the
field's converter (``parse`` of that text, then the type mapper's converter) for the rest.
Without the C module (no compiler at install time) every event takes the slow path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import orjson

from connectors.source.cdc.envelope import VERSION
from connectors.source.mysql import textrows
from connectors.source.mysql.charsets import codec as _encoding
from connectors.source.mysql.protocol.values import (
    BLOBS,
    Column,
    T,
    bit_bytes,
    string_max_len,
)
from connectors.source.mysql.schema import MySqlTable
from connectors.source.mysql.types import BINARY_CHARSET, TypeMapper

# how the C codec renders a column's binary value as text (_binlogcodec.c: R_*)
R_UNSUPPORTED, R_INT, R_FLOAT, R_DOUBLE, R_DECIMAL, R_DATE, R_DATETIME2 = range(7)
R_TIMESTAMP2, R_TIME2, R_YEAR, R_STR, R_BINARY, R_ENUM, R_SET, R_FIXED = range(7, 15)
# the row codec core's field kinds (hub/_c/rowcodec.h; connectors/source/postgres/rowcodec.py)
KIND_PY, KIND_INT, KIND_STR, KIND_DECIMAL, KIND_TIMESTAMP, KIND_DATE = 0, 1, 3, 4, 6, 7
KIND_ZONED, KIND_TIME, KIND_BYTES = 8, 9, 10


def _load_codec() -> Any:
    """The C RowsCodec type, or None (built without a C compiler, or HUB_PURE_PYTHON set as
    for the other codecs): then the slow path serves every event."""
    if os.environ.get("HUB_PURE_PYTHON"):
        return None
    try:
        from connectors.source.mysql._binlogcodec import (  # type: ignore[import-not-found]
            RowsCodec as codec,
        )
    except ImportError:
        return None
    return codec


RowsCodec: Any = _load_codec()
ACCELERATED = RowsCodec is not None

Column4 = tuple[int, int, int, tuple[bytes, ...] | None]
_INT_WIDTHS = {T.TINY: 1, T.SHORT: 2, T.INT24: 3, T.LONG: 4, T.LONGLONG: 8}


def _utf8(c: Column) -> bool:
    return c.charset is not None and c.charset != BINARY_CHARSET and _encoding(c.charset) == "utf-8"


def render(c: Column) -> Column4:
    """How the codec reads and prints column ``c``'s value: (render, width, arg, labels)."""
    t, meta = c.type, c.meta
    real = c.real_type
    if c.compressed:  # (MariaDB's COMPRESSED: the values path uncompresses them)
        return R_UNSUPPORTED, 0, 0, None
    if t in _INT_WIDTHS:
        return R_INT, _INT_WIDTHS[t], int(c.unsigned), None
    if t == T.FLOAT:
        return R_FLOAT, 4, 0, None
    if t == T.DOUBLE:
        return R_DOUBLE, 8, 0, None
    if t == T.NEWDECIMAL:
        return R_DECIMAL, 0, meta, None
    if t == T.DATE:
        return R_DATE, 3, 0, None
    if t == T.DATETIME2:
        return R_DATETIME2, 0, meta, None
    if t == T.TIMESTAMP2:
        return R_TIMESTAMP2, 0, meta, None
    if t == T.TIME2:
        return R_TIME2, 0, meta, None
    if t == T.YEAR:
        return R_YEAR, 1, 0, None
    if t in (T.VARCHAR, T.VAR_STRING):
        return R_STR, 1 if meta < 256 else 2, 0, None
    if t == T.STRING and real in (T.ENUM, T.SET):
        labels = tuple(label.encode() for label in c.labels)
        return (R_ENUM if real == T.ENUM else R_SET), meta & 0xFF, 0, labels
    if t == T.STRING:
        max_len = string_max_len(meta)
        width = 1 if max_len < 256 else 2
        if c.charset == BINARY_CHARSET:
            return R_BINARY, width, max_len, None  # BINARY(n): the binlog drops its padding
        return R_STR, width, 0, None
    if t in BLOBS or t in (T.JSON, T.GEOMETRY):
        return (R_STR, meta, 0, None) if 1 <= meta <= 4 else (R_UNSUPPORTED, 0, 0, None)
    if t == T.BIT:
        return R_FIXED, bit_bytes(meta), 0, None
    return R_UNSUPPORTED, 0, 0, None  # pre-5.6 TIME/DATETIME/TIMESTAMP, anything new


def _parse(c: Column) -> Callable[[bytes], Any]:
    """The rendered text of ``c`` -> the value the type mapper's converters take (as the
    binlog decoder would give it)."""
    if c.ext:  # (its bytes: BINARY(n) as rendered)
        return bytes
    t = c.real_type
    if t in (T.ENUM, T.SET):
        return lambda b: b.decode()
    if t == T.JSON or t == T.GEOMETRY or t == T.BIT:
        return bytes
    if (t in (T.VARCHAR, T.VAR_STRING, T.STRING) or t in BLOBS) and c.charset not in (
        None, BINARY_CHARSET,
    ):  # fmt: skip
        encoding = _encoding(c.charset)
        return lambda b: b.decode(encoding)
    parse = textrows.parser(c)
    return bytes if parse is None else parse


def _kind(c: Column, mapper: TypeMapper, text: bool = False) -> tuple[int, int]:
    """The fast path for ``c``'s text, with its argument (KIND_PY: the converter); ``text``:
    the text protocol's (a snapshot's), not the binlog's rendered by the codec."""
    if c.ext:
        return KIND_PY, 0
    t = c.real_type
    if t in (T.TINY, T.SHORT, T.INT24, T.LONG) or (t == T.LONGLONG and not c.unsigned):
        return KIND_INT, 0
    if t == T.YEAR:  # (a YEAR(2)'s text, two digits, is read as its year: textrows._year)
        return (KIND_PY, 0) if text else (KIND_INT, 0)
    if t == T.NEWDECIMAL and mapper.decimals.precise:
        return KIND_DECIMAL, c.meta & 0xFF
    if t == T.DATE:
        return KIND_DATE, 0
    if t == T.DATETIME2:
        return KIND_TIMESTAMP, int(mapper.times.timestamp_millis(c.meta))
    if t == T.TIMESTAMP2:
        return KIND_ZONED, c.meta
    if t == T.TIME2:
        return KIND_TIME, int(mapper.times.connect)
    if t in (T.ENUM, T.SET):
        return KIND_STR, 0
    if t in (T.VARCHAR, T.VAR_STRING, T.STRING) or t in BLOBS:
        if c.charset == BINARY_CHARSET:
            return (KIND_BYTES, 0) if mapper.binary.name == "bytes" else (KIND_PY, 0)
        return (KIND_STR, 0) if _utf8(c) else (KIND_PY, 0)
    return KIND_PY, 0


def _converter(parse: Callable[[bytes], Any], convert: Callable[[Any], Any]) -> Any:
    return lambda raw: convert(parse(raw))


def _lit(doc: Any) -> bytes:
    return orjson.dumps(doc)


def _wrap(table: MySqlTable, json_encoding: tuple[bool, bool]) -> tuple[bytes, bytes, bytes, bytes]:
    """(value head, value tail, key head, key tail): the converters' schema envelopes."""
    key_schemas, value_schemas = json_encoding
    head = tail = key_head = key_tail = b""
    if value_schemas:
        head, tail = b'{"schema":' + orjson.dumps(table.value_schema) + b',"payload":', b"}"
    if key_schemas and table.key_schema is not None:
        key_head = b'{"schema":' + orjson.dumps(table.key_schema) + b',"payload":'
        key_tail = b"}"
    return head, tail, key_head, key_tail


def _codec(table: MySqlTable, mapper: TypeMapper, parse: Callable[[Column], Any]) -> Any:
    """A RowsCodec for ``table``'s fields, each value's text parsed by ``parse(column)``."""
    fields = [
        (i, name, *_kind(table.columns[i], mapper, parse is _text_parse),
         _converter(parse(table.columns[i]), convert))
        for i, name, convert in table.fields
    ]  # fmt: skip
    names = [f[1] for f in fields]
    key = [names.index(k) for k in table.key_columns]
    return RowsCodec(fields, key, [render(c) for c in table.columns])


def _text_parse(c: Column) -> Callable[[bytes], Any]:
    """A snapshot value's text (the text protocol, utf8mb4) -> what the converters take."""
    return textrows.parser(c) or bytes


class SnapshotTable:
    """One table's snapshot codec (its rows' text-protocol packets) and event pieces."""

    __slots__ = ("codec", "wrap", "topic")

    def __init__(self, table: MySqlTable, enc: EventEncoder) -> None:
        self.codec = _codec(table, enc.mapper, _text_parse)
        self.wrap = _wrap(table, enc.json_encoding)
        self.topic = table.topic

    def read_wrap(self, source: dict[str, Any], ts_ns: int) -> tuple[bytes, bytes]:
        """(head, tail): ``head + after + tail`` is the value of a read event of ``source``."""
        tail = b"".join((
            b',"source":', orjson.dumps(source), b',"transaction":null,"op":"r","ts_ms":',
            b"%d" % (ts_ns // 1_000_000), b',"ts_us":', b"%d" % (ts_ns // 1000), b',"ts_ns":',
            b"%d" % ts_ns, b"}", self.wrap[1],
        ))  # fmt: skip
        return self.wrap[0] + b'{"before":null,"after":', tail


class _Table:
    """One table's codec and the constant pieces of its events' bytes."""

    __slots__ = ("codec", "wrap", "topic", "_head", "_db", "_table")

    def __init__(self, table: MySqlTable, enc: EventEncoder) -> None:
        self.codec = _codec(table, enc.mapper, _parse)
        self.wrap = _wrap(table, enc.json_encoding)
        self.topic = table.topic
        # the source block up to its ts_ms: the rest is per event
        self._head = (
            b'{"version":' + _lit(VERSION) + b',"connector":' + _lit(table.connector)
            + b',"name":' + enc.name + b',"ts_ms":'
        )  # fmt: skip
        self._db = b',"snapshot":"false","db":' + _lit(table.db) + b',"sequence":null,"ts_us":'
        self._table = b',"table":' + _lit(table.table) + b',"server_id":'

    def source(
        self, ts_ms: int, server_id: int, gtid: str | None, file: str, pos: int,
        thread: int | None, query: str | None,
    ) -> tuple[bytes, bytes]:  # fmt: skip
        """A rows event's ``source`` block, before and after its row number."""
        a = b"".join((
            self._head, b"%d" % ts_ms, self._db, b"%d" % (ts_ms * 1000), b',"ts_ns":',
            b"%d" % (ts_ms * 1_000_000), self._table, b"%d" % server_id, b',"gtid":',
            _lit(gtid), b',"file":', _lit(file), b',"pos":', b"%d" % pos, b',"row":',
        ))  # fmt: skip
        b = b',"thread":' + _lit(thread) + b',"query":' + _lit(query) + b'},"transaction":null'
        return a, b


class EventEncoder:
    """Encoded events of one task: ``json_encoding`` is (key schemas.enable, value
    schemas.enable)."""

    def __init__(self, json_encoding: tuple[bool, bool], name: str, mapper: TypeMapper) -> None:
        self.json_encoding = json_encoding
        self.name = _lit(name)
        self.mapper = mapper
        self._tables: dict[int, tuple[MySqlTable, _Table]] = {}

    def table(self, table: MySqlTable) -> _Table:
        """The streamed events' codec and pieces of ``table``."""
        got = self._tables.get(id(table))
        if got is None or got[0] is not table:  # MySqlTables are replaced, never changed
            if len(self._tables) > 4096:
                self._tables.clear()
            got = self._tables[id(table)] = (table, _Table(table, self))
        return got[1]

    def snapshot(self, table: MySqlTable) -> SnapshotTable:
        """The snapshot's codec and pieces of ``table`` (a catalog description)."""
        return SnapshotTable(table, self)
