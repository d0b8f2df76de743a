"""The error for a source record larger than its topic's ``max.message.bytes``: which record
(topic, the table a Debezium event names, its key), how big, and what to raise."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from hub.errors import ConfigError
from hub.log import RecordTooLargeError

_SHOWN = 200  # characters of a key shown


class SourceRecordTooLargeError(ConfigError):
    def __init__(
        self, topic: str, table: str | None, key: str | None, size: int, limit: int
    ) -> None:
        self.topic, self.table, self.key, self.size, self.limit = topic, table, key, size, limit
        what = f"table {table} (topic {topic!r})" if table else f"topic {topic!r}"
        suggested = max(limit * 2, (size // 1024 + 2) * 1024)
        super().__init__(
            f"a record of {what}, key {key or '(none)'}, is {size} bytes: over the topic's "
            f"max.message.bytes={limit}. Raise it (stop the worker, then hub topics alter "
            f"{topic} --config max.message.bytes={suggested}), or leave the big column out "
            "(column.exclude.list)"
        )


def _show(b: bytes | None) -> str | None:
    if b is None:
        return None
    try:
        doc = orjson.loads(b)
        if isinstance(doc, dict) and "payload" in doc and "schema" in doc:
            doc = doc["payload"]  # the JSON converter's envelope
        text = orjson.dumps(doc).decode()
    except orjson.JSONDecodeError:
        text = b.decode("utf-8", "replace")
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _table(value: bytes | None) -> str | None:
    try:
        doc = orjson.loads(value or b"null")
        doc = doc.get("payload", doc)
        src = doc["source"]
        return f"{src['schema']}.{src['table']}" if src.get("schema") else str(src["table"])
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None


def too_large(
    exc: RecordTooLargeError,
    keys: Sequence[bytes | None],
    values: Sequence[bytes | None],
) -> SourceRecordTooLargeError:
    """The error naming the largest of the records a send refused with ``exc``."""
    sizes = [len(k or b"") + len(v or b"") for k, v in zip(keys, values, strict=True)]
    i = max(range(len(sizes)), key=sizes.__getitem__) if sizes else -1
    key = _show(keys[i]) if i >= 0 else None
    table = _table(values[i]) if i >= 0 else None
    size = max(exc.size, sizes[i] if i >= 0 else 0)
    return SourceRecordTooLargeError(exc.topic, table, key, size, exc.limit)
