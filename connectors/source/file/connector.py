"""Reads lines from a file (or stdin) and follows it as it grows, like ``tail -f``.

Source partition ``{"filename": path}``, offset ``{"position": byte offset after the line}``,
as Kafka's FileStreamSource, so offsets read by Connect tooling mean the same, plus what
tells the file it is a position in: ``inode`` (not the device, which a remount changes) and
``head`` (a digest of its first `HEAD_BYTES` bytes read). A partial last line (no newline
yet) waits until it is complete.

Rotation, which Kafka's leaves to the user (it reads on at the old position, losing lines or
cutting one): a file truncated in place (logrotate's copytruncate) is read again from its
start, also when it grew past the position again before it was looked at (its first bytes
differ); a file renamed or deleted and another made at the path is read to its end first
(until it has stayed quiet `ROTATE_QUIET_S`: a writer finishes its line there), its last line
even without its newline, then the new one from its start. At a start, a file at the path
other than the stored offset's (inode, first bytes), or shorter than its position, is read
from its start, with a warning: the old file's lines past the position were not read.
"""

from __future__ import annotations

import hashlib
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
HEAD_BYTES = 64  # the first bytes whose digest tells a file refilled after a truncation


def _head(fd: int, upto: int) -> str:
    """A digest of a file's first bytes, up to ``upto`` (what was read of them)."""
    return hashlib.blake2b(os.pread(fd, min(upto, HEAD_BYTES), 0), digest_size=8).hexdigest()


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
        self._inode: int | None = int(offset["inode"]) if offset and offset.get("inode") else None
        self._headed = str(offset["head"]) if offset and offset.get("head") else None
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
                other = self._inode is not None and st.st_ino != self._inode
                if self.position and self._headed is not None and not other:
                    other = _head(f.fileno(), self.position) != self._headed
                if self.position and other and st.st_size >= min(self.position, HEAD_BYTES):
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
                self._inode = st.st_ino
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
        if st is not None and (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
            self._quiet = None
            if st.st_size >= f.tell():  # (refilled past the position: `poll` looks first)
                return None
            log.warning(
                "%s was truncated (copytruncate?) after %d bytes were read (it holds %d "
                "now): it is read again from its start", self.path, f.tell(), st.st_size,
            )  # fmt: skip
            f.seek(0)
            self._buf, self.position, self._headed = b"", 0, None
            return []
        now = time.monotonic()
        if self._quiet is None:
            self._quiet = now
        if now - self._quiet < ROTATE_QUIET_S:
            return []
        log.info("%s is %s: the file read till now is read to its end", self.path,
                 "another file" if st is not None else "gone")  # fmt: skip
        f.close()
        self._f, self._quiet, self._inode, self._headed = None, None, None, None
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
            if (
                self.path
                and self.position
                and self._headed is not None
                and (_head(f.fileno(), self.position) != self._headed)
            ):  # (truncated and written again past the position since the last look)
                log.warning(
                    "%s was truncated (copytruncate?) and written again after %d bytes were "
                    "read: it is read again from its start", self.path, self.position,
                )  # fmt: skip
                f.seek(0)
                self._buf, self.position, self._headed = b"", 0, None
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
        if self._inode is not None and self.path:
            self._headed = _head(f.fileno(), self.position)
            offset["inode"], offset["head"] = self._inode, self._headed
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
