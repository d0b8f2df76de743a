"""DuckDB's own path for change events still encoded: DuckDB parses the JSON and collapses
the batch itself, with no Python object per record (`DuckDBSinkTask.put_encoded`).

The engine's path (`EngineSinkTask.put`) decodes every record into Python values, reads each
into a change, collapses them per key and stages the survivors as Arrow columns. Here the
records' payloads (the bytes after the JSON converter's schema prefix) are registered with
DuckDB as one string column, and four statements do the rest:

one ``MERGE`` per topic and batch (`merge_sql`, the engine's statement) whose source is
a query that

1. takes out each field with ``json_transform_strict`` as its raw JSON text (a missing
   field, a duplicate key or malformed JSON fails the statement);
2. checks every event: ops (``c``/``r``/``u``/``d``, tombstones), keys, rows, the source
   fields a ``table.name.format`` with ``${source.…}`` names the table by;
3. keeps the last change per key (``QUALIFY row_number() … = 1``) and turns each value into
   its column type by SQL that accepts exactly what the engine's conversion accepts (a
   canonical integer where an integer is due, a JSON string where a string is, base64 of at
   most 8 bytes for a decimal, Debezium's ±infinity markers).

A check that fails raises DuckDB's ``error()``: the statement fails, the transaction rolls
back. The first batch of a topic is looked at first (`probe`: its table, whether it writes
rows), then the engine's schema evolution runs as for the engine's path (a table created, a
column added); the offsets follow in the same transaction.

One difference is left: DuckDB's JSON reader takes JSON the engine's (orjson) refuses —
trailing commas, ``NaN``/``Infinity`` literals, exponents past a double — where the checks do
not look (a field the plan does not read, such as ``source.ts_ms``); such a record is written
where the engine's path would send it to the dead letter queue. No writer of Connect's JSON
converter format produces them.

Whatever this path does not cover declines the batch before anything is written, and the
runtime decodes it and calls ``put``: the engine's path gives the result and the errors. Not
covered: transforms (the runtime never offers those batches), other converters or schemaless
JSON, flat records (after ExtractNewRecordState), truncates, keys from the value
(``primary.key.mode`` other than ``record_key``, ``primary.key.fields``), ``insert.mode=insert``,
soft deletes, ``cdc.metadata.enabled``, ``schema.evolution=none`` with no table, a value the
checks flag, the unavailable-value placeholder, column types other than boolean, int8..int64,
string, Date, Timestamp / MicroTimestamp and Decimal of precision ≤ 18; records redelivered
below the target's stored offsets; a batch whose topic spans several tables or schemas.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from connectors.sink.duckdb import types as dtypes
from connectors.sink.engine import types as k
from connectors.sink.engine.config import SinkConfig
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.merge import DELETE_FLAG, merge_sql
from connectors.sink.engine.naming import TableNamer, TableRef
from connectors.sink.engine.types import Column, columns_of
from connectors.sink.engine.unavailable import Unavailable
from hub.runtime.api import is_envelope

OPS = ("c", "r", "u", "d")
_INTS = {k.INT16: "SMALLINT", k.INT32: "INTEGER", k.INT64: "BIGINT"}
# the names whose values the engine takes as they are, or times a factor (Column.convert)
_TIMESTAMPS = {
    "io.debezium.time.MicroTimestamp": 1,
    "io.debezium.time.Timestamp": 1000,
    "org.apache.kafka.connect.data.Timestamp": 1000,
}
_DATES = ("io.debezium.time.Date", "org.apache.kafka.connect.data.Date")
_SOURCE_FIELDS = re.compile(r"\$\{source\.(db|schema|table)\}")
_LIMITS = (2**63 - 1, -(2**63 - 1), -(2**63))  # DuckDB's timestamp infinities, and the end
_DATE_LIMITS = (2**31 - 1, -(2**31 - 1), -(2**31))


class Declined(Exception):
    """This path does not cover the batch: the engine's path takes it (nothing written)."""


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class Field:
    """One column: its engine column and the SQL of its value and validity from ``raw``."""

    column: Column
    sql_type: str
    factor: int = 1  # timestamps: the unit in microseconds (Column.convert's factor)

    def value(self, raw: str) -> str:
        t = self.column.type
        if t.kind in _INTS:
            return f"TRY_CAST({raw} AS {_INTS[t.kind]})"
        if t.kind == k.BOOLEAN:
            return f"({raw} = 'true')"
        if t.kind == k.STRING:
            return f"CASE WHEN contains({raw}, '\\') THEN json_extract_string({raw}, '$') ELSE {raw}[2:-2] END"  # noqa: E501
        if t.kind == k.DATE:
            v = f"TRY_CAST({raw} AS INTEGER)"
            return (
                f"CASE {v} WHEN {k.DATE_POSITIVE_INFINITY} THEN 'infinity'::DATE "
                f"WHEN {k.DATE_NEGATIVE_INFINITY} THEN '-infinity'::DATE "
                f"ELSE DATE '1970-01-01' + {v} END"
            )
        if t.kind == k.TIMESTAMP:
            c = self._micros(raw)
            return (
                f"CASE {c} WHEN {k.TIMESTAMP_POSITIVE_INFINITY} THEN 'infinity'::TIMESTAMP "
                f"WHEN {k.TIMESTAMP_NEGATIVE_INFINITY} THEN '-infinity'::TIMESTAMP "
                f"ELSE make_timestamp({c}) END"
            )
        assert t.kind == k.DECIMAL
        scale = t.scale or 0
        h = f"hex(from_base64({raw}[2:-2]))"
        u = f"('0x' || {h})::UBIGINT::HUGEINT"
        signed = (
            f"(CASE WHEN {h}[1] >= '8' THEN {u} - (1::HUGEINT << (4 * length({h}))) ELSE {u} END)"  # noqa: E501
        )
        n = f"CAST({signed} AS DECIMAL(18,0))"
        if scale:
            n = f"({n} * CAST('{10**-scale:.{scale}f}' AS DECIMAL({scale + 1},{scale})))"
        return f"CAST({n} AS {self.sql_type})"

    def _micros(self, raw: str) -> str:
        v = f"TRY_CAST({raw} AS BIGINT)"
        return v if self.factor == 1 else f"({v} * {self.factor})"

    def valid(self, raw: str) -> str:
        """True when ``raw`` (JSON text, NULL for null) is what the engine reads as this
        column's value, and the value is one the engine's path would write as it is here."""
        t = self.column.type
        integer = f"TRY_CAST({raw} AS BIGINT)::VARCHAR = {raw}"  # canonical: no 1.0, 1e2, "1"
        if t.kind in _INTS:
            return f"TRY_CAST({raw} AS {_INTS[t.kind]})::VARCHAR = {raw}"
        if t.kind == k.BOOLEAN:
            return f"{raw} IN ('true', 'false')"
        if t.kind == k.STRING:
            return f"{raw}[1] = '\"'"
        if t.kind == k.DATE:
            days = f"TRY_CAST({raw} AS INTEGER)"
            limits = ", ".join(map(str, _DATE_LIMITS))
            return f"(TRY_CAST({raw} AS INTEGER)::VARCHAR = {raw} AND {days} NOT IN ({limits}))"
        if t.kind == k.TIMESTAMP:
            limits = ", ".join(map(str, _LIMITS))
            return f"({integer} AND {self._micros(raw)} NOT IN ({limits}))"
        assert t.kind == k.DECIMAL  # base64 of 1..8 bytes (unescaped)
        return (
            f"({raw}[1] = '\"' AND NOT contains({raw}, '\\') "
            f"AND octet_length(from_base64({raw}[2:-2])) BETWEEN 1 AND 8)"
        )


