"""``hub demo``: the main job on embedded defaults, end to end.

1. a PostgreSQL with the sample shop (`hub.demo.shop`): a throwaway server started here
   (``wal_level=logical``, deleted afterwards), or the user's database (``--source``); with
   ``--mysql``, a throwaway MariaDB (ROW binlog) instead;
2. ``configs/postgres-to-duckdb.yaml`` (``configs/mysql-to-duckdb.yaml``) in a worker: the
   source snapshots the tables and streams their changes into the log, the DuckDB sink keeps
   ``hub-demo/warehouse.duckdb`` equal to them;
3. a steady stream of writes while a progress line shows changes captured and applied;
4. the writes stop, the warehouse catches up, and every table is compared row by row with
   the source; then how to query it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.demo import shop
from hub.demo.dialects import MariaDBShop, PostgresShop, ShopDatabase
from hub.errors import ConfigError

if TYPE_CHECKING:
    from hub.demo.mariadb import MariaDBServer

Echo = Callable[[str], None]


@contextmanager
def throwaway_postgres(echo: Echo) -> Iterator[dict[str, str]]:
    """Start a PostgreSQL for the demo; yields libpq environment variables for it."""
    from hub.demo.postgres import prepare_dir, start_server, stop_server

    base = Path(tempfile.mkdtemp(prefix="hub-demo-pg-"))
    prepare_dir(base)
    started = time.monotonic()
    server = start_server(base)
    echo(f"started a throwaway PostgreSQL (wal_level=logical) on 127.0.0.1:{server.port} "
         f"in {time.monotonic() - started:.1f} s")  # fmt: skip
    try:
        yield {"PGHOST": server.host, "PGPORT": str(server.port), "PGUSER": server.user}
    finally:
        stop_server(server)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def throwaway_mariadb(echo: Echo) -> Iterator[MariaDBServer]:
    """Start a MariaDB for the demo (ROW binlog, CDC user ``hub``); yields the server."""
    from hub.demo.mariadb import start_server, stop_server

    base = Path(tempfile.mkdtemp(prefix="hub-demo-mariadb-"))
    try:
        started = time.monotonic()
        server = start_server(base)
        echo(f"started a throwaway MariaDB (binlog_format=ROW) on 127.0.0.1:{server.port} "
             f"in {time.monotonic() - started:.1f} s")  # fmt: skip
        try:
            yield server
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class DemoSource:
    """The demo's source database while it runs."""

    db: ShopDatabase  # the workload's connection; ``db.label`` names the server
    orders_topic: str  # where the orders' change events go
    own: str  # the variables that point the config at your own database
    warehouse_var: str  # the variable the config's DuckDB connection.url reads
    left: str = ""  # the user's database the demo wrote its shop to (--source), if any


def compare(valid: list[Any]) -> dict[str, tuple[int, int, bool]]:
    """Per source table (by name): (source rows, warehouse rows, equal), by ``hub verify``'s
    comparison of the validated connectors ``valid``."""
    from hub.verify.pairs import verify_all

    return {
        p.result.source.split(".", 1)[1]: (
            p.result.source_rows, p.result.target_rows, p.result.equal,
        )
        for p in verify_all(valid)
    }  # fmt: skip


