"""Appends each record's value as one line (strings as they are, other values as JSON).

With the JSON converter, batches whose values are JSON documents on one line are written as
they are in the log (the writer's formatting kept, checked by a C scanner without decoding);
with the string converter, batches of valid UTF-8 as they are too; any other batch is decoded
and each value written as its text or compact JSON.

Exactly once into the file: after each ``flush`` (fsync) the sink stores, beside the file,
``.<name>.hub-offsets`` = the connector's name, the file's size and the next offset per
partition (written to a temporary file, fsynced, renamed). On ``open`` it cuts the file back
to that size and hands those offsets to the runtime, so lines written after the last stored
point (a crash between fsync and rename, or a torn write) are removed and consumed again,
never doubled. Another connector's offsets there are not taken (it starts from its own group's,
as Connect's would); a file shorter than stored (cut outside hub) is said, and goes on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from connectors.sink.file.config import FileSinkConfig
from hub.errors import ResumeError
from hub.log import TopicPartition, codec
from hub.runtime import ByteArrayConverter, JsonConverter, StringConverter, dumps
from hub.runtime.api import (
    EncodedSinkRecords,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SinkTaskContext,
)

# key converters whose reading cannot fail (the file holds no key), and JSON's, checked
_KEYS_READ_AS_IS = (ByteArrayConverter, JsonConverter, StringConverter)

log = logging.getLogger(__name__)


def _line(value: Any) -> bytes:
    """The UTF-8 line (without its newline) of a value."""
    if type(value) is dict:  # (the usual value: first, and without the checks below)
        return dumps(value)
    if value is None:
        return b"null"
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").encode()
    return dumps(value)


class FileStreamSinkTask(SinkTask):
    offsets_in_target = True  # (the file's size, stored with them)

    def start(self, config: Mapping[str, Any], context: SinkTaskContext) -> None:
        cfg: FileSinkConfig = FileSinkConfig.of(config)
        self.path = cfg.file
        self.context = context
        self.connector = context.connector
        self.topic_ids: dict[str, tuple[str, ...]] = {}  # the log's, read at open
        self._out: BinaryIO | None = None
        self._stored: dict[str, Any] | None = None
        if self.path:
            d, base = os.path.split(os.path.abspath(self.path))
            self.offsets_path = os.path.join(d, f".{base}.hub-offsets")
            try:
                with open(self.offsets_path) as f:
                    self._stored = json.load(f)
            except FileNotFoundError:
                pass

    def open(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        if not self.path:
            self._out = sys.stdout.buffer
            return {}
        if self._out is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            size = os.fstat(fd).st_size
            owner = None if self._stored is None else self._stored.get("connector")
            if owner is not None and owner != self.connector:
                # (Connect's sink of a new name reads its own group's offsets: every record)
                log.warning(
                    "%s: %s was written by connector %s, whose offsets are stored beside it: "
                    "this connector appends its own records after what the file holds",
                    self.connector, self.path, owner,
                )  # fmt: skip
                self._stored = None
            if self._stored is None:
                # first run: what the file holds now is the user's; remember where ours begins
                # before writing a line, so a crash before the first flush is cut back too
                os.close(fd)
                self._store({"connector": self.connector, "size": size, "offsets": {}})
            else:
                if size > self._stored["size"]:
                    os.ftruncate(fd, self._stored["size"])  # drop what was never acknowledged
                    os.fsync(fd)
                os.close(fd)
                if size < self._stored["size"]:
                    log.warning(
                        "%s: %s holds %d bytes, fewer than the %d this connector wrote and "
                        "stored as done: it was cut or replaced outside hub. What was cut is "
                        "not written again (the offsets stored in %s say it was); new records "
                        "are appended. To write every record again, stop the connector and "
                        "delete %s too", self.connector, self.path, size,
                        self._stored["size"], self.offsets_path, self.offsets_path,
                    )  # fmt: skip
                    # (from here: a crash before the next flush cuts back to this size)
                    self._store({**self._stored, "connector": self.connector, "size": size})
            self._out = open(self.path, "ab")  # noqa: SIM115
        assert self._stored is not None
        held = self._stored.get("topic_ids", {})  # per partition, as the offsets
        out, other = {}, []
        for tp in partitions:
            ids = self.topic_ids[tp.topic] = self.context.topic_ids(tp.topic)
            off = self._stored["offsets"].get(f"{tp.topic}/{tp.partition}")
            if off is None:
                continue
            if SinkTaskContext.another_topic(held.get(f"{tp.topic}/{tp.partition}"), ids):
                other.append(f"{tp.topic}[{tp.partition}] ({off})")
                off = 0  # another topic of that name: its records are all new
            out[tp] = int(off)
        if other:
            log.warning(
                "%s: the offsets stored in %s for %s are of another topic of that name (the "
                "topic was deleted and made again, or the log's data directory emptied): "
                "writing it from its start", self.connector, self.offsets_path,
                ", ".join(sorted(other)),
            )  # fmt: skip
        return out

    def put(self, records: Sequence[SinkRecord]) -> None:
        assert self._out is not None
        if records:
            self._write(b"\n".join([_line(r.value) for r in records]) + b"\n")

    def _write(self, data: bytes) -> None:
        assert self._out is not None
        try:
            self._out.write(data)
        except OSError as exc:
            raise self._failed(exc, "writing") from None

    def _failed(self, exc: OSError, doing: str, path: str | None = None) -> OSError:
        """``exc`` naming the file and what to do (a disk full said "[Errno 28] No space
        left on device", of no file); the task restarts and writes on from its stored
        offsets, what it wrote since cut back."""
        hint = {
            errno.ENOSPC: "free space on its file system",
            errno.EDQUOT: "raise the quota or free space",
            errno.EACCES: "make it writable by the worker's user",
            errno.EPERM: "make it writable (chattr -i?)",
            errno.EROFS: "its file system is read-only: remount it read-write",
        }.get(exc.errno or 0, "see the error")
        return OSError(
            exc.errno,
            f"{self.connector}: {doing} {path or self.path}: {exc.strerror}: {hint}; the "
            "task restarts and writes on from its stored offsets",
        )

    def put_encoded(self, batch: EncodedSinkRecords) -> bool:
        """JSON values written as they are in the log, one line each, when the C scanner
        vouches that every key and value is a document the JSON converter reads (then the
        line is the same JSON value `put` writes, in the writer's own formatting: no
        decoding and encoding again); declined (`put` takes the batch) for anything else."""
        json_lines, json_valid = codec.json_lines, codec.json_valid
        kc, vc, records = batch.key_converter, batch.value_converter, batch.records
        if self._out is None or json_lines is None or json_valid is None:
            return False
        if type(kc) not in _KEYS_READ_AS_IS:
            return False
        if not records:
            return True
        if type(records) is not list:
            records = list(records)
        # (the C calls read the records' keys, item 4, and values, item 5, themselves)
        if type(vc) is StringConverter:  # the text as it is, when it is valid UTF-8
            if type(kc) is JsonConverter and not json_valid(records, 4):
                return False
            values = [r[5] for r in records]
            data = b"\n".join([b"null" if v is None else v for v in values]) + b"\n"
            try:  # (joined by a newline: no value's broken sequence can mend another's)
                data.decode("utf-8")
            except UnicodeDecodeError:
                return False  # (put writes it with replacement characters)
            self._write(data)
            return True
        if type(vc) is not JsonConverter:
            return False
        prefix = b""
        if vc.schemas_enable:  # {"schema": ..., "payload": P}: the line is P
            first = next((r[5] for r in records if r[5] is not None), None)
            found = vc.schema_prefix(first) if first is not None else None
            if first is not None and found is None:
                return False
            prefix = found[0] if found is not None else b""
        if type(kc) is JsonConverter and not json_valid(records, 4):
            return False  # (a key the converter cannot read fails the record in put)
        lines = json_lines(records, prefix, 5)
        if lines is None:
            return False
        self._write(lines)
        return True

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._out is None:
            return
        if not self.path:
            self._out.flush()
            return
        try:
            self._out.flush()
            os.fsync(self._out.fileno())
        except OSError as exc:
            raise self._failed(exc, "flushing") from None
        self._same_file()
        assert self._stored is not None
        stored = dict(self._stored["offsets"])
        stored.update({f"{tp.topic}/{tp.partition}": off for tp, off in offsets.items()})
        ids = dict(self._stored.get("topic_ids", {}))
        ids.update({f"{tp.topic}/{tp.partition}": self.topic_ids[tp.topic][0] for tp in offsets
                    if self.topic_ids.get(tp.topic)})  # fmt: skip
        self._store({"connector": self.connector, "size": self._out.tell(), "offsets": stored,
                     "topic_ids": ids})  # fmt: skip

    def _same_file(self) -> None:
        """`ResumeError` when the path no longer names the file written (deleted, or renamed
        and made again, while the task ran): the records since the last flush went into the
        old one, and are written again into the path's file by the restarted task (they had
        been stored as done, into a deleted file, unsaid)."""
        assert self._out is not None
        mine = os.fstat(self._out.fileno())
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
            return
        self._out.close()
        self._out = None
        raise ResumeError(
            f"{self.connector}: {self.path} was {'deleted' if st is None else 'replaced'} "
            "while written: the records since the last flush went into the old file; the "
            "task restarts and writes them into the file at the path"
        )

    def _store(self, state: dict[str, Any]) -> None:
        """Write the sidecar atomically and durably (tmp, fsync, rename, fsync dir)."""
        tmp = self.offsets_path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.offsets_path)
            dfd = os.open(os.path.dirname(self.offsets_path), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:  # (a full disk said "[Errno 28]" of no file)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._failed(exc, "storing the offsets in", self.offsets_path) from None
        self._stored = state

    def stop(self) -> None:
        if self._out is not None and self._out is not sys.stdout.buffer:
            # (a write failed: said already; what it held is written again from the stored
            # offsets, the file cut back to their size)
            with contextlib.suppress(OSError):
                self._out.close()
        self._out = None


class FileStreamSink(SinkConnector):
    name = "file"
    aliases = (
        "FileStreamSink",
        "FileStreamSinkConnector",
        "org.apache.kafka.connect.file.FileStreamSinkConnector",
    )
    config_model = FileSinkConfig
    task_class = FileStreamSinkTask

    @classmethod
    def local_files(cls, config: Mapping[str, Any]) -> list[str]:
        return [str(config["file"])] if config.get("file") else []

    @classmethod
    def exclusive_targets(cls, config: Mapping[str, Any]) -> list[str]:
        # (the file and its offsets: a second sink cut the file back to its own offsets)
        import os

        return [f"file {os.path.abspath(str(config['file']))}"] if config.get("file") else []
