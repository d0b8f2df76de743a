"""Reads lines from a file (or stdin) and follows it as it grows, like ``tail -f``.

Source partition ``{"filename": path}``, offset ``{"position": byte offset after the line}``,
exactly Kafka's FileStreamSource, so offsets read by Connect tooling mean the same. A partial
last line (no newline yet) waits until it is complete.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from connectors.source.file.config import FileSourceConfig
from hub.runtime.api import SourceBatch, SourceConnector, SourceTask, SourceTaskContext

STRING_SCHEMA = {"type": "string", "optional": False}


class FileStreamSourceTask(SourceTask):
    replay_neutral = frozenset({"batch.size"})

    def start(self, config: Mapping[str, Any], context: SourceTaskContext) -> None:
        cfg: FileSourceConfig = FileSourceConfig.of(config)
        self.topic = cfg.topic
        self.batch_size = cfg.batch_size
        self.path = cfg.file
        self.partition = {"filename": self.path or "stdin"}
        offset = context.offset(self.partition)
        self.position = int(offset["position"]) if offset else 0
        self._f: BinaryIO | None = None
        self._buf = b""

    def _open(self) -> BinaryIO | None:
        if self._f is None:
            if not self.path:
                self._f = sys.stdin.buffer
            else:
                try:
                    self._f = open(self.path, "rb")  # noqa: SIM115 - kept open across polls
                except FileNotFoundError:
                    return None
                self._f.seek(self.position)
        return self._f

    def poll(self) -> Sequence[SourceBatch]:
        f = self._open()
        if f is None:
            time.sleep(0.2)
            return []
        # lines read before but past the last poll's batch.size come first (they waited for
        # the file to grow: a finished file left them unread)
        if self._buf.count(b"\n") < self.batch_size:
            chunk = f.read(1 << 16) if self.path else os.read(f.fileno(), 1 << 16)
            if not chunk and b"\n" not in self._buf:
                time.sleep(0.05)
                return []
            self._buf += chunk
        # up to batch.size whole lines, split in one call (the rest waits in the buffer)
        parts = self._buf.split(b"\n", self.batch_size)
        self._buf = parts.pop()
        if not parts:
            return []
        self.position += sum(map(len, parts)) + len(parts)
        texts = [line.rstrip(b"\r").decode("utf-8", errors="replace") for line in parts]
        # one batch: the offset is the position after its last line
        return [SourceBatch(self.topic, texts, None, self.partition,
                            {"position": self.position}, value_schema=STRING_SCHEMA)]  # fmt: skip

    def stop(self) -> None:
        if self._f is not None and self.path:
            self._f.close()
        self._f = None


class FileStreamSource(SourceConnector):
    name = "file"
    aliases = (
        "FileStreamSource",
        "FileStreamSourceConnector",
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
    )
    config_model = FileSourceConfig
    task_class = FileStreamSourceTask
