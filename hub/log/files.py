"""File and directory names of the log, defined once.

Layout of a data directory::

    <data>/.lock                         exclusive write lock (holds the writer's pid)
    <data>/<topic>/topic.json            partition count and per-topic config
    <data>/<topic>/<partition>/          one directory per partition
        00000000000000000000.log         record batches (Kafka v2 format) from base offset 0
        00000000000000000000.index       sparse offset index of that segment
        00000000000000000000.timeindex   sparse time index of that segment
        *.cleaned / *.swap / *.deleted   transient states of compaction and retention
        cleaning.json                    manifest of an in-flight compaction swap
        recovery.json                    what recovery cut from this partition (hub.log.recovery)

Everything is created owner-only (``FILE_MODE``, ``DIR_MODE``): records may hold secrets
(connector configs in ``__connect_configs``).
"""

from __future__ import annotations

import contextlib
import os
import re

LOCK_FILE = ".lock"
TOPIC_META = "topic.json"
# a topic's partitions at most: each keeps files open (hub topics create and a
# connector's topic.creation.default.partitions are checked against it)
MAX_PARTITIONS = 4096
CLEANING_MANIFEST = "cleaning.json"
RECOVERY_NOTES = "recovery.json"
QUARANTINE_SUFFIX = ".quarantined"  # a file recovery set aside instead of adopting it

FILE_MODE = 0o600
DIR_MODE = 0o700

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIMEINDEX_SUFFIX = ".timeindex"
SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIMEINDEX_SUFFIX)

CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
DELETED_SUFFIX = ".deleted"

_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
_SEGMENT_FILE = re.compile(
    r"^(\d{20})(\.log|\.index|\.timeindex)((?:\.cleaned|\.swap|\.deleted)?)$"
)


def offset_name(base_offset: int) -> str:
    """The 20-digit zero-padded file stem of a segment starting at ``base_offset``."""
    return f"{base_offset:020d}"


def segment_path(directory: str, base_offset: int, suffix: str, state: str = "") -> str:
    return os.path.join(directory, offset_name(base_offset) + suffix + state)


def parse_segment_file(name: str) -> tuple[int, str, str] | None:
    """``(base_offset, suffix, state)`` for a segment file name, else None."""
    m = _SEGMENT_FILE.match(name)
    if m is None:
        return None
    return int(m.group(1)), m.group(2), m.group(3)


TRASH_PREFIX = ".trash-"  # a deleted topic's directory until it is removed


def topic_name_problem(name: str) -> str | None:
    """Why ``name`` is not a legal topic name (Kafka's rules), or None if it is.

    Names starting with '.' are refused too: they are hub's own files (``.lock``,
    ``.clean_shutdown``, ``.trash-*``) in the data directory."""
    if name.startswith("."):
        return "names starting with '.' are reserved for hub's own files"
    if not _TOPIC_NAME.match(name):
        return "use 1 to 249 characters from ASCII letters, digits, '.', '_' and '-'"
    return None


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a file created owner-only (``FILE_MODE``)."""
    return os.open(path, flags, FILE_MODE)


def make_dirs(path: str) -> None:
    """``os.makedirs`` with owner-only directories (``DIR_MODE``); an existing one is fine."""
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)


def fsync_dir(path: str) -> None:
    """Make renames and creations inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def raise_open_files_limit() -> None:
    """The process's soft limit of open files raised to its hard limit, as Go's runtime
    does at start: the log keeps a file open per segment (Kafka asks for 100 000 and more),
    and systemd's soft limit is 1 024 where its hard one is 524 288. ``hub run`` and ``hub
    serve`` call it; an application embedding a Worker decides for itself."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 20 if hard == resource.RLIM_INFINITY else hard  # (Linux's nr_open default)
    if soft != resource.RLIM_INFINITY and soft < want:
        # (a container's lower nr_open: what is allowed stays)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
