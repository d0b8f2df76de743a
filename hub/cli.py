"""The ``hub`` command: topics, produce, consume and consumer groups on a log directory.

Modelled on Kafka's tools (kafka-topics, kafka-console-producer, kafka-console-consumer,
kafka-consumer-groups) and kcat. Commands that only read open the log read-only, so they work
while a worker holds the write lock; commands that write take the lock for their duration and
close the log cleanly at the end.

Errors: a ``HubError`` or a usage error prints one line, ``hub: error: ...``, on stderr and
exits 2 for ``ConfigError`` and usage errors (the user must change something), 1 otherwise.
``--verbose`` adds the traceback. ``hub.log`` is imported lazily so that ``--help`` stays fast.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import select
import shlex
import signal
import stat
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from hub import __version__
from hub.errors import ConfigError, HubError

if TYPE_CHECKING:
    from hub.log import Consumer, Log, Record

DEFAULT_DATA_DIR = "./data"
PRODUCE_CHUNK = 10_000  # lines per append + fsync when reading a pipe or file
POLL_RECORDS = 2_000
STOP_LATENCY = 0.2  # seconds a waiting consumer takes to notice Ctrl-C or a closed pipe
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclasses.dataclass
class State:
    """Options of the ``hub`` group, also settable after the subcommand."""

    data_dir: str = DEFAULT_DATA_DIR
    explicit_data_dir: bool = False
    verbose: bool = False


def _state() -> State:
    return click.get_current_context().ensure_object(State)


def _set_data_dir(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        state = ctx.ensure_object(State)
        state.data_dir, state.explicit_data_dir = value, True


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).verbose = True


DATA_DIR_HELP = "Log data directory [env HUB_DATA_DIR; default ./data]."


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--data-dir`` and ``--verbose`` accepted after the subcommand as well."""
    f = click.option(
        "--verbose", "-v", is_flag=True, expose_value=False, callback=_set_verbose,
        help="Show tracebacks on errors.",
    )(f)  # fmt: skip
    return click.option(
        "--data-dir", metavar="PATH", expose_value=False, callback=_set_data_dir,
        help=DATA_DIR_HELP,
    )(f)  # fmt: skip


def _pairs(
    _ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> list[tuple[str, str]]:
    out = []
    for v in values:
        key, found, value = v.partition("=")
        if not found or not key:
            raise click.BadParameter(f"{v!r} is not KEY=VALUE", param=param)
        out.append((key, value))
    return out


@contextmanager
def open_log(*, write: bool, must_exist: bool = True) -> Iterator[Log]:
    """The log at --data-dir: read-only (lock-free) or for writing, closed cleanly at the end."""
    path = _state().data_dir
    if (must_exist or not write) and not os.path.isdir(path):
        raise ConfigError(
            f"data directory {path} does not exist; pass --data-dir PATH or set HUB_DATA_DIR "
            "('hub topics create' makes a new one)"
        )
    from hub.log import Log

    log = Log(path, read_only=not write, background=False)
    try:
        yield log
    finally:
        log.close()


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(headers), *([("-" if c is None else str(c)) for c in r] for r in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"


def _print_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))


# -- the group -----------------------------------------------------------------------------
@click.group(context_settings=CONTEXT)
@click.option("--data-dir", metavar="PATH", envvar="HUB_DATA_DIR", help=DATA_DIR_HELP)
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, "--version", prog_name="hub", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, verbose: bool) -> None:
    """hub: change data capture into an embedded, Kafka-like log.

    A data directory holds topics; a topic has partitions of ordered records (key, value,
    headers, timestamp); consumer groups remember how far they have read.

    \b
    Start here:
      hub demo                                    # 100k records in and out, with timings
      hub topics create orders --partitions 4
      printf 'k1:hello\\nk2:world\\n' | hub produce orders --key-separator :
      hub consume orders --from-beginning --print-key --timeout-ms 1000
      hub consume orders --group billing --from-beginning --timeout-ms 1000
      hub groups describe billing

    Commands that only read (topics list/describe, consume without --group, groups
    list/describe) open the directory read-only and work while a worker holds it.
    """
    state = ctx.ensure_object(State)
    if data_dir is not None:
        state.data_dir = data_dir
        # `hub demo` uses a temporary directory unless --data-dir is on the command line
        source = ctx.get_parameter_source("data_dir")
        state.explicit_data_dir = source == click.core.ParameterSource.COMMANDLINE
    state.verbose = state.verbose or verbose


