"""Sink records to changes: what a record means for its target row.

Two shapes are read:

* a Debezium change event (``before``, ``after``, ``source``, ``op``): ``c``/``r``/``u`` write
  ``after``, ``d`` deletes the row ``before`` (or the key) names, ``t`` truncates the table;
* a flat record (after ``ExtractNewRecordState``, or any JSON): the value is the row, a null
  value (tombstone) deletes the key's row, and ``__deleted: "true"`` (the unwrap transform's
  ``delete.handling.mode=rewrite``) is a delete too; with ``delete.enabled=false`` (hard
  deletes) ``__deleted`` is a column like any other, as in Debezium's JDBC sink.

The key of a row comes from ``primary.key.mode``: the record key's fields (``record_key``,
a primitive key takes the one name in ``primary.key.fields``), the ``primary.key.fields`` of
the value (``record_value``), or none (append only). Column types come from the record's
Connect schema when the JSON converter carried one, otherwise they are inferred from values.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from connectors.sink.engine.config import SinkConfig
from connectors.sink.engine.errors import RecordError, SinkConfigError
from connectors.sink.engine.naming import ReservedTableError, TableNamer, TableRef
from connectors.sink.engine.types import (
    INT64,
    STRING,
    Column,
    ColumnType,
    columns_of,
    decimal_as_float,
    inferred_columns,
    null_fields,
)
from connectors.sink.engine.unavailable import Unavailable
from hub.runtime.api import HUB_VERSION_MARK, UNAVAILABLE_HEADER, SinkRecord, is_envelope

log = logging.getLogger(__name__)
UPSERT, DELETE, TRUNCATE = "u", "d", "t"
META_OP = Column("__op", ColumnType(STRING))
META_TS = Column("__source_ts_ms", ColumnType(INT64))
META_LSN = Column("__lsn", ColumnType(INT64))
META_FILE = Column("__binlog_file", ColumnType(STRING))
META_POS = Column("__binlog_pos", ColumnType(INT64))


@dataclass(slots=True)
class Change:
    table: TableRef
    op: str  # UPSERT, DELETE or TRUNCATE
    key: tuple[Any, ...] | None  # hashable key; None: the table has no key (append only)
    row: Mapping[str, Any] | None  # raw column values (for a delete: at least the key)
    columns: tuple[Column, ...]  # of the row, key columns included where known
    pk: tuple[str, ...] = ()  # names of the key columns
    # no key: the full old row (REPLICA IDENTITY FULL) an update or delete replaces, and the
    # new row as the source has it (no metadata columns) for a later change to find it by
    before: Mapping[str, Any] | None = None
    image: Mapping[str, Any] | None = None
    # an insert or a snapshot read: every value is real, one that looks like the unavailable
    # value placeholder too (the source sends placeholders in updates, and in the create of a
    # re-keyed row, which carries Debezium's __debezium.oldkey header)
    exact: bool = False
    # an update or a re-keyed row's create of hub's sources (`hub.runtime.api.
    # UNAVAILABLE_HEADER`): the columns that hold the placeholder, and no other does, whatever
    # its value; None: not said (Debezium's and earlier hubs' events), every value equal to a
    # placeholder is taken for one
    held: frozenset[str] | None = None
    # schemaless rows: the fields the row holds as null (no type to infer a column from);
    # the target's columns of these names are set to NULL
    nulls: tuple[str, ...] = ()
    # the create of a re-keyed row: its old key's fields (Debezium's __debezium.oldkey
    # header), whose row holds the values it carries as unchanged-TOAST placeholders
    moved_from: Mapping[str, Any] | None = None


OLD_KEY = "__debezium.oldkey"


_OPS = frozenset("crudtm")  # (Debezium's)


def _converter_envelope(v: dict[str, Any]) -> bool:
    """Whether a value read without a schema is a whole JSON converter document with one (a
    Connect struct schema, its fields named, and a payload of a struct or null)."""
    schema, payload = v.get("schema"), v.get("payload")
    fields = schema.get("fields") if type(schema) is dict else None
    return (
        "payload" in v and type(schema) is dict and schema.get("type") == "struct"
        and type(fields) is list and all(type(f) is dict and "field" in f for f in fields)
        and (payload is None or type(payload) is dict)
    )  # fmt: skip


def _schemaless_event(v: dict[str, Any]) -> bool:
    """Whether a value without a schema is a change event: a Debezium ``op`` and ``before``
    and ``after`` that are rows or null, one of them a row (an event a transform added a
    field to, or took its source out of), or neither with a ``source`` (a truncate); with
    one of them missing, ExtractNewRecordState's rule (an event with its before dropped).
    An audit table's row with columns op, before and after of text is a row."""
    if v.get("op") not in _OPS:
        return False
    if "before" in v and "after" in v:
        before, after = v["before"], v["after"]
        if not (before is None or type(before) is dict) or not (
            after is None or type(after) is dict
        ):
            return False
        return type(before) is dict or type(after) is dict or type(v.get("source")) is dict
    return is_envelope(v, None)


