"""Log compaction (``cleanup.policy=compact``): keep the newest record of every key.

A pass over one partition:

1. Build ``key -> newest offset`` over the sealed segments (the active one is never cleaned,
   so the newest value of a key in the cleanable range survives even if a newer one sits in
   the active segment).
2. For each group of consecutive sealed segments (at most ``segment.bytes`` together), write a
   ``.cleaned`` segment holding the records that are still the newest for their key.
   Tombstones older than ``delete.retention.ms`` are dropped; records without a key are kept.
   Batches keep their base offset and offset range, so offsets never move.
3. Swap, crash-safe: rename ``.cleaned`` -> ``.swap``, then write the manifest
   ``cleaning.json`` (the commit point), rename the old segments to ``.deleted``, the ``.swap``
   files to their final names, remove the manifest and the ``.deleted`` files. On open,
   ``resolve_interrupted`` finishes a committed swap or discards an uncommitted one, so a
   crash at any point leaves either the old or the new segments, never a mix, and never
   loses the newest value of a key.

Runs outside the partition lock while reading immutable sealed segments; takes it to swap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from hub.log import _pycodec, files
from hub.log import batch as _batch
from hub.log.batch import InvalidBatchError
from hub.log.errors import CorruptRecordError
from hub.log.failures import storage_error
from hub.log.partition import Partition, decode_checked, now_ms
from hub.log.segment import InvalidBatchAt, LogSegment

CHECKPOINT = "cleaner.checkpoint"
log = logging.getLogger(__name__)


def fail_point(name: str) -> None:
    """Fault injection for crash tests: HUB_FAULT=<name> kills the process here."""
    if os.environ.get("HUB_FAULT") == name:
        os._exit(137)


@dataclass(frozen=True, slots=True)
class CleanResult:
    segments_in: int
    segments_out: int
    bytes_in: int
    bytes_out: int
    records_kept: int
    records_dropped: int


def _read_checkpoint(directory: str) -> dict[str, Any]:
    """``{"first_dirty": offset, "passes": [[time_ms, upto_offset], ...]}``."""
    try:
        with open(os.path.join(directory, CHECKPOINT)) as f:
            doc = json.load(f)
    except (FileNotFoundError, ValueError):
        return {"first_dirty": 0, "passes": []}
    if isinstance(doc, int):
        return {"first_dirty": doc, "passes": []}
    return {"first_dirty": int(doc.get("first_dirty", 0)), "passes": doc.get("passes", [])}


def _write_atomic(path: str, data: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", opener=files.private_opener) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    files.fsync_dir(os.path.dirname(path))


def clean(partition: Partition, now: int | None = None, force: bool = False) -> CleanResult | None:
    """One compaction pass; None when there is nothing (or not enough) to clean."""
    cfg = partition.config
    if partition.read_only or not cfg.compact:
        return None
    now = now_ms() if now is None else now
    with partition.lock:
        sealed = list(partition.segments[:-1])
    # min.compaction.lag.ms: stop at the first segment holding records younger than the lag
    cleanable: list[LogSegment] = []
    for seg in sealed:
        lag = cfg.min_compaction_lag_ms
        if lag and seg.size and seg.max_timestamp > now - lag:
            break
        cleanable.append(seg)
    if not cleanable:
        return None
    if os.path.exists(os.path.join(partition.directory, files.CLEANING_MANIFEST)):
        # a swap failed after its commit point (I/O error): the next open completes it
        log.error(
            "%s: an interrupted compaction awaits completion at the next open", partition.directory
        )
        return None
    checkpoint = _read_checkpoint(partition.directory)
    first_dirty = checkpoint["first_dirty"]
    dirty = sum(s.size for s in cleanable if s.base_offset >= first_dirty)
    if not dirty and not force:
        return None
    total = sum(s.size for s in cleanable)
    if not force and dirty / max(total, 1) < cfg.min_cleanable_dirty_ratio:
        return None
    topic, index = partition.topic, partition.index
    newest: dict[bytes, int] = {}
    for seg in cleanable:
        for records in _segment_records(seg, topic, index):
            for r in records[1]:
                if r.key is not None:
                    newest[r.key] = r.offset
    # Tombstones go only once a pass that already held them is older than delete.retention.ms
    # (Kafka's rule): consumers get that long to see a delete, whatever its timestamp.
    expired = [p for p in checkpoint["passes"] if now - p[0] > cfg.delete_retention_ms]
    drop_tombstones_below = max((p[1] for p in expired), default=-1)
    result = [0, 0, 0, 0, 0, 0]
    for group in _groups(cleanable, cfg.segment_bytes):
        _clean_group(partition, group, newest, drop_tombstones_below, result)
    passes = [p for p in checkpoint["passes"] if now - p[0] <= cfg.delete_retention_ms]
    if expired:
        passes.insert(0, max(expired))
    passes.append([now, cleanable[-1].next_offset])
    doc = {"first_dirty": cleanable[-1].next_offset, "passes": passes}
    _write_atomic(os.path.join(partition.directory, CHECKPOINT), json.dumps(doc))
    return CleanResult(*result)


def _groups(segments: list[LogSegment], max_bytes: int) -> list[list[LogSegment]]:
    groups: list[list[LogSegment]] = []
    for seg in segments:
        if groups and sum(s.size for s in groups[-1]) + seg.size <= max_bytes:
            groups[-1].append(seg)
        else:
            groups.append([seg])
    return groups


def _segment_records(seg: LogSegment, topic: str, index: int):  # type: ignore[no-untyped-def]
    """Each batch's header and records; a damaged batch raises CorruptRecordError naming
    the segment file and the batch's position (a bare CRC mismatch had named neither)."""
    try:
        for pos, header in seg.iter_batches(0, seg.written_size, check_crc=False):
            data = seg.read_at(pos, header.size)
            try:
                checked = _batch.parse_header(data)
            except InvalidBatchError as exc:
                raise CorruptRecordError(seg.path, pos, exc.reason) from None
            yield header, decode_checked(data, 0, checked, topic, index, seg.path,
                                         file_position=pos)  # fmt: skip
    except InvalidBatchAt as exc:
        raise CorruptRecordError(exc.path, exc.position, exc.reason) from None


