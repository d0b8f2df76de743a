"""``hub demo``: the main job (PostgreSQL or MariaDB -> log -> DuckDB, checked row by row), and
``hub demo log``: produce and consume N records through a new topic, with timings."""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hub.cli._common import CONTEXT, common_options, current_state, open_log, size, table

if TYPE_CHECKING:
    from hub.log import Log


REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = "configs/postgres-to-duckdb.yaml"
MYSQL_CONFIG = "configs/mysql-to-duckdb.yaml"


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option("--mysql", is_flag=True,
              help=f"From a throwaway MariaDB (ROW binlog) instead of PostgreSQL, with "
              f"{MYSQL_CONFIG}.")  # fmt: skip
@click.option("--source", metavar="DSN", default=None,
              help="Your PostgreSQL (libpq DSN or URL; wal_level=logical, a REPLICATION role) "
              "instead of a throwaway one. The sample shop is created there if it has no "
              "orders table. PostgreSQL only: not with --mysql.")  # fmt: skip
@click.option("--seconds", type=click.FloatRange(min=0), default=15, show_default=True,
              help="How long to keep writing to the source.")  # fmt: skip
@click.option("--rate", type=click.FloatRange(min=1), default=50, show_default=True,
              help="Source transactions per second while writing.")  # fmt: skip
@click.option("--config", "config_path", metavar="FILE", default=None,
              help=f"The connectors to run [default: {DEFAULT_CONFIG}, with --mysql "
              f"{MYSQL_CONFIG}].")  # fmt: skip
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("hub-demo"), show_default=True,
              help="Where the log (data/) and the warehouse (warehouse.duckdb) go; both are "
              "replaced on each run.")  # fmt: skip
@click.pass_context
def demo(ctx: click.Context, mysql: bool, source: str | None, seconds: float, rate: float,
         config_path: str | None, workdir: Path) -> None:  # fmt: skip
    """Replicate a PostgreSQL (or MariaDB) database into DuckDB, live, and check the result.

    With no --source, starts a throwaway PostgreSQL (wal_level=logical; needs the server
    binaries, e.g. Debian's postgresql package) holding a small shop, runs
    configs/postgres-to-duckdb.yaml (the PostgreSQL source snapshots the tables and streams
    every change into the log; the DuckDB sink applies them to hub-demo/warehouse.duckdb)
    while writing orders, payments and cancellations for --seconds, then waits for the
    warehouse to catch up and compares every table with its source, row by row.

    With --mysql, the same from a throwaway MariaDB (ROW binlog; needs the server binaries,
    e.g. Debian's mariadb-server package) with configs/mysql-to-duckdb.yaml.

    \b
    Examples:
      hub demo
      hub demo --seconds 60 --rate 200
      hub demo --source postgresql://me@db.internal/shop
      hub demo --mysql                     # from MariaDB's binlog instead
      hub demo log --records 1000000       # the log alone: produce, consume, inspect
    """
    if ctx.invoked_subcommand is not None:
        return
    from hub.demo import job

    if mysql and source is not None:
        raise click.UsageError("--source is for PostgreSQL only; leave it out with --mysql")
    if source is not None:  # (never shown: errors and tracebacks are scrubbed of it)
        from hub.config import remember_secrets, url_passwords

        remember_secrets(url_passwords(source))
    config = config_path or _default_config(MYSQL_CONFIG if mysql else DEFAULT_CONFIG)
    job.check_workdir(workdir)
    ok = job.run(config, workdir, source=source, seconds=seconds, rate=rate, echo=_Echo(),
                 mysql=mysql)  # fmt: skip
    if not ok:
        ctx.exit(1)


def _default_config(name: str) -> str:
    for base in (Path.cwd(), REPO):
        candidate = base / name
        if candidate.exists():
            return str(candidate.relative_to(Path.cwd()) if base == Path.cwd() else candidate)
    raise click.ClickException(
        f"{name} not found (it comes with hub's source tree): run from a checkout or pass --config"
    )


class _Echo:
    """Progress lines (starting with \\r) redraw in place on a terminal; elsewhere (a log
    file, CI) one is printed every 5 s."""

    def __init__(self) -> None:
        self.tty = click.get_text_stream("stdout").isatty()
        self.last = 0.0
        self.pending = False

    def __call__(self, text: str) -> None:
        if text.startswith("\r"):
            if self.tty:
                click.echo(text, nl=False)
                self.pending = True
            elif time.monotonic() - self.last >= 5:
                self.last = time.monotonic()
                click.echo(text[1:].rstrip())
            return
        if self.pending:
            click.echo("")
            self.pending = False
        click.echo(text)


