"""The ``duckdb`` sink connector and its task (the engine with the DuckDB dialect)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping
from typing import Any

from connectors.sink.duckdb.config import DuckDBSinkConfig
from connectors.sink.engine.connector import EngineSink
from connectors.sink.engine.dialect import Dialect
from connectors.sink.engine.task import EngineSinkTask
from hub.runtime.api import Check, EncodedSinkRecords, SinkTaskContext

log = logging.getLogger(__name__)


class DuckDBSinkTask(EngineSinkTask[DuckDBSinkConfig]):
    """The engine's task; batches of Debezium change events still encoded as JSON take
    DuckDB's own path (`native`) when it covers them, with the same result."""

    config_class = DuckDBSinkConfig

    def make_dialect(self, cfg: DuckDBSinkConfig) -> Dialect:
        from connectors.sink.duckdb.dialect import DuckDBDialect

        return DuckDBDialect(cfg)

    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None:
        from connectors.sink.duckdb import native

        super().start(config, context)
        self._native = self.cfg.native_apply and native.eligible(self.cfg)
        self._plans: dict[tuple[str, bytes, bytes], Any] = {}
        # topic -> (table, source fields) of its last batch, for table names of source fields
        self._sources: dict[str, tuple[Any, Any]] = {}
        self._declined: set[tuple[str, str]] = set()

    def put_encoded(self, batch: EncodedSinkRecords) -> bool:
        if not self._native:
            return False
        was_enabled = gc.isenabled()
        gc.disable()  # (as put: the batch's objects are acyclic)
        try:
            return self._put_encoded(batch)
        finally:
            if was_enabled:
                gc.enable()

    def _put_encoded(self, batch: EncodedSinkRecords) -> bool:
        from connectors.sink.duckdb import native
        from hub.runtime import JsonConverter

        kc, vc, records = batch.key_converter, batch.value_converter, batch.records
        if not (isinstance(kc, JsonConverter) and isinstance(vc, JsonConverter)):
            return False
        if len(records) < self.cfg.native_min_records:
            return False  # (the engine's path is faster there)
        tps = [(r[0], r[1]) for r in records]
        offsets = [r[2] for r in records]
        positions = {tp: off + 1 for tp, off in zip(tps, offsets, strict=True)}
        firsts = dict(zip(reversed(tps), reversed(offsets), strict=True))
        nxt = self.next
        if any(nxt.get(tp, -1) > first for tp, first in firsts.items()):
            return False  # redelivered records below the target's offsets: put skips them
        topics: dict[str, list[int]] = {}
        for i, (topic, _) in enumerate(tps):
            topics.setdefault(topic, []).append(i)
        parts = []
        for topic, idx in topics.items():
            try:
                parts.append(self._part(topic, [records[i] for i in idx], idx, kc, vc))
            except native.Declined as exc:  # (said of its topic: the batch's others had been
                self._decline([topic], exc)  # named with a column of another table)
                return False
        d = self.dialect
        d.begin()  # (its errors are put's: a locked file, a directory that cannot be made)
        try:
            con = d.connection  # type: ignore[attr-defined]
            registered = [native.register(con, *p) for p in parts]
            looks: dict[str, Any] = {}  # topic -> its part's probe, when one was needed

            def look(part: Any) -> Any:
                if part.topic not in looks:
                    looks[part.topic] = native.probe(con, part)
                return looks[part.topic]

            targets = [self._target(part, look) for part in registered]
            tables = {t: part.topic for part, (t, _) in zip(registered, targets, strict=True)}
            if len(tables) < len(registered):
                raise native.Declined("two topics, one table")
            claimed = {}
            if self.owners is not None:  # (a topic claims its table with its first change)
                claimed = self._claim({
                    t: part.topic for part, (t, _) in zip(registered, targets, strict=True)
                    if self.owners.get(t) == part.topic or self._changes(part, look)
                })  # fmt: skip
            for part, (table, source) in zip(registered, targets, strict=True):
                if self._evolved(part, table, look):
                    native.merge(con, d, part, table, deletes=self.cfg.delete_enabled,
                                 unavailable=self.unavailable, source=source)  # fmt: skip
                else:
                    native.unregister(con, part)
            self._store_offsets(positions)
            d.commit()
        except Exception as exc:  # nothing written: the engine's path gives the result
            d.rollback()
            self.tables.clear()
            self._decline([p[0] for p in parts], exc)
            return False
        except BaseException:
            d.rollback()
            raise
        nxt.update(positions)
        if claimed:
            assert self.owners is not None
            self.owners.update(claimed)
        for part, (table, source) in zip(registered, targets, strict=True):
            if part.plan.source:
                self._sources[part.topic] = (table, source)
        return True

    def _target(self, part: Any, look: Any) -> tuple[Any, Any]:
        """(table, the source fields its events must have) of a registered part: known from
        the topic's last batch when the table is named after source fields, else looked at
        (``look``: `native.probe`)."""
        from connectors.sink.duckdb import native

        if not part.plan.source:
            return native.table_of(self.reader.namer, part, None), None
        last = self._sources.get(part.topic)
        if last is not None:
            return last  # (MERGE checks that every event has these source fields)
        found = look(part)
        table = native.table_of(self.reader.namer, part, found.source)
        if table is None:  # (tombstones only: the engine skips them)
            raise native.Declined("no table")
        return table, found.source

    def _changes(self, part: Any, look: Any) -> int:
        """How many of the part's records the engine reads into changes (every one, unless
        deletes are disabled)."""
        if self.cfg.delete_enabled:
            return int(part.count)
        return int(look(part).upserts)

    def _evolved(self, part: Any, table: Any, look: Any) -> bool:
        """The table made able to take the part's changes, as the engine's ``_apply`` does
        it (a batch of deletes too); False when the part changes nothing (no table, or only
        deletes and ``delete.enabled=false``)."""
        from connectors.sink.duckdb import native
        from connectors.sink.engine.errors import KeyChangedError
        from connectors.sink.engine.evolution import create, evolve, integers_into_doubles
        from connectors.sink.engine.naming import check_columns

        d, info = self.dialect, self._info(table)
        columns = [x.column for x in part.plan.after]
        check_columns(table, [c.name for c in columns] + [x.column.name for x in part.plan.key])
        if info is None:
            if not look(part).upserts:
                return False  # (deletes only: nothing to delete, no table to make)
            if self.cfg.schema_evolution == "none":
                raise native.Declined("no table and schema.evolution=none")
            key = [x.column for x in part.plan.key]
            if self.cfg.delete_enabled and not part.plan.source and look(part).early_tombstone:
                # the engine's columns come in the order its changes bring them: a
                # tombstone first brings the key's
                names = {c.name for c in key}
                columns = key + [c for c in columns if c.name not in names]
            info = create(d, table, columns, [c.name for c in key])
        elif (
            info.pk
            and (keyed := [x.column.name for x in part.plan.key])
            and set(info.pk) != set(keyed)
            and self.cfg.insert_mode != "insert"
        ):  # (as the engine's `_apply`)
            raise KeyChangedError(str(table), info.pk, keyed)
        elif not all(
            (have := info.columns.get(c.name)) == d.sql_type(c.type)
            or (have is not None and d.holds(have, c.type))
            for c in columns
        ):  # DDL to come (the engine's, for a batch with changes)
            if not self._changes(part, look):
                return False
            info = evolve(d, table, info, columns, self.cfg.schema_evolution == "basic")
        if integers_into_doubles(d, info, columns):  # (DuckDB would round past 2**53: the
            raise native.Declined("integers into a double column")  # engine checks each)
        if self.cfg.delete_enabled and set(info.columns) - {c.name for c in columns}:
            # columns the part does not carry: a key deleted and written again in it must
            # have them NULL (the engine deletes it first); its MERGE would keep them
            probe = look(part)
            if probe.deletes and probe.upserts:
                raise native.Declined("a table with columns the batch does not carry")
        self.tables[table] = info
        return True

    def _part(self, topic: str, recs: list[Any], idx: list[int], kc: Any, vc: Any) -> Any:
        """(topic, plan, ords, key payloads, value payloads) of one topic's records;
        `native.Declined` when the plan or the bytes are not this path's."""
        from connectors.sink.duckdb import native

        keys = [r[4] for r in recs]
        values = [r[5] for r in recs]
        first = next((v for v in values if v is not None), None)
        if first is None or None in keys:
            raise native.Declined("tombstones only, or a record without key")
        kp, vp = kc.schema_prefix(keys[0]), vc.schema_prefix(first)
        if kp is None or vp is None:
            raise native.Declined("JSON without schemas, or not as the JSON converter writes it")
        (kprefix, kschema), (vprefix, vschema) = kp, vp
        ck = (topic, vprefix, kprefix)
        plan = self._plans.get(ck)
        if plan is None:
            if len(self._plans) > 64:
                self._plans.clear()
            try:
                plan = native.plan_for(vschema, kschema, self.reader.namer)
            except native.Declined as exc:
                plan = exc
            except Exception as exc:  # noqa: BLE001 - a schema it cannot read: the engine's
                plan = native.Declined(f"{type(exc).__name__}: {exc}")
            self._plans[ck] = plan
        if isinstance(plan, native.Declined):
            raise plan
        if not all([k.startswith(kprefix) and k.endswith(b"}") for k in keys]) or not all(
            [v is None or (v.startswith(vprefix) and v.endswith(b"}")) for v in values]
        ):
            raise native.Declined("several schemas in one batch, or not the converter's layout")
        kcut, vcut = len(kprefix), len(vprefix)
        return (
            topic, plan, idx, [k[kcut:-1] for k in keys],
            [None if v is None else v[vcut:-1] for v in values],
        )  # fmt: skip

    def _decline(self, topics: list[str], exc: Exception) -> None:
        """Say once per topic and reason that its batches take the engine's path."""
        from connectors.sink.duckdb import native

        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if not isinstance(exc, native.Declined):
            reason = f"{type(exc).__name__}: {reason}"
        for topic in topics:
            if (topic, reason) not in self._declined and len(self._declined) < 1000:
                self._declined.add((topic, reason))
                log.info("%s: batches of %s take the engine's path: %s", self.connector,
                         topic, reason)  # fmt: skip


class DuckDBSink(EngineSink):
    name = "duckdb"
    aliases = ("DuckDBSink", "DuckDBSinkConnector")
    config_model = DuckDBSinkConfig
    task_class = DuckDBSinkTask
    secret_properties = ("connection.password", "connection.url")

    @classmethod
    def local_files(cls, config: Mapping[str, Any]) -> list[str]:
        from connectors.sink.duckdb.config import duckdb_path

        path = duckdb_path(str(config.get("connection.url", "")))
        return [] if path is None else [path]

    @classmethod
    def check(cls, config: Mapping[str, Any]) -> list[Check]:
        import os

        from connectors.sink.duckdb.config import duckdb_path
        from connectors.sink.engine.checks import check_target

        path = os.path.abspath(duckdb_path(str(config["connection.url"])) or "")
        if not os.path.exists(path):  # never create the file just to check
            parent = os.path.dirname(path)
            while not os.path.exists(parent):
                parent = os.path.dirname(parent)
            ok = os.access(parent, os.W_OK | os.X_OK)
            return [Check(f"DuckDB file {path} can be created", ok,
                          "" if ok else f"{parent} is not writable")]  # fmt: skip
        return check_target(cls.task_class, {**config, "duckdb.lock.timeout.ms": 2000}, path)
