"""A topic: a name, a config, and N partitions in ``<data>/<topic>/<n>/``.

``topic.json`` holds ``{"name", "partitions", "config"}`` (non-default properties only) and is
replaced atomically. Not thread-safe for create/delete: the Log serialises those.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping

from hub.log import files
from hub.log.config import TopicConfig
from hub.log.errors import BadTopicMetaError, UnknownPartitionError
from hub.log.partition import Partition
from hub.log.record import TopicInfo


class Topic:
    def __init__(
        self,
        directory: str,
        name: str,
        num_partitions: int,
        config: TopicConfig,
        *,
        read_only: bool,
        clean_shutdown: bool,
        on_durable: Callable[[], None] | None,
        on_append: Callable[[], None] | None = None,
    ) -> None:
        self.directory = directory
        self.name = name
        self.config = config
        self.partitions = [
            Partition(
                os.path.join(directory, str(p)),
                name,
                p,
                config,
                read_only=read_only,
                clean_shutdown=clean_shutdown,
                on_durable=on_durable,
                on_append=on_append,
            )
            for p in range(num_partitions)
        ]

    closed = False

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
        )

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

    @staticmethod
    def write_meta(directory: str, name: str, partitions: int, config: TopicConfig) -> None:
        if not os.path.isdir(directory):
            files.make_dirs(directory)
            files.fsync_dir(os.path.dirname(directory))
        meta = {
            "name": name,
            "partitions": partitions,
            "config": config.to_properties(include_defaults=False),
        }
        path = os.path.join(directory, files.TOPIC_META)
        with open(path + ".tmp", "w", opener=files.private_opener) as f:
            json.dump(meta, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
        files.fsync_dir(directory)

    @staticmethod
    def read_meta(directory: str) -> tuple[str, int, Mapping[str, str]] | None:
        """``(name, partitions, config)`` from ``topic.json``; None when there is none;
        BadTopicMetaError naming the file when it cannot be used."""
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
        return name, partitions, {str(k): str(v) for k, v in config.items()}
