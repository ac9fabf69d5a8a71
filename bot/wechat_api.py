"""WeChat API client: a shared access token, error classification and a small typed facade.

The access token lives in a store every process shares (the database or Redis); one
worker refreshes it at a time while the others wait and re-read, so workers never
invalidate each other's tokens.  Errors follow WeChat's codes (see shared/DOMAIN.md):
token errors refresh and retry once, -1/45009/45011 are retryable, the rest are
permanent for the message at hand.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.client import WeChatClient
from wechatpy.exceptions import WeChatClientException

from core import metrics
from core.clock import Clock, SystemClock
from core.config import Config, ConfigError, env_name
from models import WeChatAccessToken

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"

# -- error codes ---------------------------------------------------------------------

ERRCODE_SYSTEM_BUSY = -1
# Not a WeChat code: an HTTP 4xx or a body that is not JSON (misconfigured base URL, proxy page).
ERRCODE_BAD_RESPONSE = -2

TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
RETRYABLE_ERRCODES = frozenset({ERRCODE_SYSTEM_BUSY, 45009, 45011})
# Documented permanent codes; every other non-retryable code is permanent too.
PERMANENT_ERRCODES = frozenset({43004, 45015, 45047, 48001})

_HINTS: dict[int, str] = {
    40013: f"WeChat rejected the AppID: check {env_name('wechat.app_id')}",
    40125: f"WeChat rejected the AppSecret: check {env_name('wechat.app_secret')}",
    40164: "this server's IP address is not in the Official Account's IP whitelist",
    43004: "the user does not follow the Official Account",
    45009: "daily API quota reached",
    45011: "per-minute API limit reached",
    45015: "outside the 48-hour customer-service window: use a template message",
    45047: "customer-service message limit for this window reached",
    48001: "the Official Account has no permission for this API",
}

# Default back-off hints, seconds.
_RETRY_AFTER: dict[int, float] = {ERRCODE_SYSTEM_BUSY: 2.0, 45011: 60.0, 45009: 3600.0}
_TOKEN_RETRY_AFTER = 1.0
_NETWORK_RETRY_AFTER = 5.0
_BEIJING = timezone(timedelta(hours=8))

_SECRET_QUERY_RE = re.compile(r"(access_token|secret|key)=[^&\s'\"]+", re.IGNORECASE)


def _redact(message: str) -> str:
    """Hide access tokens, secrets and robot keys that requests puts into error texts."""
    return _SECRET_QUERY_RE.sub(r"\1=***", message)


class WeChatAPIError(Exception):
    """A WeChat API call failed; `errcode` is WeChat's code (-1 also for network errors)."""

    def __init__(
        self,
        errcode: int,
        errmsg: str,
        *,
        api: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        self.errcode = int(errcode)
        self.errmsg = str(errmsg)
        self.api = api
        self._retry_after = retry_after_seconds
        metrics.record_wechat_api_error(self.errcode, api)
        super().__init__(self.errcode, self.errmsg)

    def __str__(self) -> str:
        where = f" [{self.api}]" if self.api else ""
        hint = _HINTS.get(self.errcode)
        return f"WeChat API error {self.errcode}{where}: {self.errmsg}" + (f" ({hint})" if hint else "")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (self.errcode, self.errmsg, self.api, self._retry_after))

    @property
    def token_error(self) -> bool:
        """The access token was rejected (40001/40014/42001)."""
        return self.errcode in TOKEN_ERRCODES

    @property
    def retryable(self) -> bool:
        """Trying again later may succeed (-1, 45009, 45011, network errors, token errors)."""
        return self.errcode in RETRYABLE_ERRCODES or self.token_error

    @property
    def permanent(self) -> bool:
        """Retrying this message will not help (43004, 45015, 45047, 48001, bad requests, config)."""
        return not self.retryable

    @property
    def retry_after_seconds(self) -> float | None:
        """How long the caller should back off before retrying; None when not retryable."""
        if not self.retryable:
            return None
        if self._retry_after is not None:
            return self._retry_after
        if self.token_error:
            return _TOKEN_RETRY_AFTER
        return _RETRY_AFTER.get(self.errcode, _NETWORK_RETRY_AFTER)


