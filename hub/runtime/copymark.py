"""The mark a copy between logs (`hub log export/import`, hub.runtime.migrate) leaves on its
destination while it runs, and after it when it stopped part way.

One compacted topic, ``COPY_MARKER_TOPIC``, holds the last copy into the log: key ``copy``
says which (its id, its source, the storage topics it writes, the host and process running
it, when it last said it was alive, ``running`` or ``done``), and a key per topic it made
(``topic:<copy id>:<name>``) that topic's id once made. A finished copy writes ``done``
(nothing is deleted: a cluster that refuses deletes still ends unmarked). So:

* a worker whose configs or offsets topic an unfinished copy writes refuses to start on the
  log (`check_storage`): the copy's records, configs and offsets may be partial;
* the same copy run again (same source, same storage topics) deletes the topics the stopped
  one made, only those that still have the id it made them with, and copies again;
  ``hub log undo-copy`` does that without a source (the cluster it came from may be gone);
* a copy still running (its process alive on this host, the same process by its start
  time; or seen in the last ``STALE_MS`` from another) is never taken for a stopped one;
* a log holding an unfinished copy is refused as a copy's source.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from hub.errors import ConfigError
from hub.log import TopicPartition
from hub.log.backend import COPY_MARKER_TOPIC, LogBackend
from hub.log.lock import pid_alive

STALE_MS = 60_000  # a copy on another host not seen for this long has stopped
BEAT_S = 5.0  # how often a running copy says it is alive
_TP = TopicPartition(COPY_MARKER_TOPIC, 0)


@dataclass
class CopyMark:
    copy: str
    source: str
    storage: tuple[str, ...]  # the configs and offsets topics it writes
    state: str  # running / done
    beat: int  # ms: when it last said it was alive
    host: str
    pid: int
    topics: dict[str, str | None] = field(default_factory=dict)  # made: name -> id (None: unknown)
    started: str | None = None  # its process's start (Linux: /proc/<pid>/stat), against reuse

    @property
    def finished(self) -> bool:
        return self.state == "done"

    def alive(self, now_ms: int | None = None) -> bool:
        """Whether the copy may still be running: on this host, its process is there (the
        same process: its start time, where the system tells it; not this one, where a copy
        that failed has stopped); from another, it said so in the last `STALE_MS` (a running
        copy does every `BEAT_S`, and at each topic)."""
        if self.finished:
            return False
        if self.host == socket.gethostname():
            if self.pid == os.getpid() or not pid_alive(self.pid):
                return False
            return self.started is None or _started(self.pid) in (None, self.started)
        return (_now_ms() if now_ms is None else now_ms) - self.beat < STALE_MS

    def describe(self) -> str:
        return f"a copy from {self.source} (process {self.pid} on {self.host})"


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), None where the
    system does not say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        return stat.rsplit(")", 1)[1].split()[19]  # (field 22: after the command's name)
    except (OSError, IndexError):
        return None


def read_mark(log: LogBackend) -> CopyMark | None:
    """The last copy into ``log``, or None when none was ever made."""
    if not log.has_topic(COPY_MARKER_TOPIC):
        return None
    copy: dict[str, Any] | None = None
    topics: dict[str, dict[str, str | None]] = {}
    for r in log.scan(_TP):
        try:
            doc = json.loads(r.value or b"null")
        except ValueError:
            continue
        if r.key == b"copy" and isinstance(doc, dict):
            copy = doc
        elif r.key is not None and r.key.startswith(b"topic:") and isinstance(doc, dict):
            cid, _, name = r.key[6:].decode("utf-8", "replace").partition(":")
            topics.setdefault(cid, {})[name] = doc.get("id")
    if copy is None:
        return None
    cid = str(copy.get("copy", ""))
    return CopyMark(
        cid, str(copy.get("source", "?")), tuple(str(s) for s in copy.get("storage", ())),
        str(copy.get("state", "running")), int(copy.get("beat", 0)), str(copy.get("host", "")),
        int(copy.get("pid", 0)), topics.get(cid, {}), copy.get("started"),
    )  # fmt: skip


def unfinished(log: LogBackend) -> CopyMark | None:
    mark = read_mark(log)
    return None if mark is None or mark.finished else mark


def refuse_unfinished_source(log: LogBackend) -> None:
    """ConfigError when ``log`` holds an unfinished copy (its records may be partial)."""
    mark = unfinished(log)
    if mark is not None:
        raise ConfigError(
            f"the source holds {mark.describe()} that has not finished: its records, offsets "
            "and configs may be partial. Run that copy again, or 'hub log undo-copy' there "
            "to delete what it made, first"
        )


def deletable(log: LogBackend, mark: CopyMark) -> list[str]:
    """The topics ``mark``'s copy made that are still the ones it made (their ids match)."""
    out = []
    for name, made_id in mark.topics.items():
        if made_id is None or not log.has_topic(name):
            continue
        ids = log.topic_ids(name)
        if ids and ids[0] == made_id:
            out.append(name)
    return out


