"""``hub verify``: every replicated table compared with its sink table."""

from __future__ import annotations

import click

from hub.cli._common import common_options
from hub.errors import ConfigError


@click.command()
@click.argument("configs", nargs=-1, required=True, metavar="CONFIG.yaml...")
@click.option(
    "--connector",
    "sources",
    multiple=True,
    metavar="NAME",
    help="Only this source connector (repeatable).",
)
@click.option(
    "--sink", "sinks", multiple=True, metavar="NAME", help="Only this sink connector (repeatable)."
)
@click.option(
    "--tables",
    default="",
    metavar="T1,T2",
    help="Only these tables (schema.table or table), comma-separated.",
)
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Differing keys to show per table.",
)
@common_options
def verify(
    configs: tuple[str, ...], sources: tuple[str, ...], sinks: tuple[str, ...], tables: str,
    limit: int,
) -> int:  # fmt: skip
    """Compare each source table with the sink table its changes land in.

    For every source connector in the files and every sink that consumes its topics: row
    counts and an order-independent checksum of the rows after the documented type mapping,
    then, when they differ, the first differing keys. One line per table. Run it when the
    source is quiet and the sink has caught up (lag 0): rows still in flight count as
    differences. Exit status 0 when every table matches, 1 when one differs.

    \b
    Example:
      hub verify configs/postgres-to-duckdb.yaml
      hub verify configs/postgres-to-duckdb.yaml --tables public.orders --limit 20
    """
    from hub.cli.connect import _load
    from hub.verify import compare

    valid = _load(configs)
    only = {t.strip() for t in tables.split(",") if t.strip()} or None
    srcs = [
        v for v in valid if hasattr(v.cls, "verify_tables") and (not sources or v.name in sources)
    ]
    snks = [v for v in valid if hasattr(v.cls, "verify_target") and (not sinks or v.name in sinks)]
    if not srcs or not snks:
        raise ConfigError(
            "hub verify needs a source connector that can list its tables (postgres) and a "
            "sink that can read them back (duckdb, postgres-sink) in the given files"
        )
    differ = pairs = 0
    for src in srcs:
        source_tables = src.cls.verify_tables(src.raw, only)
        for snk in snks:
            target = snk.cls.verify_target(snk.raw)
            try:
                for st in source_tables:
                    tt = target.table(st)
                    if tt is None:
                        continue
                    pairs += 1
                    r = compare(st, tt, limit)
                    where = f"{src.name} {r.source} -> {snk.name} {r.target}"
                    if r.equal:
                        click.echo(f"ok    {where}: {r.source_rows} rows")
                        continue
                    differ += 1
                    click.echo(f"DIFF  {where}: source {r.source_rows} rows, sink {r.target_rows}")
                    for d in r.differences:
                        click.echo(f"        {d}")
            finally:
                target.close()
    if not pairs:
        raise ConfigError("no sink in the given files consumes the topics of the source tables")
    if differ:
        click.echo(f"hub verify: {differ} of {pairs} table(s) differ", err=True)
        return 1
    return 0
