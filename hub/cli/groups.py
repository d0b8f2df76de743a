"""``hub groups``: list, describe, reset and delete consumer groups."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from hub.cli._common import (
    CONTEXT,
    common_options,
    format_option,
    open_log,
    partition_option,
    print_json,
    table,
)
from hub.errors import ConfigError

if TYPE_CHECKING:
    from hub.log import Log


@click.group(context_settings=CONTEXT)
def groups() -> None:
    """List, describe, reset and delete consumer groups.

    \b
    Example:
      hub groups describe billing
      hub groups reset billing --topic orders --to-earliest --dry-run
    """


def _require_group(log: Log, group: str) -> None:
    if group not in log.groups.list_groups():
        raise ConfigError(f"unknown consumer group {group!r}; 'hub groups list' shows the groups")


def _members_note(log: Log, more: str = "") -> None:
    """Say so when another process has the log open: a group's members live in that process
    (its consumers), so from here a group in use looks Empty, without owners."""
    from hub.log.lock import writer_pid

    pid = writer_pid(log.path)
    if pid is not None:
        click.echo(
            f"note: process {pid} has the log open; the members of its groups are not visible "
            f"from another process (State and Members show committed offsets only){more}",
            err=True,
        )


def _refuse_active(log: Log, group: str, action: str) -> None:
    from hub.log.resets import refuse_active

    refuse_active(log, group, action)


@groups.command("list")
@common_options
def groups_list() -> None:
    """List consumer groups, one per line.

    \b
    Example:
      hub groups list
    """
    with open_log(write=False) as log:
        _members_note(log, "; a group with no commit yet is not listed")
        for name in log.groups.list_groups():
            click.echo(name)


@groups.command("describe")
@click.argument("group")
@format_option()
@common_options
def groups_describe(group: str, fmt: str) -> None:
    """Show a group's committed offset, end offset and lag per partition.

    LAG = END - COMMITTED, where END is the durable end of the partition.

    \b
    Example:
      hub groups describe billing
    """
    with open_log(write=False) as log:
        _require_group(log, group)
        info = log.groups.describe(group)
        _members_note(log)
    if fmt == "json":
        print_json(dataclasses.asdict(info))
        return
    lag = sum(p.lag or 0 for p in info.partitions)
    click.echo(f"Group: {info.group}  State: {info.state}  Members: {len(info.members)}  "
               f"Total lag: {lag}")  # fmt: skip
    rows = [
        (p.topic, p.partition, p.committed, p.end_offset, p.lag, p.owner) for p in info.partitions
    ]
    click.echo(table(["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "OWNER"], rows))


def _parse_datetime(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 date-time (e.g. 2024-05-01T12:00:00Z)",
            param_hint="--to-datetime",
        ) from None
    return int(dt.astimezone().timestamp() * 1000)  # naive: local time, as Kafka's tool


@groups.command("reset")
@click.argument("group")
@click.option("--topic", "-t", metavar="NAME", required=True, help="Topic whose offsets to move.")
@partition_option("Only this partition.")
@click.option("--to-earliest", is_flag=True, help="To the first stored offset.")
@click.option("--to-latest", is_flag=True, help="To the end (skip everything stored).")
@click.option("--to-offset", type=click.IntRange(min=0), metavar="N", help="To offset N.")
@click.option(
    "--to-datetime",
    metavar="ISO8601",
    help="To the first record at or after this time (naive = local time); "
    "the end when there is none.",
)
@click.option("--dry-run", is_flag=True, help="Show the new offsets, change nothing.")
@common_options
def groups_reset(
    group: str,
    topic: str,
    partition: int | None,
    to_earliest: bool,
    to_latest: bool,
    to_offset: int | None,
    to_datetime: str | None,
    dry_run: bool,
) -> None:
    """Move a group's committed offsets on a topic; its next consume starts there.

    The group must have no active members.

    \b
    Examples:
      hub groups reset billing --topic orders --to-earliest
      hub groups reset billing --topic orders --to-datetime 2024-05-01T12:00:00Z --dry-run
      hub groups reset billing --topic orders --partition 0 --to-offset 42
    """
    chosen = [to_earliest, to_latest, to_offset is not None, to_datetime is not None]
    if sum(chosen) != 1:
        raise click.UsageError(
            "give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime"
        )
    from hub.log.resets import apply_reset, plan_reset, refuse_active

    to: Any = ("earliest", "latest", "offset", "timestamp")[chosen.index(True)]
    value = to_offset if to == "offset" else None
    if to_datetime is not None:
        value = _parse_datetime(to_datetime)
    with open_log(write=not dry_run) as log:
        refuse_active(log, group, "reset")
        if dry_run:
            _members_note(log, "; the reset itself is refused while that process runs")
        rows = plan_reset(log, group, topic, to, value, partition)
        if not dry_run:
            apply_reset(log, group, rows)
    click.echo(table(["TOPIC", "PARTITION", "CURRENT", "NEW"],
                     [(r.topic, r.partition, r.current, r.new) for r in rows]))  # fmt: skip
    if dry_run:
        click.echo("dry run: nothing changed (run again without --dry-run to apply)")
    else:
        click.echo(f"reset group {group} on {topic}: {len(rows)} partition(s)")
    if group.startswith("connect-"):
        click.echo(
            f"note: {group} is a sink connector's group; the built-in sinks resume from offsets "
            "kept in their target (the table _hub_offsets, FileStreamSink's file), which this "
            "does not move"
        )


@groups.command("delete")
@click.argument("group")
@common_options
def groups_delete(group: str) -> None:
    """Delete a group's committed offsets (the group must have no active members).

    \b
    Example:
      hub groups delete billing
    """
    with open_log(write=True) as log:
        _require_group(log, group)
        _refuse_active(log, group, "delete")
        log.groups.delete_offsets(group)
    click.echo(f"deleted group {group}")