def _rebuild_error(errcode: int, errmsg: str, api: str | None, retry_after: float | None) -> WeChatAPIError:
    return WeChatAPIError(errcode, errmsg, api=api, retry_after_seconds=retry_after)


def seconds_until_quota_reset(now: datetime) -> float:
    """Seconds until the next midnight in Beijing time, when WeChat's daily quotas reset."""
    local = now.astimezone(_BEIJING)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight - local).total_seconds())


# -- return types ------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """Outcome of a message sent through WeChat; `msgid` is set for template messages."""

    msgid: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchedToken:
    """A token as WeChat handed it out."""

    access_token: str
    expires_in: int


@dataclass(frozen=True)
class CachedToken:
    """A token as a store holds it."""

    access_token: str
    expires_at: datetime
    updated_at: datetime

    def is_fresh(self, now: datetime, margin_seconds: float) -> bool:
        """Usable without a refresh: not within the refresh margin of its expiry."""
        if not self.access_token:
            return False
        lifetime = (self.expires_at - self.updated_at).total_seconds()
        # stable_token hands back the same token with its remaining lifetime until it
        # expires, so a token fetched late has a short lifetime: shrink the margin with
        # it instead of re-fetching on every call, and use a nearly spent one to the end.
        margin = min(margin_seconds, lifetime / 2)
        if lifetime < _SHORT_LIFETIME_SECONDS:
            margin = 0.0
        return now < self.expires_at - timedelta(seconds=margin)


_SHORT_LIFETIME_SECONDS = 20.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TokenFetcher = Callable[[bool], FetchedToken]
"""Fetch a token from WeChat; the argument is stable_token's force_refresh."""


def _plan(
    current: CachedToken | None,
    now: datetime,
    margin_seconds: float,
    stale_token: str | None,
    force: bool,
) -> tuple[str | None, bool]:
    """Decide between using the stored token, (token, False), and fetching, (None, force_refresh)."""
    if force:
        return None, True
    if current is None or not current.access_token:
        return None, False
    if stale_token is not None and current.access_token == stale_token:
        # WeChat rejected the stored token: force a new one unless it has simply expired.
        return None, now < current.expires_at
    if current.is_fresh(now, margin_seconds):
        return current.access_token, False
    return None, False


def _cached_from_fetch(fetched: FetchedToken, started: datetime) -> CachedToken:
    return CachedToken(
        access_token=fetched.access_token,
        expires_at=started + timedelta(seconds=fetched.expires_in),
        updated_at=started,
    )


# -- token stores ------------------------------------------------------------------


class TokenStore(Protocol):
    """Where the access token is shared; `get_token` refreshes it with one fetcher at a time."""

    def peek(self, app_id: str) -> CachedToken | None: ...

    def get_token(
        self,
        app_id: str,
        fetch: TokenFetcher,
        *,
        margin_seconds: float,
        stale_token: str | None = None,
        force: bool = False,
    ) -> str: ...

    def clear(self, app_id: str) -> None: ...


