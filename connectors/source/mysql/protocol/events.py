"""Binlog events: the 19-byte header, TABLE_MAP (columns, with what ``binlog_row_metadata=FULL``
adds: names, signedness, charsets, ENUM/SET labels, primary key) and rows events (WRITE,
UPDATE, DELETE, v1 as MariaDB writes them and v2 as MySQL 8 does) decoded into row images.

An event is header + body + (with ``binlog_checksum=CRC32``) a 4-byte CRC32 of both, checked
here. Layouts: https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_replication.html
and MariaDB's knowledge base (``Rows_event``, ``Table_map_log_event``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from connectors.source.mysql.protocol.values import (
    NUMERIC,
    Column,
    Decoder,
    T,
    decoder,
    read_metadata,
)

HEADER = 19
MAGIC = b"\xfebin"


class E:
    """Event types."""

    QUERY, ROTATE, FORMAT_DESCRIPTION, XID, TABLE_MAP = 2, 4, 15, 16, 19
    WRITE_V1, UPDATE_V1, DELETE_V1, WRITE, UPDATE, DELETE = 23, 24, 25, 30, 31, 32
    GTID = 33  # MySQL
    MARIADB_ANNOTATE_ROWS, MARIADB_GTID, MARIADB_GTID_LIST = 160, 162, 163


ROWS = {E.WRITE_V1: "c", E.UPDATE_V1: "u", E.DELETE_V1: "d", E.WRITE: "c", E.UPDATE: "u",
        E.DELETE: "d"}  # fmt: skip


class BinlogFormatError(ValueError):
    """An event the decoder cannot read: it names the event's position and what is wrong."""


# MariaDB's compressed events (log_bin_compress=ON): the type each stands for
QUERY_COMPRESSED = 165
COMPRESSED = {QUERY_COMPRESSED: E.QUERY, 166: E.WRITE_V1, 167: E.UPDATE_V1, 168: E.DELETE_V1,
              169: E.WRITE, 170: E.UPDATE, 171: E.DELETE}  # fmt: skip


def uncompressed(h: Header, event: memoryview, checksum: bool) -> tuple[Header, memoryview]:
    """A MariaDB compressed event as the event it stands for (its header's type, the same
    size and position: where it is in the binlog). Its compressed part, a Query's statement
    or a rows event's row images (after the columns' bitmaps), is one byte (0x80, the
    algorithm in bits 4-6: 0, zlib; the length's bytes in bits 0-2), the uncompressed
    length big-endian, then zlib's stream. The checksum was checked on the event as read:
    the new one's last four bytes are zeros."""
    t = COMPRESSED[h.type]
    end = len(event) - (4 if checksum else 0)
    if t == E.QUERY:
        db_len = event[HEADER + 8]
        vars_len = int.from_bytes(event[HEADER + 11 : HEADER + 13], "little")
        at = HEADER + 13 + vars_len + db_len + 1
    else:
        at = HEADER + 8
        if t in (E.WRITE, E.UPDATE, E.DELETE):  # v2: extra data, its length included
            at += int.from_bytes(event[at : at + 2], "little")
        width, at = _packed_int(event, at)
        at += (width + 7) // 8 * (2 if t in (E.UPDATE_V1, E.UPDATE) else 1)
    where = f"a compressed event (type {h.type}) at {h.log_pos - h.size}"
    if at >= end or event[at] & 0xE0 != 0x80:
        raise BinlogFormatError(f"{where}: no compressed block where one is due")
    n = event[at] & 0x07
    length = int.from_bytes(event[at + 1 : at + 1 + n], "big")
    try:
        body = zlib.decompress(event[at + 1 + n : end])
    except zlib.error as exc:
        raise BinlogFormatError(f"{where}: {exc}") from None
    if len(body) != length:
        raise BinlogFormatError(f"{where}: {len(body)} bytes uncompressed, {length} said")
    new = bytearray(event[:at])
    new[4] = t
    new += body
    new += bytes(4 if checksum else 0)
    new[9:13] = len(new).to_bytes(4, "little")
    return Header(h.timestamp, t, h.server_id, h.size, h.log_pos, h.flags), memoryview(new)


@dataclass(frozen=True, slots=True)
class Header:
    timestamp: int
    type: int
    server_id: int
    size: int  # header + body + checksum
    log_pos: int  # position after this event in its binlog file
    flags: int


