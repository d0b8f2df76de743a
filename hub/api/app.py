"""The FastAPI app over a Worker: Kafka Connect's endpoints and JSON shapes.

Handlers are plain functions (FastAPI runs them in its thread pool): worker operations block
while tasks stop. Errors map by class: ConnectorNotFoundError 404, ConnectorExistsError 409,
any other ConfigError (an invalid config, offsets of a running connector) 400, anything else
500 without a traceback. Every config, task config and trace is masked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from hub import __version__
from hub.api import browse, console, metrics
from hub.api.guards import (
    DEFAULT_MAX_REQUEST_BYTES,
    BodyLimit,
    Contained,
    SameOrigin,
    bearer_ok,
)
from hub.api.loggers import LoggerNotFoundError, Loggers
from hub.api.validate import config_infos, config_keys
from hub.errors import ConfigError, HubError
from hub.log import UnknownTopicError
from hub.runtime.worker import (
    ConnectorExistsError,
    ConnectorNotFoundError,
    ConnectorRuntime,
    TaskElsewhereError,
    Worker,
)

log = logging.getLogger(__name__)
FORWARD_TIMEOUT_S = 60.0  # a request forwarded to another worker (a task's restart)


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=code)


def _config(rt: ConnectorRuntime) -> dict[str, Any]:
    """The connector's config as Connect returns it: with its ``name`` (tools that compare a
    desired config with this one saw a difference for ever without it)."""
    return {**rt.masked(), "name": rt.name}


def _info(rt: ConnectorRuntime) -> dict[str, Any]:
    return {
        "name": rt.name,
        "config": _config(rt),
        "tasks": [{"connector": rt.name, "task": t.task_id} for t in rt.tasks],
        "type": rt.type,
    }


def _task_status(worker: Worker, s: Any) -> dict[str, Any]:
    # (distributed: a task another worker runs, as the status topic says)
    out: dict[str, Any] = {"id": s.id, "state": s.state,
                           "worker_id": s.worker_id or worker.worker_id}  # fmt: skip
    if s.trace:
        out["trace"] = s.trace
    if s.metrics:
        out["metrics"] = s.metrics  # hub's addition: the task's own gauges
    return out


def _status(worker: Worker, rt: ConnectorRuntime) -> dict[str, Any]:
    state, worker_id, trace = worker.connector_status(rt)
    connector: dict[str, Any] = {"state": state, "worker_id": worker_id}
    if trace:
        connector["trace"] = trace
    return {
        "name": rt.name,
        "connector": connector,
        "tasks": [_task_status(worker, s) for s in worker.task_statuses(rt)],
        "type": rt.type,
    }


def _forward(request: Request, worker_id: str, token: str | None) -> Response:
    """Send ``request`` (a POST without a body) to the worker ``worker_id`` (its REST
    host:port) once, with this worker's own token (the cluster's workers share one); that
    worker's answer."""
    url = f"http://{worker_id}{urllib.parse.quote(request.url.path)}?forward=false"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        req = urllib.request.Request(url, data=b"", headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=FORWARD_TIMEOUT_S) as got:
            return Response(got.read(), status_code=got.status,
                            media_type=got.headers.get("content-type"))  # fmt: skip
    except urllib.error.HTTPError as exc:
        return Response(exc.read(), status_code=exc.code,
                        media_type=exc.headers.get("content-type"))  # fmt: skip
    except (OSError, ValueError) as exc:
        return _error(409, f"the worker {worker_id} running it did not answer ({exc}): try "
                      "again in a moment")  # fmt: skip


