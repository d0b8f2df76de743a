"""The PostgreSQL source's offset: where a restarted task resumes, as plain primitives.

The source partition is ``{"server": <topic.prefix>}``. The offset has two shapes:

* **streaming**: ``lsn_commit`` is the commit LSN of the transaction of the last record
  emitted and ``event`` how many of its messages were handled (0 = its BEGIN record); once
  the transaction's COMMIT is handled ``event`` is None and ``lsn`` is the commit's end LSN,
  the point from which streaming resumes. A restarted task asks the server for
  ``lsn_commit`` (the server sends every transaction that commits at or after it, whole and
  in commit order, which is what makes replay deterministic) and skips what was emitted.
  An idle stream moves ``lsn`` to the server's position from its keepalives.
  ``incremental`` holds a running incremental snapshot's progress (tables to go, the key
  of the last row read), so it resumes after a restart.
* **snapshot** (``snapshot`` true): the snapshot runs; ``snapshot_lsn`` is the slot's
  consistent point (streaming starts there afterwards), ``table`` the table being read and
  ``after`` the key (or ctid) of the last row emitted, as text. ``stream``: the streaming
  offset to go on from instead (snapshot.mode=always, a blocking snapshot); ``only``: the
  tables a blocking snapshot reads.

``cut`` (both shapes, while it matters): per table without a key that a resumed snapshot
read whole in a later database snapshot, the LSN that snapshot is consistent at; the stream
drops changes to the table that commit before it (`connectors.source.cdc.cuts`).

Debezium's names are kept where they mean the same (``lsn``, ``lsn_commit``, ``txId``,
``ts_usec``, ``snapshot``, ``last_snapshot_record``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from connectors.source.cdc.cuts import SnapshotCuts


@dataclass(frozen=True, slots=True)
class PostgresOffset:
    lsn: int | None = None  # resume point (completed) / the record's LSN (in a transaction)
    lsn_commit: int | None = None
    event: int | None = None  # messages of lsn_commit's transaction handled; None = all
    txid: int | None = None
    ts_usec: int | None = None
    snapshot: bool = False
    snapshot_lsn: int | None = None
    table: str | None = None
    after: tuple[str | None, ...] | None = None
    # the columns ``after`` is of: the table's primary key as it was read, empty without one
    # (a ctid); None in an offset of an earlier hub
    by: tuple[str, ...] | None = None
    last_snapshot_record: bool = False
    # a snapshot table read in key ranges: each [lower, upper, after, done] (snapshot.py)
    ranges: tuple[tuple[Any, ...], ...] | None = None
    incremental: Mapping[str, Any] | None = None  # an incremental snapshot's progress
    stream: Mapping[str, Any] | None = None  # snapshot.mode=always: where streaming resumes
    # tables a resumed snapshot read in a later database snapshot: the changes to drop
    cut: SnapshotCuts | None = None
    # a blocking snapshot's (execute-snapshot of type blocking): the tables it reads, with
    # ``stream`` where streaming stopped for it and goes on once they are read
    only: tuple[str, ...] | None = None

    # -- intention-revealing updates ------------------------------------------------------
    def at_event(
        self, commit_lsn: int, event: int, lsn: int, txid: int, ts_usec: int
    ) -> PostgresOffset:
        return PostgresOffset(
            lsn, commit_lsn, event, txid, ts_usec, incremental=self.incremental, cut=self.cut
        )

    def at_commit(self, commit_lsn: int, end_lsn: int, txid: int, ts_usec: int) -> PostgresOffset:
        return PostgresOffset(
            end_lsn, commit_lsn, None, txid, ts_usec, incremental=self.incremental, cut=self.cut
        )

    def at_idle(self, lsn: int) -> PostgresOffset:
        return PostgresOffset(
            lsn,
            self.lsn_commit,
            None,
            self.txid,
            self.ts_usec,
            incremental=self.incremental,
            cut=self.cut,
        )

    def with_incremental(self, state: Mapping[str, Any] | None) -> PostgresOffset:
        return replace(self, incremental=state)

    def at_snapshot_row(self, table: str, after: tuple[str | None, ...]) -> PostgresOffset:
        return replace(self, snapshot=True, table=table, after=after)

    def snapshot_done(self) -> PostgresOffset:
        """Where streaming starts once the snapshot is read: the slot's consistent point, or
        the stream position the snapshot interrupted (snapshot.mode=always)."""
        resumed = PostgresOffset.load(self.stream) if self.stream else None
        if resumed is not None:
            return replace(resumed, cut=self.cut)
        assert self.snapshot_lsn is not None
        return PostgresOffset(lsn=self.snapshot_lsn, snapshot_lsn=self.snapshot_lsn, cut=self.cut)

    # -- where to resume ---------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self.event is not None and self.lsn_commit is not None

    def start_lsn(self) -> int:
        """The LSN to give START_REPLICATION."""
        if self.in_transaction:
            assert self.lsn_commit is not None
            return self.lsn_commit
        return self.lsn or self.snapshot_lsn or 0

    def skips(self, commit_lsn: int, event: int) -> bool:
        """Was message ``event`` of the transaction committing at ``commit_lsn`` emitted
        before the restart?"""
        if self.in_transaction:
            assert self.lsn_commit is not None and self.event is not None
            return commit_lsn < self.lsn_commit or (
                commit_lsn == self.lsn_commit and event <= self.event
            )
        return commit_lsn < (self.lsn or 0)

    # -- primitives ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if self.snapshot:
            return {
                "snapshot": True, "snapshot_lsn": self.snapshot_lsn, "lsn": self.snapshot_lsn,
                "table": self.table, "after": list(self.after) if self.after is not None else None,
                **({"by": list(self.by)} if self.by is not None else {}),
                "last_snapshot_record": self.last_snapshot_record,
                **({"ranges": [list(r) for r in self.ranges]} if self.ranges else {}),
                **({"stream": dict(self.stream)} if self.stream else {}),
                **({"cut": self.cut.to_json()} if self.cut else {}),
                **({"only": list(self.only)} if self.only is not None else {}),
            }  # fmt: skip
        out: dict[str, Any] = {"lsn": self.lsn}
        if self.lsn_commit is not None:
            out["lsn_commit"] = self.lsn_commit
        if self.event is not None:
            out["event"] = self.event
        if self.txid is not None:
            out["txId"] = self.txid
        if self.ts_usec is not None:
            out["ts_usec"] = self.ts_usec
        if self.incremental is not None:
            out["incremental"] = dict(self.incremental)
        if self.cut:
            out["cut"] = self.cut.to_json()
        return out

    @classmethod
    def load(cls, d: Mapping[str, Any] | None) -> PostgresOffset | None:
        if not d:
            return None
        after = d.get("after")
        return cls(
            lsn=_int(d.get("lsn")),
            lsn_commit=_int(d.get("lsn_commit")),
            event=_int(d.get("event")),
            txid=_int(d.get("txId")),
            ts_usec=_int(d.get("ts_usec")),
            snapshot=bool(d.get("snapshot", False)),
            snapshot_lsn=_int(d.get("snapshot_lsn")),
            table=d.get("table"),
            after=tuple(after) if after is not None else None,
            by=tuple(str(c) for c in d["by"]) if isinstance(d.get("by"), list) else None,
            last_snapshot_record=bool(d.get("last_snapshot_record", False)),
            ranges=tuple(tuple(r) for r in d["ranges"]) if d.get("ranges") else None,
            incremental=d.get("incremental"),
            stream=d.get("stream"),
            cut=SnapshotCuts.load(d["cut"]) if d.get("cut") else None,
            only=tuple(str(t) for t in d["only"]) if isinstance(d.get("only"), list) else None,
        )


def _int(v: Any) -> int | None:
    return None if v is None else int(v)
