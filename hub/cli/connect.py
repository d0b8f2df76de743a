"""``hub run``, ``hub validate`` and ``hub plugins``: the connect runtime on the command line."""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import click

from hub.cli._common import common_options, current_state
from hub.config import MASK, is_secret
from hub.errors import ConfigError

REACH_TIMEOUT_S = 10.0  # how long a worker on Kafka waits for a broker to answer at start
# a source task's transaction.timeout.ms, at most: a read to an end waits for a transaction a
# killed worker left open, and gives up after 30 s (hub.log.kafka.TIMEOUT_S)
TXN_TIMEOUT_MAX_MS = 25000
_dumper: threading.Thread | None = None  # the thread that dumps the stacks on SIGUSR1

WORKER_CONFIG_HELP = (
    "A YAML file of worker properties. 'log.backend: kafka' with 'bootstrap.servers' (and "
    "librdkafka's security properties under Kafka's names) keeps topics, offsets and configs "
    "on that Kafka cluster instead of the data directory (a preview: see docs/kafka-backend.md); "
    "'config.storage.topic', 'offset.storage.topic' and 'status.storage.topic' name the "
    "internal topics (default __connect_configs, __connect_offsets, __connect_status); "
    "'replication.factor' (default 3, -1: the cluster's default) is that of every topic hub "
    "creates there, '*.storage.replication.factor' an internal topic's. With Kafka, 'group.id' "
    "makes 'hub serve' one worker of a cluster: the workers with that group.id share the "
    "connectors created over any one's REST API (README: Several workers); "
    "'exactly.once.source.support: enabled' makes source tasks write their records and "
    "offsets in Kafka transactions, fencing a task's earlier producers (README). On the "
    "embedded log, 'log.retention.check.interval.ms' (default 300000) is how often retention "
    "and compaction run. "
    "'config.providers.env.param.allowlist.pattern' (a regex of variable names) and "
    "'config.providers.file.param.allowed.paths' (directories) let configs sent over REST "
    "read ${env:...} and ${file:...}, which they may not otherwise."
)


@dataclass(frozen=True, slots=True)
class Cluster:
    """A worker config's distributed part (Connect's property names)."""

    group_id: str  # group.id: the workers sharing connectors
    advertised_host: str | None  # rest.advertised.host.name: how other workers reach this one
    advertised_port: int | None  # rest.advertised.port

    def worker_id(self, host: str, port: int) -> str:
        """This worker's REST address for the others (a task's restart is forwarded there)."""
        if self.advertised_host is None and host in ("0.0.0.0", "::", ""):
            host = socket.getfqdn()
        return f"{self.advertised_host or host}:{self.advertised_port or port}"


def _rest_references(props: dict[str, Any], path: str) -> None:
    """The worker config's allow-lists of what configs sent over REST may read through
    ``${env:..}`` and ``${file:..}`` (hub.config.RestReferences), taken out of ``props``."""
    import re

    from hub.config import ENV_ALLOWLIST, FILE_ALLOWED_PATHS, allow_rest_references

    pattern = props.pop(ENV_ALLOWLIST, None)
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise ConfigError(
                f"{path}: {ENV_ALLOWLIST} is not a regular expression ({exc}): write one the "
                "allowed variables' names match whole, e.g. PG_.*|MYSQL_PASSWORD"
            ) from None
    dirs = [d.strip() for d in str(props.pop(FILE_ALLOWED_PATHS, "") or "").split(",")]
    dirs = [d for d in dirs if d]
    relative = [d for d in dirs if not os.path.isabs(d)]
    if relative:
        raise ConfigError(
            f"{path}: {FILE_ALLOWED_PATHS} takes absolute directories, comma-separated, not "
            f"{', '.join(relative)}"
        )
    allow_rest_references(None if pattern is None else str(pattern), dirs)


RETENTION_CHECK = "log.retention.check.interval.ms"
RETENTION_CHECK_MS = 300_000  # (Kafka's default)


