"""The `/wechat` endpoint: verify → decrypt → parse → dedup → dispatch → reply."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.parse import parse_xml_fields, to_inbound
from bot.pipeline import process_inbound
from bot.replies import SUCCESS
from bot.security import MessageCrypto, WebhookError, check_timestamp, check_xml_body, verify_signature
from core import metrics
from core.config import Config
from handlers.router import Router
from services.runtime import Runtime

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)

MODES = ("plain", "compatible", "safe")


@dataclass
class WebhookSettings:
    token: str
    mode: str
    crypto: MessageCrypto | None
    tolerance_seconds: int
    max_body_bytes: int

    @classmethod
    def from_config(cls, cfg: Config) -> WebhookSettings:
        mode = str(cfg.get("wechat.mode", "safe")).lower()
        if mode not in MODES:
            raise ValueError(f"wechat.mode must be one of {', '.join(MODES)}, not {mode!r}")
        token = str(cfg.require("wechat.token"))
        crypto = None
        if mode in ("compatible", "safe"):
            crypto = MessageCrypto(
                token, str(cfg.require("wechat.encoding_aes_key")), str(cfg.require("wechat.app_id"))
            )
        return cls(
            token=token,
            mode=mode,
            crypto=crypto,
            tolerance_seconds=int(cfg.get("wechat.timestamp_tolerance_seconds", 300)),
            max_body_bytes=int(cfg.get("wechat.max_body_bytes", 65536)),
        )


@dataclass
class WebhookState:
    runtime: Runtime
    router: Router
    settings: WebhookSettings


def _state() -> WebhookState:
    return current_app.extensions["qianjia.webhook"]


def _refuse(exc: WebhookError) -> Response:
    log.warning("webhook refused: %s (%s)", exc.reason, exc.status)
    return Response(exc.reason + "\n", status=exc.status, mimetype="text/plain")


def _read_body(limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise WebhookError(413, f"body larger than {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise WebhookError(413, f"body larger than {limit} bytes")
    return body


@bp.get("/wechat")
def verify_url() -> Response:
    """URL verification: echo `echostr` only for a valid signature."""
    settings = _state().settings
    args = request.args
    try:
        check_timestamp(args.get("timestamp", ""), settings.tolerance_seconds)
        verify_signature(settings.token, args.get("timestamp", ""), args.get("nonce", ""), args.get("signature", ""))
    except WebhookError as exc:
        return _refuse(exc)
    return Response(args.get("echostr", ""), mimetype="text/plain")


@bp.post("/wechat")
def receive() -> Response:
    state = _state()
    settings = state.settings
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    encrypted = args.get("encrypt_type", "raw").lower() == "aes"
    try:
        check_timestamp(timestamp, settings.tolerance_seconds)
        if not encrypted or args.get("signature"):
            verify_signature(settings.token, timestamp, nonce, args.get("signature", ""))
        body = _read_body(settings.max_body_bytes)
        check_xml_body(body, settings.max_body_bytes)
        fields = parse_xml_fields(body)
        if encrypted:
            if settings.crypto is None:
                raise WebhookError(400, "encrypted message received but wechat.mode is plain")
            encrypt = fields.get("Encrypt", "")
            if not encrypt:
                raise WebhookError(400, "encrypt_type=aes but the body has no <Encrypt>")
            verify_signature(settings.token, timestamp, nonce, args.get("msg_signature", ""), encrypt)
            plain = settings.crypto.decrypt(encrypt).encode("utf-8")
            check_xml_body(plain, settings.max_body_bytes)
            fields = parse_xml_fields(plain)
        elif settings.mode == "safe":
            raise WebhookError(400, "wechat.mode is safe: only encrypted messages are accepted")
        inbound = to_inbound(fields, received_at=state.runtime.clock.now())
    except WebhookError as exc:
        return _refuse(exc)

    try:
        reply_xml, _duplicate = process_inbound(state.runtime, state.router, inbound)
        metrics.record_inbound(inbound, duplicate=_duplicate)
    except (OperationalError, DBAPIError) as exc:
        # Not stored, so not acknowledged: WeChat will retry.
        log.error("database unavailable, delivery not acknowledged: %s", type(exc).__name__)
        return Response("database unavailable\n", status=503, mimetype="text/plain")

    if reply_xml == SUCCESS:
        return Response(SUCCESS, mimetype="text/plain")
    if encrypted and settings.crypto is not None:
        reply_xml = settings.crypto.encrypt(reply_xml, secrets.token_hex(8), str(int(time.time())))
    return Response(reply_xml, mimetype="application/xml")
