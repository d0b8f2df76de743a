"""Task leases on a Kafka cluster: which worker of a cluster runs which task (the building
block of distributed workers: hub.runtime.worker, docs/distributed.md).

Each lease (a task's name) is a consumer group of its own, ``<cluster>.lease.<name>``, over one
topic of one partition that nothing is written to. The group gives that partition to exactly
one live member: the worker holding it runs the task. ``on_acquire(name)`` is called when this
worker gets a lease, ``on_release(name)`` when it gives one up: revoked (another worker takes
it after this call returns, so a task is stopped before it starts elsewhere), lost (this
worker was expelled: its session or poll interval expired; another may run it already), or
no longer wanted. A worker that dies loses its leases after ``session.timeout.ms``.

The callbacks run in the thread that calls `TaskLeases.poll` (every ~100 ms: a lease whose
consumer is not polled for ``max.poll.interval.ms`` is lost).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)


class TaskLeases:
    def __init__(
        self,
        config: Mapping[str, Any],
        cluster: str,
        on_acquire: Callable[[str], None],
        on_release: Callable[[str], None],
        topic: str | None = None,
    ) -> None:
        """``config``: librdkafka client properties (``bootstrap.servers``, security,
        ``session.timeout.ms``); ``cluster``: the workers' ``group.id``."""
        from confluent_kafka.admin import AdminClient
        from confluent_kafka.cimpl import NewTopic

        self._conf = {str(k): v for k, v in config.items()}
        self.cluster = cluster
        self.topic = topic or f"{cluster}.leases"
        self._on_acquire, self._on_release = on_acquire, on_release
        self._consumers: dict[str, Any] = {}
        self._held: set[str] = set()
        self._lock = threading.RLock()
        admin = AdminClient({k: v for k, v in self._conf.items() if not k.startswith(
            ("session.", "heartbeat.", "max.poll."))})  # fmt: skip
        if self.topic not in admin.list_topics(timeout=30).topics:
            try:
                admin.create_topics([NewTopic(self.topic, 1, -1)])[self.topic].result(30)
            except Exception as exc:  # (created by another worker meanwhile)
                if self.topic not in admin.list_topics(timeout=30).topics:
                    raise exc

    def group(self, name: str) -> str:
        return f"{self.cluster}.lease.{name}"  # (a group id may hold any character)

    def want(self, names: Iterable[str]) -> None:
        """Compete for exactly these leases: join the new ones' groups, leave the others'
        (giving them up first)."""
        wanted = set(names)
        with self._lock:
            for name in sorted(set(self._consumers) - wanted):
                self._leave(name)
            for name in sorted(wanted - set(self._consumers)):
                self._join(name)

    def _join(self, name: str) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer({
            "session.timeout.ms": 6000, **self._conf,
            "group.id": self.group(name), "enable.auto.commit": False,
            # sticky: a member joining does not take a lease that is held
            "partition.assignment.strategy": "cooperative-sticky",
        })  # fmt: skip

        def assigned(c: Any, parts: list[Any]) -> None:
            c.incremental_assign(parts)
            if parts and name not in self._held:
                self._held.add(name)
                self._on_acquire(name)

        def taken(c: Any, parts: list[Any]) -> None:
            try:
                if parts and name in self._held:
                    self._held.discard(name)
                    self._on_release(name)
            finally:
                c.incremental_unassign(parts)

        consumer.subscribe([self.topic], on_assign=assigned, on_revoke=taken, on_lost=taken)
        self._consumers[name] = consumer

    def _leave(self, name: str) -> None:
        consumer = self._consumers.pop(name)
        try:
            if name in self._held:
                self._held.discard(name)
                self._on_release(name)
        finally:
            consumer.close()  # (leaves the group: another member takes the lease at once)

    def poll(self) -> None:
        """Serve every lease's group (its callbacks run here)."""
        with self._lock:
            for name, consumer in list(self._consumers.items()):
                m = consumer.poll(0)
                if m is not None and m.error() is not None:  # (the client retries them)
                    log.debug("lease %s: %s", name, m.error().str())

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def close(self) -> None:
        """Give every lease up and leave the groups."""
        self.want(())