class WorkerFile(NamedTuple):
    """What a worker config says: the log backend (None: the embedded log in the data dir),
    the internal topics' names (`hub.runtime.storage.StorageTopics`), the cluster (Connect's
    ``group.id``: distributed workers; None: a worker on its own) and how often the
    embedded log's retention and compaction run (Kafka's ``log.retention.check.interval.ms``)."""

    backend: Any
    storage: Any
    cluster: Cluster | None
    retention_check_interval_ms: int = RETENTION_CHECK_MS


def _retention_check(props: dict[str, Any], path: str) -> int:
    value = props.pop(RETENTION_CHECK, RETENTION_CHECK_MS)
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1000:
        raise ConfigError(
            f"{path}: {RETENTION_CHECK} must be a whole number of milliseconds, at least "
            f"1000 (how often retention and compaction run; default {RETENTION_CHECK_MS}), "
            f"not {value!r}"
        )
    return int(text)


def _worker_config(path: str | None) -> WorkerFile:
    """What the worker config at ``path`` says (`WorkerFile`)."""
    from hub.runtime.storage import StorageTopics, replication_factor

    if path is None:
        return WorkerFile(None, StorageTopics(), None)
    import yaml

    from hub.config import DuplicateKeyError, load_yaml

    try:
        with open(path, encoding="utf-8") as f:
            doc = load_yaml(f) or {}
    except DuplicateKeyError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} of the file): save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the worker config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the worker config must be a mapping of properties")
    from hub.config import remember_secrets, resolve, url_passwords

    # (${env:..} and ${file:..} as in connector files: sasl.password: ${env:KAFKA_PASSWORD}
    # had reached librdkafka as that text)
    props, referenced = resolve({str(k): v for k, v in doc.items()}, path)
    for k, v in props.items():
        remember_secrets([v] if k in referenced or is_secret(k) else url_passwords(v))
    _rest_references(props, path)
    storage = StorageTopics.of(props, path)
    kind = str(props.pop("log.backend", "embedded"))
    if kind == "kafka" and RETENTION_CHECK in props:
        raise ConfigError(
            f"{path}: {RETENTION_CHECK} is the embedded log's; on Kafka the brokers apply "
            "retention (a broker setting of the same name): remove it here"
        )
    retention_check = _retention_check(props, path)
    group = props.pop("group.id", None)
    if group is not None and (not isinstance(group, str) or not _GROUP.fullmatch(group)):
        raise ConfigError(
            f"{path}: group.id must be a name of letters, digits, '.', '_' and '-' (at most "
            f"200; the workers' lease topic is <group.id>.leases), not {group!r}"
        )
    host, port = (
        props.pop("rest.advertised.host.name", None),
        props.pop("rest.advertised.port", None),
    )
    if port is not None and (not str(port).isdigit() or not 0 < int(str(port)) < 65536):
        raise ConfigError(f"{path}: rest.advertised.port must be a port number, not {port!r}")
    eos = str(props.pop("exactly.once.source.support", "disabled"))
    if eos not in ("enabled", "disabled"):
        raise ConfigError(
            f"{path}: exactly.once.source.support must be 'enabled' (source tasks write their "
            f"records and offsets in Kafka transactions) or 'disabled', not {eos!r}"
        )
    timeout = props.get("transaction.timeout.ms")
    if timeout is not None and (
        not str(timeout).isdigit() or not 1000 <= int(str(timeout)) <= TXN_TIMEOUT_MAX_MS
    ):
        raise ConfigError(
            f"{path}: transaction.timeout.ms must be a whole number of milliseconds from 1000 "
            f"to {TXN_TIMEOUT_MAX_MS} (a read of the offsets waits for a transaction a killed "
            f"worker left open, 30 s at most), not {timeout!r}"
        )
    cluster = None if group is None else Cluster(
        group, None if host is None else str(host), None if port is None else int(str(port))
    )  # fmt: skip
    if kind == "embedded":
        if cluster is not None:
            raise ConfigError(
                f"{path}: group.id makes the worker one of a cluster of workers, which share "
                "their connectors through a Kafka cluster: it needs log.backend: kafka "
                "(remove group.id to run one worker on the embedded log)"
            )
        if eos == "enabled":
            raise ConfigError(
                f"{path}: exactly.once.source.support is for log.backend: kafka (Kafka "
                "transactions); on the embedded log source tasks are exactly-once without "
                "them: remove the property"
            )
        props.pop("transaction.timeout.ms", None)
        if props:  # (a misspelt log.backend ran on the embedded log, silently)
            raise ConfigError(_unused_on_embedded(path, props))
        return WorkerFile(None, storage, None, retention_check)
    if kind != "kafka":
        raise ConfigError(f"{path}: log.backend must be 'embedded' or 'kafka', not {kind!r}")
    # (Connect's default for its internal topics; a cluster of fewer brokers refuses it, and
    # the error says to set replication.factor: 1 on a one-broker cluster, or -1)
    factor = replication_factor(props.pop("replication.factor", 3), f"{path}: replication.factor")
    if not props.get("bootstrap.servers"):
        raise ConfigError(f"{path}: log.backend kafka needs bootstrap.servers (host:port,...)")
    try:
        from confluent_kafka import KafkaException

        from hub.log.kafka import KafkaLog
    except ImportError:
        raise ConfigError(
            f"{path}: log.backend kafka needs confluent-kafka: pip install -e '.[kafka]'"
        ) from None

    def said(exc: KafkaException) -> str:
        text: str = exc.args[0].str() if exc.args else str(exc)
        for k, v in props.items():  # (never a secret in the message)
            if is_secret(k) and isinstance(v, str) and v:
                text = text.replace(v, MASK)
        return text

    try:
        backend = KafkaLog(
            props, replication_factor=factor,
            # (Connect's transactional ids: <group.id>-<connector>-<task>; a worker on its own
            # is named by its offsets topic: two sharing it are one deployment, running the
            # same task twice, and two with their own must not fence each other)
            transaction_prefix=(group or storage.offsets) if eos == "enabled" else None,
        )  # fmt: skip
    except KafkaException as exc:  # a property librdkafka refuses
        raise ConfigError(f"{path}: {said(exc)}") from None
    try:
        brokers = backend.check_reachable(REACH_TIMEOUT_S)  # (before any connector starts)
    except KafkaException as exc:
        security = [f"{k}={props[k]}" for k in ("security.protocol", "sasl.mechanism")
                    if props.get(k)]  # fmt: skip
        raise ConfigError(
            f"{path}: cannot reach the Kafka cluster at bootstrap.servers "
            f"{props['bootstrap.servers']} within {REACH_TIMEOUT_S:.0f} s: {said(exc)}; check "
            "the address and that the brokers are up"
            + (
                f", and that the listener there takes {' and '.join(security)} (a mismatch "
                "fails the same way; librdkafka's log lines above say which)"
                if security
                else ""
            )
        ) from None
    factors = {"replication.factor": factor,
               "config.storage.replication.factor": storage.configs_replication,
               "offset.storage.replication.factor": storage.offsets_replication,
               "status.storage.replication.factor": storage.status_replication}  # fmt: skip
    over = {k: v for k, v in factors.items() if v is not None and v > brokers}
    if over:
        backend.close()
        named = ", ".join(f"{k} {v}" for k, v in over.items())
        raise ConfigError(
            f"{path}: {named}, but the Kafka cluster at bootstrap.servers "
            f"{props['bootstrap.servers']} has {brokers} broker(s): set {' and '.join(over)} "
            "to at most that (a one-broker cluster: 1), or -1 for the cluster's default"
        )
    return WorkerFile(backend, storage, cluster)


