"""A throwaway PostgreSQL server: ``initdb`` into a directory, start it on a free port of
127.0.0.1 with ``wal_level=logical``, stop it. Used by ``hub demo`` (when no source is given)
and by the test suite.

PostgreSQL refuses to run as root, so as root the data directory belongs to the
``postgres`` OS user and ``initdb``/``pg_ctl`` run through ``runuser -u postgres --``.
Authentication is ``trust`` for local sockets and 127.0.0.1, replication included: never
point anything but throwaway data at it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ConfigError

PG_OS_USER = "postgres"

SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "listen_addresses": "'127.0.0.1'",
}

HBA = """\
local   all          all                 trust
local   replication  all                 trust
host    all          all   127.0.0.1/32  trust
host    replication  all   127.0.0.1/32  trust
"""


@dataclass(frozen=True, slots=True)
class PgServer:
    """Where a running test server listens; ``user`` is its superuser."""

    host: str
    port: int
    user: str
    data_dir: Path

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string for database ``dbname`` on this server."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    """Prefix ``args`` with ``runuser`` when running as root; PostgreSQL refuses root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_OS_USER, "--", *args]
    return args


def _run(args: list[str], cwd: Path) -> None:
    proc = subprocess.run(
        _as_postgres(args), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{args[0]} failed with exit code {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )


def find_bin_dir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are: ``$HUB_PG_BIN``, ``pg_config --bindir``, the
    newest ``/usr/lib/postgresql/*/bin``, or the PATH."""
    candidates = [os.environ.get("HUB_PG_BIN", "")]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    which = shutil.which("initdb")
    candidates.append(os.path.dirname(which) if which else "")
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    raise ConfigError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: install them (Debian: apt-get "
        "install postgresql; macOS: brew install postgresql), set HUB_PG_BIN to their "
        "directory, or give an existing database with --source"
    )


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def start_server(base: Path, bin_dir: Path | None = None, **settings: str) -> PgServer:
    """Create a cluster under ``base`` and start it; ``base`` must be owned by the server user
    when running as root. ``settings`` override `SERVER_SETTINGS` (e.g. ``wal_level="replica"``)."""
    pg_bin = bin_dir or find_bin_dir()
    data = base / "data"
    _run([str(pg_bin / "initdb"), "-D", str(data), "-U", PG_OS_USER, "-A", "trust",
          "--no-sync", "-E", "UTF8", "--locale=C"], cwd=base)  # fmt: skip
    with open(data / "postgresql.conf", "a") as conf:
        for key, value in {**SERVER_SETTINGS, **settings}.items():
            conf.write(f"{key} = {value}\n")
        conf.write(f"unix_socket_directories = '{base}'\n")
    (data / "pg_hba.conf").write_text(HBA)
    last_error: Exception | None = None
    for _ in range(3):  # the free port can be taken between probing and binding
        port = _free_port()
        try:
            _run([str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"),
                  "-o", f"-p {port}", "-w", "-t", "60", "start"], cwd=base)  # fmt: skip
        except RuntimeError as exc:
            last_error = exc
            continue
        return PgServer(host="127.0.0.1", port=port, user=PG_OS_USER, data_dir=data)
    log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
    raise RuntimeError(f"could not start PostgreSQL: {last_error}\n{log}")


def stop_server(server: PgServer, bin_dir: Path | None = None) -> None:
    pg_bin = bin_dir or find_bin_dir()
    _run([str(pg_bin / "pg_ctl"), "-D", str(server.data_dir), "-m", "immediate", "-w", "stop"],
         cwd=server.data_dir.parent)  # fmt: skip


def prepare_dir(base: Path) -> None:
    """Make ``base`` usable by the server user (as root: hand it to ``postgres``)."""
    if os.geteuid() == 0:
        shutil.chown(base, user=PG_OS_USER, group=PG_OS_USER)