def field_of(schema: Mapping[str, Any], column: Column) -> Field | None:
    """The column as this path writes it; None for a type it leaves to the engine."""
    t, name = column.type, schema.get("name")
    if t.kind in _INTS or t.kind in (k.BOOLEAN, k.STRING):
        if t.kind == k.STRING and schema.get("type") != "string":
            return None  # (json, uuid and the like come as strings of other kinds)
        if column.convert is not None:
            return None
    elif t.kind == k.DATE:
        if name not in _DATES or column.convert is not None:
            return None
    elif t.kind == k.TIMESTAMP:
        if name not in _TIMESTAMPS:
            return None
    elif t.kind == k.DECIMAL:
        if t.precision is None or not 0 <= (t.scale or 0) <= t.precision <= 18:
            return None
    else:
        return None
    factor = _TIMESTAMPS[str(name)] if t.kind == k.TIMESTAMP else 1
    return Field(column, dtypes.sql_type(t), factor)


@dataclass(frozen=True, slots=True)
class Plan:
    """How the events of one value schema and key schema are read."""

    key: tuple[Field, ...]  # the record key's fields (the table's key)
    after: tuple[Field, ...]  # the row's columns
    source: tuple[str, ...]  # the source fields the table name needs
    structure_key: str
    structure_value: str


