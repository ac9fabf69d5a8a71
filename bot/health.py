"""Operations endpoints and per-request plumbing: /healthz, /readyz, /metrics, request ids.

/healthz says the process answers; /readyz says this instance can take traffic (database
reachable, migrations current, model loaded, WeChat credentials set) — load balancers
route on it.  Both answer JSON `{"status": "ok"|"fail", "checks": {...}}` with 200/503.
Keep /metrics and /readyz off the public internet (deploy/nginx example).
"""

from __future__ import annotations

import logging
import os
import time
import uuid

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from core import metrics
from core.logging import bind_request, clean_request_id, clear_request
from services import health
from services.runtime import Runtime

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)

REQUEST_ID_HEADER = "X-Request-Id"
# Endpoints whose latency goes into the webhook histogram.
_WEBHOOK_ENDPOINTS = frozenset({"wechat.receive", "wechat.verify_url"})


def _runtime() -> Runtime:
    return current_app.extensions["qianjia.runtime"]


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving (no dependency is checked)."""
    return jsonify(status="ok", checks={"process": {"status": "ok", "pid": os.getpid()}})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = health.readiness(_runtime())
    ready = health.is_ready(checks)
    body = {"status": "ok" if ready else "fail", "checks": {k: c.as_json() for k, c in checks.items()}}
    return jsonify(body), 200 if ready else 503


@bp.get("/metrics")
def metrics_view() -> Response:
    runtime = _runtime()
    if not runtime.cfg.get("metrics.enabled", True):
        return Response("metrics disabled (metrics.enabled)\n", status=404, mimetype="text/plain")
    body, content_type = metrics.render(runtime.sessions)
    return Response(body, content_type=content_type)


@bp.before_app_request
def _start_request() -> None:
    g.qianjia_started = time.perf_counter()
    g.request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex[:16]
    bind_request(g.request_id)


@bp.after_app_request
def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("qianjia_started")
    if started is not None and request.endpoint in _WEBHOOK_ENDPOINTS:
        seconds = time.perf_counter() - started
        metrics.WEBHOOK_DURATION.labels(str(response.status_code)).observe(seconds)
        log.info("webhook %s %s in %.1f ms", request.method, response.status_code, seconds * 1000)
    return response


@bp.teardown_app_request
def _end_request(_exc: BaseException | None) -> None:
    clear_request()


def register(app: Flask) -> None:
    """Add the ops endpoints and request-id handling to an app."""
    app.register_blueprint(bp)
