"""Which topics of a change source must have one partition (`one_partition_reason`)."""

from __future__ import annotations

from connectors.source.cdc.config import one_partition_reason
from connectors.source.postgres.config import PostgresSourceConfig


def _cfg(**extra: str) -> PostgresSourceConfig:
    return PostgresSourceConfig.of({
        "database.hostname": "h", "database.user": "u", "database.dbname": "d",
        "topic.prefix": "app", **extra,
    })  # fmt: skip


def test_a_tables_topic_needs_one_partition_while_truncates_are_emitted() -> None:
    emits = _cfg(**{"skipped.operations": "none"})
    assert one_partition_reason(emits, "app.public.kt") is not None
    # (the logical messages' topic had been refused as if truncates went there; review)
    for other in ("app.message", "app.transaction", "__debezium-heartbeat.app", "other.x"):
        assert one_partition_reason(emits, other) is None, other
    assert one_partition_reason(_cfg(), "app.public.kt") is None  # (truncates skipped)
