"""The WeChat API client against the fake WeChat server over real HTTP on loopback."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import secrets
import socket
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.fake_wechat import FakeWeChatServer
from bot.wechat_api import (
    ERRCODE_BAD_RESPONSE,
    CachedToken,
    DatabaseTokenStore,
    FetchedToken,
    MemoryTokenStore,
    Messenger,
    RedisTokenStore,
    SendResult,
    TokenStore,
    WeChatAPI,
    WeChatAPIError,
    build_wechat_api,
    seconds_until_quota_reset,
)
from core.clock import FixedClock, SystemClock
from core.config import ConfigError, load_config
from core.db import create_db_engine, normalize_url, session_factory, upgrade
from models import WeChatAccessToken
from tests.support.threads import run_threads

APP_ID = "wxapitest0000001"
APP_SECRET = "api-test-secret"
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"
STABLE = "/cgi-bin/stable_token"
CLASSIC = "/cgi-bin/token"
PG_BASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture
def wx_fake() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(APP_ID, APP_SECRET) as server:
        yield server


@pytest.fixture
def sqlite_engine(tmp_path: Any) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'wechat.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_sf(sqlite_engine: Engine) -> sessionmaker[Session]:
    return session_factory(sqlite_engine)


def _pg_admin_url() -> str:
    env = os.environ.get("DATABASE_URL", "")
    return env if env.startswith("postgres") else PG_BASE_URL


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A private, migrated PostgreSQL database for one test, dropped afterwards."""
    admin_url = make_url(normalize_url(_pg_admin_url()))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"qj_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable: {type(exc).__name__}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = create_db_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of our own in the shared Redis; skips when Redis is unreachable."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis unreachable: {type(exc).__name__}")
    prefix = f"qj-test:{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def make_api(
    fake: FakeWeChatServer,
    store: TokenStore | None = None,
    *,
    secret: str = APP_SECRET,
    clock: Any = None,
    **kwargs: Any,
) -> WeChatAPI:
    clock = clock or SystemClock()
    return WeChatAPI(
        app_id=APP_ID,
        app_secret=secret,
        token_store=store or MemoryTokenStore(clock),
        clock=clock,
        api_base_url=fake.url,
        timeout=kwargs.pop("timeout", 5.0),
        **kwargs,
    )


def _process_worker(kind: str, target: str, prefix: str, base_url: str, barrier: Any, queue: Any) -> None:
    """In a child process: build our own client and ask for the token at the same moment as the others."""
    try:
        store: TokenStore
        if kind == "postgres":
            store = DatabaseTokenStore(session_factory(create_db_engine(target)))
        else:
            store = RedisTokenStore(target, key_prefix=prefix)
        api = WeChatAPI(app_id=APP_ID, app_secret=APP_SECRET, token_store=store, api_base_url=base_url)
        barrier.wait(timeout=60)
        queue.put(("ok", api.fetch_token()))
    except BaseException as exc:
        queue.put(("error", repr(exc)))


def run_processes(n: int, kind: str, target: str, prefix: str, base_url: str) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(kind, target, prefix, base_url, barrier, queue))
        for _ in range(n)
    ]
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() with threads running; the children use none of them.
        warnings.filterwarnings("ignore", message=r".*fork\(\).*", category=DeprecationWarning)
        for p in procs:
            p.start()
    outcomes = [queue.get(timeout=90) for _ in range(n)]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert [o for o in outcomes if o[0] != "ok"] == []
    return [o[1] for o in outcomes]


def expire_db_token(engine: Engine) -> None:
    """Make the stored token look expired (as two hours later), without touching WeChat's side."""
    past = datetime.now(UTC) - timedelta(minutes=1)
    with session_factory(engine).begin() as session:
        row = session.get(WeChatAccessToken, APP_ID)
        assert row is not None
        row.expires_at, row.updated_at = past, past - timedelta(seconds=7200)