@demo.command("log", context_settings=CONTEXT)
@click.option(
    "--records",
    "-n",
    type=click.IntRange(min=1),
    metavar="N",
    default=100_000,
    show_default=True,
    help="How many records to produce and consume.",
)
@common_options(
    data_dir_help="Log data directory (only when given here: HUB_DATA_DIR is not read; default "
    "a new temporary directory, kept)."
)
def demo_log(records: int) -> None:
    """The log alone: produce and consume N records, with timings.

    Creates a topic with 4 partitions, produces N keyed JSON records, reads them back
    through a consumer group, and prints records/s both ways and the offsets.

    Uses a new temporary directory (kept, so you can look at it) unless --data-dir is
    given on the command line.

    \b
    Example:
      hub demo log
      hub demo log --records 1000000 --data-dir /tmp/hub-demo
    """
    state = current_state()
    if not state.explicit_data_dir:
        state.data_dir = tempfile.mkdtemp(prefix="hub-demo-")
    path = state.data_dir
    from hub.log import ACCELERATED

    codec = "C accelerator" if ACCELERATED else "pure-Python codec"
    click.echo(f"data directory: {path} (records encoded by the {codec})")
    with open_log(write=True, must_exist=False) as log:
        topic = "demo.orders"
        suffix = 1
        while log.has_topic(topic):
            suffix += 1
            topic = f"demo.orders-{suffix}"
        group = f"{topic}-reader"
        log.create_topic(topic, 4)
        click.echo(f"created topic {topic} with 4 partitions")

        produced, nbytes, elapsed = _demo_produce(log, topic, records)
        click.echo(
            f"produced {produced:,} records ({size(nbytes)}) in {elapsed:.2f} s: "
            f"{produced / max(elapsed, 1e-9):,.0f} records/s, durable (fsync'd)"
        )
        consumed, misrouted, took = _demo_consume(log, topic, group, records)
        click.echo(
            f"consumed {consumed:,} records with group {group} in {took:.2f} s: "
            f"{consumed / max(took, 1e-9):,.0f} records/s, offsets committed"
        )
        info = log.describe(topic)
        lag = log.groups.describe(group)
        committed = {p.partition: p.committed for p in lag.partitions}
        rows = [
            (p.partition, p.start_offset, p.end_offset, committed.get(p.partition),
             size(p.size_bytes))
            for p in info.partitions
        ]  # fmt: skip
        click.echo(table(["PARTITION", "START", "END", "COMMITTED", "SIZE"], rows))
        ok = consumed == records and misrouted == 0
        click.echo(
            f"{'ok' if ok else 'MISMATCH'}: {consumed:,} of {records:,} records read back, "
            f"{misrouted} outside the partition Kafka's murmur2 picks for their key, "
            f"group lag {sum(p.lag or 0 for p in lag.partitions)}"
        )
        some_offset = min(10, info.partitions[0].end_offset)
    hub = f"hub --data-dir {shlex.quote(path)}"
    click.echo(
        "\nLook at the data:\n"
        f"  {hub} topics describe {topic}\n"
        f"  {hub} consume {topic} --from-beginning --print-key --max-messages 5\n"
        f"  {hub} consume {topic} --partition 0 --offset {some_offset} -n 2 --format json\n"
        f"  {hub} groups describe {group}"
        + ("" if state.explicit_data_dir else f"\nRemove it: rm -r {shlex.quote(path)}")
    )
    if not ok:
        click.get_current_context().exit(1)


def _demo_produce(log: Log, topic: str, records: int) -> tuple[int, int, float]:
    """Append keyed JSON orders in chunks, durably; returns (records, bytes, seconds)."""
    producer = log.producer()
    step = max(1, min(10_000, records // 10))
    produced = nbytes = 0
    elapsed = 0.0
    report_every = step * max(1, round(records / 4 / step))
    next_report = report_every
    for start in range(0, records, step):
        ids = range(start, min(start + step, records))
        keys = [f"customer-{i % 1000:04d}".encode() for i in ids]
        values = [
            json.dumps({
                "order_id": i, "customer": keys[n].decode(), "amount_cents": (i * 7919) % 100_000,
                "status": ("new", "paid", "shipped")[i % 3],
            }).encode()
            for n, i in enumerate(ids)
        ]  # fmt: skip
        t0 = time.perf_counter()
        producer.send_many(topic, values, keys)
        producer.flush()
        elapsed += time.perf_counter() - t0
        produced += len(values)
        nbytes += sum(map(len, values)) + sum(map(len, keys))
        if produced >= next_report or produced == records:
            click.echo(f"  produced {produced:>10,} / {records:,}")
            next_report += report_every
    return produced, nbytes, elapsed


def _demo_consume(log: Log, topic: str, group: str, records: int) -> tuple[int, int, float]:
    """Read everything back through a group; returns (records, misrouted, seconds)."""
    from hub.log import default_partition

    consumer = log.consumer(group_id=group, auto_offset_reset="earliest", max_poll_records=10_000)
    consumer.subscribe([topic])
    n = len(log.describe(topic).partitions)
    consumed = misrouted = 0
    t0 = time.perf_counter()
    while consumed < records:
        batch = consumer.poll(1.0)
        if not batch:
            break
        misrouted += sum(
            1 for r in batch if r.key is None or r.partition != default_partition(r.key, n)
        )
        consumed += len(batch)
        consumer.commit()
    took = time.perf_counter() - t0
    consumer.close()
    return consumed, misrouted, took
