"""A local Redshift stand-in (what the Redshift sink's tests and configs/postgres-to-redshift.yaml
run against): PostgreSQL behind a protocol proxy that lets Amazon's driver (redshift_connector)
talk to it, and that runs Redshift's ``COPY … FROM 's3://…' FORMAT AS PARQUET`` by reading the
file from an S3-compatible server (moto's, in the tests)::

    python -m hub.demo.redshift_standin --setup "dbname=dev"     # once per database
    python -m hub.demo.redshift_standin --port 5439 --postgres 127.0.0.1:5432 \\
        [--s3-endpoint http://127.0.0.1:5000]

Per connection it relays PostgreSQL's protocol message by message and changes only what the
two disagree on:

- the client's SSLRequest is answered ``N`` (the tests connect with ``sslmode=disable``);
- the startup parameters PostgreSQL does not know (``client_protocol_version``,
  ``driver_version``, ``os_version``, ``plugin_name``…) are dropped; ``server_version`` is
  reported as Redshift's ``8.0.2``;
- statement text (simple ``Query`` and ``Parse`` messages): ``VARBYTE(n)`` is the ``varbyte``
  domain (PostgreSQL takes no length on a domain), and ``COPY t (…) FROM 's3://bucket/key' …``
  becomes ``COPY t (…) FROM STDIN``: when PostgreSQL asks for the data, the proxy reads the
  Parquet object from S3 and sends its rows in PostgreSQL's text format; the client's later
  messages are held until then (PostgreSQL would take its Sync for part of the copy).

What Redshift has and PostgreSQL lacks as SQL (``SUPER``, ``VARBYTE``, ``JSON_PARSE``,
``FROM_HEX``) is created in the database once (`setup`, in ``pg_catalog`` as Redshift's
built-ins are). Everything else is PostgreSQL's own behaviour: the stand-in shows where the
sink's SQL is the same in both, not how fast Redshift runs it, nor Redshift's folding of names,
its serializable isolation or its limits.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import struct
from collections import deque
from typing import Any

SSL_REQUEST = 80877103
SHIMS = (
    "CREATE DOMAIN pg_catalog.super AS jsonb",
    "CREATE DOMAIN pg_catalog.varbyte AS bytea",
    "CREATE FUNCTION pg_catalog.json_parse(text) RETURNS super LANGUAGE sql IMMUTABLE "
    "AS 'SELECT $1::jsonb'",
    "CREATE FUNCTION pg_catalog.json_serialize(super) RETURNS varchar LANGUAGE sql IMMUTABLE "
    "AS 'SELECT $1::text'",
    "CREATE FUNCTION pg_catalog.from_hex(text) RETURNS varbyte LANGUAGE sql IMMUTABLE "
    "AS $$SELECT decode($1, 'hex')$$",
)
KNOWN_STARTUP = {"user", "database", "options", "application_name", "client_encoding",
                 "DateStyle", "TimeZone", "extra_float_digits", "replication"}  # fmt: skip

_VARBYTE = re.compile(r"\bVARBYTE\s*\(\s*\d+\s*\)", re.IGNORECASE)
_COPY_S3 = re.compile(
    r"^\s*(COPY\s+.+?)\s+FROM\s+'s3://([^/']+)/([^']+)'\s+(.*)$", re.IGNORECASE | re.DOTALL
)


def translate(sql: str) -> tuple[str, tuple[str, str] | None]:
    """The statement PostgreSQL runs for ``sql``, and the S3 object a COPY reads, if any."""
    m = _COPY_S3.match(sql)
    if m:
        if "PARQUET" not in m[4].upper():
            raise ValueError("the stand-in's COPY reads Parquet only")
        return f"{m[1]} FROM STDIN", (m[2], m[3])
    return _VARBYTE.sub("varbyte", sql), None


def _text(v: Any) -> str:
    """A value in PostgreSQL's COPY text format."""
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, bytes):
        return "\\\\x" + v.hex()
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ") + "+00"
    s = str(v)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def parquet_copy_data(data: bytes) -> list[bytes]:
    """The rows of a Parquet file as COPY text lines (a few MB per chunk)."""
    import io

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))  # type: ignore[no-untyped-call]
    cols = [c.to_pylist() for c in table.columns]
    chunks: list[bytes] = []
    buf: list[str] = []
    size = 0
    for row in zip(*cols, strict=True):
        line = "\t".join(_text(v) for v in row) + "\n"
        buf.append(line)
        size += len(line)
        if size > 4 << 20:
            chunks.append("".join(buf).encode())
            buf, size = [], 0
    if buf:
        chunks.append("".join(buf).encode())
    return chunks