def run(config_path: str, workdir: Path, *, source: str | None, seconds: float, rate: float,
        echo: Echo, mysql: bool = False) -> bool:  # fmt: skip
    """The whole demo; True when every table matches. ``mysql``: from a throwaway MariaDB
    instead of PostgreSQL (``source`` must then be None)."""
    from hub.config import load_connector_file
    from hub.runtime.validation import validate
    from hub.runtime.worker import Worker

    if mysql and source is not None:
        raise ConfigError("--source names a PostgreSQL database: leave it out with --mysql")
    if not Path(config_path).is_file():  # (before a server is started and a shop made)
        raise ConfigError(f"{config_path}: no such connector file (--config)")
    data = workdir / "data"
    warehouse = workdir / "warehouse.duckdb"
    for stale in (data, warehouse, Path(f"{warehouse}.wal")):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    opened = _mariadb_shop(echo) if mysql else _user_database(source, echo)
    with opened as src:
        os.environ[src.warehouse_var] = str(warehouse)  # the config's connection.url
        specs = load_connector_file(config_path)
        valid = [validate(spec) for spec in specs]
        worker = Worker(str(data))
        worker.fail_fast = True  # (the demo ends at a failed task)
        try:
            for v in valid:
                worker.add(v.spec, valid=v)
            echo(f"running {config_path}: {' -> '.join(s.name for s in specs)}")
            ok = _stream(worker, src.db, valid, seconds, rate, echo)
        finally:
            worker.stop()
        if not ok:
            return False
        result = compare(valid)
    label = src.db.label
    echo("")
    for table, (n_source, n_target, equal) in result.items():
        mark = "match" if equal else "DIFFER"
        echo(f"  {table:<12} {n_source:>6} rows in {label}, {n_target:>6} in DuckDB: {mark}")
    if not all(eq for _, _, eq in result.values()):
        echo("\nthe warehouse does not match the source: please report this as a bug")
        return False
    query = "SELECT status, count(*), sum(total) FROM orders GROUP BY 1"
    echo(
        f"\nevery table in {warehouse} equals its source, row for row. Query it:\n\n"
        f"  python -c \"import duckdb; print(duckdb.connect('{warehouse}', read_only=True)"
        f".sql('{query}'))\"\n"
        f'  duckdb -readonly {warehouse} "FROM orders LIMIT 5"     # with the DuckDB CLI\n\n'
        f"the change events are in the log:\n"
        f"  hub --data-dir {data} topics list\n"
        f"  hub --data-dir {data} consume {src.orders_topic} --from-beginning --max-messages 3\n"
        f"run it against your own database (a data directory and a warehouse of its own: "
        f"the demo's hold {'the throwaway server' if not src.left else 'this run'}'s "
        f"positions and rows):\n"
        f"  {src.own} {src.warehouse_var}=warehouse.duckdb hub --data-dir data "
        f"run {config_path}" + (f"\n\n{_left(src.left, valid[0])}" if src.left else "")
    )
    return True


def _left(dbname: str, source: Any) -> str:
    """What the demo leaves on the user's server: the source config's slot and publication
    (another --config may name others than the shipped one's)."""
    config = source.config
    slot = getattr(config, "slot_name", "debezium")
    publication = getattr(config, "publication_name", "dbz_publication")
    return (
        f"left on your server, in database {dbname!r}: the shop's tables, the publication "
        f"{publication} and the replication slot {slot}, which holds back WAL until "
        f"dropped:\n  SELECT pg_drop_replication_slot('{slot}');"
    )


@contextmanager
def _user_database(source: str | None, echo: Echo) -> Iterator[DemoSource]:
    """`_postgres_shop`, a --source that cannot be reached or read said as the user's
    mistake (it was "unexpected OperationalError")."""
    import psycopg

    from hub.errors import describe

    try:
        with _postgres_shop(source, echo) as src:
            yield src
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        if source is None:
            raise
        raise ConfigError(f"--source: {describe(exc)}; check the connection string "
                          "(postgresql://user:password@host:port/database)") from None  # fmt: skip


@contextmanager
def _postgres_shop(source: str | None, echo: Echo) -> Iterator[DemoSource]:
    """The shop in a throwaway PostgreSQL, or in the user's database (``source``)."""
    import psycopg

    with _postgres(source, echo) as env:
        os.environ.update(env)
        dbname = os.environ.setdefault("PGDATABASE", "shop")
        admin_dsn = "dbname=postgres" if source is None else source
        _create_database(admin_dsn, dbname, fresh=source is None)
        with psycopg.connect(dbname=dbname, autocommit=True) as pg:
            found = pg.execute(
                "SELECT obj_description(to_regclass('orders'), 'pg_class')"
                " FROM (SELECT to_regclass('orders') IS NOT NULL) x(present) WHERE present"
            ).fetchone()
            if found is not None and found[0] != shop.MARK:
                # the demo writes (and deletes) orders: never in a table it did not create
                raise ConfigError(
                    f"database {dbname!r} already has an orders table that hub demo did not "
                    f"create; the demo writes to its source, so give it an empty database "
                    f"(CREATE DATABASE shop) or leave out --source"
                )
            if found is None:
                shop.create(pg)
                echo(f"created the sample shop in database {dbname!r}: "
                     f"{', '.join(shop.TABLES)}")  # fmt: skip
            left = "" if source is None else dbname
            yield DemoSource(PostgresShop(pg), "shop.public.orders", "PGHOST=... PGDATABASE=...",
                             "HUB_WAREHOUSE", left)  # fmt: skip


