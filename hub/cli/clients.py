"""``hub produce`` and ``hub consume``: stdin lines into a topic, a topic's records to stdout."""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from hub.cli._common import (
    CONTEXT,
    common_options,
    format_option,
    open_log,
    pairs_option,
    partition_option,
    silence_stdout,
)
from hub.errors import ConfigError

if TYPE_CHECKING:
    from hub.log import Consumer, Record

PRODUCE_CHUNK = 10_000  # lines per append + fsync when reading a pipe or file
POLL_RECORDS = 2_000
STOP_LATENCY = 0.2  # seconds a waiting consumer takes to notice Ctrl-C or a closed pipe


def _count(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


# -- produce -------------------------------------------------------------------------------
@click.command(context_settings=CONTEXT)
@click.argument("topic")
@click.option(
    "--key-separator",
    "-K",
    metavar="SEP",
    help="Each line is KEY<SEP>VALUE (split at the first SEP).",
)
@partition_option("Write to this partition instead of murmur2(key) % partitions.")
@pairs_option("--header", "-H", "headers", help="Header added to every record, repeatable.")
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
    from hub.log import KeylessRecordError, RecordTooLargeError

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
        first_line = 1  # the line of values[0]

        def send_many(batch_keys: list[bytes | None], batch_values: list[bytes | None]) -> None:
            producer.send_many(
                topic,
                batch_values,
                batch_keys if sep is not None else None,
                [record_headers] * len(batch_values) if record_headers else None,
                partition=partition,
            )

        def send(next_line: int) -> None:
            nonlocal total, first_line
            if not values:
                first_line = next_line
                return
            # taken off the lists first: a Ctrl-C during the append must not send them twice
            batch_keys, batch_values, at = keys[:], values[:], first_line
            keys.clear()
            values.clear()
            first_line = next_line
            try:
                send_many(batch_keys, batch_values)
            except (RecordTooLargeError, KeylessRecordError) as exc:
                # a record the topic refuses (nothing of the chunk was written): the lines
                # before it are, one by one, and the error names it and what was produced
                for i in range(len(batch_values)):
                    try:
                        send_many(batch_keys[i : i + 1], batch_values[i : i + 1])
                    except (RecordTooLargeError, KeylessRecordError) as one:
                        producer.flush()
                        total += i
                        raise ConfigError(
                            f"line {at + i}: {one}; the {total} records before it were "
                            f"produced to {topic}, the lines from it on were not"
                        ) from exc
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
                        send(lineno)
                        raise ConfigError(
                            f"line {lineno} has no key separator {key_separator!r} "
                            f"(expected KEY{key_separator}VALUE); {total} records before it "
                            f"were produced to {topic}"
                        )
                    keys.append(None if key == null else key)
                values.append(None if line == null else line)
                if len(values) >= chunk:
                    send(lineno + 1)
        except KeyboardInterrupt:
            send(0)
            click.echo(f"interrupted: produced {_count(total)} to {topic}", err=True)
            click.get_current_context().exit(130)
        send(0)
    click.echo(f"produced {_count(total)} to {topic}", err=True)


# -- consume: rendering --------------------------------------------------------------------
def _text(data: bytes | None) -> str:
    return "null" if data is None else data.decode("utf-8", errors="replace")


def _utf8_or_base64(data: bytes) -> tuple[str, bool]:
    """``data`` as UTF-8 text, or as base64 (and True) when it is not UTF-8."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


def _put(obj: dict[str, Any], name: str, data: bytes | None) -> None:
    if data is None:
        obj[name] = None
        return
    obj[name], encoded = _utf8_or_base64(data)
    if encoded:
        obj[f"{name}_encoding"] = "base64"


def _header(key: str, value: bytes | None) -> list[str | None]:
    if value is None:
        return [key, None]
    text, encoded = _utf8_or_base64(value)
    return [key, text, "base64"] if encoded else [key, text]


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


# -- consume: the loop ---------------------------------------------------------------------
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
            silence_stdout()
            return count, "pipe"


# -- consume: the command ------------------------------------------------------------------
@click.command(context_settings=CONTEXT)
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
@partition_option("Read only this partition (not with --group).")
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
@format_option("json: one object per line with every field.")
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