# -- topics --------------------------------------------------------------------------------
@cli.group(context_settings=CONTEXT)
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
    type=click.IntRange(min=1),
    metavar="N",
    default=1,
    show_default=True,
    help="Number of partitions; keys are spread over them with Kafka's murmur2.",
)
@click.option(
    "--config",
    "-c",
    "configs",
    multiple=True,
    callback=_pairs,
    metavar="KEY=VALUE",
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
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@common_options
def topics_describe(name: str, all_config: bool, fmt: str) -> None:
    """Show a topic's partitions (offsets, size, segments) and config.

    START is the first offset still stored, END the next offset to be written, DURABLE
    the end of what is fsync'd and visible to consumers.

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
        _print_json(data)
        return
    records = sum(p.end_offset - p.start_offset for p in info.partitions)
    size = sum(p.size_bytes for p in info.partitions)
    click.echo(
        f"Topic: {info.name}  Partitions: {len(info.partitions)}  "
        f"Offsets: {records}  Size: {_size(size)}" + ("  (internal)" if info.internal else "")
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
        (p.partition, p.start_offset, p.end_offset, p.durable_offset, _size(p.size_bytes),
         p.segments)
        for p in info.partitions
    ]  # fmt: skip
    click.echo(_table(["PARTITION", "START", "END", "DURABLE", "SIZE", "SEGMENTS"], rows))


@topics.command("alter")
@click.argument("name")
@click.option(
    "--config",
    "-c",
    "configs",
    multiple=True,
    required=True,
    callback=_pairs,
    metavar="KEY=VALUE",
    help="Property to set, repeatable.",
)
@common_options
def topics_alter(name: str, configs: list[tuple[str, str]]) -> None:
    """Change a topic's properties (others keep their values).

    \b
    Example:
      hub topics alter orders --config retention.ms=3600000 --config cleanup.policy=compact
    """
    with open_log(write=True) as log:
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
        log.delete_topic(name)
    click.echo(f"deleted topic {name}")


# -- produce -------------------------------------------------------------------------------
@cli.command(context_settings=CONTEXT)
@click.argument("topic")
@click.option(
    "--key-separator",
    "-K",
    metavar="SEP",
    help="Each line is KEY<SEP>VALUE (split at the first SEP).",
)
@click.option(
    "--partition",
    "-p",
    type=click.IntRange(min=0),
    metavar="P",
    help="Write to this partition instead of murmur2(key) % partitions.",
)
@click.option(
    "--header",
    "-H",
    "headers",
    multiple=True,
    callback=_pairs,
    metavar="KEY=VALUE",
    help="Header added to every record, repeatable.",
)
@click.option(
    "--null-marker",
    metavar="STR",
    help="A key or value equal to STR is sent as null (a tombstone for a value).",
)
@common_options
def produce(
    topic: str,
    key_separator: str | None,
    partition: int | None,
    headers: list[tuple[str, str]],
    null_marker: str | None,
) -> None:
    """Append stdin's lines to a topic, one record each, durably.

    Keyed records go to partition murmur2(key) % partitions, as with Kafka; lines without
    a key are spread in batches over the partitions. A summary goes to stderr.

    \b
    Examples:
      printf 'hello\\nworld\\n' | hub produce orders
      printf '42:{"id": 42}\\n' | hub produce orders --key-separator : --header source=cli
      hub produce orders --key-separator : --null-marker NULL < changes.txt
    """
    if key_separator == "":
        raise click.BadParameter("must not be empty", param_hint="--key-separator")
    sep = key_separator.encode() if key_separator is not None else None
    null = null_marker.encode() if null_marker is not None else None
    record_headers = [(k, v.encode()) for k, v in headers] or None
    interactive = sys.stdin.isatty()
    with open_log(write=True) as log:
        log.topic(topic)  # fail before reading stdin
        if partition is not None:
            log.partition(topic, partition)
        producer = log.producer()
        keys: list[bytes | None] = []
        values: list[bytes | None] = []
        total = 0

        def send() -> None:
            nonlocal total
            if not values:
                return
            # taken off the lists first: a Ctrl-C during the append must not send them twice
            batch_keys, batch_values = keys[:], values[:]
            keys.clear()
            values.clear()
            producer.send_many(
                topic,
                batch_values,
                batch_keys if sep is not None else None,
                [record_headers] * len(batch_values) if record_headers else None,
                partition=partition,
            )
            producer.flush()  # durable: fsync of every partition appended to
            total += len(batch_values)

        if interactive:
            click.echo(f"type records for {topic}, one per line; Ctrl-D to finish", err=True)
        chunk = 1 if interactive else PRODUCE_CHUNK
        try:
            for lineno, raw in enumerate(sys.stdin.buffer, 1):
                line = raw[:-1] if raw.endswith(b"\n") else raw
                if line.endswith(b"\r"):
                    line = line[:-1]
                if sep is not None:
                    key, found, line = line.partition(sep)
                    if not found:
                        send()
                        raise ConfigError(
                            f"line {lineno} has no key separator {key_separator!r} "
                            f"(expected KEY{key_separator}VALUE); {total} records before it "
                            f"were produced to {topic}"
                        )
                    keys.append(None if key == null else key)
                values.append(None if line == null else line)
                if len(values) >= chunk:
                    send()
        except KeyboardInterrupt:
            send()
            click.echo(f"interrupted: produced {_count(total)} to {topic}", err=True)
            click.get_current_context().exit(130)
        send()
    click.echo(f"produced {_count(total)} to {topic}", err=True)


def _count(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


# -- consume -------------------------------------------------------------------------------
def _text(data: bytes | None) -> str:
    return "null" if data is None else data.decode("utf-8", errors="replace")


def _put(obj: dict[str, Any], name: str, data: bytes | None) -> None:
    if data is None:
        obj[name] = None
        return
    try:
        obj[name] = data.decode("utf-8")
    except UnicodeDecodeError:
        obj[name] = base64.b64encode(data).decode("ascii")
        obj[f"{name}_encoding"] = "base64"


def _header(key: str, value: bytes | None) -> list[str | None]:
    if value is None:
        return [key, None]
    try:
        return [key, value.decode("utf-8")]
    except UnicodeDecodeError:
        return [key, base64.b64encode(value).decode("ascii"), "base64"]


def json_record(r: Record) -> str:
    obj: dict[str, Any] = {
        "topic": r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
    }
    _put(obj, "key", r.key)
    _put(obj, "value", r.value)
    obj["headers"] = [_header(k, v) for k, v in r.headers]
    return json.dumps(obj, ensure_ascii=False)


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the exit-time flush does not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _reader_gone(fd: int) -> bool:
    """True when stdout is a pipe or socket whose reader has gone (e.g. `| head` exited), so
    an idle consumer stops instead of waiting for a record to fail writing."""
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return False
        poller = select.poll()
        poller.register(fd, 0)  # POLLERR and POLLHUP are reported without asking
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return False


class _StopRequest:
    """SIGINT/SIGTERM handler for the consume loop: the first signal asks the loop to stop
    between batches (so a batch is never printed without its commit, or counted wrong); a
    second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._saved: dict[int, Any] = {}

    def __call__(self, _signum: int, _frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def _consume_loop(
    consumer: Consumer,
    render: Callable[[Record], str],
    max_messages: int | None,
    timeout_ms: int | None,
    commit: bool,
) -> tuple[int, str]:
    """Print records until a limit; returns (count, why it stopped)."""
    out = sys.stdout.buffer
    count = 0
    idle_since = time.monotonic()
    timeout = None if timeout_ms is None else timeout_ms / 1000
    with _StopRequest() as stop:
        try:
            while max_messages is None or count < max_messages:
                if stop.requested:
                    return count, "interrupted"
                wait = STOP_LATENCY
                if timeout is not None:
                    wait = max(0.0, min(wait, idle_since + timeout - time.monotonic()))
                limit = POLL_RECORDS
                if max_messages is not None:
                    limit = min(limit, max_messages - count)
                records = consumer.poll(wait, max_records=limit)
                if records:
                    out.write("".join(render(r) + "\n" for r in records).encode("utf-8"))
                    out.flush()  # printed before committed: at-least-once on the terminal too
                    count += len(records)
                    if commit:
                        consumer.commit()
                    idle_since = time.monotonic()
                elif timeout is not None and time.monotonic() - idle_since >= timeout:
                    return count, "timeout"
                elif _reader_gone(out.fileno()):
                    return count, "pipe"
            return count, "max"
        except KeyboardInterrupt:
            return count, "interrupted"
        except BrokenPipeError:
            _silence_stdout()
            return count, "pipe"


@cli.command(context_settings=CONTEXT)
@click.argument("topic")
@click.option(
    "--group",
    "-g",
    metavar="NAME",
    help="Consume as a member of this consumer group and commit "
    "after each printed batch (takes the write lock).",
)
@click.option(
    "--from-beginning",
    is_flag=True,
    help="Start at the earliest offset (with --group: when nothing is committed).",
)
@click.option(
    "--partition",
    "-p",
    type=click.IntRange(min=0),
    metavar="P",
    help="Read only this partition (not with --group).",
)
@click.option(
    "--offset",
    "-o",
    type=click.IntRange(min=0),
    metavar="N",
    help="Start at offset N of --partition.",
)
@click.option(
    "--max-messages", "-n", type=click.IntRange(min=1), metavar="N", help="Stop after N records."
)
@click.option(
    "--timeout-ms",
    type=click.IntRange(min=0),
    metavar="MS",
    help="Stop after MS milliseconds without a new record (default: wait forever).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line with every field.",
)
@click.option("--print-key", is_flag=True, help="text format: print KEY<SEP>VALUE.")
@click.option(
    "--key-separator",
    default="\t",
    show_default="tab",
    metavar="SEP",
    help="Separator for --print-key.",
)
@common_options
def consume(
    topic: str,
    group: str | None,
    from_beginning: bool,
    partition: int | None,
    offset: int | None,
    max_messages: int | None,
    timeout_ms: int | None,
    fmt: str,
    print_key: bool,
    key_separator: str,
) -> None:
    """Print a topic's records, one per line, until Ctrl-C or a limit.

    Without --group, partitions are read directly (all, or --partition) from the latest
    offset, --from-beginning, or --offset; the directory is opened read-only, so this works
    while a worker runs. With --group, the consumer joins the group, resumes from its
    committed offsets and commits after each batch it printed.

    Text prints the value as UTF-8 (null for a null value). JSON prints topic, partition,
    offset, timestamp (ms), key, value and headers ([key, value] pairs); bytes that are
    not UTF-8 are base64 with key_encoding/value_encoding "base64" (a third "base64"
    element for a header).

    \b
    Examples:
      hub consume orders --from-beginning --print-key --key-separator : --timeout-ms 1000
      hub consume orders --partition 2 --offset 100 --max-messages 10 --format json
      hub consume orders --group billing --from-beginning --timeout-ms 1000
    """
    if offset is not None and partition is None:
        raise click.UsageError("--offset needs --partition: offsets are per partition")
    if offset is not None and from_beginning:
        raise click.UsageError("--offset and --from-beginning exclude each other")
    if group is not None and partition is not None:
        raise click.UsageError(
            "--partition/--offset cannot be used with --group (the group assigns partitions); "
            "move a group with 'hub groups reset'"
        )
    if fmt == "json":
        render: Callable[[Record], str] = json_record
    elif print_key:
        render = lambda r: _text(r.key) + key_separator + _text(r.value)  # noqa: E731
    else:
        render = lambda r: _text(r.value)  # noqa: E731
    from hub.log import TopicPartition

    reset = "earliest" if from_beginning else "latest"
    with open_log(write=group is not None) as log:
        n = len(log.describe(topic).partitions)
        # the group lives in this process only (the write lock keeps others out): a long
        # session timeout keeps a consumer blocked on a slow stdout from being expelled
        consumer = log.consumer(
            group_id=group, auto_offset_reset=reset, max_poll_records=POLL_RECORDS,
            session_timeout_ms=3_600_000,
        )  # fmt: skip
        try:
            if group is not None:
                consumer.subscribe([topic])
            else:
                parts = range(n) if partition is None else [partition]
                tps = [TopicPartition(topic, p) for p in parts]
                consumer.assign(tps)
                if offset is not None:
                    consumer.seek(tps[0], offset)
            count, why = _consume_loop(
                consumer, render, max_messages, timeout_ms, commit=group is not None
            )
        finally:
            consumer.close()
    if why != "pipe":
        click.echo(f"consumed {_count(count)} from {topic}", err=True)


# -- groups --------------------------------------------------------------------------------
@cli.group(context_settings=CONTEXT)
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


def _refuse_active(log: Log, group: str, action: str) -> None:
    if log.groups.has_members(group):
        raise ConfigError(
            f"cannot {action} group {group!r}: it has active members; stop its consumers first"
        )


@groups.command("list")
@common_options
def groups_list() -> None:
    """List consumer groups, one per line.

    \b
    Example:
      hub groups list
    """
    with open_log(write=False) as log:
        for name in log.groups.list_groups():
            click.echo(name)


@groups.command("describe")
@click.argument("group")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
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
    if fmt == "json":
        _print_json(dataclasses.asdict(info))
        return
    lag = sum(p.lag or 0 for p in info.partitions)
    click.echo(f"Group: {info.group}  State: {info.state}  Members: {len(info.members)}  "
               f"Total lag: {lag}")  # fmt: skip
    rows = [
        (p.topic, p.partition, p.committed, p.end_offset, p.lag, p.owner) for p in info.partitions
    ]
    click.echo(_table(["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "OWNER"], rows))


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
@click.option(
    "--partition", "-p", type=click.IntRange(min=0), metavar="P", help="Only this partition."
)
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
    timestamp = _parse_datetime(to_datetime) if to_datetime is not None else None
    from hub.log import OffsetAndMetadata, OffsetOutOfRangeError, TopicPartition

    with open_log(write=not dry_run) as log:
        _refuse_active(log, group, "reset")
        info = log.describe(topic)
        parts = info.partitions
        if partition is not None:
            log.partition(topic, partition)  # validates
            parts = (info.partitions[partition],)
        plan: dict[TopicPartition, OffsetAndMetadata] = {}
        rows = []
        now = time.time_ns() // 1_000_000
        for p in parts:
            tp = TopicPartition(topic, p.partition)
            if to_earliest:
                new = p.start_offset
            elif to_latest:
                new = p.durable_offset
            elif to_offset is not None:
                if not p.start_offset <= to_offset <= p.durable_offset:
                    raise OffsetOutOfRangeError(
                        topic, p.partition, to_offset, p.start_offset, p.durable_offset
                    )
                new = to_offset
            else:
                assert timestamp is not None
                found = log.partition(topic, p.partition).offset_for_timestamp(timestamp)
                new = p.durable_offset if found is None else found
            current = log.groups.committed(group, tp)
            rows.append((topic, p.partition, current.offset if current else None, new))
            plan[tp] = OffsetAndMetadata(new, "", now)
        if not dry_run:
            log.groups.commit(group, plan)
    click.echo(_table(["TOPIC", "PARTITION", "CURRENT", "NEW"], rows))
    if dry_run:
        click.echo("dry run: nothing changed (run again without --dry-run to apply)")
    else:
        click.echo(f"reset group {group} on {topic}: {len(plan)} partition(s)")


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


# -- demo ----------------------------------------------------------------------------------
@cli.command(context_settings=CONTEXT)
@click.option(
    "--records",
    "-n",
    type=click.IntRange(min=1),
    metavar="N",
    default=100_000,
    show_default=True,
    help="How many records to produce and consume.",
)
@common_options
def demo(records: int) -> None:
    """Produce and consume N records, with timings.

    Creates a topic with 4 partitions, produces N keyed JSON records, reads them back
    through a consumer group, and prints records/s both ways and the offsets.

    Uses a new temporary directory (kept, so you can look at it) unless --data-dir is
    given on the command line.

    \b
    Example:
      hub demo
      hub demo --records 1000000 --data-dir /tmp/hub-demo
    """
    state = _state()
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
            f"produced {produced:,} records ({_size(nbytes)}) in {elapsed:.2f} s: "
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
             _size(p.size_bytes))
            for p in info.partitions
        ]  # fmt: skip
        click.echo(_table(["PARTITION", "START", "END", "COMMITTED", "SIZE"], rows))
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


# -- entry point ---------------------------------------------------------------------------
def _error(message: str, code: int) -> int:
    click.echo(f"hub: error: {' '.join(message.split())}", err=True)
    return code


# click >= 8.2 raises this for a bare group (`hub`, `hub topics`); 8.1 prints help and exits 0
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hub``; returns the exit status (the console script passes it to sys.exit)."""
    state = State()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # close the log cleanly on `kill`, too
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="hub",
            standalone_mode=False,
            obj=state,
        )
        return result if isinstance(result, int) else 0
    except _NO_ARGS_IS_HELP as exc:
        exc.show()
        return int(exc.exit_code)
    except click.UsageError as exc:
        if state.verbose:
            traceback.print_exc()
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return _error(exc.format_message() + hint, exc.exit_code)
    except click.ClickException as exc:
        return _error(exc.format_message(), exc.exit_code)
    except click.exceptions.Abort:
        return 130
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except HubError as exc:
        if state.verbose:
            traceback.print_exc()
        return _error(str(exc), 2 if isinstance(exc, ConfigError) else 1)
    except OSError as exc:
        if state.verbose:
            traceback.print_exc()
        return _error(str(exc), 1)
    except Exception as exc:
        if state.verbose:
            traceback.print_exc()
        return _error(
            f"unexpected {type(exc).__name__}: {exc} (run with --verbose for the traceback)", 1
        )
