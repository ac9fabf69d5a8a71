"""One error shape for the whole API: {"error": {"code", "message", "field"?}}.

`code` is a stable English snake_case code for programs; `message` is Chinese, for
the app to show its user.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from flask import Response, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Werkzeug's own refusals (routing, body size), in our words.
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式不正确"),
    404: ("not_found", "接口不存在"),
    405: ("method_not_allowed", "该接口不支持此请求方法"),
    413: ("payload_too_large", "请求体过大"),
    415: ("unsupported_media_type", "请求体必须是 JSON（Content-Type: application/json）"),
    500: ("internal_error", "服务暂时不可用，请稍后重试"),
}


class ApiError(Exception):
    """A refusal with its status; raised anywhere below a view, rendered by the handlers here."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def payload(self) -> dict[str, Any]:
        return error_payload(self.code, self.message, field=self.field)


def error_payload(code: str, message: str, *, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return raw_json_response(json.dumps(payload, ensure_ascii=False), status, headers)


def raw_json_response(body: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def render_api_error(exc: ApiError) -> Response:
    return json_response(exc.payload(), exc.status, exc.headers)


def render_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    code, message = HTTP_ERRORS.get(status, (f"http_{status}", exc.name))
    headers = {}
    if status == 405:
        # Keep the Allow header werkzeug computed from the URL map.
        allow = dict(exc.get_headers()).get("Allow")
        if allow:
            headers["Allow"] = allow
    return json_response(error_payload(code, message), status, headers)


def render_unexpected(exc: Exception) -> Response:
    log.exception("API request failed: %s %s", request.method, request.path)
    code, message = HTTP_ERRORS[500]
    return json_response(error_payload(code, message), 500)
