"""API keys of the bank's app: issue (shown once), list, revoke, authenticate, and the
HMAC signature with which the app vouches for its own customer id."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import ApiClient

KEY_PREFIX = "qjk_"
# qjk_<8 hex: looked up>_<43 url-safe characters: 256 random bits, only its hash is stored>
API_KEY_PATTERN = re.compile(r"^(qjk_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The app's own customer ids: printable, no separators that could make two signed strings equal.
CUSTOMER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,64}$")
DEFAULT_APP = "mobile"


class ApiKeyError(ValueError):
    """A key that cannot be created or found (CLI input); the message is for the operator."""


class AuthError(Exception):
    """A request the API refuses to attribute: `client` failures are about the key, `customer` about the signature."""

    def __init__(self, code: str, message: str, *, about: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.about = about  # "client" | "customer"


@dataclass(frozen=True)
class IssuedKey:
    """A new key; `api_key` and `signing_secret` exist only here and are shown once."""

    client: ApiClient
    api_key: str
    signing_secret: str


def hash_api_key(api_key: str) -> str:
    """SHA-256 is enough for a 256-bit random key: there is nothing to brute-force."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def customer_signature(signing_secret: str, customer_id: str, timestamp: str) -> str:
    """hex HMAC-SHA256(signing secret, "<customer id>\\n<timestamp>")."""
    message = f"{customer_id}\n{timestamp}".encode()
    return hmac.new(signing_secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def create_api_client(session: Session, *, name: str, now: datetime, app: str = DEFAULT_APP,
                      rate_limit_per_minute: int | None = None) -> IssuedKey:
    """Issue a key and a signing secret; the name is unique (enforced by the table)."""
    if not NAME_PATTERN.match(name):
        raise ApiKeyError(f"名称“{name}”无效：1-64 个字母、数字、点、下划线或连字符，以字母或数字开头")
    if not NAME_PATTERN.match(app):
        raise ApiKeyError(f"应用标识“{app}”无效：1-64 个字母、数字、点、下划线或连字符")
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise ApiKeyError("每分钟请求上限必须是正整数")
    for _attempt in range(5):
        prefix = KEY_PREFIX + secrets.token_hex(4)
        api_key = f"{prefix}_{secrets.token_urlsafe(32)}"
        signing_secret = secrets.token_urlsafe(32)
        client = ApiClient(name=name, app=app, key_prefix=prefix, key_hash=hash_api_key(api_key),
                           signing_secret=signing_secret, rate_limit_per_minute=rate_limit_per_minute,
                           created_at=now)
        try:
            with session.begin_nested():
                session.add(client)
        except IntegrityError:
            if session.scalars(select(ApiClient.id).where(ApiClient.name == name)).first() is not None:
                raise ApiKeyError(f"名称“{name}”已被使用，请换一个名称") from None
            continue  # the random prefix collided with another key's: draw again
        return IssuedKey(client=client, api_key=api_key, signing_secret=signing_secret)
    raise ApiKeyError("无法生成唯一的密钥前缀，请重试")


def list_api_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.id)))


def find_api_client(session: Session, ref: str) -> ApiClient:
    """A key by name, by numeric id, or by its public prefix."""
    query = select(ApiClient).where(ApiClient.name == ref)
    client = session.scalars(query).one_or_none()
    if client is None and ref.isdigit():
        client = session.get(ApiClient, int(ref))
    if client is None and ref.startswith(KEY_PREFIX):
        client = session.scalars(select(ApiClient).where(ApiClient.key_prefix == ref)).one_or_none()
    if client is None:
        raise ApiKeyError(f"找不到 API 密钥“{ref}”（可用名称、编号或前缀）")
    return client


def revoke_api_client(session: Session, *, ref: str, now: datetime) -> tuple[ApiClient, bool]:
    """Revoke a key at once; returns (key, whether this call revoked it)."""
    client = find_api_client(session, ref)
    if client.revoked_at is not None:
        return client, False
    client.revoked_at = now
    return client, True


def authenticate(session: Session, *, api_key: str) -> ApiClient:
    """The active key this secret belongs to, or AuthError (compared in constant time)."""
    match = API_KEY_PATTERN.match(api_key)
    client = None
    if match:
        client = session.scalars(select(ApiClient).where(ApiClient.key_prefix == match.group(1))).one_or_none()
    # Compare even when there is no such prefix, so timing says nothing about which prefixes exist.
    stored = client.key_hash if client is not None else "0" * 64
    if not hmac.compare_digest(hash_api_key(api_key), stored) or client is None:
        raise AuthError("invalid_api_key", "API 密钥无效", about="client")
    if client.revoked_at is not None:
        raise AuthError("api_key_revoked", "API 密钥已被吊销", about="client")
    return client


def verify_customer(client: ApiClient, *, customer_id: str, timestamp: str, signature: str, now: datetime,
                    window_seconds: int) -> str:
    """Check the app's signed customer id; returns the id, or raises AuthError."""
    if not customer_id or not timestamp or not signature:
        raise AuthError("customer_signature_required",
                        "缺少客户身份签名：需要 X-Customer-Id、X-Customer-Timestamp 和 X-Customer-Signature",
                        about="customer")
    if not CUSTOMER_ID_PATTERN.match(customer_id):
        raise AuthError("invalid_customer_id", "X-Customer-Id 格式无效：1-64 个字母、数字或 _.:@-", about="customer")
    if not re.fullmatch(r"\d{1,12}", timestamp):
        raise AuthError("invalid_timestamp", "X-Customer-Timestamp 应为 Unix 时间戳（秒）", about="customer")
    if abs(now.timestamp() - int(timestamp)) > window_seconds:
        raise AuthError("signature_expired", "签名已过期，请使用当前时间重新签名", about="customer")
    expected = customer_signature(client.signing_secret, customer_id, timestamp)
    # Bytes: compare_digest refuses non-ASCII text, and a header may carry anything.
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode("utf-8", "replace")):
        raise AuthError("invalid_signature", "客户身份签名不正确", about="customer")
    return customer_id
