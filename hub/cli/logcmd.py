"""``hub log export`` / ``hub log import``: move a worker's log between the data directory and
a Kafka cluster (hub.runtime.migrate says what is copied and when a copy is refused)."""

from __future__ import annotations

import os
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
    "removed records): their records get other offsets there; group offsets are translated, "
    "offsets a sink keeps in its target are not.",
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
    """Move a worker's log between its data directory and a Kafka cluster.

    Topics (their partitions, configs and records with keys, headers and timestamps), the
    connector configs, the sources' offsets and the consumer groups' offsets are copied, so
    the same connectors resume on the other side without new snapshots. Stop the worker
    first; the destination must not hold the topics yet.

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
    with open_log(write=True) as log:  # (the lock: no worker runs on it meanwhile)
        kafka, storage = _kafka(worker_config)
        try:
            _copy(log, embedded, kafka, storage, allow_offset_shift, dry_run, False)
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
    fresh = dry_run and not os.path.isdir(current_state().data_dir)
    try:
        if fresh:  # (a dry run makes nothing: an empty log of its own stands for the new one)
            import tempfile

            from hub.log import Log

            with tempfile.TemporaryDirectory() as scratch, Log(scratch, background=False) as log:
                _copy(kafka, storage, log, embedded, allow_offset_shift, dry_run, True)
        else:
            with open_log(write=True, must_exist=False) as log:
                _copy(kafka, storage, log, embedded, allow_offset_shift, dry_run, True)
    finally:
        kafka.close()


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
    dry_run: bool, dst_is_embedded: bool,
) -> None:  # fmt: skip
    from hub.runtime.migrate import check_copy, copy_log, existing, plan_copy, topic_mapping

    existing(topic_mapping(src, src_storage, dst_storage), dst)  # (before reading it all)
    click.echo("reading the source ...", err=True)
    plan = plan_copy(src, src_storage, dst_storage, dst_is_embedded)
    for dest, source in plan.topics.items():
        parts = plan.partitions[source]
        kept = "offsets kept" if all(p.kept for p in parts) else "offsets SHIFT"
        named = dest if dest == source else f"{source} -> {dest}"
        click.echo(f"  {named}: {len(parts)} partition(s), "
                   f"{sum(p.count for p in parts):,} records, {kept}")  # fmt: skip
    for group, committed in sorted(plan.groups.items()):
        click.echo(f"  group {group}: {len(committed)} committed partition(s)")
    for topic, dropped in sorted(plan.dropped.items()):
        settings = ", ".join(f"{k}={v}" for k, v in sorted(dropped.items()))
        click.echo(f"  {topic}: the embedded log does not take {settings}: left out")
    check_copy(plan, src, dst, allow_offset_shift)
    if dry_run:
        click.echo(f"dry run: {plan.records:,} records in {len(plan.topics)} topic(s) would "
                   "be copied")  # fmt: skip
        return
    last = [""]

    def progress(topic: str, done: int, total: int) -> None:
        if topic != last[0] or done == total:
            click.echo(f"  {topic}: {done:,} / {total:,}", err=True)
            last[0] = topic

    groups = copy_log(src, dst, plan, progress)
    click.echo(f"copied {plan.records:,} records in {len(plan.topics)} topic(s) and the "
               f"offsets of {len(groups)} group(s)")  # fmt: skip