@dataclass(frozen=True, slots=True)
class TableMap:
    table_id: int
    schema: str
    table: str
    columns: tuple[Column, ...]
    primary_key: tuple[int, ...] = ()
    # each column's value decoder (`values.decoder`), chosen once per table map
    decoders: tuple[Decoder, ...] = field(default=(), compare=False, repr=False)


@dataclass(slots=True)
class RowsEvent:
    table_id: int
    op: str  # c, u, d
    flags: int
    # per row: (before, after); None where the event has no such image (inserts, deletes)
    rows: list[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]] = field(default_factory=list)
    partial: bool = False  # some columns are not in the images (binlog_row_image not FULL)


def header(data: memoryview | bytes) -> Header:
    ts = int.from_bytes(data[0:4], "little")
    return Header(
        ts, data[4], int.from_bytes(data[5:9], "little"), int.from_bytes(data[9:13], "little"),
        int.from_bytes(data[13:17], "little"), int.from_bytes(data[17:19], "little"),
    )  # fmt: skip


def check_crc(event: memoryview | bytes, where: str) -> None:
    body, crc = bytes(event[:-4]), int.from_bytes(event[-4:], "little")
    if body[4] == E.FORMAT_DESCRIPTION and body[17] & 1:
        # the server sets LOG_EVENT_BINLOG_IN_USE_F in the file it writes to and clears it at
        # close; the checksum covers the flag cleared
        body = body[:17] + bytes([body[17] & ~1 & 0xFF]) + body[18:]
    if zlib.crc32(body) != crc:
        raise BinlogFormatError(f"{where}: checksum mismatch")


def read_file(path: str) -> Iterator[tuple[int, Header, memoryview]]:
    """The events of a binlog file: (start position, header, whole event), CRCs checked
    (the file's FORMAT_DESCRIPTION says whether events carry one)."""
    with open(path, "rb") as f:
        data = memoryview(f.read())
    if bytes(data[:4]) != MAGIC:
        raise BinlogFormatError(f"{path}: not a binlog file")
    pos = 4
    checksum = False
    while pos + HEADER <= len(data):
        h = header(data[pos : pos + HEADER])
        event = data[pos : pos + h.size]
        if len(event) < h.size:
            break  # the server is writing it
        if h.type == E.FORMAT_DESCRIPTION:
            # body: binlog version (2), server version (50), create time (4), header length
            # (1), post-header lengths (one per type), checksum algorithm (1), checksum (4)
            checksum = event[-5] == 1
        if checksum:
            check_crc(event, f"{path} at {pos}")
        yield pos, h, event
        pos += h.size


def _packed_int(data: memoryview, pos: int) -> tuple[int, int]:
    """A length-encoded integer."""
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    width = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(data[pos + 1 : pos + 1 + width], "little"), pos + 1 + width


def _bits(data: memoryview, pos: int, n: int) -> tuple[list[bool], int]:
    """A bitmap of ``n`` bits, least significant bit of the first byte first."""
    nbytes = (n + 7) // 8
    raw = data[pos : pos + nbytes]
    return [bool(raw[i >> 3] >> (i & 7) & 1) for i in range(n)], pos + nbytes


def _msb_bits(data: memoryview, pos: int, end: int) -> list[bool]:
    """The optional metadata's bitmaps: most significant bit first."""
    return [bool(b >> (7 - i) & 1) for b in data[pos:end] for i in range(8)]


