"""``hub verify``: every replicated table compared with its sink table."""

from __future__ import annotations

import click

from hub.cli._common import common_options


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
    from hub.verify.pairs import verify_all

    only = {t.strip() for t in tables.split(",") if t.strip()} or None
    differ = total = 0
    for p in verify_all(_load(configs), sources=sources, sinks=sinks, only=only, limit=limit):
        r = p.result
        total += 1
        where = f"{p.source} {r.source} -> {p.sink} {r.target}"
        if r.error:
            differ += 1
            click.echo(f"FAIL  {where}: not compared: {r.error}")
            continue
        if r.equal:
            click.echo(f"ok    {where}: {r.source_rows} rows")
        else:
            differ += 1
            click.echo(f"DIFF  {where}: source {r.source_rows} rows, sink {r.target_rows}")
        for d in r.differences:
            click.echo(f"        {d}")
        if r.note:
            click.echo(f"        note: {r.note}")
    if differ:
        click.echo(f"hub verify: {differ} of {total} table(s) differ", err=True)
        return 1
    return 0
