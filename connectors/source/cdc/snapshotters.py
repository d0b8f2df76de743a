"""When to take a snapshot: one small class per ``snapshot.mode``, as Debezium's snapshotter
SPI. Each connector lists the modes it supports (`snapshotter` refuses the others)."""

from __future__ import annotations

import logging
from typing import ClassVar

from hub.errors import ConfigError

log = logging.getLogger(__name__)

# what a task whose stored position can no longer be streamed (slot gone, binlog purged) says
# to do: a new snapshot writes the rows there are, and no event deletes from the sinks the rows
# deleted in between (Debezium's re-snapshot neither)
POSITION_LOST_ADVICE = (
    "Set snapshot.mode=when_needed to take a new snapshot (the rows deleted in between then "
    "stay in the sinks: 'hub verify' counts them and lists the first, and emptying the "
    "sinks' tables first drops them), or reset the connector's offsets (DELETE "
    "/connectors/<name>/offsets) to start over"
)


def warn_of_a_new_snapshot(where: str, cause: str = "snapshot.mode=when_needed") -> None:
    """Say that a new snapshot is taken for a lost position (``cause``: why), and what it
    leaves in the sinks."""
    log.warning(
        "%s: the stored position can no longer be streamed: taking a new snapshot (%s). Rows "
        "deleted in between stay in the sinks: 'hub verify' counts them and lists the first "
        "(empty the sinks' tables and reset their offsets to drop them)", where, cause,
    )  # fmt: skip


class Snapshotter:
    """Answers the questions ``snapshot.mode`` settles.

    ``has_offset``: the connector stored a position before; ``in_progress``: that position is
    inside a snapshot (a crash interrupted it); ``position_usable``: the stored position can
    still be streamed from (the slot has not moved past it, the binlog is not purged)."""

    mode: ClassVar[str]

    def should_snapshot(self, has_offset: bool, in_progress: bool, position_usable: bool) -> bool:
        return not has_offset or in_progress

    def should_stream(self) -> bool:
        return True

    def snapshot_data(self) -> bool:
        """Read the tables' rows (False: the schemas only, as ``recovery`` does)."""
        return True

    def rebuilds_history(self) -> bool:
        """Rebuild a source's schema history from the catalog as of the stored position
        (``recovery``: the history topic was lost; right only if no DDL came since)."""
        return False


class Initial(Snapshotter):
    mode = "initial"


class InitialOnly(Snapshotter):
    mode = "initial_only"

    def should_stream(self) -> bool:
        return False


class NoData(Snapshotter):
    mode = "no_data"

    def should_snapshot(self, has_offset: bool, in_progress: bool, position_usable: bool) -> bool:
        return False


class Never(NoData):
    mode = "never"


class Always(Snapshotter):
    mode = "always"

    def should_snapshot(self, has_offset: bool, in_progress: bool, position_usable: bool) -> bool:
        return True


class WhenNeeded(Snapshotter):
    """Also when the stored position can no longer be streamed (slot gone, binlog purged)."""

    mode = "when_needed"

    def should_snapshot(self, has_offset: bool, in_progress: bool, position_usable: bool) -> bool:
        return not has_offset or in_progress or not position_usable


class Recovery(Snapshotter):
    """Streams on from the stored position with the schema history rebuilt from the catalog
    (a first start takes the initial snapshot)."""

    mode = "recovery"

    def rebuilds_history(self) -> bool:
        return True


SNAPSHOTTERS: dict[str, type[Snapshotter]] = {
    c.mode: c for c in (Initial, InitialOnly, NoData, Never, Always, WhenNeeded, Recovery)
}


def snapshotter(mode: str, supported: tuple[str, ...] | None = None) -> Snapshotter:
    """The policy of ``snapshot.mode=mode``, if the connector supports it."""
    allowed = supported or tuple(SNAPSHOTTERS)
    if mode not in allowed:
        raise ConfigError(
            f"snapshot.mode={mode!r} is not supported; use one of {', '.join(allowed)}"
        )
    return SNAPSHOTTERS[mode]()


class SnapshotMarkers:
    """``source.snapshot`` of each snapshot row, as Debezium marks it: ``first`` (the first
    row this snapshot emits), ``first_in_data_collection``, ``true``,
    ``last_in_data_collection``, ``last`` (the snapshot's last row); when several apply:
    last, first, last_in_data_collection, first_in_data_collection. ``resumed``: a snapshot
    resumed after a crash already emitted its first row."""

    def __init__(self, resumed: bool = False) -> None:
        self._first = not resumed

    def marker(
        self, i: int, rows: int, first_in_table: bool, last_in_table: bool, final: bool
    ) -> str:
        """Row ``i`` of a chunk of ``rows`` rows (the chunk is its table's first/last, the
        snapshot's ``final``)."""
        last = rows - 1
        marker = "true"
        if i == 0 and first_in_table:
            marker = "first_in_data_collection"
        if i == last and last_in_table:
            marker = "last_in_data_collection"
        if self._first:
            marker, self._first = "first", False
        if final and i == last:
            marker = "last"
        return marker
