"""Requests per minute per key, counted where every process sees them (database or Redis)."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.clock import FixedClock
from models import RateCounter, Ticket
from tests.api.conftest import AppUser, flask_transport, issue_key
from tests.conftest import make_config


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


@pytest.fixture
def clock() -> FixedClock:
    """A minute of its own (random, so Redis counters of other runs are never shared), 10 s in."""
    minute = random.randrange(30_000_000, 40_000_000)
    return FixedClock(datetime.fromtimestamp(minute * 60 + 10, tz=UTC))


@pytest.fixture
def redis_cleanup() -> Iterator[list[str]]:
    keys: list[str] = []
    yield keys
    if keys:
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        client.delete(*keys)
        client.close()


def limited_user(app: Any, runtime: Any, *, limit: int, clock: Any = None, customer: str = "u1") -> AppUser:
    key = issue_key(runtime, rate_limit_per_minute=limit)
    return AppUser(flask_transport(app.test_client()), key, customer, **({"clock": clock} if clock else {}))


def test_the_limit_is_per_key_and_answers_429_with_retry_after(app_for: Any, config: Any, runtime: Any,
                                                                clock: FixedClock) -> None:
    app = app_for(config, clock=clock)
    user = limited_user(app, runtime, limit=3, clock=clock)
    remaining = [user.tickets().headers["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    refused = user.submit("排队太久")
    assert refused.status == 429 and refused.error["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "50"  # the clock stands 10 s into its minute
    assert "50" in refused.error["message"]
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
    assert limited_user(app, runtime, limit=3, clock=clock).tickets().status == 200  # another key is not affected


def test_the_count_is_shared_by_every_process(app_for: Any, config: Any, runtime: Any, clock: FixedClock) -> None:
    apps = [app_for(config, clock=clock) for _ in range(2)]
    key = issue_key(runtime, rate_limit_per_minute=4)
    users = [AppUser(flask_transport(a.test_client()), key, "u1", clock) for a in apps]
    statuses = [users[i % 2].tickets().status for i in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]


def test_a_new_minute_starts_a_new_count(app_for: Any, config: Any, runtime: Any, clock: FixedClock) -> None:
    app = app_for(config, clock=clock)
    user = limited_user(app, runtime, limit=2, clock=clock)
    assert [user.tickets().status for _ in range(3)] == [200, 200, 429]
    clock.advance(timedelta(seconds=50))
    assert user.tickets().status == 200
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(RateCounter)) == 1  # the old minute was dropped


@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_counters_in_redis(app_for: Any, db_url: str, model_dir: Any, runtime: Any, clock: FixedClock,
                           redis_cleanup: list[str]) -> None:
    cfg = make_config(db_url, model_dir, **{"api.rate_limit.store": "redis"})
    apps = [app_for(cfg, clock=clock) for _ in range(2)]
    key = issue_key(runtime, rate_limit_per_minute=3)
    redis_cleanup.append(f"qianjia:api:rate:{key.client.id}:{int(clock.now().timestamp()) // 60 * 60}")
    users = [AppUser(flask_transport(a.test_client()), key, "u1", clock) for a in apps]
    assert [users[i % 2].tickets().status for i in range(4)] == [200, 200, 200, 429]
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(RateCounter)) == 0  # counted in Redis only


def test_the_database_counts_while_redis_is_down(app_for: Any, db_url: str, model_dir: Any, runtime: Any,
                                                 clock: FixedClock, caplog: Any) -> None:
    cfg = make_config(db_url, model_dir, **{"api.rate_limit.store": "redis",
                                            "api.rate_limit.redis_url": f"redis://127.0.0.1:{closed_port()}/0"})
    app = app_for(cfg, clock=clock)
    user = limited_user(app, runtime, limit=2, clock=clock)
    assert [user.tickets().status for _ in range(3)] == [200, 200, 429]
    with runtime.sessions() as s:
        assert s.scalar(select(RateCounter.count)) == 3
    assert "Redis unavailable" in caplog.text


def test_an_unknown_store_is_a_configuration_error(db_url: str, model_dir: Any) -> None:
    from bot.app import create_app
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="api.rate_limit.store"):
        create_app(make_config(db_url, model_dir, **{"api.rate_limit.store": "memcached"}))