_GROUP = re.compile(r"[A-Za-z0-9._-]{1,200}")
_WORKER_KEYS = (
    "log.backend", "group.id", "rest.advertised.host.name", "rest.advertised.port",
    RETENTION_CHECK, "exactly.once.source.support", "transaction.timeout.ms", "replication.factor",
    "bootstrap.servers", "config.storage.topic", "offset.storage.topic", "status.storage.topic",
)  # fmt: skip


def _unused_on_embedded(path: str, props: dict[str, Any]) -> str:
    """What to say of worker properties the embedded log does not use (names, no values)."""
    import difflib

    lines = []
    for name in sorted(props):
        close = difflib.get_close_matches(name, _WORKER_KEYS, n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close and close[0] != name else ""
        lines.append(f"{name}{hint}")
    return (
        f"{path}: {', '.join(lines)}: not used by a worker on the embedded log (log.backend "
        "is embedded): Kafka client properties need log.backend: kafka; remove the others"
    )


def _internal_topics(valid: list, storage: Any) -> list[str]:  # type: ignore[type-arg]
    """Lines for the connectors that name one of ``storage``'s internal topics."""
    from hub.runtime.validation import internal_topic_problems

    names = frozenset((storage.configs, storage.offsets, storage.status))
    return [p for v in valid for p in internal_topic_problems(v, names)]


def _load(configs: tuple[str, ...], storage: Any = None) -> list:  # type: ignore[type-arg]
    """Load and validate every connector of every file; all problems in one error.
    ``storage``: the worker's internal topics, which no connector may name (`hub run` and
    `hub serve` check them once their worker config is read)."""
    from hub.config import load_connector_file
    from hub.runtime.validation import shared_targets, validate

    problems: list[str] = []
    valid = []
    for path in configs:
        try:
            specs = load_connector_file(path)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        for spec in specs:
            try:
                valid.append(validate(spec))
            except ConfigError as exc:
                problems.append(str(exc))
    sources: dict[str, list[str]] = {}
    for v in valid:
        sources.setdefault(v.name, []).append(v.spec.source)
    for name, where in sorted(sources.items()):
        if len(where) > 1:
            files = sorted(set(where))
            problems.append(
                f"connector {name!r} is defined twice in {files[0]} (a file given twice?)"
                if len(files) == 1
                else f"connector {name!r} is defined in {' and '.join(files)}: names must be "
                "unique across files"
            )
    problems += shared_targets(valid)
    if storage is not None:
        problems += _internal_topics(valid, storage)
    if problems:  # (a blank line between them: each is a line of its own, `_lines`)
        raise ConfigError("\n\n".join(problems))
    return valid


def _scrub(text: str, valid) -> str:  # type: ignore[no-untyped-def]
    """``text`` without any secret value of the connector's config."""
    from hub.runtime.worker import _scrub as scrub

    return str(scrub(text, valid))


def _status_line(worker) -> str:  # type: ignore[no-untyped-def]
    parts = []
    failed = worker.connector_errors()
    for name, tasks in worker.status().items():
        states = {t.state for t in tasks} or {"UNASSIGNED"}
        state = (
            "FAILED" if "FAILED" in states or name in failed
            else "RUNNING" if "RUNNING" in states else min(states)
        )  # fmt: skip
        rate = sum(t.records_per_second for t in tasks)
        total = sum(t.records for t in tasks)
        lags = [t.lag for t in tasks if t.lag is not None]
        lag = f" lag {sum(lags)}" if lags else ""
        parts.append(f"{name}: {state} {total} rec ({rate:,.0f}/s){lag}")
    return " | ".join(parts)


@click.command()
@click.argument("configs", nargs=-1, required=True, metavar="CONFIG.yaml...")
@click.option(
    "--fail-fast",
    is_flag=True,
    help="Exit (status 1) as soon as a connector or task fails with an error that retrying "
    "will not fix (wrong password, unknown database, wal_level), instead of retrying it "
    "every minute.",
)
@click.option("--worker-config", metavar="FILE", default=None, help=WORKER_CONFIG_HELP)
@common_options
def run(configs: tuple[str, ...], fail_fast: bool, worker_config: str | None) -> int:
    """Run connectors from YAML files until stopped (Ctrl-C or SIGTERM).

    Each file holds one connector (name + config) or several under 'connectors:'. Every
    config is validated before anything starts. Source offsets and sink progress are
    checkpointed, so a restart (even after kill -9) continues where it stopped, with nothing
    lost and nothing written twice.

    A failed task is restarted with backoff (1 s doubling to 60 s); one that failed on a
    configuration error is said to be so and retried every 60 s (or, with --fail-fast, ends
    the run). The exit status is 0 after a clean stop with every connector healthy, 1 when a
    connector or task had failed, 2 for an invalid config.

    \b
    Example:
      hub run configs/datagen-to-file.yaml
      hub --data-dir /var/lib/hub run --fail-fast /etc/hub/*.yaml
    """
    from hub.log.files import raise_open_files_limit
    from hub.runtime import _gc
    from hub.runtime.worker import Worker

    tty = sys.stderr.isatty()
    console = _logging(tty)
    log = logging.getLogger("hub")
    valid = _load(configs)
    backend, storage, cluster, retention_check = _worker_config(worker_config)
    if cluster is not None:
        backend.close()
        raise ConfigError(
            f"{worker_config}: group.id makes a worker of a cluster, which 'hub serve' runs "
            "(its connectors created over REST); 'hub run' runs the files' connectors on one "
            "worker: remove group.id"
        )
    problems = _internal_topics(valid, storage)  # (the worker config may name them)
    if problems:
        if backend is not None:
            backend.close()
        raise ConfigError("\n\n".join(problems))
    _gc.tune()
    raise_open_files_limit()
    worker = Worker(
        current_state().data_dir, restore=False, backend=backend, storage=storage,
        retention_check_interval_ms=retention_check,
    )  # fmt: skip
    worker.fail_fast = fail_fast
    failed: list[str] = []
    try:
        for v in valid:
            worker.add(v.spec, valid=v)
        with _display(console) as show:
            last_log = time.monotonic()
            while True:
                time.sleep(1)
                if fail_fast and (failed := worker.failures(permanent_only=True)):
                    log.error("--fail-fast: stopping at an error that retrying will not fix")
                    break
                if show is not None:
                    show(worker, {v.name: v.cls.type for v in valid})
                elif time.monotonic() - last_log >= 10:
                    log.info("status: %s", _status_line(worker))
                    last_log = time.monotonic()
    except KeyboardInterrupt:
        log.info("stopping: flushing and committing")
        failed = worker.failures()
    finally:
        _stop(worker)
    if failed:
        log.error("stopped; failed: %s", "; ".join(failed))
        return 1
    log.info("stopped cleanly")
    return 0


def _stop(worker: Any) -> None:
    """``worker.stop()``, bounded by its ``stop_timeout_s``: a stop stuck past it (a
    connector's stop() that never returns, a client call that hangs) is told, with where
    every thread waits, and the process exits (status 1) without it. That loses nothing
    acknowledged: offsets are committed only after what they cover is durable, and a start
    after a kill -9 resumes from there."""
    done = threading.Event()
    limit = worker.stop_timeout_s

    def watch() -> None:
        if done.wait(limit):
            return
        logging.getLogger("hub").error(
            "stopping did not finish within %.0f s: exiting without it (nothing acknowledged "
            "is lost; the next start resumes from the last commit). Where each thread waits:",
            limit,
        )
        with contextlib.suppress(Exception):  # (stderr gone: nothing to tell it to)
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(1)

    threading.Thread(target=watch, name="hub-stop-watchdog", daemon=True).start()
    try:
        worker.stop()
    finally:
        done.set()


def _logging(tty: bool) -> Any:
    """Log to stderr; on a terminal through rich's console (returned), so that log lines
    print above the live view instead of through it. ``kill -USR1`` prints every thread's
    stack to stderr (where a worker that does not stop waits)."""
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        _dump_threads_on_sigusr1()
    if not tty:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
        )
        return None
    from rich.console import Console
    from rich.logging import RichHandler

    console = Console(stderr=True)
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[handler])
    return console