def refuse_running(mark: CopyMark) -> None:
    """ConfigError when ``mark``'s copy may still be running (`CopyMark.alive`)."""
    if mark.alive():
        raise ConfigError(
            f"{mark.describe()} into this log is still running (last seen "
            f"{max(0, _now_ms() - mark.beat) // 1000} s ago): wait for it to end; one on "
            f"another host counts as stopped {STALE_MS // 1000} s after it was last seen"
        )


def undo(log: LogBackend, mark: CopyMark) -> list[str]:
    """Delete what ``mark``'s stopped copy made (`deletable`) and mark it done: the topics
    deleted. `ConfigError` when the copy still runs."""
    refuse_running(mark)
    gone = deletable(log, mark)
    for name in gone:
        try:
            log.delete_topic(name, internal=True)
        except Exception as exc:
            raise ConfigError(
                f"could not delete topic {name!r}, which a copy that stopped part way made "
                f"({exc}): delete it with the cluster's tools (or give this client the right "
                "to delete topics), then run the copy again"
            ) from exc
    _write(log, b"copy", {**_doc(mark), "state": "done", "undone": True})
    return gone


def _doc(mark: CopyMark) -> dict[str, Any]:
    return {"copy": mark.copy, "source": mark.source, "storage": list(mark.storage),
            "state": mark.state, "beat": mark.beat, "host": mark.host, "pid": mark.pid,
            "started": mark.started}  # fmt: skip


def _write(log: LogBackend, key: bytes, doc: dict[str, Any]) -> None:
    log.append_durable(_TP, [key], [json.dumps(doc).encode()])


class Marker:
    """The mark of a copy under way (`copy_log`): begun, each topic noted before it is made
    and its id after, alive every `BEAT_S`, done at the end."""

    def __init__(self, log: LogBackend, source: str, storage: tuple[str, ...]) -> None:
        self.log = log
        self.mark = CopyMark(uuid.uuid4().hex, source, storage, "running", _now_ms(),
                             socket.gethostname(), os.getpid(),
                             started=_started(os.getpid()))  # fmt: skip
        if not log.has_topic(COPY_MARKER_TOPIC):
            log.create_topic(COPY_MARKER_TOPIC, 1, {"cleanup.policy": "compact"})
        self._beat = time.monotonic()
        _write(log, b"copy", _doc(self.mark))

    def _key(self, name: str) -> bytes:
        return f"topic:{self.mark.copy}:{name}".encode()

    def making(self, name: str) -> None:
        self.alive()
        _write(self.log, self._key(name), {"id": None})

    def made(self, name: str) -> None:
        ids = self.log.topic_ids(name)
        _write(self.log, self._key(name), {"id": ids[0] if ids else None})

    def alive(self) -> None:
        if time.monotonic() - self._beat >= BEAT_S:
            self._beat = time.monotonic()
            self.mark.beat = _now_ms()
            _write(self.log, b"copy", _doc(self.mark))

    def done(self) -> None:
        self.mark.state, self.mark.beat = "done", _now_ms()
        _write(self.log, b"copy", _doc(self.mark))


def _now_ms() -> int:
    return int(time.time() * 1000)