def _mark(source: Any) -> str | None:
    """The hub mark ending an event's source version: `HUB_VERSION_MARK` for this hub's
    events, ``.hub`` for an earlier hub's (before they named their placeholders, or a
    re-keyed row's old key), None for another's (Debezium's)."""
    version = source.get("version") if type(source) is dict else None
    if type(version) is not str:
        return None
    return next((m for m in (HUB_VERSION_MARK, ".hub") if version.endswith(m)), None)


def _held(r: SinkRecord, mark: str | None, row: Mapping[str, Any]) -> frozenset[str] | None:
    """The columns of an update's ``row`` that hold the placeholder for an unavailable value,
    as an event of hub's own sources names them (`UNAVAILABLE_HEADER`, a JSON array; none
    without it); None for another's or an earlier hub's (``mark``), which do not say, and
    for a header that names a column the row does not have (a transform renamed it) or
    cannot be read: a value equal to the placeholder is then taken for one."""
    return _named(r, row, frozenset()) if mark == HUB_VERSION_MARK else None


def _named(
    r: SinkRecord, row: Mapping[str, Any], absent: frozenset[str] | None
) -> frozenset[str] | None:
    """The columns `UNAVAILABLE_HEADER` names, ``absent`` without it; None for a header that
    cannot be read or names a column ``row`` does not have."""
    for name, value in r.headers or ():
        if name == UNAVAILABLE_HEADER:
            if value == b"[]":  # (ExtractNewRecordState's, on every row state of hub's)
                return frozenset()
            try:
                names = json.loads(value) if value is not None else None
            except ValueError:
                return None
            if type(names) is not list or not all(type(n) is str and n in row for n in names):
                return None
            return frozenset(names)
    return absent


def _as_row(key: tuple[Any, ...], names: tuple[str, ...], row: Any) -> tuple[Any, ...]:
    """A record key's values as its row spells them where they are one value spelled two
    ways (a string key "1" on a row of id 1): the batch collapses by this, so both
    spellings of a key in one batch are one key (a tombstone under one had left the row an
    upsert under the other wrote)."""
    out = None
    for i, n in enumerate(names):
        v = key[i]
        if n in row:
            w = row[n]
            if type(v) is not type(w) and w is not None and _same_value(v, w):
                if out is None:
                    out = list(key)
                out[i] = w
    return key if out is None else tuple(out)


def _same_value(a: Any, b: Any) -> bool:
    """A key's value and its row's are one (the same as text and as a number: a string
    key's)."""
    if a is b or a == b:
        return True
    return (type(a) is str) != (type(b) is str) and str(a) == str(b)


def _rekeyed(headers: Any) -> bool:
    """Whether a create event is a re-keyed row's (Debezium's ``__debezium.oldkey``)."""
    return any(h[0] == OLD_KEY for h in headers)


def _old_key(headers: Any) -> Mapping[str, Any] | None:
    """The old key of a re-keyed row's create, as its ``__debezium.oldkey`` header names it
    (JSON, as Connect's SimpleHeaderConverter writes a struct; numbers with a fraction read
    as decimals, exactly); None when it has none, or one that is not a JSON object."""
    for name, value in headers:
        if name == OLD_KEY and value is not None:
            try:
                doc = json.loads(value, parse_float=Decimal)
            except (ValueError, TypeError):  # (UnicodeDecodeError is a ValueError)
                return None
            return doc if type(doc) is dict else None
    return None


