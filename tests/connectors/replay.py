"""Records of a source task replayed the way the sinks apply them, for tests that check what
reaches the log ends equal to the source table."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from hub.runtime.api import EncodedBatch


def changes(records: Any) -> list[tuple[str, Any, Any]]:
    """(topic, key, value) of every record, encoded ones and packed batches decoded."""
    out: list[tuple[str, Any, Any]] = []

    def payload(b: bytes | None) -> Any:
        if b is None:
            return None
        doc = orjson.loads(b)
        return doc["payload"] if isinstance(doc, dict) and "payload" in doc else doc

    for r in records:
        if type(r) is EncodedBatch:
            keys, values = r.packed.lists() if r.packed is not None else (r.keys, r.values)
            out += [(r.topic, payload(k), payload(v)) for k, v in zip(keys, values, strict=True)]
        elif r.topic:
            key, value = (payload(r.key), payload(r.value)) if r.encoded else (r.key, r.value)
            out.append((r.topic, key, value))
    return out


class Sink:
    """Applies changes as the sinks do: keyed tables upsert/delete by key; a table without a
    key appends created rows and deletes one row equal to a deleted one; truncate empties."""

    def __init__(self) -> None:
        self.keyed: dict[str, dict[Any, Any]] = {}
        self.keyless: dict[str, Counter[Any]] = {}

    def apply(self, changes: list[tuple[str, Any, Any]]) -> None:
        for topic, key, value in changes:
            if value is None:
                continue  # a tombstone
            table = topic.rsplit(".", 1)[1]
            op = value["op"]
            if key is None:
                rows = self.keyless.setdefault(table, Counter())
                if op == "t":
                    rows.clear()
                    continue
                if op in ("u", "d"):
                    before = tuple(sorted(value["before"].items()))
                    if rows[before] > 0:  # (a row the sink lacks: nothing to delete)
                        rows[before] -= 1
                if op in ("r", "c", "u"):
                    rows[tuple(sorted(value["after"].items()))] += 1
            else:
                keyed = self.keyed.setdefault(table, {})
                if op == "t":
                    keyed.clear()
                elif op == "d":
                    keyed.pop(orjson.dumps(key), None)
                else:
                    keyed[orjson.dumps(key)] = value["after"]
