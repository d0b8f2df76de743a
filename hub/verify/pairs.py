"""Which source tables land in which sink tables, across validated connectors, compared."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hub.errors import ConfigError
from hub.verify.compare import TableResult, compare
from hub.verify.routing import topic_router

log = logging.getLogger(__name__)


@dataclass
class PairResult:
    source: str  # connector names
    sink: str
    result: TableResult


def verify_all(
    valid: Sequence[Any],
    *,
    sources: Sequence[str] = (),
    sinks: Sequence[str] = (),
    only: set[str] | None = None,
    limit: int = 10,
) -> Iterator[PairResult]:
    """Every table of every source connector (``verify_tables``) compared with the table of
    every sink connector (``verify_target``) that consumes its topic. ``valid``: validated
    connectors (`hub.runtime.validation.ValidatedConnector`)."""
    can_list = [v for v in valid if hasattr(v.cls, "verify_tables")]
    can_read = [v for v in valid if hasattr(v.cls, "verify_target")]
    for asked, found, flag, kind in (
        (sources, can_list, "--connector", "source"), (sinks, can_read, "--sink", "sink")
    ):  # fmt: skip
        missing = sorted(set(asked) - {v.name for v in found})
        if missing:  # (it had said the files held no such connector at all)
            have = ", ".join(v.name for v in found) or "none"
            raise ConfigError(
                f"{flag} {', '.join(missing)}: no {kind} connector of that name that hub "
                f"verify can read in the given files (they have: {have})"
            )
    srcs = [v for v in can_list if not sources or v.name in sources]
    snks = [v for v in can_read if not sinks or v.name in sinks]
    if not srcs or not snks:
        raise ConfigError(
            "hub verify needs a source connector that can list its tables (postgres, mysql, "
            "mariadb) and a sink that can read them back (duckdb, postgres-sink and the "
            "warehouses) in the given files"
        )
    listed = []
    for src in srcs:
        route = topic_router(src.raw)  # the source's own routers move its tables' topics
        listed.append((src, [
            dataclasses.replace(t, topic=route(t.topic))
            for t in src.cls.verify_tables(src.raw, only)
        ]))  # fmt: skip
    if only:  # (a name among others that matched nothing had been left out without a word)
        names = {n for _, tables in listed for t in tables for n in (t.name, t.table)}
        unknown = sorted(only - names)
        if unknown:
            raise ConfigError(
                f"--tables {','.join(unknown)}: no captured table of that name (write "
                "schema.table or table, as the source database names it)"
            )
    pairs = 0
    for src, tables in listed:
        compared: set[str] = set()
        for snk in snks:
            try:
                target = snk.cls.verify_target(snk.raw)
            except ConfigError:
                raise  # (a config's mistake: said as such)
            except Exception as exc:  # noqa: BLE001 - said in its tables' lines, the others go on
                # (a DuckDB file a running worker holds locked: it had ended hub verify, the
                # other sinks not compared)
                why = _said(f"cannot read sink {snk.name}: {type(exc).__name__}: {exc}")
                for table in tables:
                    compared.add(table.name)
                    pairs += 1
                    yield PairResult(src.name, snk.name, TableResult(
                        table.name, "?", 0, 0, False, error=why))  # fmt: skip
                continue
            try:
                for table in tables:
                    found = target.table(table)
                    if found is not None:
                        pairs += 1
                        compared.add(table.name)
                        yield PairResult(src.name, snk.name, _compared(table, found, limit))
            finally:
                target.close()
        for table in tables:
            if table.name not in compared:  # (said nowhere: "ok" for the others alone)
                log.warning(
                    "%s captures %s (topic %s), which no sink in the given files consumes: "
                    "not compared", src.name, table.name, table.topic,
                )  # fmt: skip
    if not pairs:
        raise ConfigError("no sink in the given files consumes the topics of the source tables")


def _compared(table: Any, found: Any, limit: int) -> TableResult:
    """`compare`, or a difference saying why the table could not be compared (a value the
    documented mapping does not hold, a sink's read failing): the other tables are compared
    all the same (the first such error had ended hub verify as "unexpected ValueError")."""
    try:
        return compare(table, found, limit)
    except Exception as exc:  # noqa: BLE001 - said in the table's line, the others go on
        return TableResult(
            table.name, found.name, 0, 0, False, error=_said(f"{type(exc).__name__}: {exc}")
        )


def _said(text: str) -> str:
    """An error's text without the secrets it may hold."""
    from hub.config import known_secrets, scrub

    return scrub(text, known_secrets())
