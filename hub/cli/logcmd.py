"""``hub log export`` / ``hub log import``: copy a worker's log between the data directory and
a Kafka cluster (hub.runtime.migrate says what is copied and when a copy is refused)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import click

from hub.cli._common import CONTEXT, common_options, current_state, open_log

WORKER_CONFIG = click.option(
    "--worker-config",
    "worker_config",
    required=True,
    metavar="FILE",
    help="The worker config naming the Kafka cluster (log.backend: kafka, bootstrap.servers, "
    "its storage topics' names), as 'hub run --worker-config' takes it.",
)
SHIFT = click.option(
    "--allow-offset-shift",
    is_flag=True,
    help="Copy partitions that do not hold every offset from 0 (retention or compaction "
    "removed records, or transactions left their markers): their records get other offsets "
    "there; group offsets are translated, offsets a sink keeps in its target are not.",
)
EMBEDDED = click.option(
    "--embedded-worker-config",
    "embedded_config",
    metavar="FILE",
    help="The worker config the data directory was run with, when it names its storage "
    "topics (config/offset/status.storage.topic); default: Connect's names.",
)
DRY_RUN = click.option(
    "--dry-run", is_flag=True, help="Say what would be copied (and whether it may), copy nothing."
)


@click.group(context_settings=CONTEXT)
def log_group() -> None:
    """Copy a worker's log between its data directory and a Kafka cluster.

    Topics (their partitions, configs and records with keys, headers and timestamps), the
    connector configs, the sources' offsets and the consumer groups' offsets are copied, so
    the same connectors resume on the other side without new snapshots. Stop every worker
    on both sides first; the destination must not hold the topics yet. A copy stopped part
    way (killed, Ctrl-C, an error) leaves the destination marked, and no worker using the
    storage topics it writes starts there: run the same command again, which deletes what
    the stopped copy made and copies again, or 'hub log undo-copy' to delete it only.

    \b
    Example:
      hub --data-dir data log export --worker-config worker.yaml --dry-run
      hub --data-dir data log export --worker-config worker.yaml
      hub run --worker-config worker.yaml configs/postgres-to-duckdb.yaml
    """


@log_group.command("export")
@WORKER_CONFIG
@EMBEDDED
@SHIFT
@DRY_RUN
@common_options
def log_export(
    worker_config: str, embedded_config: str | None, allow_offset_shift: bool, dry_run: bool
) -> None:
    """Copy the data directory's log into the Kafka cluster a worker config names."""
    embedded = _embedded(embedded_config)
    # (the data directory first: a missing one was said after 10 s of reaching the cluster)
    with _locked() as log:  # (the lock: no worker runs on it meanwhile)
        kafka, storage = _kafka(worker_config)
        try:
            _copy(log, embedded, kafka, storage, allow_offset_shift, dry_run, False,
                  f"the data directory {os.path.abspath(current_state().data_dir)}")  # fmt: skip
        finally:
            kafka.close()


@log_group.command("import")
@WORKER_CONFIG
@EMBEDDED
@SHIFT
@DRY_RUN
@common_options
def log_import(
    worker_config: str, embedded_config: str | None, allow_offset_shift: bool, dry_run: bool
) -> None:
    """Copy the log on the Kafka cluster a worker config names into the data directory."""
    embedded = _embedded(embedded_config)
    kafka, storage = _kafka(worker_config)
    origin = f"the Kafka cluster at {kafka.client_config().get('bootstrap.servers', '?')}"
    fresh = dry_run and not os.path.isdir(current_state().data_dir)
    try:
        if fresh:  # (a dry run makes nothing: an empty log of its own stands for the new one)
            import tempfile

            from hub.log import Log

            with tempfile.TemporaryDirectory() as scratch, Log(scratch, background=False) as log:
                _copy(kafka, storage, log, embedded, allow_offset_shift, dry_run, True, origin)
        else:
            with _locked(must_exist=False) as log:
                _copy(kafka, storage, log, embedded, allow_offset_shift, dry_run, True, origin)
    finally:
        kafka.close()


@log_group.command("undo-copy")
@click.option(
    "--worker-config", "worker_config", metavar="FILE",
    help="Undo it on the Kafka cluster this worker config names (default: the data directory).",
)  # fmt: skip
@common_options
def log_undo_copy(worker_config: str | None) -> None:
    """Delete what a 'hub log export' or 'hub log import' that stopped part way made.

    Only the topics that copy made (those still of the id it made them with), and its mark:
    the workers it kept from starting start again. Needs no source (the cluster a stopped
    import came from may be gone). Running the copy again does this first by itself.

    \b
    Example:
      hub --data-dir data log undo-copy                       # a stopped import's
      hub --data-dir data log undo-copy --worker-config worker.yaml   # a stopped export's
    """
    from hub.runtime.copymark import undo, unfinished

    def run(log: Any) -> None:
        mark = unfinished(log)
        if mark is None:
            click.echo("no copy into this log stopped part way: nothing to undo")
            return
        gone = undo(log, mark)
        click.echo(f"undid {mark.describe()}: deleted {', '.join(gone) or 'no topic'}")

    if worker_config is None:
        with _locked() as log:
            run(log)
        return
    kafka, _ = _kafka(worker_config)
    try:
        run(kafka)
    finally:
        kafka.close()


