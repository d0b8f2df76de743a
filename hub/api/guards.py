"""What guards every request before a handler sees it: the bearer token and the body size.

``BodyLimit`` is plain ASGI (it must see the body as it streams): a request whose
``Content-Length`` is over the limit is answered 413 at once; a body that streams past it
(chunked, or a lying header) raises a 413 ``HTTPException`` from ``receive``, which FastAPI
passes through to the app's handler. Nothing of the body is echoed back.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import logging
from typing import Any

from starlette.exceptions import HTTPException

log = logging.getLogger("hub.api")

DEFAULT_MAX_REQUEST_BYTES = 1 << 20  # 1 MiB: a connector config is a few kB


def _too_large(limit: int) -> str:
    return (
        f"request body larger than {limit} bytes; send less, or start the worker with a larger "
        "--max-request-bytes"
    )


async def send_error(send: Any, status: int, message: str, close: bool = False) -> None:
    """An error answered from ASGI middleware, as the app answers it (Connect's JSON)."""
    body = json.dumps({"error_code": status, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await send_error(send, 413, _too_large(self.limit), close=True)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, _too_large(self.limit))
            return message

        await self.app(scope, limited, send)


class Contained:
    """An unexpected exception of a handler answered 500 here, naming its class only: left to
    Starlette's outermost middleware it is re-raised after the app's handler answered, and
    uvicorn logs its traceback, message and all (a config value, a secret), and drops the
    client's keep-alive connection."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - the class is logged, never the message
            log.error("%s %s failed: %s", scope.get("method"), scope.get("path"),
                      type(exc).__name__)  # fmt: skip
            if started:
                return  # (the response is under way: nothing more to send)
            text = f"internal error ({type(exc).__name__}); see the worker's log"
            await send_error(send, 500, text)


def bearer_ok(header: str, token: str) -> bool:
    """``Authorization: Bearer <token>``; the scheme is case-insensitive (RFC 7235 2.1)."""
    scheme, _, given = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _loopback(host: str) -> bool:
    import ipaddress

    host = host.lower().rstrip(".")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # (a name: localhost's, RFC 6761, or the machine's own)
        return host == "localhost" or host.endswith(".localhost") or host in _own_names()


@functools.cache
def _own_names() -> frozenset[str]:
    """The machine's own names (Debian maps its hostname to 127.0.1.1: a worker forwarding a
    request to another on the machine by that name reaches a loopback address)."""
    import socket

    names = {socket.gethostname()}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn())
    return frozenset(n.lower().rstrip(".") for n in names if n)


def _hostname(authority: str) -> str:
    """The host of a ``Host`` header or an origin's authority, without its port."""
    if authority.startswith("["):  # [::1]:8083
        return authority[1:].partition("]")[0]
    return authority.rpartition(":")[0] if authority.count(":") == 1 else authority


class SameOrigin:
    """Without a token, other websites' requests refused (403), for a worker a browser can
    reach:

    - a request that changes something (not GET, HEAD, OPTIONS) whose ``Origin`` is not the
      worker's own: a page of another site can send one (a form, a no-cors fetch) and the
      browser attaches nothing that tells it apart but that header (command-line clients
      send none);
    - on a loopback address, a ``Host`` that is not a loopback name (nor the machine's
      own): a page whose name the attacker points at 127.0.0.1 (DNS rebinding) would be the
      same origin as the worker and could read and change everything.

    With a token, the token guards it: a page of another site can send neither the bearer
    header nor the console's own header its cookie needs (and a proxy that rewrites
    ``Host`` would make every browser's change look like another site's)."""

    def __init__(self, app: Any, token: bool) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.token:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        server = scope.get("server") or ("", 0)
        refused = None
        if _loopback(str(server[0])) and not _loopback(_hostname(host)):
            refused = (
                f"Host {host!r} is not this worker's (it listens on a loopback address): a "
                "page of another site may have sent this; to serve other names (a proxy), "
                "start the worker with --auth-token"
            )
        origin = headers.get(b"origin")
        if refused is None and origin is not None and scope["method"] not in _SAFE_METHODS:
            scheme, _, authority = origin.decode("latin-1").partition("://")
            if authority.lower() != host.lower() or scheme not in ("http", "https"):
                refused = (
                    f"a request from {origin.decode('latin-1')!r}, another site than this "
                    "worker's, is refused (send it without an Origin header, as command-line "
                    "clients do)"
                )
        if refused is None:
            await self.app(scope, receive, send)
            return
        log.warning("%s %s refused: %s", scope["method"], scope.get("path"), refused)
        await send_error(send, 403, refused)
