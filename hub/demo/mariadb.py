"""A throwaway MariaDB server for CDC: ``mariadb-install-db`` into a directory, ``mariadbd`` on
a free port of 127.0.0.1 with the binlog a CDC source needs (ROW format, FULL row image and
row metadata, GTIDs as MariaDB always has them), stopped with ``mariadb-admin shutdown``. Used
by ``hub demo --mysql`` and the test suite.

``--no-defaults`` keeps the machine's my.cnf out. ``--skip-test-db`` creates no anonymous
users (they shadow ``user@'%'`` logins over 127.0.0.1). The server runs as the invoking user;
as root it is told ``--user=root``. It creates a user ``hub`` (password ``hub-cdc-demo``)
with just the grants a CDC connector asks for (`CDC_GRANTS`); ``root`` has no password and is
for the tests' own writes over the socket: never point anything but throwaway data at it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.errors import ConfigError

SERVER_SETTINGS = {
    "binlog-format": "ROW",
    "binlog-row-image": "FULL",
    "binlog-row-metadata": "FULL",
    "server-id": "1",
    "innodb-flush-log-at-trx-commit": "0",  # throwaway data: no fsync per commit
    "sync-binlog": "0",
    "skip-name-resolve": None,
    "character-set-server": "utf8mb4",
    "collation-server": "utf8mb4_general_ci",
}

# The mariadb clients read these from the environment, and MYSQL_HOST beats ``-S``: with the
# demo's MYSQL_HOST=127.0.0.1 set they would talk to whatever listens on port 3306.
CLIENT_ENV_VARS = ("MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT", "MYSQL_PWD")

CDC_USER, CDC_PASSWORD = "hub", "hub-cdc-demo"
CDC_GRANTS = "SELECT, RELOAD, SHOW DATABASES, LOCK TABLES, REPLICATION SLAVE, BINLOG MONITOR"


@dataclass(frozen=True, slots=True)
class MariaDBServer:
    """Where a running throwaway server listens; ``root`` (no password) over ``socket``."""

    host: str
    port: int
    socket: Path
    data_dir: Path
    user: str = CDC_USER
    password: str = CDC_PASSWORD
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)

    def client(self, *args: str, sql: str | None = None) -> str:
        """Run the ``mariadb`` client as root over the socket; its output (tab-separated)."""
        cmd = ["mariadb", "--no-defaults", "--protocol=socket", "-S", str(self.socket),
               "-u", "root", "-N", "-B", *args]  # fmt: skip
        if sql is not None:
            cmd += ["-e", sql]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False,
                              env=_client_env())  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(
                f"mariadb {' '.join(args)} failed: {proc.stderr.strip()}{self.death_notice()}"
            )
        return proc.stdout

    def death_notice(self) -> str:
        """If the server process has exited: its exit status and the end of its error log
        (empty while it runs, or when this process did not start it)."""
        if self.process is None or self.process.poll() is None:
            return ""
        try:
            tail = (self.data_dir.parent / "server.log").read_text(errors="replace")[-4000:]
        except OSError as exc:
            tail = f"(its log could not be read: {exc})"
        return f"\nthe server exited with status {self.process.returncode}; its log ends:\n{tail}"


def _client_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CLIENT_ENV_VARS}


def find_binaries() -> tuple[str, str]:
    """``mariadb-install-db`` and ``mariadbd`` (or raise a ConfigError saying what to install)."""
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    server = shutil.which("mariadbd") or (
        "/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None
    )
    if install is None or server is None:
        raise ConfigError(
            "no MariaDB server binaries (mariadb-install-db, mariadbd) found: install them "
            "(Debian: apt-get install mariadb-server)"
        )
    return install, server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(base: Path, **settings: str | None) -> MariaDBServer:
    """Create a data directory under ``base`` and start a server on it; ``settings`` override
    `SERVER_SETTINGS` (``binlog_row_metadata="MINIMAL"``; None: a flag without a value)."""
    install, mariadbd = find_binaries()
    data = base / "data"
    # temporary tables in a directory of its own, not /tmp: a server starting removes every
    # #sql* file of its tmpdir, another running server's too (seen: mariadb-install-db
    # failing on "Unknown table 'mysql.tmp_user_sys'", a server's SIGSEGV in an
    # information_schema query; a user's own MariaDB on /tmp would be hit the same way)
    tmp = base / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    proc = subprocess.run(
        [install, "--no-defaults", *as_root, f"--datadir={data}", f"--tmpdir={tmp}",
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed:\n{proc.stdout}\n{proc.stderr}")
    sock = base / "mariadb.sock"
    merged = {**SERVER_SETTINGS, **{k.replace("_", "-"): v for k, v in settings.items()}}
    flags = [f"--{k}" if v is None else f"--{k}={v}" for k, v in merged.items()]
    last = ""
    for _ in range(3):  # the free port can be taken between probing and binding
        port = _free_port()
        with open(base / "server.log", "ab") as log:
            process = subprocess.Popen(
                [mariadbd, "--no-defaults", *as_root, f"--datadir={data}", f"--tmpdir={tmp}",
                 f"--port={port}",
                 "--bind-address=127.0.0.1", f"--socket={sock}", f"--pid-file={base}/mariadb.pid",
                 f"--log-bin={data}/binlog", f"--log-error={base}/server.log", *flags],
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        server = MariaDBServer("127.0.0.1", port, sock, data, process=process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                server.client(sql="SELECT 1")
                break
            except RuntimeError as exc:
                last = str(exc)
                time.sleep(0.1)
        else:
            process.kill()
            process.wait()
            continue
        server.client(sql=(
            f"CREATE USER '{CDC_USER}'@'%' IDENTIFIED BY '{CDC_PASSWORD}'; "
            f"GRANT {CDC_GRANTS} ON *.* TO '{CDC_USER}'@'%'"
        ))  # fmt: skip
        return server
    log_text = (base / "server.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"could not start MariaDB: {last}\n{log_text}")


def stop_server(server: MariaDBServer) -> None:
    subprocess.run(
        ["mariadb-admin", "--no-defaults", "--protocol=socket", "-S", str(server.socket),
         "-u", "root", "shutdown"],
        capture_output=True, timeout=60, check=False, env=_client_env(),
    )  # fmt: skip
    if server.process is not None:
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