def _dump_threads_on_sigusr1() -> None:
    """``kill -USR1``: every thread's stack to stderr, from a thread of its own that waits for
    the signal (it is blocked in the others, which inherit the mask from here), holding the
    GIL while it dumps. Not faulthandler's C handler: that one reads the threads' states
    while they change, and crashed a worker starting its threads with SIGSEGV (1 run in 5
    here); not a Python handler either: that runs only when the main thread runs Python,
    and a worker that seems stuck may be stuck there."""
    global _dumper
    if _dumper is not None:  # (the CLI called again in this process)
        return
    wanted = {signal.SIGUSR1}
    signal.pthread_sigmask(signal.SIG_BLOCK, wanted)

    def dump(_sig: int = 0, _frame: Any = None) -> None:
        with contextlib.suppress(Exception):  # (stderr gone: nothing to tell it to)
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)

    # (a thread started before the mask may still take the signal: then this handler)
    signal.signal(signal.SIGUSR1, dump)

    def wait() -> None:
        while True:
            signal.sigwait(wanted)
            dump()

    _dumper = threading.Thread(target=wait, name="hub-sigusr1", daemon=True)
    _dumper.start()


@contextlib.contextmanager
def _display(console: Any) -> Iterator[Callable[[Any, dict[str, str]], None] | None]:
    """The live view's update function on a terminal (``console``), else None."""
    if console is None:
        yield None
        return
    from rich.live import Live

    from hub.cli.live import LiveView

    view = LiveView()
    with Live(console=console, refresh_per_second=2, transient=False) as live:

        def show(worker: Any, types: dict[str, str]) -> None:
            live.update(view.render(worker.status(), types, failed=worker.connector_errors()))

        yield show