def plan_for(
    value_schema: Mapping[str, Any], key_schema: Mapping[str, Any], namer: TableNamer
) -> Plan:
    """The plan for Debezium envelopes of ``value_schema`` keyed by a struct of
    ``key_schema``; `Declined` (saying why) when this path does not cover them."""
    fields = {f.get("field"): f for f in value_schema.get("fields") or ()}
    after_schema = fields.get("after")
    if (
        not is_envelope(fields, value_schema)
        or not {"before", "after", "op"} <= fields.keys()
        or not after_schema
    ):
        raise Declined("not Debezium change events")
    if key_schema.get("type") != "struct" or after_schema.get("type") != "struct":
        raise Declined("a key or row that is no struct")
    after, key = [], []
    for f, c in zip(after_schema.get("fields") or (), columns_of(after_schema), strict=True):
        x = field_of(f, c)
        if x is None:
            raise Declined(f"column {c.name}: {f.get('name') or f.get('type')} is not covered")
        after.append(x)
    by_name = {x.column.name: x for x in after}
    for f, c in zip(key_schema.get("fields") or (), columns_of(key_schema), strict=True):
        x = field_of(f, c)
        mine = by_name.get(c.name)
        if x is not None and x.column.type.kind == k.DECIMAL:
            x = None  # (base64 spellings of one number would be two keys to the engine)
        if x is None or mine is None or (mine.sql_type, mine.factor) != (x.sql_type, x.factor):
            raise Declined(f"key field {c.name} is not a column of the row, of the same type")
        key.append(x)
    if not key or len({x.column.name.lower() for x in after}) != len(after):
        raise Declined("no key, or columns one name apart in case")  # (DuckDB's struct fields)
    source = tuple(dict.fromkeys(_SOURCE_FIELDS.findall(namer.fmt)))
    if namer.needs_source and not source:
        raise Declined("table.name.format takes source fields this path does not read")
    leaves_k = {x.column.name: "JSON" for x in key}
    leaves_v: dict[str, Any] = {
        "op": "JSON",
        "before": {x.column.name: "JSON" for x in key},
        "after": {x.column.name: "JSON" for x in after},
    }
    if source:
        leaves_v["source"] = {s: "JSON" for s in source}
    return Plan(tuple(key), tuple(after), source, json.dumps(leaves_k), json.dumps(leaves_v))


def eligible(cfg: SinkConfig) -> bool:
    """Whether this sink's config leaves anything to this path."""
    return (
        cfg.primary_key_mode == "record_key"
        and not cfg.primary_key_fields
        and cfg.insert_mode != "insert"
        and cfg.delete_mode == "hard"
        and not cfg.cdc_metadata
    )


_names = itertools.count()
_ERROR = "hub-native: "  # DuckDB's error() text: the statement fails, the batch is declined


def _fail(what: str) -> str:
    return f"error({_lit(_ERROR + what)})"


@dataclass(slots=True)
class Part:
    """One topic's records of a batch, registered with DuckDB as ``relation`` (``ord``: the
    position in the batch, ``k``/``v``: the key's and the value's payload JSON)."""

    topic: str
    plan: Plan
    relation: str
    count: int  # records


def register(
    con: Any, topic: str, plan: Plan, ords: Sequence[int], keys: Sequence[bytes],
    values: Sequence[bytes | None],
) -> Part:  # fmt: skip
    import pyarrow as pa

    try:
        table = pa.table({
            "ord": pa.array(ords, pa.int64()),
            "k": pa.array(keys, pa.string()),
            "v": pa.array(values, pa.string()),
        })  # fmt: skip
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise Declined("bytes that are not UTF-8") from None
    name = f"_hub_enc_{next(_names)}"
    con.register(name, table)
    return Part(topic, plan, name, len(ords))