class MemoryTokenStore:
    """In-process store for a single process (tests, one-off scripts)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._tokens: dict[str, CachedToken] = {}
        self._lock = threading.Lock()

    def peek(self, app_id: str) -> CachedToken | None:
        """The stored token, fresh or not."""
        return self._tokens.get(app_id)

    def get_token(
        self,
        app_id: str,
        fetch: TokenFetcher,
        *,
        margin_seconds: float,
        stale_token: str | None = None,
        force: bool = False,
    ) -> str:
        """Return a fresh token, fetching it under the lock when needed."""
        with self._lock:
            token, force_refresh = _plan(
                self._tokens.get(app_id), self._clock.now(), margin_seconds, stale_token, force
            )
            if token is not None:
                return token
            started = self._clock.now()
            fetched = fetch(force_refresh)
            self._tokens[app_id] = _cached_from_fetch(fetched, started)
            return fetched.access_token

    def clear(self, app_id: str) -> None:
        """Forget the token."""
        with self._lock:
            self._tokens.pop(app_id, None)


class DatabaseTokenStore:
    """Token in table wechat_access_tokens; the row lock makes one refresher at a time."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock | None = None,
        *,
        lock_timeout_seconds: float = 30.0,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock or SystemClock()
        self._lock_timeout_ms = max(1, int(lock_timeout_seconds * 1000))

    @staticmethod
    def _to_cached(row: WeChatAccessToken | None) -> CachedToken | None:
        if row is None or not row.access_token:
            return None
        return CachedToken(row.access_token, row.expires_at, row.updated_at)

    def peek(self, app_id: str) -> CachedToken | None:
        """The stored token, fresh or not (no lock)."""
        with self._session_factory() as session, session.begin():
            return self._to_cached(session.get(WeChatAccessToken, app_id))

    def _lock_row(self, session: Session, app_id: str) -> WeChatAccessToken:
        stmt = (
            select(WeChatAccessToken)
            .where(WeChatAccessToken.app_id == app_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = session.execute(stmt).scalar_one_or_none()
        if row is not None:
            return row
        # First use: insert an empty row to lock, tolerating a concurrent insert.
        values = {"app_id": app_id, "access_token": "", "expires_at": _EPOCH, "updated_at": _EPOCH}
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            session.execute(pg_insert(WeChatAccessToken).values(**values).on_conflict_do_nothing())
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            session.execute(sqlite_insert(WeChatAccessToken).values(**values).on_conflict_do_nothing())
        else:
            try:
                with session.begin_nested():
                    session.execute(insert(WeChatAccessToken).values(**values))
            except IntegrityError:
                pass
        return session.execute(stmt).scalar_one()

    def get_token(
        self,
        app_id: str,
        fetch: TokenFetcher,
        *,
        margin_seconds: float,
        stale_token: str | None = None,
        force: bool = False,
    ) -> str:
        """Return a fresh token; refresh it holding the row lock when needed."""
        if not force:
            token, _ = _plan(self.peek(app_id), self._clock.now(), margin_seconds, stale_token, force)
            if token is not None:
                return token
        try:
            with self._session_factory() as session, session.begin():
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text(f"SET LOCAL lock_timeout = {self._lock_timeout_ms}"))
                row = self._lock_row(session, app_id)
                # Re-read under the lock: another worker may have refreshed meanwhile.
                token, force_refresh = _plan(
                    self._to_cached(row), self._clock.now(), margin_seconds, stale_token, force
                )
                if token is not None:
                    return token
                started = self._clock.now()
                fetched = fetch(force_refresh)
                cached = _cached_from_fetch(fetched, started)
                row.access_token = cached.access_token
                row.expires_at = cached.expires_at
                row.updated_at = cached.updated_at
                return fetched.access_token
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise WeChatAPIError(
                    ERRCODE_SYSTEM_BUSY, "timed out waiting for another worker to refresh the access token"
                ) from exc
            raise

    def clear(self, app_id: str) -> None:
        """Delete the stored token."""
        with self._session_factory() as session, session.begin():
            row = session.get(WeChatAccessToken, app_id)
            if row is not None:
                session.delete(row)


_RELEASE_LOCK_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisTokenStore:
    """Token in Redis; a SET NX PX lock makes one refresher at a time, the others poll."""

    def __init__(
        self,
        redis_url: str,
        *,
        clock: Clock | None = None,
        key_prefix: str = "qianjia:wechat:access_token:",
        lock_ttl_seconds: float = 30.0,
        wait_timeout_seconds: float = 30.0,
        poll_interval_seconds: float = 0.05,
        socket_timeout_seconds: float = 5.0,
    ) -> None:
        import redis  # optional dependency, only needed for token_cache: redis

        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=socket_timeout_seconds, socket_connect_timeout=socket_timeout_seconds
        )
        self._release = self._redis.register_script(_RELEASE_LOCK_LUA)
        self._clock = clock or SystemClock()
        self.key_prefix = key_prefix
        self._lock_ttl_ms = max(1, int(lock_ttl_seconds * 1000))
        self._wait_timeout = wait_timeout_seconds
        self._poll = poll_interval_seconds

    def _key(self, app_id: str) -> str:
        return f"{self.key_prefix}{app_id}"

    def _lock_key(self, app_id: str) -> str:
        return f"{self.key_prefix}{app_id}:lock"

    def _unavailable(self, exc: BaseException) -> WeChatAPIError:
        return WeChatAPIError(ERRCODE_SYSTEM_BUSY, f"token cache (Redis) unavailable: {type(exc).__name__}")

    def peek(self, app_id: str) -> CachedToken | None:
        """The stored token, fresh or not."""
        try:
            raw = self._redis.get(self._key(app_id))
        except self._redis_errors as exc:
            raise self._unavailable(exc) from exc
        if not raw:
            return None
        data = json.loads(raw)
        return CachedToken(
            access_token=data["access_token"],
            expires_at=datetime.fromisoformat(data["expires_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
        )

    def _write(self, app_id: str, cached: CachedToken, expires_in: int) -> None:
        payload = json.dumps(
            {
                "access_token": cached.access_token,
                "expires_at": cached.expires_at.isoformat(),
                "updated_at": cached.updated_at.isoformat(),
            }
        )
        # The Redis TTL only cleans up; freshness is decided from expires_at.
        self._redis.set(self._key(app_id), payload, px=max(1000, expires_in * 1000))

    def get_token(
        self,
        app_id: str,
        fetch: TokenFetcher,
        *,
        margin_seconds: float,
        stale_token: str | None = None,
        force: bool = False,
    ) -> str:
        """Return a fresh token; refresh it holding the Redis lock when needed."""
        try:
            return self._get_token(app_id, fetch, margin_seconds, stale_token, force)
        except self._redis_errors as exc:
            raise self._unavailable(exc) from exc

    def _get_token(
        self, app_id: str, fetch: TokenFetcher, margin_seconds: float, stale_token: str | None, force: bool
    ) -> str:
        if not force:
            token, _ = _plan(self.peek(app_id), self._clock.now(), margin_seconds, stale_token, False)
            if token is not None:
                return token
        owner = uuid.uuid4().hex
        lock_key = self._lock_key(app_id)
        deadline = time.monotonic() + self._wait_timeout
        while True:
            if self._redis.set(lock_key, owner, nx=True, px=self._lock_ttl_ms):
                try:
                    token, force_refresh = _plan(
                        self.peek(app_id), self._clock.now(), margin_seconds, stale_token, force
                    )
                    if token is not None:
                        return token
                    started = self._clock.now()
                    fetched = fetch(force_refresh)
                    self._write(app_id, _cached_from_fetch(fetched, started), fetched.expires_in)
                    return fetched.access_token
                finally:
                    self._release(keys=[lock_key], args=[owner])
            # Another worker is refreshing: wait for it, then use what it stored.
            time.sleep(self._poll)
            if not force:
                token, _ = _plan(self.peek(app_id), self._clock.now(), margin_seconds, stale_token, False)
                if token is not None:
                    return token
            if time.monotonic() > deadline:
                raise WeChatAPIError(
                    ERRCODE_SYSTEM_BUSY, "timed out waiting for another worker to refresh the access token"
                )

    def clear(self, app_id: str) -> None:
        """Delete the stored token (and a stuck lock)."""
        try:
            self._redis.delete(self._key(app_id), self._lock_key(app_id))
        except self._redis_errors as exc:
            raise self._unavailable(exc) from exc

    def close(self) -> None:
        """Close the Redis connections."""
        self._redis.close()


# -- the wechatpy client -------------------------------------------------------------


def _result_or_raise(response: requests.Response, api: str) -> dict[str, Any]:
    """Decode a WeChat JSON answer, raising WeChatAPIError for HTTP errors and errcodes."""
    if response.status_code >= 500:
        raise WeChatAPIError(ERRCODE_SYSTEM_BUSY, f"HTTP {response.status_code}", api=api)
    if response.status_code >= 400:
        raise WeChatAPIError(ERRCODE_BAD_RESPONSE, f"HTTP {response.status_code}", api=api)
    try:
        result = json.loads(response.content.decode("utf-8", "replace"), strict=False)
    except ValueError:
        raise WeChatAPIError(ERRCODE_BAD_RESPONSE, "response is not JSON", api=api) from None
    if not isinstance(result, dict):
        raise WeChatAPIError(ERRCODE_BAD_RESPONSE, "response is not a JSON object", api=api)
    errcode = int(result.get("errcode") or 0)
    if errcode != 0:
        raise WeChatAPIError(errcode, str(result.get("errmsg", "")), api=api)
    return result


class QianjiaWeChatClient(WeChatClient):  # type: ignore[misc]  # wechatpy is untyped
    """wechatpy's WeChatClient with a configurable base URL and tokens supplied per call."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        api_base_url: str = DEFAULT_API_BASE_URL,
        timeout: float = 5.0,
        use_stable_token: bool = True,
    ) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self.api_base = api_base_url.rstrip("/")
        # Instance attribute: wechatpy's API classes read client.API_BASE_URL.
        self.API_BASE_URL = self.api_base + "/cgi-bin/"
        self.use_stable_token = use_stable_token
        self._local = threading.local()

    @property
    def access_token(self) -> str:
        """The token for the call in progress on this thread (set by WeChatAPI)."""
        token = getattr(self._local, "token", None)
        if not token:
            raise RuntimeError("no access token set: call the API through WeChatAPI")
        return str(token)

    def use_token(self, token: str | None) -> None:
        """Set the token wechatpy puts on this thread's next requests."""
        self._local.token = token

    def fetch_access_token(self, force_refresh: bool = False) -> dict[str, Any]:
        """Fetch a token from stable_token (or the classic token endpoint); returns WeChat's JSON."""
        try:
            if self.use_stable_token:
                api = "stable_token"
                response = self._http.post(
                    f"{self.api_base}/cgi-bin/stable_token",
                    json={
                        "grant_type": "client_credential",
                        "appid": self.appid,
                        "secret": self.secret,
                        "force_refresh": bool(force_refresh),
                    },
                    timeout=self.timeout,
                )
            else:
                api = "token"
                response = self._http.get(
                    f"{self.api_base}/cgi-bin/token",
                    params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                    timeout=self.timeout,
                )
        except requests.RequestException as exc:
            raise _network_error(api, exc) from exc
        result = _result_or_raise(response, api)
        if not result.get("access_token"):
            raise WeChatAPIError(ERRCODE_BAD_RESPONSE, "no access_token in the answer", api=api)
        return result


def _network_error(api: str, exc: BaseException) -> WeChatAPIError:
    kind = "timeout" if isinstance(exc, requests.Timeout) else "network error"
    return WeChatAPIError(
        ERRCODE_SYSTEM_BUSY,
        _redact(f"{kind}: {type(exc).__name__}: {exc}")[:500],
        api=api,
        retry_after_seconds=_NETWORK_RETRY_AFTER,
    )


# -- the facade ------------------------------------------------------------------------


@runtime_checkable
class Messenger(Protocol):
    """What services need to message a customer."""

    def send_text(self, *, openid: str, content: str) -> SendResult: ...

    def send_template(
        self,
        *,
        openid: str,
        template_id: str,
        data: Mapping[str, Any],
        url: str | None = None,
    ) -> SendResult: ...


ROBOT_TEXT_MAX_BYTES = 2048
ROBOT_MARKDOWN_MAX_BYTES = 4096


def _truncate_utf8(content: str, max_bytes: int) -> str:
    encoded = content.encode("utf-8")
    if len(encoded) <= max_bytes:
        return content
    ellipsis = "…"
    cut = encoded[: max_bytes - len(ellipsis.encode("utf-8"))].decode("utf-8", "ignore")
    return cut + ellipsis


def _template_data(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Accept {"keyword1": "text"} as well as WeChat's {"keyword1": {"value": "text"}}."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        out[str(key)] = dict(value) if isinstance(value, Mapping) else {"value": str(value)}
    return out


class WeChatAPI:
    """The WeChat API as the app uses it: shared token, one retry on token errors, typed methods."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        token_store: TokenStore,
        clock: Clock | None = None,
        api_base_url: str = DEFAULT_API_BASE_URL,
        timeout: float = 5.0,
        use_stable_token: bool = True,
        refresh_margin_seconds: float = 300.0,
    ) -> None:
        self.app_id = app_id
        self.token_store = token_store
        self.clock = clock or SystemClock()
        self.refresh_margin_seconds = refresh_margin_seconds
        self.client = QianjiaWeChatClient(
            app_id, app_secret, api_base_url=api_base_url, timeout=timeout, use_stable_token=use_stable_token
        )

    @property
    def api_base_url(self) -> str:
        return self.client.api_base

    # -- tokens --

    def _fetch(self, force_refresh: bool) -> FetchedToken:
        result = self.client.fetch_access_token(force_refresh=force_refresh)
        logger.info("fetched a WeChat access token (force_refresh=%s)", force_refresh)
        return FetchedToken(str(result["access_token"]), int(result.get("expires_in") or 7200))

    def _token(self, *, stale_token: str | None = None, force: bool = False) -> str:
        return self.token_store.get_token(
            self.app_id,
            self._fetch,
            margin_seconds=self.refresh_margin_seconds,
            stale_token=stale_token,
            force=force,
        )

    def fetch_token(self, *, force: bool = False) -> str:
        """The shared access token; `force` fetches a new one (stable_token force_refresh)."""
        return self._token(force=force)

    # -- calls --

    def _retry_hint(self, errcode: int, api: str) -> float | None:
        if errcode == 45009 and api != "robot":
            return seconds_until_quota_reset(self.clock.now())
        if errcode == 45009:  # the group robot's 20-a-minute limit
            return 60.0
        return None

    def _invoke(self, api: str, call: Callable[[], Any], token: str) -> dict[str, Any]:
        self.client.use_token(token)
        try:
            result = call()
        except WeChatClientException as exc:
            if exc.errcode is None:
                status = getattr(exc.response, "status_code", None) or 0
                code = ERRCODE_SYSTEM_BUSY if status >= 500 or status == 0 else ERRCODE_BAD_RESPONSE
                raise WeChatAPIError(code, f"HTTP {status}", api=api) from exc
            errcode = int(exc.errcode)
            raise WeChatAPIError(
                errcode, str(exc.errmsg), api=api, retry_after_seconds=self._retry_hint(errcode, api)
            ) from exc
        except requests.RequestException as exc:
            raise _network_error(api, exc) from exc
        finally:
            self.client.use_token(None)
        if not isinstance(result, dict):
            raise WeChatAPIError(ERRCODE_BAD_RESPONSE, "response is not a JSON object", api=api)
        return result

    def _call(self, api: str, call: Callable[[], Any]) -> dict[str, Any]:
        token = self._token()
        try:
            return self._invoke(api, call, token)
        except WeChatAPIError as exc:
            if not exc.token_error:
                raise
            logger.info("WeChat rejected the access token (%s) on %s: refreshing once", exc.errcode, api)
        # Refresh unless another worker already has; a second token error is raised.
        token = self._token(stale_token=token)
        return self._invoke(api, call, token)

    def send_text(self, *, openid: str, content: str) -> SendResult:
        """Send a customer-service text message (within the 48-hour window)."""
        result = self._call("message/custom/send", lambda: self.client.message.send_text(openid, content))
        return SendResult(msgid=None, raw=result)

    def send_template(
        self,
        *,
        openid: str,
        template_id: str,
        data: Mapping[str, Any],
        url: str | None = None,
    ) -> SendResult:
        """Send a template message; `data` values may be plain strings."""
        payload = _template_data(data)
        result = self._call(
            "message/template/send",
            lambda: self.client.message.send_template(openid, template_id, payload, url=url),
        )
        msgid = result.get("msgid")
        return SendResult(msgid=None if msgid is None else str(msgid), raw=result)

    def create_menu(self, *, menu: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the Official Account's custom menu ({"button": [...]})."""
        return self._call("menu/create", lambda: self.client.menu.create(dict(menu)))

    def create_qrcode(
        self, scene_str: str, *, permanent: bool = True, expire_seconds: int | None = None
    ) -> dict[str, Any]:
        """Create a QR code carrying `scene_str`; returns {"ticket", "url"[, "expire_seconds"]}."""
        if not 1 <= len(scene_str) <= 64:
            raise ValueError("scene_str must be 1 to 64 characters")
        data: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene_str}}}
        if permanent:
            if expire_seconds is not None:
                raise ValueError("a permanent QR code has no expire_seconds")
            data["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            seconds = 2592000 if expire_seconds is None else int(expire_seconds)
            if not 60 <= seconds <= 2592000:
                raise ValueError("expire_seconds must be between 60 and 2592000 (30 days)")
            data["action_name"] = "QR_STR_SCENE"
            data["expire_seconds"] = seconds
        result = self._call("qrcode/create", lambda: self.client.qrcode.create(data))
        return {k: v for k, v in result.items() if k not in ("errcode", "errmsg")}

    def robot_send(
        self,
        *,
        webhook_url: str,
        content: str,
        markdown: bool = True,
        mentioned_mobiles: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Post to a WeCom group robot (markdown, or text that can @ people by mobile)."""
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("webhook_url must be an http(s) URL")
        body: dict[str, Any]
        if markdown:
            body = {
                "msgtype": "markdown",
                "markdown": {"content": _truncate_utf8(content, ROBOT_MARKDOWN_MAX_BYTES)},
            }
        else:
            text_body: dict[str, Any] = {"content": _truncate_utf8(content, ROBOT_TEXT_MAX_BYTES)}
            if mentioned_mobiles:
                text_body["mentioned_mobile_list"] = list(mentioned_mobiles)
            body = {"msgtype": "text", "text": text_body}
        api = "robot"
        try:
            response = self.client._http.post(webhook_url, json=body, timeout=self.client.timeout)
        except requests.RequestException as exc:
            raise _network_error(api, exc) from exc
        try:
            return _result_or_raise(response, api)
        except WeChatAPIError as exc:
            if exc.errcode == 45009:
                exc._retry_after = 60.0  # the same error, counted once in the metrics
                raise
            raise

    def close(self) -> None:
        """Release HTTP connections (and the Redis pool, if any)."""
        self.client._http.close()
        closer = getattr(self.token_store, "close", None)
        if callable(closer):
            closer()


def _as_bool(value: Any, dotted: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (
        "true",
        "yes",
        "on",
        "1",
        "false",
        "no",
        "off",
        "0",
    ):
        return value.strip().lower() in ("true", "yes", "on", "1")
    if isinstance(value, int):
        return bool(value)
    raise ConfigError(f"配置 {dotted} 必须是 true 或 false（环境变量 {env_name(dotted)}）")


def _as_float(value: Any, dotted: str, *, minimum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number >= minimum:
        raise ConfigError(f"配置 {dotted} 必须是不小于 {minimum:g} 的数字（环境变量 {env_name(dotted)}）")
    return number


def build_wechat_api(cfg: Config, session_factory: sessionmaker[Session], clock: Clock) -> WeChatAPI:
    """Build the WeChat API client from the `wechat:` configuration section."""
    app_id = str(cfg.require("wechat.app_id"))
    app_secret = str(cfg.require("wechat.app_secret"))
    base_url = str(cfg.get("wechat.api_base_url", DEFAULT_API_BASE_URL)).strip()
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"配置 wechat.api_base_url 必须是 http(s) 地址（环境变量 {env_name('wechat.api_base_url')}）"
        )
    timeout = _as_float(
        cfg.get("wechat.request_timeout_seconds", 5), "wechat.request_timeout_seconds", minimum=0.1
    )
    margin = _as_float(
        cfg.get("wechat.token_refresh_margin_seconds", 300), "wechat.token_refresh_margin_seconds", minimum=0
    )
    use_stable = _as_bool(cfg.get("wechat.use_stable_token", True), "wechat.use_stable_token")
    cache = str(cfg.get("wechat.token_cache", "auto")).strip().lower()
    if cache == "auto":
        # SQLite has one writer: a token refresh from its own connection would wait on the very
        # transaction that is sending the message. Per-process caching is safe with stable_token,
        # which hands every caller the same token instead of invalidating the others'.
        bind = getattr(session_factory, "kw", {}).get("bind")
        dialect = bind.dialect.name if bind is not None else ""
        cache = "memory" if dialect == "sqlite" and use_stable else "database"
    store: TokenStore
    if cache == "database":
        store = DatabaseTokenStore(session_factory, clock)
    elif cache == "redis":
        store = RedisTokenStore(str(cfg.require("wechat.redis_url")), clock=clock)
    elif cache == "memory":
        store = MemoryTokenStore(clock)
    else:
        variable = env_name("wechat.token_cache")
        raise ConfigError(f"配置 wechat.token_cache 只能是 auto、database、redis 或 memory（环境变量 {variable}）")
    return WeChatAPI(
        app_id=app_id,
        app_secret=app_secret,
        token_store=store,
        clock=clock,
        api_base_url=base_url,
        timeout=timeout,
        use_stable_token=use_stable,
        refresh_margin_seconds=margin,
    )
