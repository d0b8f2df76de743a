"""A topic: a name, a config, and N partitions in ``<data>/<topic>/<n>/``.

``topic.json`` holds ``{"name", "id", "partitions", "config"}`` (non-default properties only),
and ``"continues"`` when it has any; it is replaced atomically. The id is random, made with the
topic: a topic deleted and made again under its name (or a data directory emptied) is told from
the old one by it, as by Kafka's topic ids (KIP-516). ``continues`` lists the ids of topics
this one is a copy of with every offset kept (``hub log import``): offsets stored for those
are this one's. A topic made before ids has none until the log opens it writable. Not
thread-safe for create/delete: the Log serialises those.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.log import files
from hub.log.config import TopicConfig
from hub.log.errors import BadTopicMetaError, UnknownPartitionError
from hub.log.partition import Partition
from hub.log.record import TopicInfo


@dataclass(frozen=True, slots=True)
class TopicMeta:
    """What ``topic.json`` holds (``config``: the properties set, as text)."""

    name: str
    id: str | None  # None: made before topics had ids
    partitions: int
    config: Mapping[str, str]
    continues: tuple[str, ...] = ()


class Topic:
    def __init__(
        self,
        directory: str,
        name: str,
        num_partitions: int,
        config: TopicConfig,
        *,
        topic_id: str | None = None,
        continues: tuple[str, ...] = (),
        read_only: bool,
        clean_shutdown: bool,
        on_durable: Callable[[], None] | None,
        on_append: Callable[[], None] | None = None,
    ) -> None:
        self.directory = directory
        self.name = name
        self.id = topic_id
        self.continues = continues
        self.config = config
        self.partitions: list[Partition] = []
        try:
            for p in range(num_partitions):
                self.partitions.append(Partition(
                    os.path.join(directory, str(p)), name, p, config, read_only=read_only,
                    clean_shutdown=clean_shutdown, on_durable=on_durable, on_append=on_append,
                ))  # fmt: skip
        except BaseException:  # (out of descriptors: those opened go back)
            for opened in self.partitions:
                with contextlib.suppress(Exception):
                    opened.close()
            raise

    closed = False
    meta_seen: tuple[int, int, int] | None = None  # read-only: topic.json's stat when read
    meta_read = 0.0  # read-only: when (time.monotonic) it was read last

    @property
    def internal(self) -> bool:
        return self.name.startswith("__")

    def partition(self, p: int) -> Partition:
        if not 0 <= p < len(self.partitions):
            raise UnknownPartitionError(self.name, p, len(self.partitions))
        return self.partitions[p]

    def info(self) -> TopicInfo:
        return TopicInfo(
            name=self.name,
            partitions=tuple(p.info() for p in self.partitions),
            config=self.config.to_properties(include_defaults=False),
            internal=self.internal,
            id=self.id,
        )

    def ids(self) -> tuple[str, ...]:
        """Its id, then those of the topics it continues; () when it has none."""
        return (self.id, *self.continues) if self.id else ()

    def close(self) -> None:
        """Close every partition, even past one that fails (its error raised at the end)."""
        self.closed = True
        failed: BaseException | None = None
        for p in self.partitions:
            try:
                p.close()
            except OSError as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    def write_meta(self) -> None:
        """``topic.json`` as the topic is now."""
        Topic.write_new_meta(self.directory, TopicMeta(
            self.name, self.id, len(self.partitions),
            self.config.to_properties(include_defaults=False), self.continues,
        ))  # fmt: skip

    @staticmethod
    def write_new_meta(directory: str, meta: TopicMeta) -> None:
        if not os.path.isdir(directory):
            files.make_dirs(directory)
            files.fsync_dir(os.path.dirname(directory))
        doc: dict[str, Any] = {
            "name": meta.name,
            "id": meta.id,
            "partitions": meta.partitions,
            "config": dict(meta.config),
        }
        if meta.continues:
            doc["continues"] = list(meta.continues)
        path = os.path.join(directory, files.TOPIC_META)
        with open(path + ".tmp", "w", opener=files.private_opener) as f:
            json.dump(doc, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
        files.fsync_dir(directory)

    @staticmethod
    def read_meta(directory: str) -> TopicMeta | None:
        """``topic.json``; None when there is none; BadTopicMetaError naming the file when it
        cannot be used."""
        path = os.path.join(directory, files.TOPIC_META)
        try:
            with open(path, "rb") as f:
                meta = json.loads(f.read())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BadTopicMetaError(path, f"cannot be read ({exc.strerror})") from None
        except ValueError as exc:
            raise BadTopicMetaError(path, f"is not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise BadTopicMetaError(path, "is not a JSON object")
        name, partitions, config = meta.get("name"), meta.get("partitions"), meta.get("config", {})
        if not isinstance(name, str) or files.topic_name_problem(name):
            raise BadTopicMetaError(path, f'"name" is {name!r}, not a valid topic name')
        if name != os.path.basename(directory):
            raise BadTopicMetaError(path, f'"name" is {name!r} but the directory is not')
        if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
            raise BadTopicMetaError(path, f'"partitions" is {partitions!r}, not a count >= 1')
        if not isinstance(config, dict):
            raise BadTopicMetaError(path, '"config" is not a JSON object')
        topic_id, continues = meta.get("id"), meta.get("continues", [])
        if topic_id is not None and (not isinstance(topic_id, str) or not topic_id):
            raise BadTopicMetaError(path, f'"id" is {topic_id!r}, not a topic id')
        if not isinstance(continues, list) or not all(isinstance(i, str) and i for i in continues):
            raise BadTopicMetaError(path, f'"continues" is {continues!r}, not a list of topic ids')
        props = {str(k): str(v) for k, v in config.items()}
        return TopicMeta(name, topic_id, partitions, props, tuple(continues))

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex
