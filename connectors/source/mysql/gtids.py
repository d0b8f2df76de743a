"""GTID positions in the offsets, both flavours, as the servers print them.

MariaDB: one ``domain-server-seq`` per replication domain (``0-1-100,1-2-7``): the position
after a transaction replaces its domain's entry. MySQL: the executed set, per source server
UUID its transactions' numbers as intervals (``3e11fa47-...:1-5:7-9,...``): a transaction
adds its number, merged with its neighbours. A MariaDB task resumes by its position; a MySQL
task stores its set (as Debezium's offsets do) and resumes by file and position.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def mariadb_after(current: str | None, gtid: str) -> str:
    """MariaDB's GTID position after ``gtid`` (domain-server-seq): one entry per domain."""
    domains = {g.split("-")[0]: g for g in (current or "").split(",") if g}
    domains[gtid.split("-")[0]] = gtid
    return ",".join(domains[d] for d in sorted(domains, key=int))


def same_position(a: str | None, b: str | None) -> bool:
    """Whether two MariaDB GTID positions are one (their entries, in any order)."""

    def entries(text: str | None) -> set[str]:
        return {g.strip() for g in (text or "").split(",") if g.strip()}

    return a is not None and b is not None and entries(a) == entries(b)


def gtids_after(listed: str, gtids: str) -> bool:
    """Whether the GTID position ``gtids`` is at or after ``listed`` (a Gtid_list event's
    ``[0-1-100,1-2-5]``) in every domain ``listed`` has."""

    def seqs(text: str) -> dict[int, int]:
        out: dict[int, int] = {}
        for part in text.strip("[] ").split(","):
            if part.strip():
                domain, _server, seq = part.strip().split("-")
                out[int(domain)] = max(out.get(int(domain), -1), int(seq))
        return out

    try:
        start, stored = seqs(listed), seqs(gtids)
    except ValueError:
        return False
    return all(stored.get(domain, -1) >= seq for domain, seq in start.items())


def parse_mysql(text: str | None) -> dict[str, list[list[int]]]:
    """A MySQL GTID set: per UUID (lower case) its intervals [start, end], sorted, merged."""
    out: dict[str, list[list[int]]] = {}
    for entry in "".join((text or "").split()).split(","):
        if not entry:
            continue
        uuid, *intervals = entry.split(":")
        spans = out.setdefault(uuid.lower(), [])
        for iv in intervals:
            a, _, b = iv.partition("-")
            spans.append([int(a), int(b or a)])
    for uuid, spans in out.items():
        out[uuid] = _merge(spans)
    return out


def _merge(spans: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def format_mysql(gtids: dict[str, list[list[int]]]) -> str:
    return ",".join(
        uuid + "".join(f":{a}" if a == b else f":{a}-{b}" for a, b in spans)
        for uuid, spans in sorted(gtids.items()) if spans
    )  # fmt: skip


class MySqlGtidSet:
    """A MySQL executed set a stream adds its transactions to (the usual next number of a
    UUID extends its last interval in place). A set it cannot read (MySQL 8.3's tagged GTIDs,
    ``uuid:tag:1-3``) is not kept: ``add`` then says None, and the offset holds no set (a MySQL
    task resumes by file and position)."""

    def __init__(self, text: str | None) -> None:
        try:
            self.sets: dict[str, list[list[int]]] | None = parse_mysql(text)
        except ValueError:
            log.warning("GTID set %r is not one hub reads: the offsets keep none", text)
            self.sets = None

    def add(self, gtid: str) -> str | None:
        """The set's text with the transaction ``gtid`` (uuid:number) added."""
        if self.sets is None:
            return None
        uuid, _, number = gtid.rpartition(":")
        if not number.isdigit() or ":" in uuid:  # (a tagged GTID: uuid:tag:number)
            log.warning("GTID %r is not one hub reads: the offsets keep no set", gtid)
            self.sets = None
            return None
        n, uuid = int(number), uuid.lower()
        spans = self.sets.setdefault(uuid, [])
        if spans and spans[-1][1] + 1 == n:
            spans[-1][1] = n
        elif not spans or n > spans[-1][1] + 1:
            spans.append([n, n])
        else:
            self.sets[uuid] = _merge([*spans, [n, n]])
        return format_mysql(self.sets)
