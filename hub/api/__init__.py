"""The REST API, compatible with Kafka Connect's where the concept is the same.

    from hub.api import create_app
    app = create_app(worker, auth_token="s3cret")   # a FastAPI app; serve with uvicorn

Endpoints, JSON shapes and status codes follow Kafka Connect's (``/connectors``, config,
status, tasks, pause/resume/stop, restart, KIP-875 offsets, ``/connector-plugins`` and
validate). Errors are ``{"error_code": <http status>, "message": "..."}``. Secrets are
masked as ``********`` in every response. ``GET /`` adds ``jobs`` (the worker's scheduled
jobs) to Connect's keys; ``GET /metrics`` serves Prometheus' text format (hub.api.metrics).
The bearer token, when set, guards every endpoint, ``/metrics`` included.
"""

from hub.api.app import create_app

__all__ = ["create_app"]