def _tree_bytes(path: str) -> int:
    """The bytes of the files under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                continue  # (removed meanwhile: a segment deleted by retention)
    return total


def _connector_body(body: Any) -> tuple[str, dict[str, Any], str]:
    """The name, config and initial state (Connect's ``initial_state``, default RUNNING)."""
    if not isinstance(body, dict):
        raise ConfigError("the request body must be a JSON object {name, config}")
    name, config = body.get("name"), body.get("config")
    if not isinstance(name, str) or not name:
        raise ConfigError("Connector name is required ('name')")
    if not isinstance(config, dict):
        raise ConfigError(f"connector {name!r}: 'config' must be a JSON object of properties")
    initial = str(body.get("initial_state") or "RUNNING").upper()  # (Connect's valueOf)
    if initial not in ("RUNNING", "PAUSED", "STOPPED"):
        raise ConfigError(
            f"connector {name!r}: initial_state must be RUNNING, PAUSED or STOPPED, not {initial!r}"
        )
    return name, config, str(initial)


def create_app(
    worker: Worker,
    *,
    auth_token: str | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> FastAPI:
    """``max_request_bytes`` caps a request body (413 beyond it)."""
    app = FastAPI(title="hub", version=__version__, docs_url=None, redoc_url=None)
    where = (
        os.path.abspath(worker.log.path) if worker.log is not None
        else f"{type(worker.backend).__name__}:{getattr(worker.backend, 'name', '')}"
    )  # fmt: skip
    cluster_id = hashlib.sha256(where.encode()).hexdigest()[:22]
    app.add_middleware(BodyLimit, limit=max_request_bytes)
    app.add_middleware(SameOrigin, token=bool(auth_token))
    app.add_middleware(Contained)  # (outermost: added last)

    if auth_token:
        token = auth_token

        @app.middleware("http")
        async def _auth(request: Request, call_next: Any) -> Any:
            path = request.scope["path"]  # (what the router matches; not the Host header's)
            if (
                console.public(request)
                or bearer_ok(request.headers.get("authorization", ""), token)
                or console.cookie_ok(request, token)
            ):
                return await call_next(request)
            if (
                request.method == "GET"
                and console.wants_html(request)
                and (path == "/" or path.startswith("/console"))
            ):  # a browser: to the sign-in page
                return RedirectResponse("/console/login", status_code=303)
            return _error(401, "missing or wrong 'Authorization: Bearer <token>' header")

        console.add_login(app, token)
    console.add_console(app, auth=bool(auth_token))

    @app.exception_handler(HubError)
    def _hub_error(_request: Request, exc: HubError) -> JSONResponse:
        if isinstance(exc, ConnectorNotFoundError | UnknownTopicError | LoggerNotFoundError):
            return _error(404, str(exc))
        if isinstance(exc, ConnectorExistsError):
            return _error(409, str(exc))
        if isinstance(exc, ConfigError):
            return _error(400, str(exc))
        return _error(500, str(exc))

    @app.exception_handler(HTTPException)
    def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    def _bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _error(400, f"bad request: {problems}")

    @app.exception_handler(Exception)
    def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the exception's text may hold a config value: name its class only
        log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        return _error(500, f"internal error ({type(exc).__name__}); see the worker's log")

    # -- root and plugins ------------------------------------------------------------------
    @app.get("/", response_model=None)
    def root(request: Request) -> dict[str, Any] | RedirectResponse:
        if console.wants_html(request):  # a browser: the console (API clients: Connect's)
            return RedirectResponse("/console/", status_code=303)
        return {
            "version": __version__, "commit": "", "kafka_cluster_id": cluster_id,
            "jobs": [j.to_dict() for j in worker.jobs()],
        }  # fmt: skip

    registry = metrics.registry(worker)

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(registry), media_type=metrics.CONTENT_TYPE)

    @app.get("/connector-plugins")
    def list_plugins(connectorsOnly: bool = True) -> list[dict[str, Any]]:  # noqa: N803
        from hub.runtime.plugins import discover

        return [  # ("name": hub's addition, the short name configs use: datagen, duckdb...)
            {"class": p.class_name, "type": p.type, "version": p.cls.version, "name": p.cls.name}
            for p in discover()
        ]

    @app.put("/hub/connector-plugins/{plugin}/tables")
    def plugin_tables(plugin: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        """The tables a source config captures (its include/exclude lists against its
        database, connected to now) and their topics; 400 for an invalid config or a
        source that cannot list its tables."""
        from hub.runtime.validation import validate

        config = {**body, "connector.class": body.get("connector.class") or plugin}
        # (as POST /connectors takes it: ${env:...}/${file:...} resolved, their values secret)
        valid = validate(Worker.spec(str(body.get("name") or "preview"), config))
        lister = getattr(valid.cls, "verify_tables", None)
        if valid.cls.type != "source" or lister is None:
            raise ConfigError(f"the {valid.cls.name} connector cannot list the tables it reads")
        try:
            tables = lister(valid.raw)
        except HubError as exc:  # (a database it cannot reach: the config's to change)
            # (a driver may quote a resolved reference's value)
            raise ConfigError(valid.scrub(str(exc))) from None
        return {"tables": [{"schema": t.schema, "table": t.table, "topic": t.topic,
                            "key": list(t.key)} for t in tables]}  # fmt: skip

    @app.get("/connector-plugins/{plugin}/config")
    def plugin_config(plugin: str) -> list[dict[str, Any]]:
        return config_keys(plugin)

    @app.put("/connector-plugins/{plugin}/config/validate")
    def validate_config(plugin: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return config_infos(plugin, body)

    # -- connectors ------------------------------------------------------------------------
    @app.get("/connectors", response_model=None)
    def list_connectors(request: Request) -> list[str] | dict[str, Any]:
        expand = request.query_params.getlist("expand")
        with worker.lock:
            rts = [worker.connectors[n] for n in sorted(worker.connectors)]
            if not expand:
                return [rt.name for rt in rts]
            out: dict[str, Any] = {}
            for rt in rts:
                entry: dict[str, Any] = {}
                if "status" in expand:
                    entry["status"] = _status(worker, rt)
                if "info" in expand:
                    entry["info"] = _info(rt)
                out[rt.name] = entry
            return out

    @app.post("/connectors", status_code=201)
    def create(body: Any = Body(...)) -> dict[str, Any]:  # noqa: B008
        name, config, initial = _connector_body(body)
        return _info(worker.create(name, config, initial))

    @app.get("/connectors/{name}")
    def get_connector(name: str) -> dict[str, Any]:
        return _info(worker.get(name))

    @app.delete("/connectors/{name}", status_code=204)
    def delete(name: str) -> Response:
        worker.delete(name)
        return Response(status_code=204)

    @app.get("/connectors/{name}/config")
    def get_config(name: str) -> dict[str, Any]:
        return _config(worker.get(name))

    @app.put("/connectors/{name}/config")
    def put_config(name: str, config: dict[str, Any] = Body(...)) -> JSONResponse:  # noqa: B008
        rt, created = worker.put_config(name, config)
        return JSONResponse(_info(rt), status_code=201 if created else 200)

    @app.get("/connectors/{name}/status")
    def status(name: str) -> dict[str, Any]:
        return _status(worker, worker.get(name))

    @app.get("/connectors/{name}/tasks")
    def tasks(name: str) -> list[dict[str, Any]]:
        rt = worker.get(name)
        return [
            {"id": {"connector": name, "task": t.task_id}, "config": rt.masked(t.config)}
            for t in rt.tasks
        ]

    @app.get("/connectors/{name}/tasks/{task_id}/status")
    def task_status(name: str, task_id: int) -> dict[str, Any]:
        rt = worker.get(name)
        for s in worker.task_statuses(rt):
            if s.id == task_id:
                return _task_status(worker, s)
        raise ConnectorNotFoundError(name, task_id)

    @app.post("/connectors/{name}/tasks/{task_id}/restart", status_code=204)
    def restart_task(name: str, task_id: int, request: Request, forward: bool = True) -> Response:
        try:
            worker.restart_task(name, task_id)
        except TaskElsewhereError as exc:  # (distributed) to the worker running it, as Connect
            if not forward or not exc.worker_id or not worker.is_member(exc.worker_id):
                return _error(409, f"{exc}: try again in a moment")
            return _forward(request, exc.worker_id, auth_token)
        return Response(status_code=204)

    @app.put("/connectors/{name}/pause", status_code=202)
    def pause(name: str) -> Response:
        worker.pause(name)
        return Response(status_code=202)

    @app.put("/connectors/{name}/resume", status_code=202)
    def resume(name: str) -> Response:
        worker.resume(name)
        return Response(status_code=202)

    @app.put("/connectors/{name}/stop", status_code=202)
    def stop(name: str) -> Response:
        worker.stop_connector(name)
        return Response(status_code=202)

    @app.post("/connectors/{name}/restart", response_model=None)
    def restart(
        name: str,
        includeTasks: bool = False,  # noqa: N803 - Connect's parameter names
        onlyFailed: bool = False,  # noqa: N803
    ) -> Response | JSONResponse:
        worker.restart(name, include_tasks=includeTasks, only_failed=onlyFailed)
        if not includeTasks and not onlyFailed:
            return Response(status_code=204)
        return JSONResponse(_status(worker, worker.get(name)), status_code=202)

    @app.get("/connectors/{name}/topics")
    def active_topics(name: str) -> dict[str, Any]:
        return {name: {"topics": worker.active_topics(name)}}

    @app.put("/connectors/{name}/topics/reset", status_code=202)
    def reset_topics(name: str) -> Response:
        worker.reset_topics(name)
        return Response(status_code=202)

    # -- log levels (Connect's /admin/loggers) ---------------------------------------------
    loggers = Loggers()

    @app.get("/admin/loggers")
    def list_loggers() -> dict[str, Any]:
        return loggers.all()

    @app.get("/admin/loggers/{logger}")
    def get_logger(logger: str) -> dict[str, Any]:
        return loggers.get(logger)

    @app.put("/admin/loggers/{logger}", response_model=None)
    def set_logger(
        logger: str,
        body: dict[str, Any] = Body(...),  # noqa: B008
        scope: str = "worker",
    ) -> list[str] | Response:
        if scope.lower() == "cluster" and worker.leases is not None:
            raise ConfigError(
                "scope=cluster: hub sets log levels on the worker asked only; ask each "
                "worker of the cluster (scope=worker)"
            )
        names = loggers.set(logger, body.get("level"))
        return Response(status_code=204) if scope.lower() == "cluster" else names

    # -- hub's own views (the console reads them) -----------------------------------------
    @app.get("/hub/connectors")
    def hub_connectors() -> list[dict[str, Any]]:
        """Every connector with its state and its tasks' figures: records, records/s, lag,
        tolerated errors, the last failure (Connect's status has no place for them)."""
        with worker.lock:
            rts = [worker.connectors[n] for n in sorted(worker.connectors)]
        out = []
        for rt in rts:
            tasks = [
                {
                    "id": s.id, "state": s.state, "worker_id": s.worker_id or worker.worker_id,
                    "records": s.records,
                    "records_per_second": round(s.records_per_second, 1), "lag": s.lag,
                    "errors": s.errors, "failures": s.failures, "error": s.error,
                    "trace": s.trace, "last_commit_age_s": s.last_commit_age_s,
                    "last_batch_size": s.last_batch_size,
                    "metrics": s.metrics,  # the task's own gauges (a snapshot's progress...)
                }
                for s in worker.task_statuses(rt)
            ]  # fmt: skip
            out.append({"name": rt.name, "type": rt.type, "state": rt.state,
                        "error": rt.error, "trace": rt.trace, "tasks": tasks})  # fmt: skip
        return out

    @app.post("/hub/connectors/{name}/signals", status_code=202)
    def signal(name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        """A signal through the source's channel: ``{"type": "execute-snapshot", "data":
        {"data-collections": ["public.orders"]}}`` (Debezium's), acted on when the stream
        reaches it."""
        kind, data = body.get("type"), body.get("data") or {}
        if not isinstance(kind, str) or not kind or not isinstance(data, dict):
            raise ConfigError('the body must be {"type": "...", "data": {...}}')
        tables = data.get("data-collections")
        if kind == "execute-snapshot" and (
            not isinstance(tables, list) or not tables
            or not all(isinstance(t, str) and t for t in tables)
        ):  # fmt: skip
            raise ConfigError('execute-snapshot needs "data-collections": a list of tables')
        return {"id": worker.signal(name, kind, data)}

    @app.get("/hub/connectors/{name}/history")
    def history(name: str) -> dict[str, Any]:
        """The connector's last hour, one sample every few seconds (kept by the worker)."""
        worker.get(name)  # (404 for an unknown one)
        return {"interval_s": worker.history.interval_s, "samples": worker.history.of(name)}

    sized: list[float] = [-1e9, 0]  # (when the data directory was last walked, its bytes)

    @app.get("/hub/health")
    def health() -> dict[str, Any]:
        """The worker: version, uptime, where its log lives and the disk under it, its
        scheduled jobs (last run, duration, error); one of several workers: its cluster."""
        import shutil
        import time

        out: dict[str, Any] = {
            "version": __version__, "worker_id": worker.worker_id,
            "uptime_s": round(time.time() - worker.started_at, 1),
            "backend": "embedded" if worker.log is not None else type(worker.backend).__name__,
            "jobs": [j.to_dict() for j in worker.jobs()],
        }  # fmt: skip
        cluster = worker.cluster_info()
        if cluster is not None:  # (several workers: the group, who is in it, what runs here)
            out["cluster"] = cluster
        if worker.log is not None:
            path = os.path.abspath(worker.log.path)
            disk = shutil.disk_usage(path)
            now = time.monotonic()
            if now - sized[0] > 30:  # (a walk of every file: at most every 30 s)
                sized[:] = [now, _tree_bytes(path)]
            out.update(data_dir=path, data_bytes=sized[1], disk_free_bytes=disk.free,
                       disk_total_bytes=disk.total)  # fmt: skip
        return out

    browse.add_browse(app, worker)

    # -- offsets (KIP-875) -----------------------------------------------------------------
    @app.get("/connectors/{name}/offsets")
    def get_offsets(name: str) -> dict[str, Any]:
        return {"offsets": worker.get_offsets(name)}

    @app.patch("/connectors/{name}/offsets")
    def alter_offsets(name: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        offsets = body.get("offsets")
        if not isinstance(offsets, list) or not all(isinstance(o, dict) for o in offsets):
            raise ConfigError('the body must be {"offsets": [{"partition": {...}, ...}]}')
        out: dict[str, Any] = {
            "message": "The offsets for this connector have been altered successfully"
        }
        warning = worker.alter_offsets(name, offsets)
        if warning:
            out["warning"] = warning  # (hub's addition)
        return out

    @app.delete("/connectors/{name}/offsets")
    def reset_offsets(name: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message": "The offsets for this connector have been reset successfully"
        }
        warning = worker.reset_offsets(name)
        if warning:
            out["warning"] = warning  # (hub's addition)
        return out

    return app
