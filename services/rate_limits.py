"""Requests per minute per API key, counted where every process sees the same number.

Fixed one-minute windows. The counters live in the database (an upsert that returns the
new count) or in Redis (INCR + EXPIRE); if Redis cannot be reached the database counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, delete
from sqlalchemy.orm import Session, sessionmaker

from core.config import ConfigError, env_name
from core.db import transaction
from models import RateCounter

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_seconds: int  # until the window resets


class RateLimiter(Protocol):
    def hit(self, *, client_id: int, limit: int, now: datetime) -> RateDecision: ...


def window_start(now: datetime) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % int(WINDOW.total_seconds()), tz=UTC)


def finished_windows(now: datetime) -> ColumnElement[bool]:
    """Counters of windows before the current one: nothing counts against them any more."""
    return RateCounter.window_start < window_start(now)


def purge_finished_windows(session: Session, *, now: datetime) -> int:
    """Drop every key's finished windows (a key's own next request only drops its own); returns how many."""
    result = session.execute(delete(RateCounter).where(finished_windows(now)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _decision(count: int, *, limit: int, now: datetime) -> RateDecision:
    reset = window_start(now) + WINDOW
    return RateDecision(allowed=count <= limit, limit=limit, remaining=max(0, limit - count),
                        retry_after_seconds=max(1, int((reset - now).total_seconds() + 0.999)))


def _upsert_statement(dialect: str, *, client_id: int, start: datetime) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:
        raise ConfigError(f"数据库 {dialect} 不支持 API 限流计数，请改用 api.rate_limit.store: redis")
    stmt = insert(RateCounter).values(api_client_id=client_id, window_start=start, count=1)
    return stmt.on_conflict_do_update(
        index_elements=[RateCounter.api_client_id, RateCounter.window_start],
        set_={"count": RateCounter.count + 1},
    ).returning(RateCounter.count)


class DatabaseRateLimiter:
    """One row per key and minute; the upsert is atomic, so concurrent requests never lose a count."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def hit(self, *, client_id: int, limit: int, now: datetime) -> RateDecision:
        start = window_start(now)
        with transaction(self._sessions) as session:
            dialect = session.get_bind().dialect.name
            count = int(session.execute(_upsert_statement(dialect, client_id=client_id, start=start)).scalar_one())
            if count == 1:
                # First request of a new window: the key's older windows are of no further use.
                session.execute(delete(RateCounter).where(RateCounter.api_client_id == client_id,
                                                          finished_windows(now)))
        return _decision(count, limit=limit, now=now)


class RedisRateLimiter:
    """INCR on a key per API key and window; falls back to `fallback` while Redis is unreachable."""

    def __init__(self, redis_url: str, *, fallback: RateLimiter, timeout_seconds: float = 0.5) -> None:
        import redis

        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=timeout_seconds,
                                           socket_connect_timeout=timeout_seconds)
        self._fallback = fallback

    def hit(self, *, client_id: int, limit: int, now: datetime) -> RateDecision:
        start = window_start(now)
        key = f"qianjia:api:rate:{client_id}:{int(start.timestamp())}"
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, int(WINDOW.total_seconds()) * 2)
            count = int(pipe.execute()[0])
        except self._errors as exc:
            log.warning("rate limit counters: Redis unavailable (%s), counting in the database", type(exc).__name__)
            return self._fallback.hit(client_id=client_id, limit=limit, now=now)
        return _decision(count, limit=limit, now=now)

    def close(self) -> None:
        self._redis.close()


def build_rate_limiter(cfg: Any, sessions: sessionmaker[Session]) -> RateLimiter:
    """The limiter api.rate_limit.store names: database | redis (with the database as fallback)."""
    database = DatabaseRateLimiter(sessions)
    store = str(cfg.get("api.rate_limit.store", "database")).lower()
    if store == "database":
        return database
    if store == "redis":
        return RedisRateLimiter(str(cfg.require("api.rate_limit.redis_url")), fallback=database)
    raise ConfigError(f"配置 api.rate_limit.store 只能是 database 或 redis（环境变量 {env_name('api.rate_limit.store')}）")