def _leaves(part: Part) -> str:
    """Each field the plan reads as its raw JSON text (NULL for null); a field missing, a
    duplicate key or malformed JSON fails the statement."""
    plan = part.plan
    cols = ["ord", "v IS NULL AS tomb", "j['op']::VARCHAR AS op",
            "j['before'] IS NULL AS nobefore", "j['after'] IS NULL AS noafter"]  # fmt: skip
    names = [_lit(x.column.name) for x in plan.key]
    cols += [f"kj[{n}]::VARCHAR AS k{i}" for i, n in enumerate(names)]
    cols += [f"j['before'][{n}]::VARCHAR AS b{i}" for i, n in enumerate(names)]
    cols += [f"j['after'][{_lit(x.column.name)}]::VARCHAR AS a{i}"
             for i, x in enumerate(plan.after)]  # fmt: skip
    cols += [f"j['source'][{_lit(s)}]::VARCHAR AS s{i}" for i, s in enumerate(plan.source)]
    # the key object's fields, in the schema's order and no other (the engine's key is the
    # payload's fields, in its order)
    cols.append(f"json_keys(k) = [{', '.join(names)}] AS kshape")
    if plan.source:
        cols.append("j['source'] IS NULL AS nosource")
    return (
        f"SELECT {', '.join(cols)} FROM (SELECT ord, k, v, "
        f"json_transform_strict(k, {_lit(plan.structure_key)}) AS kj, "
        f"json_transform_strict(v, {_lit(plan.structure_value)}) AS j FROM {part.relation})"
    )


_OPS = ", ".join(_lit(json.dumps(o)) for o in OPS)
_DELETE = "(tomb OR op = '\"d\"')"
_UPSERT = "(NOT tomb AND op <> '\"d\"')"


def _bad_event(plan: Plan) -> str:
    """True for an event this path does not take: another op (a truncate), a key it does not
    read as the engine does, an upsert without a row, a ``source`` null when the table is
    named after it."""
    key_ok = " AND ".join(f"coalesce({x.valid(f'k{i}')}, false)" for i, x in enumerate(plan.key))
    at = {x.column.name: i for i, x in enumerate(plan.after)}
    checks = [
        f"(NOT tomb AND (op IS NULL OR op NOT IN ({_OPS})))",
        f"NOT ({key_ok} AND coalesce(kshape, false))",
        f"({_UPSERT} AND noafter)",
        # a row or old row whose key columns say otherwise than its key: the engine writes
        # and deletes by the key's values (record_key), where this path takes the row's
        *(
            f"({_UPSERT} AND k{i} IS DISTINCT FROM a{at[x.column.name]})"
            for i, x in enumerate(plan.key)
        ),
        *(
            f"({_DELETE} AND NOT tomb AND NOT nobefore AND k{i} IS DISTINCT FROM b{i})"
            for i in range(len(plan.key))
        ),
    ]
    if plan.source:
        checks.append("(NOT tomb AND nosource)")
    return "(" + " OR ".join(checks) + ")"


def _source_list(plan: Plan) -> str:
    return "list_value(" + ", ".join(f"s{i}" for i in range(len(plan.source))) + ")"


@dataclass(frozen=True, slots=True)
class Probe:
    """What a first look at a topic's part found (one query)."""

    source: tuple[Any, ...] | None  # the source fields of its events (one table), if any
    upserts: int  # events that write a row
    deletes: int  # deletes and tombstones
    early_tombstone: bool  # a tombstone before the part's first event


def probe(con: Any, part: Part) -> Probe:
    """One look at the part (before its table is known or created); `Declined` for events
    this path does not take, or events of several tables."""
    plan = part.plan
    src = _source_list(plan) if plan.source else "NULL"
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE {_bad_event(plan)}), "
        f"count(DISTINCT {src}) FILTER (WHERE NOT tomb), any_value({src}) FILTER "
        f"(WHERE NOT tomb), count(*) FILTER (WHERE {_UPSERT}), "
        f"count(*) FILTER (WHERE {_DELETE}), "
        "coalesce(min(ord) FILTER (WHERE tomb) < coalesce(min(ord) FILTER (WHERE NOT tomb), "
        f"9223372036854775807), false) FROM ({_leaves(part)})"
    ).fetchall()[0]
    bad, sources, source, upserts, deletes, early = row
    if bad or sources > 1:
        raise Declined("events this path does not take, or of several tables")
    return Probe(None if source is None else tuple(source), upserts, deletes, bool(early))


