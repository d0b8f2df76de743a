"""``COPY ... TO STDOUT`` read in C, through the libpq of psycopg's own connection.

psycopg hands a COPY over row by row (one Python call and one bytes object per row), which is
most of what a snapshot row costs before it is even encoded. `CopyOut` sends the statement
through the connection's low-level ``pgconn`` and then lets ``_rowcodec.copy_out`` call
``PQgetCopyData`` in a loop with the GIL released, on the same ``PGconn*``
(``pgconn.pgconn_ptr``), a chunk of rows at a time: one Python call per chunk, and one
statement streams a whole table while its chunks are cut client-side (`start`, `rows`).

The functions are looked up in the very libpq psycopg loaded (psycopg-binary bundles its
own), never in another copy, since a ``PGconn`` is private to the library that made it; a
check call (``PQbackendPID``) must agree with psycopg before the path is used. Without the C
module, or when the lookup fails, `available` is None and the snapshot reads through
psycopg's COPY.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from connectors.source.postgres.protocol.basics import readable

log = logging.getLogger(__name__)


def libpq_functions(conn: Any, *names: str) -> list[int] | None:
    """The addresses of libpq functions ``names`` in psycopg's libpq, checked against
    ``conn`` (None when it cannot be found or does not agree with psycopg)."""
    import ctypes

    from psycopg import pq

    impl = pq.__impl__
    if impl == "python":
        import importlib

        lib: Any = importlib.import_module("psycopg.pq._pq_ctypes").pq
    elif impl in ("binary", "c"):
        import importlib

        # dlsym on the extension's handle also searches the libraries it links: its libpq
        mod = importlib.import_module("psycopg_binary.pq" if impl == "binary" else "psycopg_c.pq")
        lib = ctypes.CDLL(mod.__file__)
    else:
        return None
    pid = lib.PQbackendPID
    pid.argtypes, pid.restype = [ctypes.c_void_p], ctypes.c_int
    if pid(conn.pgconn.pgconn_ptr) != conn.pgconn.backend_pid:
        return None

    def addr(name: str) -> int:
        value = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
        assert value
        return value

    return [addr(name) for name in names]


class CopyOut:
    """Runs COPY TO STDOUT statements on psycopg connections, reading their rows in C."""

    def __init__(self, get_copy_data: int, freemem: int) -> None:
        from connectors.source.postgres._rowcodec import copy_out  # type: ignore[import-not-found]

        self._copy_out = copy_out
        self._fns = (get_copy_data, freemem)

    @classmethod
    def available(cls, conn: Any) -> CopyOut | None:
        """A reader for connections like ``conn`` (an open psycopg connection), or None."""
        try:
            fns = libpq_functions(conn, "PQgetCopyData", "PQfreemem")
            return cls(*fns) if fns is not None else None
        except Exception as exc:  # noqa: BLE001 - any failure: psycopg's COPY instead
            log.debug("snapshot: COPY through psycopg (no direct libpq path: %s)", exc)
            return None

    def copy(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> bytes:
        """The whole output of ``sql`` (a COPY TO STDOUT; ``%s`` parameters are bound
        client-side, as `snapshot.copy_text` does) as one bytes object."""
        self.start(conn, sql, params)
        data, done = self.rows(conn, 0)
        assert done
        return data

    def start(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> None:
        """Send ``sql`` (a COPY TO STDOUT) and wait until its rows begin; read them with
        `rows` until it says done (the connection serves nothing else meanwhile)."""
        import psycopg
        from psycopg import pq

        if params:
            sql = psycopg.ClientCursor(conn).mogrify(sql, tuple(params))
        else:
            sql = sql.replace("%%", "%")
        conn.pgconn.send_query(sql.encode(conn.info.encoding))
        res = self._result(conn)
        if res is None or res.status != pq.ExecStatus.COPY_OUT:
            self._fail(conn, res)

    def rows(self, conn: Any, max_rows: int, max_bytes: int = 0) -> tuple[bytes, bool]:
        """The next ``max_rows`` rows (0: all the rest; with ``max_bytes``, fewer once the
        text holds that many bytes, one row at least) of the COPY `start` began, as COPY
        text, and whether it is done (then the connection is ready for the next command)."""
        from psycopg import pq

        data, status = self._copy_out(conn.pgconn.pgconn_ptr, *self._fns, max_rows, max_bytes)
        if status == 1:
            return data, False
        res = self._result(conn)
        if res is None or res.status != pq.ExecStatus.COMMAND_OK:
            self._fail(conn, res)
        self._drain(conn)
        return data, True

    @staticmethod
    def _result(conn: Any) -> Any:
        """The next result, waiting for it outside libpq (a blocking PQgetResult would hold
        the GIL while the server works)."""
        pg = conn.pgconn
        while pg.is_busy():
            readable(pg.socket, 1.0)
            pg.consume_input()
        return pg.get_result()

    def _drain(self, conn: Any) -> None:
        while self._result(conn) is not None:
            pass

    def _fail(self, conn: Any, res: Any) -> None:
        import psycopg
        from psycopg import errors, pq

        if res is not None and res.status == pq.ExecStatus.COPY_OUT:
            # an unexpected COPY state: end it from the client side by dropping the connection
            conn.close()
            raise psycopg.OperationalError("snapshot COPY left in an unexpected state")
        self._drain(conn)
        if conn.pgconn.status == pq.ConnStatus.BAD:
            msg = res.error_message.decode(errors="replace") if res is not None else ""
            raise psycopg.OperationalError(msg.strip() or "the connection was lost")
        if res is None:
            raise psycopg.OperationalError("the server sent no result for the COPY")
        raise errors.error_from_result(res, encoding=conn.info.encoding)
