"""``hub connectors``: manage the connectors of a running worker (``hub serve``) over REST.

``urllib.request`` (with http.client, email and ssl: ~30 ms) is imported when a request is
made, not with the CLI: every other ``hub`` command starts without it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from hub.errors import HubError

DEFAULT_URL = "http://127.0.0.1:8083"


class WorkerUnreachableError(HubError):
    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"cannot reach the worker at {url}: {reason} (is 'hub serve' running?)")


class RestError(HubError):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(f"{message} (HTTP {status})")


class Client:
    def __init__(self, url: str, token: str | None) -> None:
        import urllib.parse

        from hub.errors import ConfigError

        parts = urllib.parse.urlsplit(url)
        if "@" in url.split("://", 1)[-1].split("/", 1)[0]:  # (urllib takes it for the
            raise ConfigError(  # host; and it may be a password: not quoted)
                "--url holds a user and password: the worker takes a bearer token, give it "
                "with --token (or HUB_REST_AUTH_TOKEN)"
            )
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"--url {url!r}: write http://HOST:PORT (or https://)")
        self.url, self.token = url.rstrip("/"), token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                text = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", exc.reason)
            except (ValueError, AttributeError):
                message = str(exc.reason)
            if exc.code == 401:
                message += (
                    "; give the worker's token with --token or HUB_REST_AUTH_TOKEN"
                    if not self.token else "; the token given (--token or "
                    "HUB_REST_AUTH_TOKEN) is not the worker's"
                )  # fmt: skip
            raise RestError(exc.code, message) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WorkerUnreachableError(self.url, str(reason)) from None
        return json.loads(text) if text else None


def _options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--token", envvar="HUB_REST_AUTH_TOKEN", metavar="TOKEN",
        help="Bearer token of the worker [env HUB_REST_AUTH_TOKEN].",
    )(f)  # fmt: skip
    return click.option(
        "--url", envvar="HUB_URL", default=DEFAULT_URL, show_default=True,
        help="The worker's REST address [env HUB_URL].",
    )(f)  # fmt: skip


def _path(name: str) -> str:
    import urllib.parse

    return "/connectors/" + urllib.parse.quote(name, safe="")


@click.group()
def connectors() -> None:
    """Manage the connectors of a running worker ('hub serve') through its REST API.

    \b
    Example:
      hub connectors create configs/postgres-to-duckdb.yaml
      hub connectors list
      hub connectors status orders-cdc
      hub connectors stop orders-cdc && hub connectors offsets orders-cdc
    """


@connectors.command()
@click.argument("files", nargs=-1, required=True, metavar="CONFIG.yaml...")
@_options
def create(files: tuple[str, ...], url: str, token: str | None) -> None:
    """Create (or update) the files' connectors on the worker: PUT /connectors/NAME/config,
    each config as written (${env:...} and ${file:...} are resolved by the worker, on its
    machine). For a worker of a cluster, whose connectors live in the cluster's config topic.

    \b
    Example:
      hub connectors create configs/postgres-to-duckdb.yaml
    """
    from hub.config import read_connector_entries

    entries = [(n, c) for f in files for n, c in read_connector_entries(f)]  # (all read first)
    client = Client(url, token)
    for name, config in entries:
        info = client.call("PUT", _path(name) + "/config", config)
        click.echo(f"{name}: {info.get('type', '?')} connector, {len(info.get('tasks', []))} "
                   "task(s) configured")  # fmt: skip


@connectors.command("list")
@_options
def list_(url: str, token: str | None) -> None:
    """One line per connector: name, type, state and task states."""
    out = Client(url, token).call("GET", "/connectors?expand=status")
    for name, entry in sorted(out.items()):
        s = entry["status"]
        tasks = ",".join(t["state"] for t in s["tasks"]) or "-"
        click.echo(f"{name:<30} {s['type']:<7} {s['connector']['state']:<8} tasks: {tasks}")


@connectors.command()
@click.argument("name")
@_options
def status(name: str, url: str, token: str | None) -> None:
    """The connector's and its tasks' states (with the first line of a failure)."""
    s = Client(url, token).call("GET", _path(name) + "/status")
    click.echo(
        f"{s['name']} ({s['type']}): {s['connector']['state']} on {s['connector']['worker_id']}"
    )
    for t in s["tasks"]:
        trace = t.get("trace")
        why = f": {trace.strip().splitlines()[-1]}" if trace else ""
        where = f" on {t['worker_id']}" if t.get("worker_id") else ""  # (several workers)
        click.echo(f"  task {t['id']}: {t['state']}{where}{why}")


def _action(verb: str, method: str, suffix: str, done: str) -> click.Command:
    @click.command(verb, help=f"{verb.capitalize()} a connector.")
    @click.argument("name")
    @_options
    def command(name: str, url: str, token: str | None) -> None:
        Client(url, token).call(method, _path(name) + suffix)
        click.echo(f"{done} {name}")

    return command


for _verb, _method, _suffix, _done in (
    ("pause", "PUT", "/pause", "paused"),
    ("resume", "PUT", "/resume", "resumed"),
    ("stop", "PUT", "/stop", "stopped"),
    ("delete", "DELETE", "", "deleted"),
):
    connectors.add_command(_action(_verb, _method, _suffix, _done))


@connectors.command()
@click.argument("name")
@click.option("--include-tasks", is_flag=True, help="Restart the tasks too.")
@click.option("--only-failed", is_flag=True, help="Restart only what has FAILED.")
@_options
def restart(name: str, include_tasks: bool, only_failed: bool, url: str, token: str | None) -> None:
    """Restart a connector (and with --include-tasks its tasks)."""
    import urllib.parse

    query = urllib.parse.urlencode(
        {"includeTasks": str(include_tasks).lower(), "onlyFailed": str(only_failed).lower()}
    )
    Client(url, token).call("POST", f"{_path(name)}/restart?{query}")
    click.echo(f"restarted {name}")


@connectors.command()
@click.argument("name")
@_options
def offsets(name: str, url: str, token: str | None) -> None:
    """The connector's offsets as JSON (source offsets, or a sink's committed offsets)."""
    click.echo(json.dumps(Client(url, token).call("GET", _path(name) + "/offsets"), indent=2))
