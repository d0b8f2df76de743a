"""The web console: pages for browsers on the REST API's port, from the same endpoints.

``GET /`` answers a browser (``Accept: text/html``) with a redirect to ``/console/``; API
clients keep Kafka Connect's JSON. The pages are a shell rendered once (Jinja2, autoescaped)
and a small script (``console.js``, no dependency, nothing from a CDN) that reads the REST
endpoints every 2 s and builds the tables with DOM text nodes only: a table name, a record
value or an error trace is never parsed as HTML.

With ``--auth-token``, a browser signs in with the token at ``/console/login``: an HttpOnly,
SameSite=Strict cookie named after the worker's port (Secure over https) then holds a session
derived from the token (an HMAC of it: the token itself is in no cookie and no URL), which the
API accepts in place of the ``Authorization`` header; a request that changes something with
the cookie must also carry ``X-Hub-Console: 1``, which a page of another site cannot send (no
cross-site request forgery).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub import __version__

COOKIE = "hub_console"  # + the worker's port: browsers share cookies across a host's ports
HEADER = "x-hub-console"
_SAFE = ("GET", "HEAD", "OPTIONS")


def _cookie_name(request: Request) -> str:
    server = request.scope.get("server") or ("", 0)
    return f"{COOKIE}_{server[1] or 0}"


class Sessions:
    """The signed-in browsers: a random id each, kept by the worker (signing out ends it; a
    restart of the worker ends them all). The cookie had been a fixed function of the token,
    valid after signing out and across restarts until the token changed."""

    LIMIT = 1000  # (the oldest goes first)

    def __init__(self) -> None:
        self._ids: dict[str, None] = {}
        self.failing = asyncio.Lock()  # (wrong tokens are answered one a second)

    def new(self) -> str:
        sid = secrets.token_hex(32)
        self._ids[sid] = None
        while len(self._ids) > self.LIMIT:
            del self._ids[next(iter(self._ids))]
        return sid

    def valid(self, sid: str) -> bool:
        return sid in self._ids  # (256 random bits: nothing to learn from the lookup's time)

    def end(self, sid: str) -> None:
        self._ids.pop(sid, None)


# the pages: path, template, title (None: the page of one named thing, titled by its name)
PAGES = (
    ("/console/", "overview.html", "Pipelines"),
    ("/console/connectors/{name:path}", "connector.html", None),
    ("/console/topics", "topics.html", "Topics"),
    ("/console/topics/{name:path}", "topic.html", None),
    ("/console/groups", "groups.html", "Consumer groups"),
    ("/console/groups/{name:path}", "group.html", None),
    ("/console/new", "new.html", "New connector"),
    ("/console/health", "health.html", "Health"),
)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def cookie_ok(request: Request, token: str) -> bool:
    """The console's cookie (a session derived from the token); a change also needs the
    console's header, which a page of another site cannot send."""
    sessions: Sessions | None = getattr(request.app.state, "console_sessions", None)
    if sessions is None or not sessions.valid(request.cookies.get(_cookie_name(request), "")):
        return False
    return request.method in _SAFE or request.headers.get(HEADER) == "1"


def public(request: Request) -> bool:
    """Requests served without a token: signing in and out, the static files. The path the
    router matches (``scope["path"]``), never one rebuilt from the Host header."""
    path = request.scope["path"]
    return path in ("/console/login", "/console/logout") or path.startswith("/console/static/")


def add_console(app: FastAPI, auth: bool) -> None:
    from jinja2 import Environment, FunctionLoader, select_autoescape

    env = Environment(
        loader=FunctionLoader(lambda name: _asset(name)),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )

    def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = env.get_template(template).render(version=__version__, auth=auth, **values)
        return HTMLResponse(html, status_code=status, headers={
            "Cache-Control": "no-store",
            # the pages' own script and style only: an injected tag would not run
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            "X-Content-Type-Options": "nosniff",
        })  # fmt: skip

    @app.get("/console", include_in_schema=False)
    def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    def fixed(template: str, title: str) -> Any:
        def view() -> HTMLResponse:
            return page(template, title=title)

        return view

    def named(template: str) -> Any:
        def view(name: str) -> HTMLResponse:
            return page(template, title=name, name=name)

        return view

    for path, template, title in PAGES:
        view = fixed(template, title) if title else named(template)
        app.add_api_route(path, view, methods=["GET"], include_in_schema=False)

    @app.get("/console/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        types = {"console.js": "text/javascript", "console.css": "text/css"}
        if name not in types:
            return Response(status_code=404)
        return Response(_asset(name), media_type=types[name],
                        headers={"Cache-Control": "no-cache"})  # fmt: skip

    @app.get("/console/login", include_in_schema=False)
    def login_form(failed: int = 0) -> HTMLResponse:
        return page("login.html", title="Sign in", failed=bool(failed))

    @app.post("/console/logout", include_in_schema=False)
    def logout(request: Request) -> RedirectResponse:
        sessions: Sessions | None = getattr(request.app.state, "console_sessions", None)
        if sessions is not None:
            sessions.end(request.cookies.get(_cookie_name(request), ""))
        out = RedirectResponse("/console/login", status_code=303)
        out.delete_cookie(_cookie_name(request), path="/")
        return out


def add_login(app: FastAPI, token: str) -> None:
    """The sign-in form's POST: the token checked, then a new session's id kept in the
    console's cookie."""
    sessions = app.state.console_sessions = Sessions()

    @app.post("/console/login", include_in_schema=False)
    async def login(request: Request) -> RedirectResponse:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            async with sessions.failing:  # (guessing: one try a second)
                await asyncio.sleep(1)
            return RedirectResponse("/console/login?failed=1", status_code=303)
        out = RedirectResponse("/console/", status_code=303)
        out.set_cookie(_cookie_name(request), sessions.new(), httponly=True, samesite="strict",
                       path="/", secure=request.url.scheme == "https")  # fmt: skip
        return out
