"""Reads lines from a file (or stdin) and follows it as it grows, like ``tail -f``.

Source partition ``{"filename": path}``, offset ``{"position": byte offset after the line}``,
as Kafka's FileStreamSource, so offsets read by Connect tooling mean the same, plus ``inode``
(the file's device and inode): the file it is a position in. A partial last line (no newline
yet) waits until it is complete.

Rotation, which Kafka's leaves to the user (it reads on at the old position, losing lines or
cutting one): a file truncated in place (logrotate's copytruncate) is read again from its
start; a file renamed or deleted and another made at the path is read to its end first (until
it has stayed quiet `ROTATE_QUIET_S`: a writer finishes its line there), its last line even
without its newline, then the new one from its start. At a start, a file at the path other
than the stored offset's, or shorter than its position, is read from its start, with a
warning: the old file's lines past the position were not read.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from connectors.source.file.config import FileSourceConfig
from hub.runtime.api import SourceBatch, SourceConnector, SourceTask, SourceTaskContext

log = logging.getLogger(__name__)
STRING_SCHEMA = {"type": "string", "optional": False}
ROTATE_QUIET_S = 1.0  # a file moved from the path is read until it gave nothing this long


def _ident(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


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
        # the file the position is in (None: not known, an offset of Kafka's or an older hub)
        self._inode: str | None = str(offset["inode"]) if offset and offset.get("inode") else None
        self._f: BinaryIO | None = None
        self._buf = b""
        self._quiet: float | None = None  # the path is another file: since when the old
        # one gave nothing

    def _open(self) -> BinaryIO | None:
        if self._f is None:
            if not self.path:
                self._f = sys.stdin.buffer
            else:
                try:
                    f = open(self.path, "rb")  # noqa: SIM115 - kept open across polls
                except FileNotFoundError:
                    return None
                st = os.fstat(f.fileno())
                if self.position and self._inode is not None and _ident(st) != self._inode:
                    log.warning(
                        "%s is another file than the one read up to byte %d (rotated, replaced "
                        "or made again while the connector was stopped): it is read from its "
                        "start; the other file's lines past that byte were not read",
                        self.path, self.position,
                    )  # fmt: skip
                    self.position = 0
                elif st.st_size < self.position:
                    log.warning(
                        "%s holds %d bytes, fewer than the %d read (truncated while the "
                        "connector was stopped): it is read from its start",
                        self.path, st.st_size, self.position,
                    )  # fmt: skip
                    self.position = 0
                self._inode = _ident(st)
                f.seek(self.position)
                self._f = f
        return self._f

    def _moved(self, f: BinaryIO) -> list[SourceBatch] | None:
        """The file at the path after a read that brought nothing: None when it is still
        the one read; else what to return (truncated: read again from its start; another
        file, or none, once the old one stayed quiet: its last line without a newline, then
        the path's file from its start at the next poll)."""
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        mine = os.fstat(f.fileno())
        if st is not None and _ident(st) == _ident(mine):
            self._quiet = None
            if st.st_size >= f.tell():
                return None
            log.warning(
                "%s was truncated to %d bytes (copytruncate?) after %d were read: it is read "
                "again from its start", self.path, st.st_size, f.tell(),
            )  # fmt: skip
            f.seek(0)
            self._buf, self.position = b"", 0
            return []
        now = time.monotonic()
        if self._quiet is None:
            self._quiet = now
        if now - self._quiet < ROTATE_QUIET_S:
            return []
        log.info("%s is %s: the file read till now is read to its end", self.path,
                 "another file" if st is not None else "gone")  # fmt: skip
        f.close()
        self._f, self._quiet, self._inode = None, None, None
        rest, self._buf = self._buf, b""
        self.position = 0  # (in the file at the path from now on)
        if not rest:
            return []
        text = rest.rstrip(b"\r").decode("utf-8", errors="replace")  # (never to be finished)
        return [SourceBatch(self.topic, [text], None, self.partition, {"position": 0},
                            value_schema=STRING_SCHEMA)]  # fmt: skip

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
                moved = self._moved(f) if self.path else None
                if moved:
                    return moved
                time.sleep(0.05)
                return []
            if chunk:
                self._quiet = None
            self._buf += chunk
        # up to batch.size whole lines, split in one call (the rest waits in the buffer)
        parts = self._buf.split(b"\n", self.batch_size)
        self._buf = parts.pop()
        if not parts:
            return []
        self.position += sum(map(len, parts)) + len(parts)
        texts = [line.rstrip(b"\r").decode("utf-8", errors="replace") for line in parts]
        # one batch: the offset is the position after its last line
        offset: dict[str, Any] = {"position": self.position}
        if self._inode is not None:
            offset["inode"] = self._inode
        return [SourceBatch(self.topic, texts, None, self.partition, offset,
                            value_schema=STRING_SCHEMA)]  # fmt: skip

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