def expire_redis_token(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    key = f"{prefix}{APP_ID}"
    raw = client.get(key)
    assert raw is not None
    data = json.loads(raw)
    past = datetime.now(UTC) - timedelta(minutes=1)
    data["expires_at"], data["updated_at"] = past.isoformat(), (past - timedelta(seconds=7200)).isoformat()
    client.set(key, json.dumps(data))
    client.close()


# -- tokens ------------------------------------------------------------------------


def test_token_is_fetched_once_and_cached_in_the_database(
    wx_fake: FakeWeChatServer, sqlite_sf: sessionmaker[Session]
) -> None:
    api = make_api(wx_fake, DatabaseTokenStore(sqlite_sf))
    api.send_text(openid="o1", content="one")
    api.send_text(openid="o1", content="two")
    token = api.fetch_token()
    assert wx_fake.token_fetch_count == 1
    assert len(wx_fake.received(STABLE)) == 1 and wx_fake.received(CLASSIC) == []
    with sqlite_sf() as session:
        row = session.get(WeChatAccessToken, APP_ID)
        assert row is not None and row.access_token == token
        assert timedelta(seconds=7190) < row.expires_at - row.updated_at <= timedelta(seconds=7200)
    # Another client on the same database (another worker) reuses it.
    other = make_api(wx_fake, DatabaseTokenStore(sqlite_sf))
    assert other.fetch_token() == token
    assert wx_fake.token_fetch_count == 1


def test_stable_token_request(wx_fake: FakeWeChatServer) -> None:
    api = make_api(wx_fake)
    token = api.fetch_token()
    (request,) = wx_fake.received(STABLE)
    assert request.method == "POST"
    assert request.body == {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": APP_SECRET,
        "force_refresh": False,
    }
    assert token == wx_fake.current_token(stable=True)
    assert api.fetch_token(force=True) != token
    assert wx_fake.received(STABLE)[-1].body["force_refresh"] is True


def test_classic_token_endpoint_when_stable_token_is_off(wx_fake: FakeWeChatServer) -> None:
    api = make_api(wx_fake, use_stable_token=False)
    api.send_text(openid="o1", content="hi")
    (request,) = wx_fake.received(CLASSIC)
    assert request.method == "GET"
    assert request.query == {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
    assert wx_fake.received(STABLE) == []


def test_token_is_refreshed_before_expiry_without_a_storm(wx_fake: FakeWeChatServer) -> None:
    clock = FixedClock(T0)
    api = make_api(
        wx_fake, MemoryTokenStore(clock), clock=clock, use_stable_token=False, refresh_margin_seconds=300
    )
    first = api.fetch_token()
    clock.advance(timedelta(seconds=7200 - 301))
    assert api.fetch_token() == first
    clock.advance(timedelta(seconds=2))  # inside the margin
    second = api.fetch_token()
    assert second != first
    for _ in range(5):
        api.send_text(openid="o1", content="x")
    assert wx_fake.token_fetch_count == 2


def test_stable_token_near_expiry_is_not_refetched_on_every_call(wx_fake: FakeWeChatServer) -> None:
    # stable_token hands back the same token with its remaining lifetime; simulate that
    # with a fake whose tokens live 400 s while our margin is 300 s.
    with FakeWeChatServer(APP_ID, APP_SECRET, token_ttl_seconds=400) as fake:
        clock = FixedClock(T0)
        api = make_api(fake, MemoryTokenStore(clock), clock=clock, refresh_margin_seconds=300)
        token = api.fetch_token()
        for _ in range(20):
            assert api.fetch_token() == token
            clock.advance(timedelta(seconds=5))
        # margin shrinks to half the lifetime (200 s): no refetch during the first 100 s.
        assert fake.token_fetch_count == 1


def test_cached_token_freshness() -> None:
    long = CachedToken("t", expires_at=T0 + timedelta(seconds=7200), updated_at=T0)
    assert long.is_fresh(T0 + timedelta(seconds=6899), 300)
    assert not long.is_fresh(T0 + timedelta(seconds=6901), 300)
    short = CachedToken("t", expires_at=T0 + timedelta(seconds=200), updated_at=T0)
    assert short.is_fresh(T0 + timedelta(seconds=99), 300)
    assert not short.is_fresh(T0 + timedelta(seconds=101), 300)
    nearly_spent = CachedToken("t", expires_at=T0 + timedelta(seconds=10), updated_at=T0)
    assert nearly_spent.is_fresh(T0 + timedelta(seconds=9), 300)
    assert not nearly_spent.is_fresh(T0 + timedelta(seconds=10), 300)
    assert not CachedToken("", T0 + timedelta(hours=2), T0).is_fresh(T0, 0)


def test_expired_token_is_refreshed_once_and_the_call_retried(
    wx_fake: FakeWeChatServer, sqlite_sf: sessionmaker[Session]
) -> None:
    api = make_api(wx_fake, DatabaseTokenStore(sqlite_sf))
    old = api.fetch_token()
    wx_fake.expire_tokens()
    api.send_text(openid="o1", content="after expiry")
    sends = wx_fake.received(CUSTOM)
    assert [r.errcode for r in sends] == [42001, 0]
    assert sends[0].query["access_token"] == old
    assert sends[1].query["access_token"] != old
    assert wx_fake.token_fetch_count == 2
    assert wx_fake.received(STABLE)[-1].body["force_refresh"] is True
    assert api.fetch_token() == sends[1].query["access_token"]


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_token_errors_refresh_and_retry_once(wx_fake: FakeWeChatServer, errcode: int) -> None:
    api = make_api(wx_fake)
    wx_fake.fail_next(CUSTOM, errcode)
    result = api.send_text(openid="o1", content="hello")
    assert result == SendResult(msgid=None, raw={"errcode": 0, "errmsg": "ok"})
    assert [r.errcode for r in wx_fake.received(CUSTOM)] == [errcode, 0]
    assert wx_fake.token_fetch_count == 2
    assert [m["text"]["content"] for m in wx_fake.custom_messages("o1")] == ["hello"]


def test_second_token_error_is_raised_not_looped(wx_fake: FakeWeChatServer) -> None:
    api = make_api(wx_fake)
    wx_fake.fail_next(CUSTOM, 40001, times=5)
    with pytest.raises(WeChatAPIError) as info:
        api.send_text(openid="o1", content="hello")
    assert info.value.errcode == 40001 and info.value.token_error
    assert info.value.retryable and not info.value.permanent
    assert len(wx_fake.received(CUSTOM)) == 2
    assert wx_fake.token_fetch_count == 2


def test_stale_token_already_replaced_by_another_worker_is_not_refetched(
    wx_fake: FakeWeChatServer, sqlite_sf: sessionmaker[Session]
) -> None:
    worker_a = make_api(wx_fake, DatabaseTokenStore(sqlite_sf))
    worker_b = make_api(wx_fake, DatabaseTokenStore(sqlite_sf))
    old = worker_a.fetch_token()
    wx_fake.expire_tokens()
    worker_a.send_text(openid="o1", content="a")  # refreshes
    assert wx_fake.token_fetch_count == 2
    # Worker B saw the old token rejected too: it must pick up A's token, not force another.
    fresh = worker_b._token(stale_token=old)
    assert fresh != old and fresh == worker_a.fetch_token()
    worker_b.send_text(openid="o1", content="b")
    assert wx_fake.token_fetch_count == 2


def test_wrong_app_secret_is_a_clear_error(wx_fake: FakeWeChatServer) -> None:
    api = make_api(wx_fake, secret="not-the-secret")
    with pytest.raises(WeChatAPIError) as info:
        api.send_text(openid="o1", content="hi")
    err = info.value
    assert err.errcode == 40125 and err.permanent and not err.token_error
    assert "QIANJIA_WECHAT__APP_SECRET" in str(err)
    assert "not-the-secret" not in str(err)
    assert wx_fake.received(CUSTOM) == []


def test_wrong_app_id(wx_fake: FakeWeChatServer) -> None:
    api = WeChatAPI(
        app_id="wxsomeoneelse",
        app_secret=APP_SECRET,
        token_store=MemoryTokenStore(),
        api_base_url=wx_fake.url,
    )
    with pytest.raises(WeChatAPIError) as info:
        api.fetch_token()
    assert info.value.errcode == 40013 and info.value.permanent
    assert "QIANJIA_WECHAT__APP_ID" in str(info.value)


def test_token_endpoint_busy_is_retryable(wx_fake: FakeWeChatServer) -> None:
    api = make_api(wx_fake)
    wx_fake.fail_next(STABLE, -1)
    with pytest.raises(WeChatAPIError) as info:
        api.send_text(openid="o1", content="hi")
    assert info.value.retryable and info.value.api == "stable_token"
    api.send_text(openid="o1", content="hi")
    assert len(wx_fake.custom_messages()) == 1


# -- error classification -------------------------------------------------------------


CLASSIFICATION = [
    # errcode, retryable, permanent, token_error
    (-1, True, False, False),
    (45009, True, False, False),
    (45011, True, False, False),
    (40001, True, False, True),
    (40014, True, False, True),
    (42001, True, False, True),
    (43004, False, True, False),
    (45015, False, True, False),
    (45047, False, True, False),
    (48001, False, True, False),
    (40003, False, True, False),
    (ERRCODE_BAD_RESPONSE, False, True, False),
]


@pytest.mark.parametrize(("errcode", "retryable", "permanent", "token_error"), CLASSIFICATION)
def test_error_classification(errcode: int, retryable: bool, permanent: bool, token_error: bool) -> None:
    err = WeChatAPIError(errcode, "x")
    assert (err.retryable, err.permanent, err.token_error) == (retryable, permanent, token_error)
    assert (err.retry_after_seconds is not None) == retryable
    again = pickle.loads(pickle.dumps(WeChatAPIError(errcode, "x", api="a", retry_after_seconds=7)))
    assert (again.errcode, again.errmsg, again.api) == (errcode, "x", "a")
    assert again.retry_after_seconds == (7 if retryable else None)


@pytest.mark.parametrize(
    ("errcode", "retryable"),
    [
        (-1, True),
        (45009, True),
        (45011, True),
        (43004, False),
        (45015, False),
        (45047, False),
        (48001, False),
    ],
)
def test_api_errors_are_raised_without_retrying(
    wx_fake: FakeWeChatServer, errcode: int, retryable: bool
) -> None:
    clock = FixedClock(datetime(2025, 3, 3, 15, 0, tzinfo=UTC))  # 23:00 in Beijing
    api = make_api(wx_fake, clock=clock)
    wx_fake.fail_next(CUSTOM, errcode)
    with pytest.raises(WeChatAPIError) as info:
        api.send_text(openid="o1", content="hi")
    err = info.value
    assert err.errcode == errcode and err.retryable is retryable and err.permanent is not retryable
    assert err.api == "message/custom/send"
    assert len(wx_fake.received(CUSTOM)) == 1  # the caller decides when to retry
    if errcode == 45009:
        assert err.retry_after_seconds == 3600  # until midnight Beijing time
    elif errcode == 45011:
        assert err.retry_after_seconds == 60
    elif errcode == -1:
        assert err.retry_after_seconds is not None and 0 < err.retry_after_seconds <= 10
    else:
        assert err.retry_after_seconds is None


def test_seconds_until_quota_reset() -> None:
    assert seconds_until_quota_reset(datetime(2025, 3, 3, 15, 59, tzinfo=UTC)) == 60
    assert seconds_until_quota_reset(datetime(2025, 3, 3, 16, 0, tzinfo=UTC)) == 86400


def test_network_error_is_retryable_and_hides_the_token(wx_fake: FakeWeChatServer) -> None:
    api = make_api(wx_fake)
    token = api.fetch_token()
    wx_fake.stop()
    with pytest.raises(WeChatAPIError) as info:
        api.send_text(openid="o1", content="hi")
    err = info.value
    assert err.errcode == -1 and err.retryable
    assert token not in str(err) and token not in repr(err)


def test_timeout_is_retryable() -> None:
    # A listener that accepts connections and never answers.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        api = WeChatAPI(
            app_id=APP_ID,
            app_secret=APP_SECRET,
            token_store=MemoryTokenStore(),
            api_base_url=f"http://127.0.0.1:{port}",
            timeout=0.3,
        )
        with pytest.raises(WeChatAPIError) as info:
            api.fetch_token()
    assert info.value.errcode == -1 and info.value.retryable
    assert "timeout" in info.value.errmsg
    assert APP_SECRET not in str(info.value)


def test_wrong_base_url_is_not_retryable(wx_fake: FakeWeChatServer) -> None:
    api = WeChatAPI(
        app_id=APP_ID,
        app_secret=APP_SECRET,
        token_store=MemoryTokenStore(),
        api_base_url=wx_fake.url + "/not-wechat",
    )
    with pytest.raises(WeChatAPIError) as info:
        api.fetch_token()
    assert info.value.errcode == ERRCODE_BAD_RESPONSE and info.value.permanent


# -- the facade --------------------------------------------------------------------


def test_messenger_protocol(wx_fake: FakeWeChatServer) -> None:
    api: Messenger = make_api(wx_fake)
    assert isinstance(api, Messenger)


def test_send_template(wx_fake: FakeWeChatServer) -> None:
    api = make_api(wx_fake)
    result = api.send_template(
        openid="o1",
        template_id="TPL_RESOLVED",
        data={"first": "您的反馈已处理", "keyword1": {"value": "QJ-0001", "color": "#173177"}},
        url="https://example.invalid/t/1",
    )
    assert result.msgid is not None and result.msgid.isdigit()
    (sent,) = wx_fake.template_messages("o1")
    assert sent == {
        "touser": "o1",
        "template_id": "TPL_RESOLVED",
        "url": "https://example.invalid/t/1",
        "data": {"first": {"value": "您的反馈已处理"}, "keyword1": {"value": "QJ-0001", "color": "#173177"}},
    }
    api.send_template(openid="o2", template_id="TPL", data={})
    assert "url" not in wx_fake.template_messages("o2")[0]


def test_send_text_body(wx_fake: FakeWeChatServer) -> None:
    make_api(wx_fake).send_text(openid="oABC", content="您好，已收到您的反馈。")
    assert wx_fake.custom_messages("oABC") == [
        {"touser": "oABC", "msgtype": "text", "text": {"content": "您好，已收到您的反馈。"}}
    ]


def test_create_menu(wx_fake: FakeWeChatServer) -> None:
    menu = {"button": [{"type": "click", "name": "我要反馈", "key": "FEEDBACK"}]}
    assert make_api(wx_fake).create_menu(menu=menu)["errcode"] == 0
    assert wx_fake.menus() == [menu]


def test_create_qrcode(wx_fake: FakeWeChatServer) -> None:
    api = make_api(wx_fake)
    permanent = api.create_qrcode("branch:B001")
    assert set(permanent) == {"ticket", "url"}
    temporary = api.create_qrcode("survey:42", permanent=False, expire_seconds=3600)
    assert temporary["expire_seconds"] == 3600
    first, second = wx_fake.qrcodes()
    assert first == {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": "branch:B001"}},
    }
    assert second["action_name"] == "QR_STR_SCENE" and second["expire_seconds"] == 3600
    with pytest.raises(ValueError):
        api.create_qrcode("x", expire_seconds=60)
    with pytest.raises(ValueError):
        api.create_qrcode("")
    with pytest.raises(ValueError):
        api.create_qrcode("x", permanent=False, expire_seconds=10)


def test_robot_send(wx_fake: FakeWeChatServer) -> None:
    api = make_api(wx_fake)
    hook = wx_fake.robot_webhook_url("group-1")
    api.robot_send(webhook_url=hook, content="**升级提醒** 工单 QJ-0001")
    api.robot_send(webhook_url=hook, content="请处理", markdown=False, mentioned_mobiles=["13800000000"])
    api.robot_send(webhook_url=hook, content="长" * 3000)
    first, second, third = wx_fake.robot_messages()
    assert first == {
        "msgtype": "markdown",
        "markdown": {"content": "**升级提醒** 工单 QJ-0001"},
        "_key": "group-1",
    }
    assert second["text"] == {"content": "请处理", "mentioned_mobile_list": ["13800000000"]}
    assert len(third["markdown"]["content"].encode("utf-8")) <= 4096
    assert third["markdown"]["content"].endswith("…")
    assert wx_fake.token_fetch_count == 0  # the robot needs no access token

    wx_fake.fail_next("/cgi-bin/webhook/send", 45009)
    with pytest.raises(WeChatAPIError) as info:
        api.robot_send(webhook_url=hook, content="x")
    assert info.value.retryable and info.value.retry_after_seconds == 60
    with pytest.raises(ValueError):
        api.robot_send(webhook_url="not a url", content="x")


# -- concurrency ---------------------------------------------------------------------


def test_threads_share_one_fetch_on_sqlite(
    wx_fake: FakeWeChatServer, sqlite_engine: Engine, sqlite_sf: sessionmaker[Session]
) -> None:
    wx_fake.set_delay(STABLE, 0.3)
    apis = [make_api(wx_fake, DatabaseTokenStore(sqlite_sf)) for _ in range(4)]
    it = iter(apis * 2)
    lock = threading.Lock()

    def next_api() -> WeChatAPI:
        with lock:
            return next(it)

    tokens = run_threads(8, lambda: next_api().fetch_token())
    assert len(set(tokens)) == 1 and len(tokens) == 8
    assert wx_fake.token_fetch_count == 1
    # Refreshing an existing, expired row: still exactly one fetch.
    expire_db_token(sqlite_engine)
    it = iter(apis * 2)
    again = run_threads(8, lambda: next_api().fetch_token())
    assert len(set(again)) == 1
    assert wx_fake.token_fetch_count == 2


def test_threads_share_one_fetch_in_memory(wx_fake: FakeWeChatServer) -> None:
    wx_fake.set_delay(STABLE, 0.2)
    api = make_api(wx_fake)
    tokens = run_threads(8, api.fetch_token)
    assert len(set(tokens)) == 1
    assert wx_fake.token_fetch_count == 1


@pytest.mark.postgres
def test_threads_share_one_fetch_on_postgres(wx_fake: FakeWeChatServer, pg_engine: Engine) -> None:
    wx_fake.set_delay(STABLE, 0.3)
    api = make_api(wx_fake, DatabaseTokenStore(session_factory(pg_engine)))
    tokens = run_threads(8, api.fetch_token)  # the row does not exist yet
    assert len(set(tokens)) == 1 and len(tokens) == 8
    assert wx_fake.token_fetch_count == 1
    expire_db_token(pg_engine)  # the row exists: the lock is what serialises now
    again = run_threads(8, api.fetch_token)
    assert len(set(again)) == 1
    assert wx_fake.token_fetch_count == 2


@pytest.mark.postgres
def test_processes_share_one_fetch_on_postgres(wx_fake: FakeWeChatServer, pg_url: str) -> None:
    wx_fake.set_delay(STABLE, 0.5)
    tokens = run_processes(3, "postgres", pg_url, "", wx_fake.url)  # the row does not exist yet
    assert len(set(tokens)) == 1
    assert wx_fake.token_fetch_count == 1
    engine = create_db_engine(pg_url)
    try:
        with session_factory(engine)() as session:
            row = session.get(WeChatAccessToken, APP_ID)
            assert row is not None and row.access_token == tokens[0]
        expire_db_token(engine)
        engine.dispose()
        again = run_processes(3, "postgres", pg_url, "", wx_fake.url)  # the row exists and has expired
        assert len(set(again)) == 1
        assert wx_fake.token_fetch_count == 2
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_token_error_refreshes_once_across_workers(
    wx_fake: FakeWeChatServer, pg_engine: Engine
) -> None:
    sf = session_factory(pg_engine)
    apis = [make_api(wx_fake, DatabaseTokenStore(sf)) for _ in range(4)]
    apis[0].fetch_token()
    wx_fake.expire_tokens()
    wx_fake.set_delay(STABLE, 0.3)
    it = iter(apis)
    lock = threading.Lock()

    def send() -> str:
        with lock:
            api = next(it)
        api.send_text(openid="o1", content="x")
        return "ok"

    assert run_threads(4, send) == ["ok"] * 4
    assert wx_fake.token_fetch_count == 2  # the first fetch, then exactly one refresh
    assert len(wx_fake.custom_messages("o1")) == 4


def test_redis_store_caches_and_refreshes(wx_fake: FakeWeChatServer, redis_prefix: str) -> None:
    store = RedisTokenStore(REDIS_URL, key_prefix=redis_prefix)
    api = make_api(wx_fake, store)
    api.send_text(openid="o1", content="one")
    api.send_text(openid="o1", content="two")
    assert wx_fake.token_fetch_count == 1
    cached = store.peek(APP_ID)
    assert cached is not None and cached.access_token == api.fetch_token()
    wx_fake.expire_tokens()
    api.send_text(openid="o1", content="three")
    assert wx_fake.token_fetch_count == 2
    other = make_api(wx_fake, RedisTokenStore(REDIS_URL, key_prefix=redis_prefix))
    assert other.fetch_token() == api.fetch_token()
    assert wx_fake.token_fetch_count == 2
    store.clear(APP_ID)
    assert store.peek(APP_ID) is None
    api.close()
    other.close()


def test_redis_threads_share_one_fetch(wx_fake: FakeWeChatServer, redis_prefix: str) -> None:
    wx_fake.set_delay(STABLE, 0.3)
    api = make_api(wx_fake, RedisTokenStore(REDIS_URL, key_prefix=redis_prefix))
    tokens = run_threads(8, api.fetch_token)
    assert len(set(tokens)) == 1
    assert wx_fake.token_fetch_count == 1
    expire_redis_token(redis_prefix)
    again = run_threads(8, api.fetch_token)
    assert len(set(again)) == 1
    assert wx_fake.token_fetch_count == 2
    api.close()


def test_redis_processes_share_one_fetch(wx_fake: FakeWeChatServer, redis_prefix: str) -> None:
    wx_fake.set_delay(STABLE, 0.5)
    tokens = run_processes(3, "redis", REDIS_URL, redis_prefix, wx_fake.url)
    assert len(set(tokens)) == 1
    assert wx_fake.token_fetch_count == 1
    expire_redis_token(redis_prefix)
    again = run_processes(3, "redis", REDIS_URL, redis_prefix, wx_fake.url)
    assert len(set(again)) == 1
    assert wx_fake.token_fetch_count == 2


def test_redis_unreachable_is_retryable(wx_fake: FakeWeChatServer) -> None:
    pytest.importorskip("redis")
    with socket.socket() as sock:  # a free port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = make_api(wx_fake, RedisTokenStore(f"redis://127.0.0.1:{port}/0", socket_timeout_seconds=0.5))
    with pytest.raises(WeChatAPIError) as info:
        api.fetch_token()
    assert info.value.retryable and "Redis" in info.value.errmsg
    assert wx_fake.token_fetch_count == 0


def test_store_protocol_contract(wx_fake: FakeWeChatServer, sqlite_sf: sessionmaker[Session]) -> None:
    clock = FixedClock(T0)
    calls: list[bool] = []

    def fetch(force_refresh: bool) -> FetchedToken:
        calls.append(force_refresh)
        return FetchedToken(f"tok{len(calls)}", 7200)

    for store in (MemoryTokenStore(clock), DatabaseTokenStore(sqlite_sf, clock)):
        calls.clear()
        assert store.peek(APP_ID) is None
        assert store.get_token(APP_ID, fetch, margin_seconds=300) == "tok1"
        assert store.get_token(APP_ID, fetch, margin_seconds=300) == "tok1"
        # A stale token that is still the stored one is force-refreshed ...
        assert store.get_token(APP_ID, fetch, margin_seconds=300, stale_token="tok1") == "tok2"
        # ... one that was already replaced is not.
        assert store.get_token(APP_ID, fetch, margin_seconds=300, stale_token="tok1") == "tok2"
        assert store.get_token(APP_ID, fetch, margin_seconds=300, force=True) == "tok3"
        # Past expiry a rejected token needs no forced refresh.
        clock.advance(timedelta(hours=3))
        assert store.get_token(APP_ID, fetch, margin_seconds=300, stale_token="tok3") == "tok4"
        assert calls == [False, True, True, False]
        cached = store.peek(APP_ID)
        assert cached is not None and cached.expires_at == clock.now() + timedelta(seconds=7200)
        store.clear(APP_ID)
        assert store.peek(APP_ID) is None
        clock.set(T0)


# -- configuration -------------------------------------------------------------------


def _config(fake: FakeWeChatServer, **env: str) -> Any:
    environ = {
        "QIANJIA_WECHAT__APP_ID": APP_ID,
        "QIANJIA_WECHAT__APP_SECRET": APP_SECRET,
        "QIANJIA_WECHAT__API_BASE_URL": fake.url,
        **env,
    }
    return load_config(environ={k: v for k, v in environ.items() if v != "<unset>"})


def test_build_wechat_api_from_config(wx_fake: FakeWeChatServer, sqlite_sf: sessionmaker[Session]) -> None:
    # token_cache: auto is a per-process cache on SQLite (see config.yaml); database when asked for.
    assert isinstance(build_wechat_api(_config(wx_fake), sqlite_sf, SystemClock()).token_store, MemoryTokenStore)
    api = build_wechat_api(_config(wx_fake, QIANJIA_WECHAT__TOKEN_CACHE="database"), sqlite_sf, SystemClock())
    assert isinstance(api.token_store, DatabaseTokenStore)
    assert api.api_base_url == wx_fake.url
    assert api.client.timeout == 5.0 and api.refresh_margin_seconds == 300
    api.send_text(openid="o1", content="hi")
    assert len(wx_fake.received(STABLE)) == 1
    api.close()

    classic = build_wechat_api(
        _config(
            wx_fake,
            QIANJIA_WECHAT__USE_STABLE_TOKEN="false",
            QIANJIA_WECHAT__TOKEN_CACHE="memory",
            QIANJIA_WECHAT__REQUEST_TIMEOUT_SECONDS="2.5",
        ),
        sqlite_sf,
        SystemClock(),
    )
    assert isinstance(classic.token_store, MemoryTokenStore) and classic.client.timeout == 2.5
    classic.fetch_token()
    assert len(wx_fake.received(CLASSIC)) == 1


def test_build_wechat_api_with_redis(wx_fake: FakeWeChatServer, redis_prefix: str) -> None:
    api = build_wechat_api(_config(wx_fake, QIANJIA_WECHAT__TOKEN_CACHE="redis"), None, SystemClock())  # type: ignore[arg-type]
    assert isinstance(api.token_store, RedisTokenStore)
    api.close()


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"QIANJIA_WECHAT__APP_SECRET": "<unset>"}, "QIANJIA_WECHAT__APP_SECRET"),
        ({"QIANJIA_WECHAT__APP_ID": "<unset>"}, "QIANJIA_WECHAT__APP_ID"),
        ({"QIANJIA_WECHAT__TOKEN_CACHE": "memcached"}, "QIANJIA_WECHAT__TOKEN_CACHE"),
        ({"QIANJIA_WECHAT__API_BASE_URL": "api.weixin.qq.com"}, "QIANJIA_WECHAT__API_BASE_URL"),
        ({"QIANJIA_WECHAT__REQUEST_TIMEOUT_SECONDS": "0"}, "QIANJIA_WECHAT__REQUEST_TIMEOUT_SECONDS"),
        ({"QIANJIA_WECHAT__USE_STABLE_TOKEN": "maybe"}, "QIANJIA_WECHAT__USE_STABLE_TOKEN"),
    ],
)
def test_build_wechat_api_config_errors(
    wx_fake: FakeWeChatServer, sqlite_sf: sessionmaker[Session], env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build_wechat_api(_config(wx_fake, **env), sqlite_sf, SystemClock())
    assert needle in str(info.value)
