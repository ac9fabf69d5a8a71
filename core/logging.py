"""Structured, redacted logging with a request/ticket id on every line.

`configure_logging(cfg)` installs one root handler (JSON in production, readable text in
development, config `logging.format`).  Two filters sit on that handler, so they see the
records of every library (werkzeug, gunicorn, SQLAlchemy), not only ours:

- `ContextFilter` stamps each record with the request id, ticket and job from contextvars;
- `RedactingFilter` rewrites the finished message and any traceback: bank cards, resident
  IDs, mobiles and e-mails go through `nlp.redact`, WeChat openids become a short hash.

The id context is set by the Flask app (`bind_request`), the services (`bind_ticket`) and
the scheduler's job runner (`log_context(job=...)`).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

CONTEXT_FIELDS = ("request_id", "ticket", "job")

_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"qianjia_log_{name}", default=None) for name in CONTEXT_FIELDS
}

# A WeChat openid: 28 URL-safe characters starting with "o" (the test ids have the same shape).
_OPENID_RE = re.compile(r"(?<![A-Za-z0-9_\-])o[A-Za-z0-9_\-]{27}(?![A-Za-z0-9_\-])")
# Any value given as openid=… / FromUserName / ToUserName, whatever its shape.
_OPENID_FIELD_RE = re.compile(
    r"(?P<key>openid=|FromUserName>(?:<!\[CDATA\[)?|ToUserName>(?:<!\[CDATA\[)?)"
    r"(?P<value>[A-Za-z0-9_\-]{6,64})"
)
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


def openid_tag(openid: str) -> str:
    """A stable, short stand-in for an openid in logs: the same customer, no raw id."""
    return "oid:" + hashlib.sha256(openid.encode("utf-8")).hexdigest()[:10]


def redact_text(text: str) -> str:
    """Remove personal data from one log text: cards, IDs, phones, e-mails, openids."""
    from nlp import redact

    text = _OPENID_FIELD_RE.sub(lambda m: m.group("key") + openid_tag(m.group("value")), text)
    text = _OPENID_RE.sub(lambda m: openid_tag(m.group(0)), text)
    return redact(text)


# -- context ------------------------------------------------------------------------------


def current_context() -> dict[str, str]:
    """The ids bound in this context (request, ticket, job), without the empty ones."""
    return {name: value for name, var in _context.items() if (value := var.get()) is not None}


@contextmanager
def log_context(**values: str | int | None) -> Iterator[None]:
    """Bind ids for the lines logged inside the block (e.g. a scheduler job run)."""
    tokens = [_context[name].set(None if value is None else str(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for name, token in zip(values, tokens, strict=True):
            _context[name].reset(token)


def clean_request_id(value: str | None) -> str | None:
    """An incoming X-Request-Id if it is short and plain; None otherwise (we make our own)."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return None


def bind_request(request_id: str) -> None:
    """Start a request's context: its id, and no ticket yet."""
    _context["request_id"].set(request_id)
    _context["ticket"].set(None)


def clear_request() -> None:
    _context["request_id"].set(None)
    _context["ticket"].set(None)


def bind_ticket(ticket: str | int | None) -> None:
    """Name the ticket the current request or job is working on (its number, or its id)."""
    if ticket is not None:
        _context["ticket"].set(str(ticket))


# -- filters and formatters ---------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Copy the bound ids onto every record ("-" when unset)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if not hasattr(record, name):
                setattr(record, name, var.get() or "-")
        return True


class RedactingFilter(logging.Filter):
    """Render the message and traceback once, redacted; handlers then only see clean text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
            # The formatter would re-render exc_info; the redacted text must win.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s ticket=%(ticket)s job=%(job)s] %(message)s"

# LogRecord attributes that are not "extra" fields.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime",
                                                                                 *CONTEXT_FIELDS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, ticket, job, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, "-")
            if value and value != "-":
                payload[name] = value
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value if isinstance(value, (int, float, bool)) else redact_text(str(value))
        if record.exc_text:
            payload["exc"] = record.exc_text
        elif record.exc_info:
            payload["exc"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, ensure_ascii=False)


def build_handler(fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler with the context and redaction filters and the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif fmt == "text":
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    else:
        raise ValueError(f"logging.format must be json or text, not {fmt!r}")
    handler._qianjia = True  # type: ignore[attr-defined]  (so a second configure replaces it)
    return handler


def configure_logging(cfg: Any = None, *, stream: IO[str] | None = None, fmt: str | None = None,
                      level: str | None = None) -> logging.Handler:
    """Install the redacting handler on the root logger (replacing an earlier one of ours)."""
    from core.config import ConfigError, env_name

    fmt = (fmt or (cfg.get("logging.format", "text") if cfg is not None else "text")).strip().lower()
    level = (level or (cfg.get("logging.level", "INFO") if cfg is not None else "INFO")).strip().upper()
    if fmt not in ("json", "text"):
        raise ConfigError(f"配置 logging.format 只能是 json 或 text（环境变量 {env_name('logging.format')}）")
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"配置 logging.level 不是有效的日志级别：{level}（环境变量 {env_name('logging.level')}）")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_qianjia", False)]:
        root.removeHandler(old)
    handler = build_handler(fmt, stream)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