@contextmanager
def _mariadb_shop(echo: Echo) -> Iterator[DemoSource]:
    """The shop in a throwaway MariaDB; the config reads it as the CDC user ``hub``, the
    workload writes as root over the socket."""
    import pymysql

    dbname = "shop"
    with throwaway_mariadb(echo) as server:
        os.environ.update({
            "MYSQL_HOST": server.host, "MYSQL_PORT": str(server.port),
            "MYSQL_USER": server.user, "MYSQL_PASSWORD": server.password,
            "MYSQL_DATABASE": dbname,
        })  # fmt: skip
        server.client(sql=f"CREATE DATABASE {dbname}")
        con = pymysql.connect(unix_socket=str(server.socket), user="root", database=dbname,
                              autocommit=True)  # fmt: skip
        try:
            db = MariaDBShop(con)
            shop.create(db)
            echo(f"created the sample shop in database {dbname!r}: {', '.join(shop.TABLES)}")
            yield DemoSource(db, f"shopdb.{dbname}.orders",
                             "MYSQL_HOST=... MYSQL_USER=... MYSQL_PASSWORD=... "
                             "MYSQL_DATABASE=...", "HUB_MYSQL_WAREHOUSE")  # fmt: skip
        finally:
            con.close()


@contextmanager
def _postgres(source: str | None, echo: Echo) -> Iterator[dict[str, str]]:
    if source is None:
        with throwaway_postgres(echo) as env:
            yield env
        return
    from psycopg.conninfo import conninfo_to_dict

    from hub.config import remember_secrets, url_passwords

    remember_secrets(url_passwords(source))  # (an error quoting it is masked)
    params = conninfo_to_dict(source)
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
             "dbname": "PGDATABASE"}  # fmt: skip
    yield {names[k]: str(v) for k, v in params.items() if k in names and v is not None}


def _create_database(admin_dsn: str, dbname: str, *, fresh: bool) -> None:
    import psycopg

    if not fresh:
        return
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')


def _stream(worker: Any, db: ShopDatabase, valid: list[Any], seconds: float, rate: float,
            echo: Echo) -> bool:  # fmt: skip
    source, sink = valid[0].name, valid[-1].name
    stop = threading.Event()
    writer = shop.Writer(db, seed=3, customers=200, products=50)
    thread = threading.Thread(target=writer.run, args=(rate, stop), name="demo-writes")
    started = time.monotonic()
    thread.start()
    try:
        while time.monotonic() - started < seconds:
            if not _progress(worker, source, sink, started, writer, echo):
                return False
            time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    if writer.error is not None:
        echo(f"\nthe sample workload failed: {writer.error}")
        return False
    echo(f"\nstopped writing after {writer.transactions} transactions; waiting for the "
         f"warehouse to catch up")  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not _progress(worker, source, sink, started, writer, echo):
            return False
        try:
            if all(eq for _, _, eq in compare(valid).values()):
                return True
        except Exception:  # noqa: BLE001 - the sink holds the file: try again shortly
            pass
        time.sleep(1.0)
    return True  # the final comparison reports what differs


def _progress(worker: Any, source: str, sink: str, started: float, writer: shop.Writer,
              echo: Echo) -> bool:  # fmt: skip
    status = worker.status()
    for name in (source, sink):
        for st in status.get(name, []):
            if st.state == "FAILED":
                lines = (st.trace or "").strip().splitlines()
                echo(f"\n{name} failed: {lines[-1] if lines else 'no trace'}")
                return False
    src = sum(st.records for st in status.get(source, []))
    out = sum(st.records for st in status.get(sink, []))
    # (the source's records of topics the sink does not read, MySQL's schema change events:
    # "behind 5" had stayed beside equal tables)
    for topic in set(worker.active_topics(source)) - set(worker.active_topics(sink)):
        with contextlib.suppress(Exception):  # (a topic deleted meanwhile)
            src -= sum(p.log_end_offset for p in worker.log.topic(topic).partitions)
    # (behind: what was captured and not applied yet; the sinks' lag figure is up to 5 s
    # old, and had said 41 beside equal counts)
    echo(f"\r  {time.monotonic() - started:5.1f} s  {writer.transactions:>6} transactions "
         f"written  {src:>7} changes captured  {out:>7} applied to DuckDB  behind "
         f"{max(src - out, 0):>5}   ",
         )  # fmt: skip
    return True


def check_workdir(workdir: Path) -> None:
    if workdir.exists() and not workdir.is_dir():
        raise ConfigError(f"{workdir} exists and is not a directory; pick another --workdir")