def _msg(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


async def _read(r: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await r.readexactly(5)
    (n,) = struct.unpack("!I", head[1:])
    return head[:1], await r.readexactly(n - 4)


class Session:
    def __init__(self, s3: Any, pg_host: str, pg_port: int) -> None:
        self.s3 = s3
        self.pg_host, self.pg_port = pg_host, pg_port
        self.statements: dict[bytes, tuple[str, str]] = {}  # prepared COPY -> S3 object
        self.portals: dict[bytes, tuple[str, str]] = {}
        self.copies: deque[tuple[str, str]] = deque()  # executed, waiting for CopyInResponse
        self.done = asyncio.Event()
        self.done.set()

    async def run(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(self.pg_host, self.pg_port)
        try:
            (n,) = struct.unpack("!I", await cr.readexactly(4))
            body = await cr.readexactly(n - 4)
            if struct.unpack("!I", body[:4])[0] == SSL_REQUEST:
                cw.write(b"N")
                (n,) = struct.unpack("!I", await cr.readexactly(4))
                body = await cr.readexactly(n - 4)
            parts = body[4:].split(b"\0")
            kept = b""
            for k, v in zip(parts[0::2], parts[1::2], strict=False):
                if k and k.decode() in KNOWN_STARTUP:
                    kept += k + b"\0" + v + b"\0"
            start = body[:4] + kept + b"\0"
            sw.write(struct.pack("!I", len(start) + 4) + start)
            await asyncio.gather(self.upstream(cr, sw), self.downstream(sr, sw, cw))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for w in (sw, cw):
                w.close()

    async def upstream(self, cr: asyncio.StreamReader, sw: asyncio.StreamWriter) -> None:
        while True:
            kind, body = await _read(cr)
            await self.done.wait()  # a COPY from S3 is running: the server must not see more
            if kind == b"Q":
                sql, src = translate(body[:-1].decode())
                body = sql.encode() + b"\0"
                if src:
                    self.copies.append(src)
                    self.done.clear()
            elif kind == b"P":
                name, rest = body.split(b"\0", 1)
                text, tail = rest.split(b"\0", 1)
                sql, src = translate(text.decode())
                body = name + b"\0" + sql.encode() + b"\0" + tail
                if src:
                    self.statements[name] = src
                else:
                    self.statements.pop(name, None)
            elif kind == b"B":
                portal, rest = body.split(b"\0", 1)
                stmt = rest.split(b"\0", 1)[0]
                if stmt in self.statements:
                    self.portals[portal] = self.statements[stmt]
                else:
                    self.portals.pop(portal, None)
            elif kind == b"E":
                portal = body.split(b"\0", 1)[0]
                if portal in self.portals:
                    self.copies.append(self.portals.pop(portal))
                    self.done.clear()
            elif kind == b"X":
                sw.write(_msg(kind, body))
                await sw.drain()
                return
            sw.write(_msg(kind, body))
            await sw.drain()

    async def downstream(
        self, sr: asyncio.StreamReader, sw: asyncio.StreamWriter, cw: asyncio.StreamWriter
    ) -> None:
        while True:
            kind, body = await _read(sr)
            if kind == b"G" and self.copies:  # the server wants the COPY's rows: from S3
                bucket, key = self.copies.popleft()
                try:
                    data = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                    for chunk in parquet_copy_data(data):
                        sw.write(_msg(b"d", chunk))
                    sw.write(_msg(b"c", b""))
                except Exception as exc:  # noqa: BLE001 - reported to the client as COPY's error
                    sw.write(_msg(b"f", f"S3 s3://{bucket}/{key}: {exc}".encode() + b"\0"))
                await sw.drain()
                if not self.copies:  # the client's next messages may follow the copy's end
                    self.done.set()
                continue
            if kind == b"E":  # an error skips the rest up to Sync, a pending COPY too
                self.copies.clear()
                self.done.set()
            if kind == b"S":
                k, _, _ = body.partition(b"\0")
                if k == b"server_version":
                    body = b"server_version\x008.0.2\0"
            cw.write(_msg(kind, body))
            await cw.drain()


def setup(dsn: str) -> None:
    """Create Redshift's types and functions in the database ``dsn`` names (superuser)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as con:
        for sql in SHIMS:
            con.execute(sql)


async def serve(port: int, pg_host: str, pg_port: int, endpoint: str | None) -> None:
    s3: Any = None
    if endpoint:
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="hub", aws_secret_access_key="hub",
        )  # fmt: skip

    async def session(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        await Session(s3, pg_host, pg_port).run(cr, cw)

    server = await asyncio.start_server(session, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m hub.demo.redshift_standin",
        description="PostgreSQL behind Redshift's protocol, for trying the Redshift sink "
        "locally (not a Redshift: see the module's docstring)",
    )
    ap.add_argument("--port", type=int, default=5439, help="where to listen (127.0.0.1)")
    ap.add_argument("--postgres", default="127.0.0.1:5432", help="HOST:PORT of PostgreSQL")
    ap.add_argument("--s3-endpoint", help="an S3-compatible endpoint COPY reads from")
    ap.add_argument("--setup", metavar="DSN", help="create Redshift's types in that database "
                    "and exit")  # fmt: skip
    args = ap.parse_args()
    if args.setup:
        setup(args.setup)
        return
    host, _, port = args.postgres.rpartition(":")
    asyncio.run(serve(args.port, host or "127.0.0.1", int(port), args.s3_endpoint))


if __name__ == "__main__":
    main()