@click.command()
@click.argument("configs", nargs=-1, required=True, metavar="CONFIG.yaml...")
@click.option(
    "--connect/--no-connect",
    default=True,
    show_default=True,
    help="Also open each database or target and check it is set up for the connector "
    "(wal_level, REPLICATION, slot, publication, table privileges; the sink's permission "
    "to create tables). Nothing is created or changed there.",
)
@common_options
def validate(configs: tuple[str, ...], connect: bool) -> None:
    """Check connector configs without starting anything.

    Every property is checked (names, values, regular expressions), then, with --connect
    (the default), every database and target the configs point at: one line per check.
    Exit status 0 when all is well, 2 when something must be fixed.

    \b
    Example:
      hub validate configs/postgres-to-duckdb.yaml
      hub validate --no-connect a.yaml b.yaml      # offline: the files as one run
    """
    import os

    from hub.runtime.api import Check
    from hub.runtime.storage import StorageTopics

    os.environ.setdefault("PGCONNECT_TIMEOUT", "5")  # a wrong host must not hang the check
    failed = 0
    for v in _load(configs, StorageTopics()):  # (Connect's names: no worker config here)
        click.echo(f"ok: {v.name} ({v.cls.name} {v.cls.type}, tasks.max={v.common.tasks_max})")
        for w in v.warnings:
            click.echo(f"warning: {w}", err=True)
        if not connect:
            continue
        try:
            checks = v.cls.check(_check_timeouts(v))
        except Exception as exc:  # noqa: BLE001 - a connector's check must not traceback
            checks = [Check("check", False, f"{type(exc).__name__}: {exc}")]
        for c in checks:
            detail = f": {_scrub(c.detail, v)}" if c.detail else ""
            click.echo(f"  {'ok  ' if c.ok else 'FAIL'}  {_scrub(c.what, v)}{detail}")
            failed += not c.ok
    if failed:
        raise ConfigError(f"{failed} check(s) failed; see the FAIL lines above")


