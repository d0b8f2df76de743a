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

Members: each worker also writes a heartbeat about once a second to ``<cluster>.workers`` (one
partition, an hour's retention; key and value its worker id) and reads everyone's, so
`members` names the live workers (a group's member list is not something every broker
describes). A worker holding more than its share of the tasks gives some up (`shed`): it
leaves their groups for a while, so the group gives each to another member (`ideal` says
which of its tasks should run elsewhere: those go first).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)
# the workers topic's: stamped by the broker (ages compare one clock, whatever the workers'
# clocks say), an hour of beats
_BEATS = {"retention.ms": str(3600_000), "message.timestamp.type": "LogAppendTime"}
BEAT_S = 1.0  # how often a worker says it is alive
OTHERS_S = 10.0  # how often the other clusters' beats topics are looked for


def ideal(tasks: Iterable[str], workers: Iterable[str]) -> dict[str, str]:
    """Where each task should run: rendezvous hashing with bounded loads. Each task, in
    order, goes to the worker ranking highest for it (a hash of the pair) that has fewer than
    its share (tasks over workers, rounded up). Every worker computes the same from the same
    live workers; one joining or leaving moves about its share of tasks, not the rest."""
    names, members = sorted(tasks), sorted(workers)
    if not members:
        return {}
    share = -(-len(names) // len(members))
    load = dict.fromkeys(members, 0)
    out = {}
    for task in names:
        ranked = sorted(members, key=lambda w: hashlib.blake2b(
            f"{task}\0{w}".encode(), digest_size=8).digest(), reverse=True)  # fmt: skip
        worker = next(w for w in ranked if load[w] < share)
        load[worker] += 1
        out[task] = worker
    return out


class TaskLeases:
    def __init__(
        self,
        config: Mapping[str, Any],
        cluster: str,
        on_acquire: Callable[[str], None],
        on_release: Callable[[str], None],
        topic: str | None = None,
        member: str | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """``config``: librdkafka client properties (``bootstrap.servers``, security,
        ``session.timeout.ms``); ``cluster``: the workers' ``group.id``; ``member``: this
        worker's id in the heartbeats; ``settings``: the worker settings every worker of the
        cluster must share, sent with its beats: another worker's that differ are logged as
        an error (once per worker and setting)."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer
        from confluent_kafka import TopicPartition as KafkaTopicPartition
        from confluent_kafka.admin import AdminClient

        self._conf = {str(k): v for k, v in config.items()}
        self.cluster = cluster
        self.topic = topic or f"{cluster}.leases"
        self.members_topic = f"{self.topic.removesuffix('.leases')}.workers"
        self.member = member or uuid.uuid4().hex
        self.session_s = int(self._conf.get("session.timeout.ms", 6000)) / 1000
        self._on_acquire, self._on_release = on_acquire, on_release
        self._consumers: dict[str, Any] = {}
        self._held: set[str] = set()
        self._wanted: set[str] = set()
        self._resting: dict[str, float] = {}  # lease -> when it is competed for again
        self._seen: dict[str, tuple[int, int, bool]] = {}  # member -> first, last beat, gone
        self._next_beat = 0.0
        self._polled = time.monotonic()  # when `poll` last served the groups
        # when `poll` last began, and (after a poll came later than a session timeout: the
        # worker was frozen) when the groups are taken to have answered since
        self._last_poll = time.monotonic()
        self._confirm_at = 0.0
        self._newest = 0  # the newest beat's timestamp (ms)
        self.settings = dict(settings or {})
        self._differ: set[tuple[str, str]] = set()  # (member, setting) logged as differing
        self.releasing_lost = False  # (during on_release: the lease was lost, not handed over)
        self._lock = threading.RLock()
        client = {k: v for k, v in self._conf.items() if not k.startswith(
            ("session.", "heartbeat.", "max.poll.", "partition.assignment"))}  # fmt: skip
        admin = self._admin = AdminClient(client)
        self._create(admin, self.topic, {})
        self._create(admin, self.members_topic, _BEATS)
        self._producer = Producer(client)
        self._beats = Consumer({**client, "group.id": f"hub-util-{uuid.uuid4().hex}",
                                "enable.auto.commit": False})  # fmt: skip
        self._beats.assign([KafkaTopicPartition(self.members_topic, 0, OFFSET_BEGINNING)])
        # other clusters' beats topics, read from their end: workers of another group.id
        # over this cluster's storage topics each run every connector (`_foreign`)
        self._others: set[str] = set()
        self._others_due = 0.0
        self._foreign_told: set[str] = set()

    @staticmethod
    def _create(admin: Any, topic: str, config: dict[str, str], timeout: float = 30) -> None:
        from confluent_kafka.cimpl import NewTopic

        if topic not in admin.list_topics(timeout=timeout).topics:
            try:
                admin.create_topics([NewTopic(topic, 1, -1, config=config)])[topic].result(timeout)
            except Exception as exc:  # (created by another worker meanwhile)
                if topic not in admin.list_topics(timeout=timeout).topics:
                    raise exc

    def group(self, name: str) -> str:
        return f"{self.cluster}.lease.{name}"  # (a group id may hold any character)

    def want(self, names: Iterable[str]) -> None:
        """Compete for exactly these leases: join the new ones' groups, leave the others'
        (giving them up first)."""
        with self._lock:
            self._wanted = set(names)
            self._compete()

    def _compete(self) -> None:
        now = time.monotonic()
        self._resting = {n: t for n, t in self._resting.items() if t > now}
        wanted = self._wanted - set(self._resting)
        for name in sorted(set(self._consumers) - wanted):
            self._leave(name)
        for name in sorted(wanted - set(self._consumers)):
            self._join(name)

    def rejoin(self, name: str) -> None:
        """Join a lease's group again as a new member, when this worker does not hold it (a
        group that seems to give the lease to nobody gets a fresh rebalance), the leases'
        topics made again first if the cluster lost them (a broker that came back empty:
        every lease's group then had no partition to give, for ever)."""
        try:
            self._create(self._admin, self.topic, {}, timeout=5)
            self._create(self._admin, self.members_topic, _BEATS, timeout=5)
        except Exception as exc:  # noqa: BLE001 - the rejoin is worth trying all the same
            log.warning("could not check the leases' topics %s: %s", self.topic, exc)
        with self._lock:
            if name in self._consumers and name not in self._held:
                self._leave(name)
                self._join(name)

    def shed(self, name: str, seconds: float) -> None:
        """Give a lease up and stay out of its group for ``seconds`` (another member takes
        it meanwhile and, the groups being sticky, keeps it)."""
        with self._lock:
            self._resting[name] = time.monotonic() + seconds
            self._compete()

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

        def taken(c: Any, parts: list[Any], lost: bool = False) -> None:
            try:
                if parts and name in self._held:
                    self._held.discard(name)
                    self.releasing_lost = lost
                    self._on_release(name)
            finally:
                self.releasing_lost = False
                c.incremental_unassign(parts)

        consumer.subscribe([self.topic], on_assign=assigned, on_revoke=taken,
                           on_lost=lambda c, parts: taken(c, parts, lost=True))  # fmt: skip
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
        """Serve every lease's group (its callbacks run here); beat and read the beats."""
        with self._lock:
            began = time.monotonic()
            if began - self._last_poll > self.session_s:
                # frozen past the session (SIGSTOP, a paused VM): the client has yet to hear
                # from the broker that its leases went to others (the revocation comes with
                # its next heartbeat's answer, at a later poll); until a session has passed
                # polling, the leases are not taken as confirmed (`current`)
                self._confirm_at = began + self.session_s
            self._last_poll = began
            if self._resting and min(self._resting.values()) <= time.monotonic():
                self._compete()
            for name, consumer in list(self._consumers.items()):
                m = consumer.poll(0)
                if m is not None and m.error() is not None:  # (the client retries them)
                    log.debug("lease %s: %s", name, m.error().str())
            if time.monotonic() >= self._next_beat:
                self._next_beat = time.monotonic() + BEAT_S
                self._beat(gone=False)
            self._producer.poll(0)
            if time.monotonic() >= self._others_due:
                self._others_due = time.monotonic() + OTHERS_S
                self._read_others()
            for m in self._beats.consume(1000, 0):
                if m.error() is None and m.key() is not None:
                    if m.topic() == self.members_topic:
                        self._saw(m)
                    else:
                        self._foreign(m)
            if time.monotonic() >= self._confirm_at:
                self._polled = time.monotonic()

    def current(self) -> bool:
        """Whether the leases held are known to be held: `poll` served the groups within a
        session timeout. A worker frozen longer (SIGSTOP, a VM paused, a long GC) has lost
        them by then, and another may run its tasks and have committed since; until its
        next `poll` says which it still holds (lost ones are released there), its tasks must
        not commit their older offsets after the new holders'. A poll right after the freeze
        does not say yet (the broker's answer comes with a later one): the leases count as
        confirmed again a session timeout after it."""
        return time.monotonic() - self._polled < self.session_s

    def _beat(self, gone: bool) -> None:
        value = json.dumps(
            {"worker_id": self.member, "gone": gone, "settings": self.settings}
        ).encode()
        try:
            self._producer.produce(self.members_topic, value, self.member.encode())
        except Exception as exc:  # noqa: BLE001 - (a full queue: the next beat)
            log.debug("heartbeat: %s", exc)

    def _read_others(self) -> None:
        """Read the beats of every other cluster on these brokers too, from their end."""
        from confluent_kafka import OFFSET_END
        from confluent_kafka import TopicPartition as KafkaTopicPartition

        try:
            topics = self._admin.list_topics(timeout=5).topics
        except Exception as exc:  # noqa: BLE001 - the next look's turn
            log.debug("listing the clusters' beats topics: %s", exc)
            return
        new = {t for t in topics if t.endswith(".workers") and t != self.members_topic}
        new -= self._others
        if new:
            self._beats.incremental_assign(
                [KafkaTopicPartition(t, 0, OFFSET_END) for t in sorted(new)]
            )
            self._others |= new

    def _foreign(self, m: Any) -> None:
        """A beat of another cluster's worker: one over this cluster's storage topics is an
        error in the log (each cluster runs every connector: every record twice)."""
        try:
            doc = json.loads(m.value())
        except (TypeError, ValueError):
            return
        theirs = doc.get("settings") if isinstance(doc, dict) else None
        topic = str(m.topic())
        if not isinstance(theirs, dict) or topic in self._foreign_told or doc.get("gone"):
            return
        shared = [
            k for k in ("config.storage.topic", "offset.storage.topic")
            if theirs.get(k) is not None and theirs.get(k) == self.settings.get(k)
        ]  # fmt: skip
        if shared:
            self._foreign_told.add(topic)
            log.error(
                "worker %s of another cluster (its beats in %s) uses this cluster's %s (%s): "
                "each cluster runs every connector, writing every record twice; give every "
                "worker of one cluster the same group.id, and each cluster its own storage "
                "topics", doc.get("worker_id"), topic, " and ".join(shared),
                self.settings.get(shared[0]),
            )  # fmt: skip

    def _saw(self, m: Any) -> None:
        try:
            doc = json.loads(m.value())
        except (TypeError, ValueError):
            return
        at = m.timestamp()[1] if m.timestamp()[1] > 0 else int(time.time() * 1000)
        self._newest = max(self._newest, at)
        member = str(doc.get("worker_id"))
        theirs = doc.get("settings")
        if isinstance(theirs, dict) and member != self.member and not doc.get("gone"):
            for key, mine in self.settings.items():
                other = theirs.get(key)
                if other is not None and other != mine and (member, key) not in self._differ:
                    self._differ.add((member, key))
                    log.error(
                        "worker %s of cluster %s has %s: %s, this worker %s: every worker of "
                        "a cluster needs the same (a task moving between them would read "
                        "other offsets, or run unfenced); set it alike in each worker "
                        "config", member, self.cluster, key, other, mine,
                    )  # fmt: skip
        first, last, was_gone = self._seen.get(member, (at, at, False))
        # a worker back from silence longer than the window (frozen, partitioned) counts as
        # new: settled only after settled_s again (counted at once, the balancer gave up a
        # task it had just taken over while that worker's lease members were still rejoining,
        # and the task ran nowhere for minutes)
        if was_gone or at - last > self._window_ms():
            first = at
        self._seen[member] = (first, at, bool(doc.get("gone")))

    def _window_ms(self) -> float:
        return max(self.session_s, 3 * BEAT_S) * 1000

    def members(self, settled_s: float = 0.0) -> set[str]:
        """The workers whose heartbeat came within a session timeout (at least 3 s) of the
        newest one read, this one among them; with ``settled_s``, only those beating for
        that long."""
        now = self._newest  # (the newest beat read, this worker's own among them)
        window = self._window_ms()
        with self._lock:
            return {self.member} | {
                m for m, (first, last, gone) in self._seen.items()
                if not gone and now - last <= window and now - first >= settled_s * 1000
            }  # fmt: skip

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def close(self) -> None:
        """Give every lease up and leave the groups (the other workers take them at once)."""
        self.want(())
        with self._lock:
            self._beat(gone=True)
            self._producer.flush(5)
            self._beats.close()