def _clean_group(
    partition: Partition,
    group: list[LogSegment],
    newest: dict[bytes, int],
    drop_tombstones_below: int,
    result: list[int],
) -> None:
    directory = partition.directory
    base = group[0].base_offset
    _discard(directory, base)  # leftovers of a pass that failed (disk full, EIO)
    out = LogSegment(
        directory, base, index_interval=partition.config.index_interval_bytes,
        active=True, state=files.CLEANED_SUFFIX,
    )  # fmt: skip
    try:
        _copy_retained(partition, group, newest, drop_tombstones_below, result, out)
        out.next_offset = group[-1].next_offset
        out.seal()
    except BaseException as exc:
        out.abandon()  # (nothing more written: a full disk fails a flush again)
        _discard(directory, base)
        if isinstance(exc, OSError):
            raise storage_error(exc, directory, out.path, 0, " while compacting", outcome=(
                "the pass is dropped and its partial copy removed: the segments stay as they "
                "were until a later pass")) from exc  # fmt: skip
        raise
    out.close()
    fail_point("clean:after-cleaned")
    result[1] += 1
    result[3] += os.path.getsize(out.path)
    _swap(partition, group, base)


def _copy_retained(
    partition: Partition,
    group: list[LogSegment],
    newest: dict[bytes, int],
    drop_tombstones_below: int,
    result: list[int],
    out: LogSegment,
) -> None:
    for seg in group:
        result[0] += 1
        result[2] += seg.size
        for header, records in _segment_records(seg, partition.topic, partition.index):
            kept = [
                r
                for r in records
                if r.key is None
                or (
                    newest.get(r.key, -1) <= r.offset
                    and (r.value is not None or r.offset >= drop_tombstones_below)
                )
            ]
            result[4] += len(kept)
            result[5] += len(records) - len(kept)
            if not kept:
                continue
            body = bytearray()
            for r in kept:
                _pycodec._encode_one(
                    body, r.key, r.value, r.headers, r.timestamp - header.first_timestamp,
                    r.offset - header.base_offset,
                )  # fmt: skip
            comp = header.compression
            comp = comp if comp in _batch.SUPPORTED_COMPRESSION else "none"
            data = _batch.build_batch(
                bytes(body), len(kept), header.first_timestamp, header.max_timestamp, comp,
                base_offset=header.base_offset,
            )  # fmt: skip
            # keep the original offset range: patch count and lastOffsetDelta, re-checksum
            _batch.HEADER.pack_into(
                data, 0, header.base_offset, len(data) - _batch.LENGTH_PREFIX, 0, _batch.MAGIC, 0,
                _batch.COMPRESSION_CODES[comp], header.last_offset_delta, header.first_timestamp,
                header.max_timestamp, -1, -1, -1, len(kept),
            )  # fmt: skip
            crc = _batch.crc32c(memoryview(data)[_batch.CRC_START :])
            data[17:21] = crc.to_bytes(4, "big")
            out.append(data, _batch.parse_header(data))


