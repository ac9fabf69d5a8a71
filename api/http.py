"""What every API request goes through: who is calling, the JSON body, exactly-once POSTs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, current_app, g, request
from sqlalchemy.orm import Session

from api.errors import ApiError, raw_json_response
from api.settings import ApiSettings
from api.validation import BodyValidator
from services import apikeys, app_feedback, idempotency
from services.app_feedback import FeedbackConflict, FeedbackError, FeedbackNotFound
from services.rate_limits import RateLimiter
from services.runtime import Runtime

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="qianjia-api"'}


@dataclass
class ApiState:
    runtime: Runtime
    settings: ApiSettings
    limiter: RateLimiter
    document: dict[str, Any]
    validators: dict[str, BodyValidator]


@dataclass(frozen=True)
class Caller:
    """The API key and the customer it vouched for."""

    api_client_id: int
    app: str
    customer_ref: str  # the app's own customer id

    @property
    def scope(self) -> str:
        return f"{self.app}:{self.customer_ref}"

    def customer_id(self, session: Session) -> int | None:
        """Our customer behind the app's id, if they ever wrote (reads never create one)."""
        return app_feedback.find_customer_id(session, app=self.app, app_user_id=self.customer_ref)


def state() -> ApiState:
    return current_app.extensions["qianjia.api"]  # type: ignore[no-any-return]


def caller() -> Caller:
    return g.api_caller  # type: ignore[no-any-return]


def authenticate_request(api: ApiState) -> Caller:
    """API key → rate limit → customer signature; refusals are 401 (key), 429, 403 (customer)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "api_key_required", "缺少 API 密钥：请在 Authorization 头中以 Bearer 方式提供",
                       headers=WWW_AUTHENTICATE)
    now = api.runtime.clock.now()
    try:
        with api.runtime.sessions() as session:
            client = apikeys.authenticate(session, api_key=token)
    except apikeys.AuthError as exc:
        raise ApiError(401, exc.code, exc.message, headers=WWW_AUTHENTICATE) from None
    # Counted before the signature is checked, so guessing signatures is rate limited too.
    decision = api.limiter.hit(client_id=client.id, limit=client.rate_limit_per_minute or api.settings.requests_per_minute,
                               now=now)
    g.api_rate = decision
    if not decision.allowed:
        raise ApiError(429, "rate_limited", f"请求过于频繁，请 {decision.retry_after_seconds} 秒后重试",
                       headers={"Retry-After": str(decision.retry_after_seconds)})
    try:
        customer_ref = apikeys.verify_customer(
            client,
            customer_id=request.headers.get("X-Customer-Id", ""),
            timestamp=request.headers.get("X-Customer-Timestamp", ""),
            signature=request.headers.get("X-Customer-Signature", ""),
            now=now,
            window_seconds=api.settings.signature_window_seconds,
        )
    except apikeys.AuthError as exc:
        raise ApiError(403, exc.code, exc.message) from None
    return Caller(api_client_id=client.id, app=client.app, customer_ref=customer_ref)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(api: ApiState, schema_name: str) -> dict[str, Any]:
    """The body as validated JSON: 415 not JSON, 413 too large, 400 unparsable, 422 invalid."""
    if request.mimetype != "application/json" or request.mimetype_params.get("charset", "utf-8").lower() not in (
            "utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", "请求体必须是 UTF-8 编码的 JSON（Content-Type: application/json）")
    limit = api.settings.max_body_bytes
    too_large = ApiError(413, "payload_too_large", f"请求体不能超过 {limit} 字节")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    try:
        payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_json", "请求体不是有效的 JSON") from None
    return api.validators[schema_name].validate(payload)


def query_int(name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,9}", raw.strip()) or not minimum <= int(raw) <= maximum:
        raise ApiError(400, "invalid_parameter", f"参数 {name} 应为 {minimum} 到 {maximum} 之间的整数", field=name)
    return int(raw)


def feedback_error(exc: FeedbackError) -> ApiError:
    status = 422  # FeedbackInvalid, and any refusal without a better status
    if isinstance(exc, FeedbackNotFound):
        status = 404
    elif isinstance(exc, FeedbackConflict):
        status = 409
    return ApiError(status, exc.code, exc.message, field=exc.field)


Handler = Callable[[Session, datetime], tuple[int, dict[str, Any]]]


def exactly_once(api: ApiState, who: Caller, payload: dict[str, Any], handler: Handler) -> Response:
    """Run a POST once per Idempotency-Key; a retry gets the stored status and body back."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise ApiError(400, "idempotency_key_required", "POST 请求必须带 Idempotency-Key 头", field="Idempotency-Key")
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key 应为 1-255 个可见 ASCII 字符",
                       field="Idempotency-Key")
    now = api.runtime.clock.now()

    def work(session: Session) -> tuple[int, str]:
        try:
            with session.begin_nested():
                status, body = handler(session, now)
        except FeedbackError as exc:
            # A refusal is final too: nothing it touched is kept, the answer is.
            error = feedback_error(exc)
            status, body = error.status, error.payload()
        return status, json.dumps(body, ensure_ascii=False)

    fingerprint = idempotency.fingerprint(method=request.method, path=request.path, customer=who.scope,
                                          payload=payload)
    try:
        stored = idempotency.execute_once(api.runtime.sessions, api_client_id=who.api_client_id, key=key,
                                          request_fingerprint=fingerprint, now=now, work=work)
    except idempotency.IdempotencyConflict:
        raise ApiError(422, "idempotency_key_reused", "该 Idempotency-Key 已用于另一个请求，请为新请求换一个",
                       field="Idempotency-Key") from None
    return raw_json_response(stored.body, stored.status, {"Idempotent-Replayed": "true"} if stored.replayed else None)