# a check's wait at most (hub validate --connect): the timeouts also bound the checks' load
# and MERGE (a warehouse's job, a statement), which a queued or cold warehouse may take long
CHECK_TIMEOUT_MS = 60_000


def _check_timeouts(valid: Any) -> dict[str, Any]:
    """The config the checks run with: its ``*.timeout.ms`` waits at most `CHECK_TIMEOUT_MS`
    (an unreachable BigQuery endpoint had kept hub validate waiting 300 s, its default)."""
    raw = dict(valid.raw)
    for field in valid.cls.config_model.model_fields.values():
        alias = field.alias or ""
        if alias.endswith(".timeout.ms") and isinstance(field.default, int):
            raw[alias] = min(int(raw.get(alias, field.default)), CHECK_TIMEOUT_MS)
    return raw


@click.command()
def plugins() -> None:
    """List the installed connector plugins and the names configs may use for them.

    \b
    Example:
      hub plugins
    """
    from hub.runtime.plugins import discover

    for p in discover():
        names = ", ".join(dict.fromkeys((p.name, p.cls.name, *p.cls.aliases)))
        click.echo(f"{p.type:<7} {names}  ({p.class_name} {p.cls.version})")


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port``; a clear error when the address is in use or
    cannot be had."""
    # (as uvicorn binds: IPv6 for an address with a colon, else IPv4, "localhost" included)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):
            raise ConfigError(f"--host {host}: {exc.strerror or exc}") from None
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"{host}:{port} is in use (another hub serve, or Kafka Connect?): stop it, or "
                "choose another --port"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@click.command()
@click.argument("configs", nargs=-1, metavar="[CONFIG.yaml...]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8083,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@click.option(
    "--auth-token",
    envvar="HUB_REST_AUTH_TOKEN",
    metavar="TOKEN",
    help="Require 'Authorization: Bearer TOKEN' on every request (rest.auth.token) "
    "[env HUB_REST_AUTH_TOKEN].",
)
@click.option(
    "--max-request-bytes",
    default=1 << 20,
    show_default=True,
    type=click.IntRange(min=1024),
    help="Largest request body accepted; a larger one gets 413.",
)
@click.option("--worker-config", metavar="FILE", default=None, help=WORKER_CONFIG_HELP)
@common_options
def serve(
    configs: tuple[str, ...],
    host: str,
    port: int,
    auth_token: str | None,
    max_request_bytes: int,
    worker_config: str | None,
) -> None:
    """Run a worker with Kafka Connect's REST API until stopped (Ctrl-C or SIGTERM).

    Connectors created over REST are kept in the data directory and start again with the
    next 'hub serve'; connectors from CONFIG.yaml files start too, but are not kept. A
    browser opening the address gets the web console (pipelines, connector pages, actions;
    with --auth-token it asks for the token once).

    \b
    Example:
      hub serve --port 8083 configs/datagen-to-file.yaml
      curl -s localhost:8083/connectors?expand=status
      hub connectors list
      open http://localhost:8083/        # the web console
    """
    if auth_token is None and "HUB_REST_AUTH_TOKEN" in os.environ:
        auth_token = os.environ["HUB_REST_AUTH_TOKEN"]  # (click reads an empty one as unset)
    if auth_token is not None and not auth_token.strip():
        # (a deployment whose secret was missing: running open would go unnoticed)
        raise click.UsageError(
            "the auth token is empty (--auth-token or HUB_REST_AUTH_TOKEN): give one, or unset "
            "HUB_REST_AUTH_TOKEN to run without authentication"
        )
    import uvicorn

    from hub.api import create_app
    from hub.log.files import raise_open_files_limit
    from hub.runtime import _gc
    from hub.runtime.worker import Worker

    _logging(False)
    valid = _load(configs)
    listening = _listen(host, port)  # (before any connector starts: a port in use stops here)
    backend, storage, cluster, retention_check = _worker_config(worker_config)
    if cluster is not None and valid:
        backend.close()
        raise ConfigError(
            f"{worker_config}: a worker of a cluster (group.id) takes its connectors from the "
            "cluster's config topic: create them over the REST API (POST /connectors, or "
            "'hub connectors create'), not as files on its command line"
        )
    problems = _internal_topics(valid, storage)  # (the worker config may name them)
    if problems:
        if backend is not None:
            backend.close()
        listening.close()
        raise ConfigError("\n\n".join(problems))
    _gc.tune()
    raise_open_files_limit()
    worker = Worker(
        current_state().data_dir, backend=backend, storage=storage,
        worker_id=f"{host}:{port}" if cluster is None else cluster.worker_id(host, port),
        cluster=None if cluster is None else cluster.group_id,
        retention_check_interval_ms=retention_check,
    )  # fmt: skip
    try:
        for v in valid:
            if v.name in worker.connectors:  # the file's config wins over a stored one
                worker.remove(v.name)
            worker.add(v.spec, valid=v)
        app = create_app(worker, auth_token=auth_token, max_request_bytes=max_request_bytes)
        config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None)
        with contextlib.suppress(KeyboardInterrupt):  # SIGTERM/Ctrl-C: a clean stop
            uvicorn.Server(config).run(sockets=[listening])
        logging.getLogger("hub").info("stopping: flushing and committing")
    finally:
        _stop(worker)
    logging.getLogger("hub").info("stopped cleanly")
