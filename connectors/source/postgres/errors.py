"""The PostgreSQL source's errors: each says what is wrong, where, and what to do."""

from __future__ import annotations

from hub.errors import ConfigError, FatalError, TransientError


class PostgresSourceError(FatalError):
    """The source cannot go on (e.g. its slot vanished); restarting will not help."""


class ServerSetupError(ConfigError):
    """The server or role is not set up for logical replication."""


class SlotInUseError(TransientError):
    """Another process streams from the slot. Often it heals by itself: the stream of a
    process killed a moment ago holds the slot until the server notices, so it is retried."""

    def __init__(self, slot: str, pid: int | None) -> None:
        self.slot, self.pid = slot, pid
        who = f"server process {pid}" if pid else "another connection"
        super().__init__(
            f"replication slot {slot!r} is in use by {who}: retried until it lets go (this "
            f"task's previous holder, a worker that lost it or was killed, holds it until the "
            f"server notices); if another consumer uses this slot, stop it or give this "
            f"connector its own slot.name (a new slot takes a new snapshot)"
        )


class ReplicaIdentityError(ConfigError):
    """A captured table cannot give the key of its deleted or updated rows."""

    def __init__(self, tables: list[str]) -> None:
        self.tables = tables
        names = ", ".join(tables)
        super().__init__(
            f"table(s) {names} have no primary key (or a DEFERRABLE one, which PostgreSQL does "
            f"not take as the identity) and REPLICA IDENTITY DEFAULT (or NOTHING): "
            f"PostgreSQL cannot send the keys of their updated and deleted rows, and once they "
            f"are in the publication it refuses UPDATE and DELETE on them. Run ALTER TABLE "
            f"<table> REPLICA IDENTITY FULL (or add a primary key), or leave them out with "
            f"table.exclude.list"
        )


def _first_name(tables: list[str]) -> str:
    """The table a line of `KeyOutsideIdentityError` names (``schema.table: keyed by...``),
    for an example statement."""
    return tables[0].split(":", 1)[0] if len(tables) == 1 else "<table>"


class KeyOutsideIdentityError(ConfigError):
    """A captured table whose deleted rows the WAL carries without their message key: their
    deletes would reach the sinks with a null key and delete nothing."""

    def __init__(self, tables: list[str], at: str | None = None) -> None:
        self.tables = tables
        text = (
            "the replica identity does not hold the key of table(s) "
            + "; ".join(tables)
            + ". PostgreSQL logs a deleted row (and the old "
            "key of an updated one) by its replica identity only, so their events would carry "
            "no key and the sinks could not delete or move them. Run ALTER TABLE "
            f"{_first_name(tables)} REPLICA IDENTITY DEFAULT (the primary key) or FULL, or "
            "key the table by the identity's columns with message.key.columns"
        )
        if at is not None:  # (read in the WAL: an identity changed while streaming)
            text += (
                f". The change at LSN {at} is in the WAL already, logged under that identity: "
                "a new identity holds for later changes only, and every restart stops here "
                "again. To get past it, either leave the table out (table.exclude.list) "
                "until the connector has streamed past it, then capture it again and take "
                "an incremental snapshot of it (signal.data.collection: its rows come "
                "again; rows deleted meanwhile stay in the sinks, hub verify lists them), "
                "or stop the connector, delete its offsets (DELETE "
                "/connectors/<name>/offsets) and start it again for a new slot and snapshot"
            )
        super().__init__(text)


class ConnectionLostError(TransientError):
    """The connection to the server failed; the task is restarted and resumes."""
