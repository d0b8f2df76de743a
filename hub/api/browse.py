"""Views of the log for the console: topics, their partitions and config, their messages,
and the consumer groups (``/hub/topics``, ``/hub/groups``), read-only but for resetting a
group that has no active member (``POST /hub/groups/{group}/reset``). On either log backend
(`hub.log.backend.LogBackend`): the embedded log gives partition sizes and segments, Kafka
does not (null).

Messages: ``GET /hub/topics/{name}/messages?partition=P`` with ``offset=O`` (default: the
last ``limit`` records), or ``timestamp=ms`` (the first record at or after it); at most
``limit`` (≤ 200) records, each key and value as text when it is UTF-8 (else base64, said
so), cut at 64 KiB (said so). The internal topics' records are not served: the configs topic
holds connector configs as they were sent, literal secrets included.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
from collections.abc import Generator
from typing import Any

from fastapi import Body, FastAPI
from starlette.exceptions import HTTPException

from hub.errors import ConfigError
from hub.log import Record, TopicInfo, TopicPartition
from hub.log.backend import LogBackend
from hub.runtime.worker import Worker

MAX_LIMIT = 200
MAX_SHOWN = 64 << 10


def _records(
    log: LogBackend, tp: TopicPartition, start: int, end: int
) -> Generator[Record, None, None]:
    """The records of ``tp`` from ``start`` below ``end`` (its durable end when described)."""
    records = log.scan(tp, start)
    try:
        for r in records:
            if r.offset >= end:
                return
            yield r
    finally:  # (a generator's: a Kafka scan closes its consumer)
        close = getattr(records, "close", None)
        if close is not None:
            close()


def _internal(worker: Worker, name: str, info: TopicInfo | None = None) -> bool:
    """One of the worker's internal topics (``__*``, or named by ``*.storage.topic``)."""
    return name in worker.internal_topics() or (
        info.internal if info is not None else name.startswith("__")
    )


def _served(worker: Worker, info: TopicInfo) -> None:
    if _internal(worker, info.name, info):
        raise ConfigError(
            f"topic {info.name!r} is internal: its records are not served (the configs topic "
            "holds connector configs as they were sent); use hub consume on the worker"
        )