def hashable(values: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        hash(values)
        return values
    except TypeError:
        return tuple(orjson.dumps(v, option=orjson.OPT_SORT_KEYS, default=decimal_as_float)
                     for v in values)  # fmt: skip


class ChangeReader:
    """Reads `Change`s out of records for one sink task; caches parsed schemas."""

    def __init__(self, cfg: SinkConfig, max_name_bytes: int | None = None) -> None:
        self.cfg = cfg
        self.namer = TableNamer(cfg.table_name_format, max_name_bytes)
        self._schemas: dict[tuple[str, str], tuple[Any, tuple[Column, ...]]] = {}
        self._after_memo: tuple[Any, str, tuple[Column, ...]] | None = None
        self._schema_is_event: tuple[Any, bool] = (None, False)  # (value schema, an event?)
        self.unavailable = Unavailable(cfg.unavailable_value_placeholder)
        self._warned: set[TableRef] = set()  # keyless tables told they stay append only
        # per (topic, partition): the offset of the last delete event read, whose tombstone
        # (the next record) needs no key of its own
        self._deleted_at: dict[tuple[str, int], int] = {}
        self._told_lone: set[str] = set()  # topics told of a tombstone that names no table
        self._told_null: set[TableRef] = set()  # tables told of a delete by a NULL key

    def _append_only(self, table: TableRef, op: str) -> None:
        if table in self._warned:
            return
        self._warned.add(table)
        log.warning(
            "table %s has no key and its %s events carry no old row (the source table needs "
            "REPLICA IDENTITY FULL): its updates are appended as new rows and its deletes "
            "are not applied",
            table, "update" if op == "u" else "delete",
        )  # fmt: skip

    def _columns(
        self, topic: str, part: str, schema: Mapping[str, Any] | None
    ) -> tuple[Column, ...]:
        if schema is None:
            return ()
        hit = self._schemas.get((topic, part))
        if hit is not None and (hit[0] is schema or hit[0] == schema):
            return hit[1]
        cols = tuple(columns_of(schema))
        self._schemas[(topic, part)] = (schema, cols)
        return cols

    def _field_schema(self, r: SinkRecord, name: str) -> Mapping[str, Any] | None:
        vs = r.value_schema
        if not vs:
            return None
        fields = vs.get("fields") or ()
        i = 1 if name == "after" else 0  # where Debezium's envelope puts them
        if len(fields) > i and fields[i].get("field") == name:
            return fields[i]  # type: ignore[no-any-return]
        for f in fields:
            if f.get("field") == name:
                return f  # type: ignore[no-any-return]
        return None

    def read(self, r: SinkRecord) -> Change | None:
        """The change ``r`` asks for; None when it asks for nothing (a disabled delete)."""
        v = r.value
        # a change event as Debezium's sink and ExtractNewRecordState tell one with a schema,
        # by its name (*.Envelope: a row with columns named op, before and after is a row, an
        # event with its before dropped an event); without one, by its fields
        # (`_schemaless_event`)
        if type(v) is not dict:
            return self._flat(r, v)
        vs = r.value_schema
        if vs is None:
            if len(v) == 2 and _converter_envelope(v):
                raise SinkConfigError(
                    "value.converter.schemas.enable",
                    f"the records of topic {r.topic!r} are the JSON converter's "
                    '{"schema": ..., "payload": ...} (written with schemas), read without '
                    "them: set value.converter.schemas.enable: true (and key.converter's) on "
                    "the sink, as the writer's (their fields had become columns schema and "
                    "payload)",
                )
            event = _schemaless_event(v)
        elif vs is self._schema_is_event[0]:  # (the last record's schema object: same answer)
            event = self._schema_is_event[1]
        else:
            event = is_envelope(v, vs)
            self._schema_is_event = (vs, event)
        return self._envelope(r, v) if event else self._flat(r, v)

    def _table(self, r: SinkRecord, source: Mapping[str, Any] | None) -> TableRef:
        try:
            t = self.namer.table(r.topic, source)
        except ReservedTableError as exc:
            raise RecordError(r.topic, r.partition, r.offset, str(exc)) from None
        if t is None:
            raise RecordError(
                r.topic, r.partition, r.offset,
                f"table.name.format={self.namer.fmt!r} needs a Debezium 'source' block, "
                "and the record has none",
            )  # fmt: skip
        return t

    def _envelope(self, r: SinkRecord, v: Mapping[str, Any]) -> Change | None:
        op = v["op"]
        source = v.get("source")
        table = self._table(r, source)
        cfg = self.cfg
        if op == "t":
            return Change(table, TRUNCATE, None, None, ()) if cfg.truncate_enabled else None
        if op == "d":
            if not cfg.delete_enabled:
                return None
            self._deleted_at[(r.topic, r.partition)] = r.offset
            before = v.get("before")
            cols = self._columns(r.topic, "before", self._field_schema(r, "before"))
            pk, key = self._key(r, before)
            if key is None:
                if before is None or cfg.primary_key_mode != "record_key":
                    if cfg.primary_key_mode == "record_key":
                        self._append_only(table, op)
                    return None  # nothing identifies the row (append-only table)
                # no key, the full old row: delete one row equal to it
                return Change(table, DELETE, None, before, cols, (), before)
            row = before if before is not None else self._key_row(r)
            if type(before) is dict and cfg.primary_key_mode == "record_key":
                row = self._with_key_fields(r, before, pk, cols)[0]
            elif type(before) is dict and any(before.get(n) is None for n in pk):
                self._null_key(table, pk)  # (record_value)
            return Change(table, DELETE, key, row, cols + self._key_columns(r), pk)
        after = v.get("after")
        if type(after) is not dict:
            raise RecordError(r.topic, r.partition, r.offset, f"op={op!r} without an 'after' row")
        vs = r.value_schema
        memo = self._after_memo
        if memo is not None and vs is not None and memo[0] is vs and memo[1] == r.topic:
            cols = memo[2]  # the same schema object as the last record's: same columns
        else:
            cols = self._columns(r.topic, "after", self._field_schema(r, "after"))
            self._after_memo = (vs, r.topic, cols)
        nulls: tuple[str, ...] = ()
        if not cols:
            cols = tuple(inferred_columns(after))
            nulls = null_fields(after)
        image = after
        if cfg.cdc_metadata and source is not None:
            meta: dict[str, Any] = {"__op": op, "__source_ts_ms": source.get("ts_ms")}
            mcols = [META_OP, META_TS]
            if "lsn" in source:
                meta["__lsn"] = source["lsn"]
                mcols.append(META_LSN)
            if "file" in source:
                meta["__binlog_file"], meta["__binlog_pos"] = source["file"], source.get("pos")
                mcols += [META_FILE, META_POS]
            after = {**after, **meta}
            cols = cols + tuple(mcols)
        pk, key = self._key(r, after)
        if key is not None or cfg.primary_key_mode != "record_key":
            rekeyed = op == "c" and bool(r.headers) and _rekeyed(r.headers)
            mark = _mark(source)
            held = _held(r, mark, after) if op == "u" or rekeyed else None
            # (a create is every value real, but a re-keyed row's, which carries its
            # unchanged TOASTed values as placeholders: Debezium's and hub's name its old key
            # in a header; an earlier hub's named none)
            exact = (
                op == "r" or (op == "c" and not rekeyed and mark != ".hub")
                or held == frozenset()
            )  # fmt: skip
            moved = _old_key(r.headers) if rekeyed else None
            if key is not None and cfg.primary_key_mode == "record_key":
                after, cols = self._with_key_fields(r, after, pk, cols)
            return Change(
                table, UPSERT, key, after, cols, pk, exact=exact, held=held, nulls=nulls,
                moved_from=moved,
            )  # fmt: skip
        before = v.get("before") if op == "u" else None
        if op == "u" and type(before) is not dict:
            self._append_only(table, op)
            before = None
        held = _held(r, _mark(source), after)
        if before is not None and held != frozenset():  # an unchanged TOASTed value: the
            # old row has it (a keyless table has no target row to keep it from)
            filled = self.unavailable.fill(image, before, held)
            if filled is not image:  # (after: the image and the metadata columns, if any)
                after, image = {**after, **filled}, dict(filled)
        return Change(table, UPSERT, None, after, cols, pk, before, image, nulls=nulls)

    def _flat(self, r: SinkRecord, v: Any) -> Change | None:
        if v is None:
            # a tombstone carries no 'source': with a table.name.format that needs one, it
            # cannot name its table. It is the one Debezium sends after a delete, which did
            # the work: skipped (taking the table of the topic's last event deleted the key
            # in another table when one topic carries several)
            t = self.namer.table(r.topic, None)
            if t is None:
                if self.cfg.delete_enabled and (
                    self._deleted_at.get((r.topic, r.partition)) != r.offset - 1
                ):  # fmt: skip
                    self._lone_tombstone(r)
                return None
            table = t
        else:
            table = self._table(r, None)
        # unwrap's delete.handling.mode=rewrite: with deletes disabled (and no soft deletes,
        # whose __deleted the sink writes) its __deleted is a column like any other, as in
        # Debezium's JDBC sink: the deleted row stays, marked (dropped, it looked live)
        marks = self.cfg.delete_enabled or self.cfg.delete_mode == "soft"
        if v is None or (
            marks and isinstance(v, Mapping) and str(v.get("__deleted")).lower() == "true"
        ):
            if not self.cfg.delete_enabled:
                return None
            if v is None and self._deleted_at.get((r.topic, r.partition)) == r.offset - 1:
                # the tombstone of the delete event before it, which did the delete (in
                # record_value mode its key need not hold primary.key.fields)
                return None
            pk, key = self._key(r, v)
            if key is None:
                return None
            row = v if v is not None else self._key_row(r)
            if v is not None and self.cfg.primary_key_mode == "record_key":
                # (the key names the row: a rewritten delete's value may lack its columns,
                # renamed or dropped by a transform, and deleted nothing)
                row = self._with_key_fields(r, v, pk, ())[0]
            elif isinstance(v, Mapping) and any(v.get(n) is None for n in pk):
                self._null_key(table, pk)  # (record_value)
            return Change(table, DELETE, key, row, self._key_columns(r), pk)
        if not isinstance(v, Mapping):
            raise RecordError(
                r.topic, r.partition, r.offset,
                f"the value is a {type(v).__name__}, not a struct: a sink row needs named "
                "columns (use a transform such as HoistField, or the JSON converter)",
            )  # fmt: skip
        cols = self._columns(r.topic, "value", r.value_schema)
        if marks and "__deleted" in v:
            v = {k: x for k, x in v.items() if k != "__deleted"}
            cols = tuple(c for c in cols if c.name != "__deleted")
        nulls: tuple[str, ...] = ()
        if not cols:
            cols = tuple(inferred_columns(v))
            nulls = null_fields(v)
        pk, key = self._key(r, v)
        if key is not None and self.cfg.primary_key_mode == "record_key":
            v, cols = self._with_key_fields(r, v, pk, cols)
        moved = _old_key(r.headers) if key is not None and r.headers else None
        # the row state of an event of hub's says which of its values are placeholders
        # (ExtractNewRecordState keeps it in UNAVAILABLE_HEADER, an empty list for none); of
        # another's, every value equal to one is taken for one
        held = _named(r, v, None) if r.headers else None
        return Change(
            table, UPSERT, key, v, cols, pk, exact=held == frozenset(), held=held, nulls=nulls,
            moved_from=moved,
        )  # fmt: skip

    # -- keys ---------------------------------------------------------------------------------

    def _with_key_fields(
        self, r: SinkRecord, row: Mapping[str, Any], pk: tuple[str, ...], cols: tuple[Column, ...]
    ) -> tuple[Mapping[str, Any], tuple[Column, ...]]:
        """``row`` and its columns with the record key's fields (record_key): those it lacks
        added (after a key transform such as InsertField on the key), columns of the table
        too, as Debezium's JDBC sink makes them. One it holds with another value than the
        key's is a `RecordError`: the batch collapses by the record key, so a row written
        under other key values had taken another's place, or kept an earlier one of its key,
        by where the batches happened to end (the same value as text and as a number, a
        string key's, is the same key)."""
        kr = self._key_row(r) or {}
        for n in pk:
            if n in kr and n in row and not _same_value(kr[n], row[n]):
                raise RecordError(
                    r.topic, r.partition, r.offset,
                    f"the record key's {n} differs from its row's: with primary.key.mode="
                    "record_key the key names the row (its records make one row); to key "
                    "rows by their own columns set primary.key.mode: record_value and "
                    "primary.key.fields, or give the records the key of their rows",
                )  # fmt: skip
        missing = [n for n in pk if n not in row]
        if not missing:
            return row, cols
        extra = {n: kr.get(n) for n in missing}
        # (a key without a schema, as JSON without schemas writes it: its columns from its
        # values, as a schemaless value's are; datagen's key {"id": ...} had made a table
        # without "id", and every MERGE on it failed)
        key_cols = self._key_columns(r) if r.key_schema else tuple(inferred_columns(extra))
        have = {c.name for c in cols}
        return {**extra, **row}, tuple(c for c in key_cols if c.name not in have) + cols

    def _lone_tombstone(self, r: SinkRecord) -> None:
        """A tombstone whose delete event is not the record before it (compaction removed
        it, or a transform or filter dropped it) cannot name its table by source fields:
        skipped, which leaves its row in the target; said once per topic."""
        if r.topic in self._told_lone:
            return
        self._told_lone.add(r.topic)
        log.warning(
            "topic %s: the tombstone at offset %d[%d] follows no delete event of its key "
            "(compaction removed it, a transform dropped it, or it was read before a "
            "restart), and table.name.format=%s takes the table from the event's source "
            "fields, which a tombstone lacks: the row of its key, if the target holds one, "
            "is not deleted (said once per topic; hub verify finds such rows). A "
            "table.name.format of ${topic} names the table of every tombstone",
            r.topic, r.offset, r.partition, self.namer.fmt,
        )  # fmt: skip

    def _null_key(self, table: TableRef, pk: tuple[str, ...]) -> None:
        """A delete whose old row holds NULL in a key column of ``primary.key.fields``
        (record_value): it matches no row, said once per table."""
        if table in self._told_null:
            return
        self._told_null.add(table)
        log.warning(
            "table %s: a delete's old row holds NULL in %s (primary.key.mode=record_value), "
            "so it deletes no row: the source sends only its key's columns in a delete's "
            "old row unless the table logs whole rows (PostgreSQL: REPLICA IDENTITY FULL; "
            "MySQL/MariaDB: binlog_row_image=FULL); key by columns of the source's key, or "
            "have it log whole rows (said once per table)",
            table, ", ".join(pk),
        )  # fmt: skip

    def _key_row(self, r: SinkRecord) -> Mapping[str, Any] | None:
        k = r.key
        if k is None:
            return None
        if isinstance(k, Mapping):
            return k
        fields = self.cfg.primary_key_fields
        if len(fields) != 1:
            raise RecordError(
                r.topic, r.partition, r.offset,
                "the record key is a primitive value: set primary.key.fields to the one column "
                "that holds it",
            )  # fmt: skip
        return {fields[0]: k}

    def _key_columns(self, r: SinkRecord) -> tuple[Column, ...]:
        if self.cfg.primary_key_mode != "record_key" or not r.key_schema:
            return ()
        if r.key_schema.get("type") == "struct":
            return self._columns(r.topic, "key", r.key_schema)
        fields = self.cfg.primary_key_fields
        if len(fields) == 1:
            c = columns_of({"fields": [{**r.key_schema, "field": fields[0]}]})
            return tuple(c)
        return ()

    def _key(
        self, r: SinkRecord, row: Mapping[str, Any] | None
    ) -> tuple[tuple[str, ...], tuple[Any, ...] | None]:
        """The key column names and the hashable key of a row; no key: ((), None)."""
        mode = self.cfg.primary_key_mode
        if mode == "none":
            return (), None
        fields = self.cfg.primary_key_fields
        if mode == "record_key" and not fields and type(r.key) is dict and r.key:  # (common)
            key = tuple(r.key.values())
            names = tuple(r.key)
            if row is not None:
                key = _as_row(key, names, row)
            try:
                hash(key)
            except TypeError:
                key = hashable(key)
            return names, key
        src = row if mode == "record_value" else None
        if src is None:
            src = self._key_row(r)  # record_key, or a tombstone in record_value mode
        if src is None:
            if mode == "record_value":
                raise RecordError(r.topic, r.partition, r.offset, "no value to read the key from")
            return (), None
        names = tuple(fields) if fields else tuple(src.keys())
        if not names:  # (all its rows under one key (): every one was dropped, silently)
            raise RecordError(
                r.topic, r.partition, r.offset,
                "the record key has no fields (a transform such as ReplaceField$Key removed "
                "them all?): the sink upserts and deletes by the key; keep its fields, name "
                "the key's columns in primary.key.fields, or set primary.key.mode: none to "
                "append every record",
            )  # fmt: skip
        try:
            values = tuple(src[n] for n in names)
        except KeyError as exc:
            raise RecordError(
                r.topic, r.partition, r.offset, f"key column {exc.args[0]!r} is missing"
            ) from None
        if mode == "record_key" and row is not None:
            values = _as_row(values, names, row)
        return names, hashable(values)
