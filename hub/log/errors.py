"""Errors raised by the log. Each keeps its arguments as attributes."""

from __future__ import annotations

import errno as _errno
import os

from hub.errors import ConfigError, FatalError, HubError, TransientError


class LogError(HubError):
    """Root of the log's errors."""


class LogLockedError(LogError, ConfigError):
    """Another process holds the log directory for writing."""

    def __init__(self, path: str, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(
            f"log directory {path} is locked for writing by {holder}; stop that process, "
            "or open the directory read-only, or go through the running worker's REST API"
        )


class MissingLogDirError(LogError, ConfigError):
    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"log directory {path} does not exist; check --data-dir (or HUB_DATA_DIR)")


class ReadOnlyLogError(LogError, ConfigError):
    """A write was attempted through a log opened read-only."""

    def __init__(self, path: str, operation: str) -> None:
        self.path = path
        self.operation = operation
        super().__init__(f"cannot {operation}: log directory {path} is open read-only")


class UnknownTopicError(LogError, ConfigError):
    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(f"unknown topic {topic!r}; create it first (hub topics create {topic})")


class TopicExistsError(LogError, ConfigError):
    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(f"topic {topic!r} already exists")


class TopicDirectoryExistsError(LogError, ConfigError):
    """A topic's directory name is taken by a directory that is not a hub topic."""

    def __init__(self, topic: str, directory: str) -> None:
        self.topic = topic
        self.directory = directory
        super().__init__(
            f"cannot create topic {topic!r}: {directory} already exists and is not a hub topic "
            "(no topic.json); hub will not touch files it did not write: move that directory "
            "out of the data directory, or choose another topic name"
        )


class BadTopicMetaError(LogError, ConfigError):
    """A topic's ``topic.json`` cannot be read."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"{path}: {problem}; restore it (it holds the topic's name, partition count and "
            'config, as {"name": ..., "partitions": N, "config": {...}}) or move the topic\'s '
            "directory out of the data directory"
        )


class InvalidTopicError(LogError, ConfigError):
    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        what = "topic" if reason.startswith("partitions") else "topic name"
        super().__init__(f"invalid {what} {topic!r}: {reason}")


class UnknownPartitionError(LogError, ConfigError):
    def __init__(self, topic: str, partition: int, partitions: int) -> None:
        self.topic = topic
        self.partition = partition
        self.partitions = partitions
        super().__init__(
            f"topic {topic!r} has no partition {partition}; "
            f"it has {partitions} (0..{partitions - 1})"
        )


class OffsetOutOfRangeError(LogError, ConfigError):
    def __init__(self, topic: str, partition: int, offset: int, start: int, end: int) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.start = start
        self.end = end
        super().__init__(
            f"offset {offset} is out of range for {topic}-{partition}: "
            f"valid offsets are {start}..{end} (end = next offset to be written)"
        )


class CorruptRecordError(LogError, FatalError):
    """A batch failed its CRC or structure check where it must be intact."""

    def __init__(self, path: str, position: int, reason: str) -> None:
        self.path = path
        self.position = position
        self.reason = reason
        super().__init__(f"corrupt record batch in {path} at byte {position}: {reason}")


class LogStorageError(LogError, TransientError):
    """Writing the log's files failed (disk full, I/O error). The partition was rolled back to
    its last durable offset before this was raised: nothing of the failed write stays pending,
    so retrying (after space returns) writes each record once."""

    def __init__(
        self, directory: str, path: str, needed: int, free: int, errno: int | None, cause: str,
        outcome: str | None = None,
    ) -> None:  # fmt: skip
        """``outcome``: what the failure left and what to do, when it is not a write's
        rollback (the advice for the errno follows it)."""
        self.directory = directory
        self.path = path
        self.needed = needed
        self.free = free
        self.errno = errno
        self.cause = cause
        after = (
            f"the partition is back at its last durable offset; {_advice(errno)}, then send "
            "again (a hub worker retries by itself)"
            if outcome is None
            else f"{outcome}; {_advice(errno)}"
        )
        super().__init__(
            f"cannot write the log in {directory}: {cause} (writing {needed} bytes to "
            f"{os.path.basename(path)}, {free} bytes free); {after}"
        )


def _advice(code: int | None) -> str:
    """What to do about a failed write of the log, by its errno."""
    if code in (_errno.EMFILE, _errno.ENFILE):
        return (
            "raise the limit of open files (ulimit -n, or LimitNOFILE= in a systemd unit; the "
            "log keeps one open per segment and one per partition: a larger segment.bytes or "
            "a shorter retention makes fewer)"
        )
    if code == _errno.EIO:
        return "check the disk (the system log names the device)"
    return "free disk space there"


class RecordTooLargeError(LogError, ConfigError):
    def __init__(self, topic: str, size: int, limit: int) -> None:
        self.topic = topic
        self.size = size
        self.limit = limit
        super().__init__(
            f"record batch of {size} bytes for topic {topic!r} exceeds max.message.bytes={limit}; "
            "send smaller records or raise max.message.bytes on the topic"
        )


class KeylessRecordError(LogError, ConfigError):
    """A record without a key for a compacted topic, which keeps the newest record per key
    (Kafka's broker refuses it too)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(
            f"topic {topic!r} is compacted (cleanup.policy has compact): a record without a "
            "key cannot be kept there; give its records keys, or set cleanup.policy=delete"
        )


class CommitNotMadeError(LogError, TransientError):
    """A group's offsets could not be committed now (its coordinator not reachable, a
    timeout): nothing was committed; the next commit carries them."""

    def __init__(self, group: str, reason: str) -> None:
        self.group = group
        super().__init__(f"offsets of group {group!r} not committed: {reason}")


class RebalanceInProgressError(LogError, TransientError):
    """A commit was made by a member whose partitions were reassigned meanwhile."""

    def __init__(self, group: str, member: str) -> None:
        self.group = group
        self.member = member
        super().__init__(
            f"commit rejected: member {member} of group {group!r} no longer owns the partition "
            "(the group rebalanced); poll again and reprocess from the committed offset"
        )


class ProducerFencedError(LogError, FatalError):
    """A newer producer with the same transactional id exists: another worker (or a
    restarted task) runs this source task now. This one's open transaction is aborted; it
    must stop writing."""

    def __init__(self, transactional_id: str, detail: str) -> None:
        self.transactional_id = transactional_id
        super().__init__(
            f"another producer took over transactional id {transactional_id!r} (fenced: "
            f"{detail}); the task runs elsewhere now, or was started twice. Its unfinished "
            "transaction was aborted and nothing of it is committed"
        )


__all__ = [
    "BadTopicMetaError",
    "ConfigError",
    "CorruptRecordError",
    "FatalError",
    "InvalidTopicError",
    "LogError",
    "LogLockedError",
    "LogStorageError",
    "MissingLogDirError",
    "OffsetOutOfRangeError",
    "ProducerFencedError",
    "ReadOnlyLogError",
    "RebalanceInProgressError",
    "RecordTooLargeError",
    "TopicDirectoryExistsError",
    "TopicExistsError",
    "TransientError",
    "UnknownPartitionError",
    "UnknownTopicError",
]