def table_map(event: memoryview, checksum: bool = True, mariadb: bool = True) -> TableMap:
    """A TABLE_MAP event; ``mariadb``: the server counts YEAR among the numeric columns of the
    signedness metadata (its YEAR is an unsigned TINYINT), as MySQL does not."""
    end = len(event) - (4 if checksum else 0)
    pos = HEADER
    table_id = int.from_bytes(event[pos : pos + 6], "little")
    pos += 8  # table id (6), flags (2)
    n = event[pos]
    schema = bytes(event[pos + 1 : pos + 1 + n]).decode()
    pos += n + 2
    n = event[pos]
    table = bytes(event[pos + 1 : pos + 1 + n]).decode()
    pos += n + 2
    ncols, pos = _packed_int(event, pos)
    types = bytes(event[pos : pos + ncols])
    pos += ncols
    # MariaDB's COMPRESSED columns: their metadata and values are VARCHAR's and BLOB's, the
    # values compressed (`Column.compressed`)
    compressed = {i for i, t in enumerate(types) if t in (T.VARCHAR_COMPRESSED,
                                                           T.BLOB_COMPRESSED)}  # fmt: skip
    if compressed:
        types = bytes(T.VARCHAR if t == T.VARCHAR_COMPRESSED else T.BLOB
                      if t == T.BLOB_COMPRESSED else t for t in types)  # fmt: skip
    _, pos = _packed_int(event, pos)  # metadata length
    metas, pos = read_metadata(types, event, pos)
    nullable, pos = _bits(event, pos, ncols)
    numeric = [i for i, t in enumerate(types) if t in NUMERIC or (mariadb and t == T.YEAR)]
    character = [i for i, t in enumerate(types) if _is_character(t, metas[i])]
    extra = _optional_metadata(event, pos, end, len(character))
    columns = []
    sets = [i for i, t in enumerate(types) if _real(t, metas[i]) == T.SET]
    enums = [i for i, t in enumerate(types) if _real(t, metas[i]) == T.ENUM]
    unsigned = {numeric[i] for i, b in enumerate(extra.get("signedness", ())) if b and
                i < len(numeric)}  # fmt: skip
    charsets = dict(zip(character, extra.get("charsets", ()), strict=False))
    raw = {**dict(zip(sets, extra["labels5"], strict=False)),
           **dict(zip(enums, extra["labels6"], strict=False))}  # fmt: skip
    labels = {i: _labels(raw[i], n, extra) for n, i in enumerate(sorted(sets + enums)) if i in raw}
    names = extra.get("names", ())
    spatial = [i for i, t in enumerate(types) if t == T.GEOMETRY]
    points = {i for i, g in zip(spatial, extra.get("geometries", ()), strict=False) if g == 1}
    for i, t in enumerate(types):
        columns.append(Column(
            t, metas[i], nullable[i], names[i] if i < len(names) else None, i in unsigned,
            charsets.get(i), labels.get(i, ()), geometry="point" if i in points else "",
            compressed=i in compressed,
        ))  # fmt: skip
    return TableMap(table_id, schema, table, tuple(columns), tuple(extra.get("pk", ())),
                    tuple(decoder(c) for c in columns))  # fmt: skip


def _labels(raw: tuple[bytes, ...], n: int, extra: dict[str, Any]) -> tuple[str, ...]:
    """The labels of the ``n``-th ENUM/SET column in its charset (kinds 10/11; UTF-8 when
    the metadata says none: a latin1 label stopped the stream as UTF-8)."""
    from connectors.source.mysql.charsets import UnknownCharsetError, codec

    if "es_charsets" in extra:
        found = extra["es_charsets"]
        collation = found[n] if n < len(found) else None
    elif "es_default" in extra:
        collation = extra["es_overrides"].get(n, extra["es_default"])
    else:
        collation = None
    try:
        encoding = "utf-8" if collation is None else codec(collation)
    except UnknownCharsetError:
        # (every TABLE_MAP is read, a table not captured too: its labels as their bytes; a
        # captured column of such a charset is refused where its values are read)
        encoding = "latin1"
    return tuple(label.decode(encoding) for label in raw)


def _real(t: int, meta: int) -> int:
    return meta >> 8 if t == T.STRING and meta >> 8 in (T.ENUM, T.SET) else t


def _is_character(t: int, meta: int) -> bool:
    """Columns the charset metadata lists: strings, blobs and geometries (the server counts
    them as blobs: left out, every later column took its neighbour's charset), not ENUM/SET
    (listed apart)."""
    real = _real(t, meta)
    return real in (T.VARCHAR, T.VAR_STRING, T.STRING) or real in (
        T.BLOB, T.TINY_BLOB, T.MEDIUM_BLOB, T.LONG_BLOB, T.GEOMETRY,
    )  # fmt: skip