def table_of(namer: TableNamer, part: Part, source: tuple[Any, ...] | None) -> TableRef | None:
    """The part's table: of its topic, or of its events' source fields."""
    plan = part.plan
    if not plan.source:
        return namer.table(part.topic, None)
    if source is None:
        return None
    values = {
        name: None if text is None else orjson.loads(text)
        for name, text in zip(plan.source, source, strict=True)
    }
    return namer.table(part.topic, values)


def merge(
    con: Any,
    d: Dialect,
    part: Part,
    table: TableRef,
    *,
    deletes: bool,
    unavailable: Unavailable,
    source: tuple[Any, ...] | None,
) -> None:
    """The part's last change per key merged into ``table``, in ONE statement: the checks
    of every event (ops, keys, rows, the source fields being ``source``) in its ``WHERE``,
    each survivor's values converted by SQL that fails the statement on a value the engine
    would not read as this does, or on the unavailable-value placeholder (whose column the
    engine keeps). The relation is unregistered."""
    plan, q = part.plan, d.quote
    checks = [_bad_event(plan)]
    if plan.source:
        want = "list_value(" + ", ".join(
            "NULL::VARCHAR" if v is None else _lit(v) for v in source or ()
        ) + ")"  # fmt: skip
        checks.append(f"(NOT tomb AND {_source_list(plan)} IS DISTINCT FROM {want})")
    where = f"CASE WHEN {' OR '.join(checks)} THEN {_fail('an event')} ELSE true END"
    if not deletes:
        where += f" AND NOT {_DELETE}"
    elif plan.source:  # a tombstone cannot name a table of source fields: the engine skips
        where += " AND NOT tomb"  # it (its delete did the work)
    key_names = {x.column.name: i for i, x in enumerate(plan.key)}
    held = (unavailable.text, unavailable.b64)
    cols = []
    for i, x in enumerate(plan.after):
        raw = f"a{i}"
        value = f"CASE WHEN {x.valid(raw)} THEN {x.value(raw)} ELSE {_fail('a value')} END"
        if x.column.type.kind in (k.STRING, k.DECIMAL):  # (its text or base64: the engine
            # keeps an earlier value of the batch in place of either, whatever the column)
            text = x.value(raw) if x.column.type.kind == k.STRING else f"{raw}[2:-2]"
            value = (
                f"CASE WHEN {raw} IS NOT NULL AND ({text}) IN ({_lit(held[0])}, "
                f"{_lit(held[1])}) THEN {_fail('the placeholder')} ELSE {value} END"
            )
        value = f"CASE WHEN {raw} IS NULL THEN NULL ELSE {value} END"
        j = key_names.get(x.column.name)
        if j is None:
            gone = "NULL"
        else:  # a delete's key: its old row's, else the record key's (as the engine reads it)
            b = f"b{j}"
            gone = (
                f"CASE WHEN nobefore THEN {x.value(f'k{j}')} WHEN {b} IS NOT NULL AND "
                f"{x.valid(b)} THEN {x.value(b)} WHEN {b} IS NULL THEN NULL "
                f"ELSE {_fail('a key')} END"
            )
        cols.append(f"CASE WHEN {_DELETE} THEN {gone} ELSE {value} END AS {q(x.column.name)}")
    partition = ", ".join(x.value(f"k{i}") for i, x in enumerate(plan.key))
    survivors = (
        f"(SELECT {', '.join(cols)}, {_DELETE} AS {q(DELETE_FLAG)} FROM ({_leaves(part)}) "
        f"WHERE {where} QUALIFY row_number() OVER (PARTITION BY {partition} "
        "ORDER BY ord DESC) = 1)"
    )
    exprs = {x.column.name: f"s.{q(x.column.name)}" for x in plan.after}
    con.execute(merge_sql(d, table, list(key_names), survivors, exprs, deletes=True))
    unregister(con, part)


def unregister(con: Any, part: Part) -> None:
    """Let go of the part's Arrow table (a failed statement aborts the transaction: its
    rollback does it, and an unregister there would fail)."""
    con.unregister(part.relation)


def declined(exc: BaseException) -> bool:
    """Whether ``exc`` is this path declining (a check in a statement, `Declined`)."""
    return isinstance(exc, Declined) or _ERROR in str(exc)