@contextlib.contextmanager
def _locked(must_exist: bool = True) -> Iterator[Any]:
    """The data directory's log, locked for writing (a dry run too: whether it may copy)."""
    from hub.errors import ConfigError
    from hub.log.errors import LogLockedError

    try:
        with open_log(write=True, must_exist=must_exist) as log:
            yield log
    except LogLockedError as exc:
        raise ConfigError(
            f"a worker runs on the data directory ({exc.holder} holds it): stop it first (a "
            "copy reads and writes a log nothing else uses)"
        ) from None


def _embedded(path: str | None) -> Any:
    from hub.cli.connect import _worker_config
    from hub.errors import ConfigError
    from hub.runtime.storage import StorageTopics

    if path is None:
        return StorageTopics()
    backend, storage, *_ = _worker_config(path)
    if backend is not None:
        backend.close()
        raise ConfigError(f"{path}: names a Kafka cluster, not the data directory's log")
    return storage


def _kafka(path: str) -> tuple[Any, Any]:
    from hub.cli.connect import _worker_config
    from hub.errors import ConfigError

    backend, storage, *_ = _worker_config(path)
    if backend is None:
        raise ConfigError(f"{path}: names no Kafka cluster (log.backend: kafka)")
    return backend, storage


def _copy(
    src: Any, src_storage: Any, dst: Any, dst_storage: Any, allow_offset_shift: bool,
    dry_run: bool, dst_is_embedded: bool, origin: str,
) -> None:  # fmt: skip
    import time

    from hub.errors import ConfigError
    from hub.runtime.copymark import (
        deletable,
        refuse_running,
        refuse_unfinished_source,
        undo,
        unfinished,
    )
    from hub.runtime.migrate import check_copy, copy_log, existing, plan_copy, topic_mapping

    refuse_unfinished_source(src)
    redone: list[str] = []
    mark = unfinished(dst)
    if mark is not None:
        refuse_running(mark)
        if mark.source != origin or set(mark.storage) != {dst_storage.configs,
                                                          dst_storage.offsets}:  # fmt: skip
            raise ConfigError(
                f"{mark.describe()} into the destination stopped part way: run that copy "
                "again, or 'hub log undo-copy' there to delete what it made, first"
            )
        if dry_run:
            redone = deletable(dst, mark)
            click.echo("a copy into the destination stopped part way: the copy deletes what "
                       f"it made ({', '.join(redone) or 'no topic'}) first")  # fmt: skip
        else:
            gone = ", ".join(undo(dst, mark)) or "no topic"
            click.echo("a copy into the destination had stopped part way: deleted what it "
                       f"made ({gone}); copying again", err=True)  # fmt: skip
    existing(topic_mapping(src, src_storage, dst_storage), dst, redone)  # (before reading it all)
    click.echo("reading the source ...", err=True)
    plan = plan_copy(src, src_storage, dst_storage, dst_is_embedded)
    for dest, source in plan.topics.items():
        parts = plan.partitions[source]
        kept = "offsets kept" if all(p.kept for p in parts) else "offsets SHIFT"
        named = dest if dest == source else f"{source} -> {dest}"
        click.echo(f"  {named}: {len(parts)} partition(s), "
                   f"{sum(p.count for p in parts):,} records, {kept}")  # fmt: skip
        zeros = sum(p.zero_timestamps for p in parts)
        if zeros and not dst_is_embedded:
            click.echo(f"    {zeros:,} record(s) with timestamp 0: Kafka's client writes "
                       "them with the time of the copy")  # fmt: skip
        if source in plan.raised:
            click.echo(f"    max.message.bytes raised to {plan.raised[source]:,} to take its "
                       "largest record")  # fmt: skip
    for group, committed in sorted(plan.groups.items()):
        click.echo(f"  group {group}: {len(committed)} committed partition(s)")
    for topic, dropped in sorted(plan.dropped.items()):
        settings = ", ".join(f"{k}={v}" for k, v in sorted(dropped.items()))
        click.echo(f"  {topic}: the embedded log does not take {settings}: left out")
    check_copy(plan, src, dst, allow_offset_shift, redone)
    if dry_run:
        click.echo(f"dry run: {plan.records:,} records in {len(plan.topics)} topic(s) would "
                   "be copied")  # fmt: skip
        return
    last: dict[str, Any] = {"topic": "", "at": 0.0}

    def progress(topic: str, done: int, total: int) -> None:
        now = time.monotonic()
        if topic != last["topic"] or done == total or now - last["at"] >= 2.0:
            click.echo(f"  {topic}: {done:,} / {total:,}", err=True)
            last.update(topic=topic, at=now)

    groups = copy_log(src, dst, plan, progress, origin)
    click.echo(f"copied {plan.records:,} records in {len(plan.topics)} topic(s) and the "
               f"offsets of {len(groups)} group(s)")  # fmt: skip
