"""Debezium change events: the envelope, its Connect schemas, and one `TableSchema` per
captured table that turns a row's text values into the ``before``/``after`` structs.

A change event is, as Debezium's PostgreSQL connector writes it (JsonConverter form):

* key: a struct of the key columns (the primary key, or ``message.key.columns``), schema
  ``<topic>.Key``; ``None`` for a table without a key;
* value: ``{before, after, source, transaction, op, ts_ms, ts_us, ts_ns}``, schema
  ``<topic>.Envelope``; ``source`` is ``io.debezium.connector.postgresql.Source``.

Topics are ``<topic.prefix>.<schema>.<table>``, sanitized (`topics`); ``source`` holds the real
schema and table names.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from connectors.source.cdc.envelope import VERSION, source_schema
from connectors.source.cdc.envelope import envelope_schema as cdc_envelope_schema
from connectors.source.cdc.masks import NONE as NO_MASKS
from connectors.source.cdc.masks import ColumnMasks, after
from connectors.source.cdc.topics import topic_name
from connectors.source.postgres.protocol.basics import UNCHANGED_TOAST
from connectors.source.postgres.types import TypeMapper, named_errors
from hub.errors import ConfigError
from hub.runtime import json_default
from hub.runtime.api import FILL

CONNECTOR = "postgresql"

SOURCE_SCHEMA: dict[str, Any] = source_schema(
    "io.debezium.connector.postgresql.Source",
    [
        {"type": "string", "optional": False, "field": "schema"},
        {"type": "string", "optional": False, "field": "table"},
        {"type": "int64", "optional": True, "field": "txId"},
        {"type": "int64", "optional": True, "field": "lsn"},
        {"type": "int64", "optional": True, "field": "xmin"},
    ],
)


def envelope_schema(name: str, row_schema: Mapping[str, Any] | None) -> dict[str, Any]:
    return cdc_envelope_schema(name, row_schema, SOURCE_SCHEMA)


# Types Debezium has no schema for (PostgresValueConverter.schemaBuilder returns null; the
# JDBC layer calls them OTHER): their columns are left out of events unless
# include.unknown.datatypes is set, in which case hub sends their text form: the scalar ones
# as Debezium does, its bytes in binary.handling.mode's form (`UNKNOWN_AS_BINARY`), the
# arrays (which Debezium leaves out even then) as arrays of their items.
UNKNOWN_TYPE_OIDS = frozenset(
    {
        1187,  # interval[]
        791,  # money[]
        1003,  # name[]
        143,  # xml[]
        1563,  # varbit[]
        1017,  # point[]
        603,  # box
        718,  # circle
        3614,  # tsvector
        3220,  # pg_lsn
    }
)
UNKNOWN_AS_BINARY = frozenset({603, 718, 3614, 3220})


def _text_bytes(encode: Callable[[bytes], Any]) -> Callable[[Any], Any]:
    """An unknown type's text (a str, or its bytes from the row codec) as binary.handling.mode
    gives bytes (Debezium's `convertBinary` of the text for include.unknown.datatypes)."""
    return lambda v: encode(v.encode() if isinstance(v, str) else bytes(v))


def _placeholder(schema: Mapping[str, Any], text: str) -> Any:
    """What stands for an unchanged TOASTed value of a column of this schema."""
    kind = schema["type"]
    if kind == "string":
        return text
    if kind == "bytes":
        return text.encode()
    if kind == "array":
        return _array_placeholder(schema["items"], text)
    if kind == "map":
        return {text: text}
    if schema.get("name") == "io.debezium.data.VariableScaleDecimal":  # (a numeric: as the
        return {"scale": 0, "value": text.encode()}  # arrays' items, the bytes once)
    # a type whose events cannot carry a placeholder (a numeric as double): `row` refuses
    # the unchanged value rather than emit null for it
    return NO_PLACEHOLDER


NO_PLACEHOLDER = object()


class UnchangedToastError(ConfigError):
    """An unchanged TOASTed value of a column whose events cannot carry Debezium's
    placeholder: the task stops rather than emit a null the sinks would write."""

    def __init__(self, table: str, column: str) -> None:
        super().__init__(
            f"table {table}, column {column}: an update left its large (TOASTed) value "
            f"unchanged, so the WAL does not carry it, and its type's events (a number, e.g. "
            f"decimal.handling.mode=double) cannot carry the unavailable-value placeholder; "
            f"run ALTER TABLE {table} REPLICA IDENTITY FULL (the WAL then holds the old "
            f"value), or set decimal.handling.mode=precise or string"
        )


def _array_placeholder(items: Mapping[str, Any], text: str) -> list[Any]:
    """Debezium's placeholder for an unchanged TOASTed array (UnchangedToastedPlaceholder.
    getArrayValue): text-like items hold the placeholder once (a uuid its name-based UUID),
    bytes items its bytes; numbers and booleans one item per byte of the placeholder, so a
    sink can tell it from a value (a single null would overwrite the array)."""
    raw = text.encode()
    kind, name = items["type"], items.get("name")
    if kind == "string":
        if name == "io.debezium.data.Uuid":  # java.util.UUID.nameUUIDFromBytes
            return [str(uuid.UUID(bytes=hashlib.md5(raw).digest(), version=3))]
        return [text]
    if kind == "bytes":
        if name == "org.apache.kafka.connect.data.Decimal":
            return [bytes([b]) for b in raw]
        return [raw]
    if kind in ("int8", "int16", "int32", "int64"):
        return list(raw)
    if kind in ("float", "double"):
        return [float(b) for b in raw]
    if kind == "boolean":
        return [b != 0 for b in raw]
    if name == "io.debezium.data.VariableScaleDecimal":
        return [{"scale": 0, "value": bytes([b])} for b in raw]
    inner = _placeholder(items, text)
    return NO_PLACEHOLDER if inner is NO_PLACEHOLDER else [inner]


def _as_json(convert: Callable[[Any], Any], text: str) -> bytes | None:
    """A value's text as the JSON converter writes the value (bytes as base64); None when
    the type cannot read it."""
    try:
        value = convert(text.encode())
    except Exception:  # noqa: BLE001 - a default this type cannot read: none
        return None
    return None if value is None else orjson.dumps(value, default=json_default)


# text types (as Debezium's JDBC types CHAR/VARCHAR...: what a mask or a hash replaces) and
# their length from the typmod; bytea (what a truncation also cuts)
_TEXT_OIDS = frozenset({25, 1043, 1042, 18, 19})  # text, varchar, bpchar, char, name
_BYTEA_OID = 17


_JSON_OIDS = frozenset({114, 3802, 142})  # json, jsonb, xml: truncated, not masked


def _mask_kind(oid: int, typmod: int, mapper: TypeMapper) -> tuple[str, int | None]:
    """A column as a mask sees it (its JDBC type in Debezium: CHAR/VARCHAR are masked, an
    enum's too) and its length (varchar(n), char(n), "char": 1)."""
    if oid in _TEXT_OIDS or oid in mapper.enums:
        if oid in (1043, 1042) and typmod >= 4:
            return "text", typmod - 4
        return "text", (1 if oid == 18 else None)
    if oid in _JSON_OIDS:
        return "json", None
    return ("binary" if oid == _BYTEA_OID else "other"), None


class TableSchema:
    """One captured table as its events see it, for rows whose values come in ``columns``
    order (the relation message's order, or the snapshot's select list).

    ``columns``: ``(name, type oid, typmod)``; ``not_null`` and ``key`` name the columns that
    are NOT NULL and form the message key; ``include`` filters columns (the key's are kept);
    ``defaults``: the text of the columns' constant defaults, which the field schemas carry
    (``default``, as Debezium's: a sink adding the column fills the rows it has with it);
    ``fills``: the values the rows got when a column was added, where they are not its
    default (a default changed or dropped since): in the field's parameters (`FILL`), which
    a sink fills with instead.
    """

    def __init__(
        self,
        prefix: str,
        schema: str,
        table: str,
        columns: Sequence[tuple[str, int, int]],
        *,
        mapper: TypeMapper,
        domains: Mapping[int, tuple[int, int]],
        not_null: frozenset[str] | set[str] = frozenset(),
        key: Sequence[str] = (),
        include: Callable[[str], bool] = lambda name: True,
        placeholder: str = "__debezium_unavailable_value",
        include_unknown: bool = False,
        defaults: Mapping[str, str] | None = None,
        fills: Mapping[str, str | None] | None = None,
        masks: ColumnMasks = NO_MASKS,
    ) -> None:
        self.schema, self.table = schema, table
        # a column masked or truncated (`cdc.masks`): the table's events take the values
        # path (the row codec writes a NULL as null, where a mask writes asterisks)
        self.masked = False
        self.topic = topic_name(prefix, schema, table)
        self.column_names = tuple(c[0] for c in columns)
        self.column_types = tuple((c[1], c[2]) for c in columns)  # (type oid, typmod)
        present = set(self.column_names)
        missing = [k for k in key if k not in present]
        if missing:
            raise ConfigError(
                f"table {schema}.{table}: key column(s) {missing} do not exist "
                f"(check message.key.columns)"
            )
        self.key_columns = tuple(key)
        # set when the WAL carries the table's deleted rows without the key (see
        # schemas.on_relation): a delete or re-keyed row then stops the stream
        self.unkeyed: str | None = None
        # its primary key is DEFERRABLE: inside a transaction two rows may hold one key (an
        # UPDATE shifting keys), which the stream tells apart (see stream._superseded)
        self.deferrable_key = False
        keyset = set(key)
        self.unknown_columns: list[str] = []  # left out: types Debezium has no schema for
        fields: list[dict[str, Any]] = []
        self._fields: list[tuple[int, str, Callable[[Any], Any], Any]] = []
        self._codec_fields: list[tuple[int, str, int, int, Callable[[Any], Any]]] = []
        for i, (name, oid, typmod) in enumerate(columns):
            if name not in keyset and not include(name):
                continue
            base, base_typmod = domains.get(oid, (oid, typmod))
            if base in UNKNOWN_TYPE_OIDS and not include_unknown and name not in keyset:
                self.unknown_columns.append(name)
                continue
            typmod = typmod if typmod >= 0 else base_typmod
            optional = name not in not_null and name not in keyset
            if base in UNKNOWN_AS_BINARY:
                fs = {**mapper.binary.schema(optional), "field": name}
                convert = _text_bytes(mapper.binary.converter())
            else:
                fs = {**mapper.schema(base, typmod, optional), "field": name}
                convert = mapper.converter(base, typmod)
            if masks:  # (before the default and the fill: they are masked too)
                mask, params = masks.column(
                    schema, table, name, *_mask_kind(base, typmod, mapper), name in keyset
                )
                if mask is not None:
                    convert = after(convert, mask)
                    fs["parameters"] = {**fs.get("parameters", {}), **params}
                    self.masked = True
            text = defaults.get(name) if defaults else None
            default = None if text is None else _as_json(convert, text)
            if default is not None:
                fs["default"] = orjson.loads(default)
            text = fills.get(name) if fills else None
            fill = None if text is None else _as_json(convert, text)
            if text is None and fills and name in fills and default is not None:
                fill = b"null"  # (the rows the column was added to hold NULL: `fills`)
            if fill is not None and fill != default:
                # (not `default`, which keeps Debezium's meaning, today's default: a consumer
                # replacing nulls with it must not get a value the column no longer defaults to)
                fs["parameters"] = {**fs.get("parameters", {}), FILL: fill.decode()}
            fields.append(fs)
            if mapper.may_refuse(base):  # a value no event can carry: name the column
                convert = named_errors(convert, f"table {schema}.{table}, column {name}")
            self._fields.append((i, name, convert, _placeholder(fs, placeholder)))
            kind = mapper.fast_kind(base, typmod)
            if base in UNKNOWN_AS_BINARY:  # (the codec's KIND_PY: the converter does it all)
                from connectors.source.postgres.rowcodec import KIND_PY

                kind = (KIND_PY, 0)
            self._codec_fields.append((i, name, *kind, convert))
        self.row_schema: dict[str, Any] = {
            "type": "struct", "fields": fields, "optional": True, "name": f"{self.topic}.Value",
        }  # fmt: skip
        by_name = {f["field"]: f for f in fields}
        self.key_schema: dict[str, Any] | None = None
        if key:
            self.key_schema = {
                "type": "struct",
                "fields": [{**by_name[k], "optional": False} for k in key],
                "optional": False,
                "name": f"{self.topic}.Key",
            }
        self.value_schema = envelope_schema(f"{self.topic}.Envelope", self.row_schema)
        self._key_index = tuple(self.column_names.index(k) for k in key)

    def row(
        self,
        values: Sequence[Any],
        fallback: Sequence[Any] | None = None,
        unavailable: list[str] | None = None,
    ) -> dict[str, Any]:
        """The struct of one row; an unchanged TOASTed value is taken from ``fallback`` (the
        old row, when the server sent it in full) or else becomes the placeholder, and its
        column's name is added to ``unavailable``."""
        out: dict[str, Any] = {}
        for i, name, convert, placeholder in self._fields:
            v = values[i]
            if v is UNCHANGED_TOAST:
                old = fallback[i] if fallback is not None else UNCHANGED_TOAST
                if old is not UNCHANGED_TOAST:
                    out[name] = convert(old)
                elif placeholder is NO_PLACEHOLDER:
                    raise UnchangedToastError(f"{self.schema}.{self.table}", name)
                else:
                    out[name] = placeholder
                    if unavailable is not None:
                        unavailable.append(name)
            else:
                out[name] = convert(v)
        return out

    def codec_fields(
        self,
    ) -> tuple[list[tuple[int, str, int, int, Callable[[Any], Any]]], tuple[int, ...]]:
        """`rowcodec.RowCodec`'s arguments for this table's rows: fields, key positions."""
        names = [f[1] for f in self._codec_fields]
        return self._codec_fields, tuple(names.index(k) for k in self.key_columns)

    def key(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        if not self.key_columns:
            return None
        return {k: row[k] for k in self.key_columns}

    def with_old_key(self, new: Sequence[Any], old: Sequence[Any]) -> Sequence[Any]:
        """``new`` (an update's tuple) with the key columns PostgreSQL sent as unchanged
        TOASTed values taken from ``old``: a key stored out of line and left as it was is
        logged whole in the old key only (read as a key change, the update had gone out as
        a delete of the row and a create keyed by the placeholder)."""
        held = [
            i for i in self._key_index
            if new[i] is UNCHANGED_TOAST and old[i] is not None and old[i] is not UNCHANGED_TOAST
        ]  # fmt: skip
        if not held:
            return new
        out = list(new)
        for i in held:
            out[i] = old[i]
        return out

    def raw_key(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The key columns' raw values (to notice a primary-key change)."""
        return tuple(values[i] for i in self._key_index)

    def source(
        self,
        db: str,
        name: str,
        *,
        ts_us: int,
        snapshot: str = "false",
        txid: int | None = None,
        lsn: int | None = None,
        sequence: str | None = None,
    ) -> dict[str, Any]:
        return {
            "version": VERSION, "connector": CONNECTOR, "name": name, "ts_ms": ts_us // 1000,
            "snapshot": snapshot, "db": db, "sequence": sequence, "ts_us": ts_us,
            "ts_ns": ts_us * 1000, "schema": self.schema, "table": self.table, "txId": txid,
            "lsn": lsn, "xmin": None,
        }  # fmt: skip