def _bytes(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    cut = len(data) > MAX_SHOWN
    shown = data[:MAX_SHOWN]
    # (a cut may split a character: text up to it)
    for end in (len(shown), *((len(shown) - k for k in (1, 2, 3)) if cut else ())):
        try:
            text = shown[:end].decode("utf-8")
            return {"text": text, "encoding": "utf-8", "size": len(data), "truncated": cut}
        except UnicodeDecodeError:
            continue
    text = base64.b64encode(shown).decode()
    return {"text": text, "encoding": "base64", "size": len(data), "truncated": cut}


def _shown(r: Any, partition: int) -> dict[str, Any]:
    """A record as the API serves it."""
    return {
        "partition": partition, "offset": r.offset, "timestamp": r.timestamp,
        "key": _bytes(r.key), "value": _bytes(r.value),
        "headers": [[k, _bytes(v)] for k, v in r.headers],
    }  # fmt: skip


def add_browse(app: FastAPI, worker: Worker) -> None:
    @app.get("/hub/topics")
    def topics(internal: bool = True) -> list[dict[str, Any]]:
        log = worker.backend
        out = []
        for name in log.topics(include_internal=internal):
            if not internal and _internal(worker, name):
                continue
            info = log.describe(name)
            sizes = [p.size_bytes for p in info.partitions]
            out.append({
                "name": name, "internal": _internal(worker, name, info),
                "partitions": len(info.partitions),
                "records": sum(p.end_offset - p.start_offset for p in info.partitions),
                "size_bytes": None if None in sizes else sum(s or 0 for s in sizes),
                "config": info.config,
            })  # fmt: skip
        return out

    @app.get("/hub/topics/{name}")
    def topic(name: str) -> dict[str, Any]:
        log = worker.backend
        info = log.describe(name)  # (UnknownTopicError: 404)
        data = dataclasses.asdict(info)
        data["internal"] = _internal(worker, name, info)
        data["effective_config"] = log.topic_properties(name)
        return data

    @app.get("/hub/topics/{name}/messages")
    def messages(
        name: str,
        partition: int = 0,
        offset: int | None = None,
        timestamp: int | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        log = worker.backend
        info = log.describe(name)
        _served(worker, info)
        if not 0 <= partition < len(info.partitions):
            raise ConfigError(f"topic {name!r} has partitions 0..{len(info.partitions) - 1}")
        limit = max(1, min(limit, MAX_LIMIT))
        p = info.partitions[partition]
        tp = TopicPartition(name, partition)
        if timestamp is not None:
            found = log.offset_for_timestamp(tp, timestamp)
            start = p.durable_offset if found is None else found
        elif offset is not None:
            start = offset
        else:
            start = max(p.start_offset, p.durable_offset - limit)
        start = max(start, p.start_offset)
        out: list[dict[str, Any]] = []
        if start < p.durable_offset:
            records = _records(log, tp, start, p.durable_offset)
            try:
                out = [_shown(r, partition) for r in itertools.islice(records, limit)]
            finally:  # (at once: a Kafka scan holds a consumer)
                records.close()
        return {"topic": name, "partition": partition, "start_offset": p.start_offset,
                "end_offset": p.durable_offset, "records": out}  # fmt: skip

    @app.get("/hub/topics/{name}/search")
    def search(name: str, key: str, limit: int = 50, scan: int = 100_000) -> dict[str, Any]:
        """Records whose key contains ``key`` (its UTF-8 bytes), newest first: the last
        ``scan`` records of each partition are read (≤ 1 000 000), at most ``limit`` found."""
        log = worker.backend
        info = log.describe(name)
        _served(worker, info)
        if not key:
            raise ConfigError("give the key (or part of it) to look for")
        needle = key.encode()
        limit = max(1, min(limit, MAX_LIMIT))
        scan = max(1, min(scan, 1_000_000))
        found: list[tuple[int, int, Any]] = []  # (timestamp, partition, record)
        scanned = 0
        for p in info.partitions:
            start = max(p.start_offset, p.durable_offset - scan)
            if start >= p.durable_offset:
                continue
            for r in _records(log, TopicPartition(name, p.partition), start, p.durable_offset):
                scanned += 1
                if r.key is not None and needle in r.key:
                    found.append((r.timestamp, p.partition, r))
        found.sort(key=lambda x: (x[0], x[2].offset), reverse=True)
        return {
            "topic": name, "key": key, "scanned": scanned, "matches": len(found),
            "records": [_shown(r, partition) for _, partition, r in found[:limit]],
        }  # fmt: skip

    @app.get("/hub/groups")
    def groups() -> list[dict[str, Any]]:
        admin = worker.backend.groups
        out = []
        for g in admin.list_groups():
            info = admin.describe(g)
            out.append({"group": g, "state": info.state, "members": len(info.members),
                        "lag": sum(p.lag or 0 for p in info.partitions),
                        "partitions": len(info.partitions)})  # fmt: skip
        return out

    @app.post("/hub/groups/{group}/reset")
    def reset(group: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        """Move the group's committed offsets on a topic: ``{"topic": T, "to": "earliest" |
        "latest" | "offset" | "timestamp", "value": N, "partition": P (default all),
        "dry_run": true}``; the plan (each partition's current and new offset), applied
        unless ``dry_run``. Refused (400) while the group has active members."""
        from hub.log.resets import apply_reset, plan_reset, refuse_active

        log = worker.backend
        if group not in log.groups.list_groups():
            raise HTTPException(404, f"no consumer group {group!r}")  # (as a topic)
        topic, to = body.get("topic"), body.get("to")
        value, partition = body.get("value"), body.get("partition")
        if not isinstance(topic, str) or not topic:
            raise ConfigError("'topic' is required")
        if to not in ("earliest", "latest", "offset", "timestamp"):
            raise ConfigError("'to' must be one of earliest, latest, offset, timestamp")
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError("'value' must be an integer (an offset, or epoch milliseconds)")
        if partition is not None and (not isinstance(partition, int) or partition < 0):
            raise ConfigError("'partition' must be a partition number")
        dry_run = body.get("dry_run", True) is not False
        refuse_active(log, group, "reset")
        rows = plan_reset(log, group, topic, to, value, partition)
        warning = None
        if group.startswith("connect-"):  # a sink connector's group
            warning = worker.target_offsets_warning(group[len("connect-") :])
        if not dry_run:
            apply_reset(log, group, rows)
        return {"group": group, "applied": not dry_run, "warning": warning,
                "partitions": [dataclasses.asdict(r) for r in rows]}  # fmt: skip

    @app.get("/hub/groups/{group}")
    def group(group: str) -> dict[str, Any]:
        admin = worker.backend.groups
        if group not in admin.list_groups():
            raise HTTPException(404, f"no consumer group {group!r}")  # (as a topic)
        return dataclasses.asdict(admin.describe(group))