def _discard(directory: str, base: int) -> None:
    """Remove a ``.cleaned`` segment (uncommitted by definition)."""
    for suffix in files.SEGMENT_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(files.segment_path(directory, base, suffix, files.CLEANED_SUFFIX))


def _swap(partition: Partition, group: list[LogSegment], base: int) -> None:
    directory = partition.directory
    for suffix in files.SEGMENT_SUFFIXES:
        os.replace(
            files.segment_path(directory, base, suffix, files.CLEANED_SUFFIX),
            files.segment_path(directory, base, suffix, files.SWAP_SUFFIX),
        )
    files.fsync_dir(directory)
    fail_point("clean:after-swap-files")
    manifest = {"new": base, "replaces": [s.base_offset for s in group]}
    _write_atomic(os.path.join(directory, files.CLEANING_MANIFEST), json.dumps(manifest))
    fail_point("clean:after-manifest")
    with partition.lock:
        for seg in group:
            seg.close()
        _finish_swap(directory, manifest)
        new = LogSegment(
            directory, base, index_interval=partition.config.index_interval_bytes, active=False
        )
        new.next_offset = group[-1].next_offset
        partition.replace_segments(group, new)


def _finish_swap(directory: str, manifest: dict[str, object]) -> None:
    base = int(manifest["new"])  # type: ignore[call-overload]
    replaces = [int(b) for b in manifest["replaces"]]  # type: ignore[attr-defined]
    if os.path.exists(files.segment_path(directory, base, files.LOG_SUFFIX, files.SWAP_SUFFIX)):
        for old in replaces:
            for suffix in files.SEGMENT_SUFFIXES:
                path = files.segment_path(directory, old, suffix)
                swap = files.segment_path(directory, base, suffix, files.SWAP_SUFFIX)
                if old == base and not os.path.exists(swap):
                    continue  # this file is already the new one
                if os.path.exists(path):
                    os.replace(path, path + files.DELETED_SUFFIX)
        files.fsync_dir(directory)
        fail_point("clean:after-delete-old")
        for suffix in (files.INDEX_SUFFIX, files.TIMEINDEX_SUFFIX, files.LOG_SUFFIX):
            swap = files.segment_path(directory, base, suffix, files.SWAP_SUFFIX)
            if os.path.exists(swap):
                os.replace(swap, files.segment_path(directory, base, suffix))
        files.fsync_dir(directory)
    os.unlink(os.path.join(directory, files.CLEANING_MANIFEST))
    files.fsync_dir(directory)
    _remove_transient(directory, (files.DELETED_SUFFIX,))


def _remove_transient(directory: str, states: tuple[str, ...]) -> None:
    for name in os.listdir(directory):
        parsed = files.parse_segment_file(name)
        if parsed and parsed[2] in states:
            os.unlink(os.path.join(directory, name))


def resolve_interrupted(directory: str) -> None:
    """Finish a committed compaction swap or discard an uncommitted one; drop leftovers."""
    manifest_path = os.path.join(directory, files.CLEANING_MANIFEST)
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        _finish_swap(directory, manifest)
    _remove_transient(directory, (files.CLEANED_SUFFIX, files.SWAP_SUFFIX, files.DELETED_SUFFIX))
    for name in os.listdir(directory):
        if name.endswith(".tmp"):
            os.unlink(os.path.join(directory, name))
