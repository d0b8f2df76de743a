"""``hub topics``: create, list, describe, alter and delete topics."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import click

from hub.cli._common import (
    CONTEXT,
    common_options,
    format_option,
    open_log,
    pairs_option,
    print_json,
    size,
    table,
)
from hub.log.files import MAX_PARTITIONS

if TYPE_CHECKING:
    from hub.log import Log


@click.group(context_settings=CONTEXT)
def topics() -> None:
    """Create, list, describe, alter and delete topics.

    \b
    Example:
      hub topics create orders --partitions 4 --config retention.ms=86400000
      hub topics describe orders
    """


@topics.command("create")
@click.argument("name")
@click.option(
    "--partitions",
    "-p",
    type=click.IntRange(min=1, max=MAX_PARTITIONS),
    metavar="N",
    default=1,
    show_default=True,
    help="Number of partitions; keys are spread over them with Kafka's murmur2.",
)
@pairs_option(
    "--config",
    "-c",
    "configs",
    help="Topic property, repeatable (Kafka's names: retention.ms, cleanup.policy, ...).",
)
@click.option("--if-not-exists", is_flag=True, help="Succeed quietly when the topic exists.")
@common_options
def topics_create(
    name: str, partitions: int, configs: list[tuple[str, str]], if_not_exists: bool
) -> None:
    """Create a topic (and the data directory if it does not exist).

    \b
    Example:
      hub topics create orders --partitions 4 --config retention.ms=86400000
    \b
    Properties (Kafka's names and defaults): cleanup.policy (delete|compact),
    retention.ms, retention.bytes, segment.bytes, segment.ms, delete.retention.ms,
    min.compaction.lag.ms, min.cleanable.dirty.ratio, compression.type,
    max.message.bytes, flush.messages, flush.ms, index.interval.bytes.
    'hub topics describe NAME --all-config' shows every value.
    """
    with open_log(write=True, must_exist=False) as log:
        if if_not_exists and log.has_topic(name):
            click.echo(f"topic {name} already exists")
            return
        info = log.create_topic(name, partitions, dict(configs))
    click.echo(f"created topic {info.name} with {len(info.partitions)} partitions")


@topics.command("list")
@click.option("--internal", is_flag=True, help="Include internal topics (__consumer_offsets, ...).")
@common_options
def topics_list(internal: bool) -> None:
    """List topic names, one per line.

    \b
    Example:
      hub topics list --internal
    """
    with open_log(write=False) as log:
        for name in log.topics(include_internal=internal):
            click.echo(name)


@topics.command("describe")
@click.argument("name")
@click.option("--all-config", is_flag=True, help="Show every property, not only overrides.")
@format_option()
@common_options
def topics_describe(name: str, all_config: bool, fmt: str) -> None:
    """Show a topic's partitions (offsets, size, segments) and config.

    START is the first offset still stored, END the next offset to be written, DURABLE
    the end of what is fsync'd and visible to consumers. Data that recovery cut from a
    partition (a torn or corrupt segment tail) is listed under "Recovery".

    \b
    Example:
      hub topics describe orders
    """
    with open_log(write=False) as log:
        info = log.describe(name)
        effective = log.topic(name).config.to_properties()
    config = effective if all_config else info.config
    if fmt == "json":
        data = dataclasses.asdict(info)
        data["config"] = config
        print_json(data)
        return
    records = sum(p.end_offset - p.start_offset for p in info.partitions)
    nbytes = sum(p.size_bytes or 0 for p in info.partitions)  # (the embedded log's: known)
    click.echo(
        f"Topic: {info.name}  Partitions: {len(info.partitions)}  "
        f"Offsets: {records}  Size: {size(nbytes)}" + ("  (internal)" if info.internal else "")
    )
    overrides = info.config
    if config:
        click.echo("Config:")
        for key, value in sorted(config.items()):
            mark = "" if key in overrides or not all_config else "  (default)"
            click.echo(f"  {key}={value or '(unset)'}{mark}")
    else:
        click.echo("Config: all defaults (--all-config shows them)")
    rows = [
        (p.partition, p.start_offset, p.end_offset, p.durable_offset, size(p.size_bytes),
         p.segments)
        for p in info.partitions
    ]  # fmt: skip
    click.echo(table(["PARTITION", "START", "END", "DURABLE", "SIZE", "SEGMENTS"], rows))
    notes = [(p.partition, line) for p in info.partitions for line in p.recovery]
    if notes:
        click.echo("Recovery (data cut when the log was opened after damage or a crash):")
        for partition, line in notes:
            click.echo(f"  partition {partition}: {line}")


@topics.command("alter")
@click.argument("name")
@pairs_option("--config", "-c", "configs", required=True, help="Property to set, repeatable.")
@common_options
def topics_alter(name: str, configs: list[tuple[str, str]]) -> None:
    """Change a topic's properties (others keep their values).

    \b
    Example:
      hub topics alter orders --config retention.ms=3600000 --config cleanup.policy=compact
    """
    with open_log(write=True) as log:
        _known(log, name)
        info = log.alter_topic(name, dict(configs))
    props = " ".join(f"{k}={v}" for k, v in sorted(info.config.items())) or "(all defaults)"
    click.echo(f"altered topic {name}: {props}")


@topics.command("delete")
@click.argument("name")
@click.option("--if-exists", is_flag=True, help="Succeed quietly when there is no such topic.")
@common_options
def topics_delete(name: str, if_exists: bool) -> None:
    """Delete a topic with its data and the groups' offsets for it.

    \b
    Example:
      hub topics delete orders
    """
    with open_log(write=True) as log:
        if if_exists and not log.has_topic(name):
            click.echo(f"no topic {name}")
            return
        _known(log, name)
        log.delete_topic(name)
    click.echo(f"deleted topic {name}")


def _known(log: Log, name: str) -> None:
    """A topic to change must be there (the log's own error says to create it)."""
    from hub.errors import ConfigError

    if not log.has_topic(name):
        raise ConfigError(f"unknown topic {name!r}; 'hub topics list' shows the topics")