def _optional_metadata(event: memoryview, pos: int, end: int, n_character: int) -> dict[str, Any]:
    """``binlog_row_metadata=FULL``'s type-length-value fields."""
    out: dict[str, Any] = {"labels5": [], "labels6": []}
    while pos < end:
        kind = event[pos]
        length, pos = _packed_int(event, pos + 1)
        stop = pos + length
        if kind == 1:  # signedness of numeric columns
            out["signedness"] = _msb_bits(event, pos, stop)
        elif kind == 2:  # default charset, then (column index among character ones, charset)
            default, overrides = _default_and_overrides(event, pos, stop)
            out["charsets"] = [overrides.get(i, default) for i in range(n_character)]
        elif kind == 3:  # a charset per character column
            out["charsets"] = _packed_ints(event, pos, stop)
        elif kind == 4:  # column names
            at, names = pos, []
            while at < stop:
                n, at = _packed_int(event, at)
                names.append(bytes(event[at : at + n]).decode())
                at += n
            out["names"] = names
        elif kind in (5, 6):  # SET (5) / ENUM (6) labels, per column of that kind in order
            at = pos
            while at < stop:
                count, at = _packed_int(event, at)
                labels: list[bytes] = []  # (decoded below, in the column's charset)
                for _ in range(count):
                    n, at = _packed_int(event, at)
                    labels.append(bytes(event[at : at + n]))
                    at += n
                out[f"labels{kind}"].append(tuple(labels))
        elif kind == 7:  # geometry type per GEOMETRY column (0 geometry, 1 point...)
            out["geometries"] = _packed_ints(event, pos, stop)
        elif kind == 8:  # simple primary key: column indexes
            out["pk"] = _packed_ints(event, pos, stop)
        elif kind == 10:  # ENUM/SET default charset, then (index among them, charset)
            out["es_default"], out["es_overrides"] = _default_and_overrides(event, pos, stop)
        elif kind == 11:  # a charset per ENUM/SET column
            out["es_charsets"] = _packed_ints(event, pos, stop)
        elif kind == 9:  # primary key with prefix lengths: (index, prefix) pairs
            at, pk = pos, []
            while at < stop:
                v, at = _packed_int(event, at)
                _, at = _packed_int(event, at)
                pk.append(v)
            out["pk"] = pk
        pos = stop
    return out


def _packed_ints(event: memoryview, pos: int, stop: int) -> list[int]:
    out = []
    while pos < stop:
        v, pos = _packed_int(event, pos)
        out.append(v)
    return out


def _default_and_overrides(event: memoryview, pos: int, stop: int) -> tuple[int, dict[int, int]]:
    """A default charset, then (index, charset) pairs for the columns that differ."""
    default, pos = _packed_int(event, pos)
    overrides = {}
    while pos < stop:
        index, pos = _packed_int(event, pos)
        overrides[index], pos = _packed_int(event, pos)
    return default, overrides


def rows_event(event: memoryview, tables: dict[int, TableMap], checksum: bool = True) -> RowsEvent:
    """The row images of a WRITE/UPDATE/DELETE event, decoded with its TABLE_MAP."""
    h = header(event)
    end = len(event) - (4 if checksum else 0)
    pos = HEADER
    table_id = int.from_bytes(event[pos : pos + 6], "little")
    flags = int.from_bytes(event[pos + 6 : pos + 8], "little")
    pos += 8
    if h.type in (E.WRITE, E.UPDATE, E.DELETE):  # v2: extra data, its length included
        pos += int.from_bytes(event[pos : pos + 2], "little")
    tm = tables.get(table_id)
    if tm is None:
        raise BinlogFormatError(f"rows event at {h.log_pos - h.size}: no TABLE_MAP for "
                                f"table id {table_id}")  # fmt: skip
    ncols, pos = _packed_int(event, pos)
    present, pos = _bits(event, pos, ncols)
    present_after = present
    op = ROWS[h.type]
    if op == "u":
        present_after, pos = _bits(event, pos, ncols)
    out = RowsEvent(table_id, op, flags, partial=not (all(present) and all(present_after)))
    decoders = tm.decoders or tuple(decoder(c) for c in tm.columns)
    while pos < end:
        first, pos = _image(event, pos, decoders, present)
        if op == "u":
            second, pos = _image(event, pos, decoders, present_after)
            out.rows.append((first, second))
        elif op == "c":
            out.rows.append((None, first))
        else:
            out.rows.append((first, None))
    return out


def _image(
    event: memoryview, pos: int, decoders: tuple[Decoder, ...], present: list[bool]
) -> tuple[tuple[Any, ...], int]:  # fmt: skip
    """One row image: a null bitmap over the present columns, then their non-null values
    (a column not present in the image reads None)."""
    n_present = sum(present)
    nulls, pos = _bits(event, pos, n_present)
    values: list[Any] = []
    append = values.append
    k = 0
    for decode, here in zip(decoders, present, strict=True):
        if not here:
            append(None)
            continue
        if nulls[k]:
            append(None)
        else:
            v, pos = decode(event, pos)
            append(v)
        k += 1
    return tuple(values), pos
