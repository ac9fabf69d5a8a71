"""/metrics: each counter moves when its action happens; tickets by status are counted at scrape time."""

from __future__ import annotations

from typing import Any

import pytest

from bot.fake_wechat import CUSTOM_SEND_PATH, STABLE_TOKEN_PATH, FakeWeChatServer
from bot.wechat_api import WeChatAPIError
from tests.conftest import make_config
from tests.ops.conftest import scrape, value


def test_inbound_dedup_latency_classification_and_ticket_gauge(client: Any, wechat_user: Any) -> None:
    before = scrape(client)
    user = wechat_user()
    first = user.send_text("营业厅排队太久了，等了一个多小时", msg_id="8800001")
    retry = user.send_text("营业厅排队太久了，等了一个多小时", msg_id="8800001")
    assert first.ok and retry.text == first.text
    user.send_event("subscribe")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("qianjia_inbound_messages_total", type="text") == 1
    assert delta("qianjia_inbound_messages_total", type="event_subscribe") == 1
    assert delta("qianjia_inbound_duplicates_total") == 1
    assert delta("qianjia_webhook_request_duration_seconds_count", status="200") == 3
    assert delta("qianjia_classification_duration_seconds_count") == 1
    # The gauge is computed from the (cleaned) database, so it is absolute.
    assert value(after, "qianjia_tickets", status="new") == 1
    assert value(after, "qianjia_tickets", status="closed") == 0
    assert value(after, "qianjia_database_up") == 1


def test_refused_webhook_requests_are_timed_by_status(client: Any) -> None:
    before = scrape(client)
    assert client.post("/wechat?timestamp=1&nonce=1&signature=x", data=b"<xml/>").status_code == 403
    after = scrape(client)
    key = ("qianjia_webhook_request_duration_seconds_count", (("status", "403"),))
    assert after[key] - before.get(key, 0.0) == 1


def test_wechat_api_errors_by_code(ops_config: Any, fake_wechat: FakeWeChatServer, client: Any) -> None:
    from services.runtime import build_runtime

    runtime = build_runtime(ops_config)
    before = scrape(client)
    fake_wechat.fail_next(CUSTOM_SEND_PATH, 45015)
    with pytest.raises(WeChatAPIError):
        runtime.wechat_api.send_text(openid="o" + "x" * 27, content="您好")
    wrong = build_runtime(ops_config.with_overrides({"wechat.app_secret": "wrong", "wechat.token_cache": "memory"}))
    with pytest.raises(WeChatAPIError):
        wrong.wechat_api.fetch_token()
    after = scrape(client)
    send = ("qianjia_wechat_api_errors_total", (("api", "message/custom/send"), ("errcode", "45015")))
    token = ("qianjia_wechat_api_errors_total", (("api", "stable_token"), ("errcode", "40125")))
    assert after[send] - before.get(send, 0.0) == 1
    assert after[token] - before.get(token, 0.0) == 1
    assert fake_wechat.received(STABLE_TOKEN_PATH)


def test_database_down_is_a_gauge_not_a_failed_scrape(model_dir: Any) -> None:
    from bot.app import create_app

    client = create_app(make_config("postgresql://nobody@127.0.0.1:1/nowhere", model_dir)).test_client()
    samples = scrape(client)
    assert value(samples, "qianjia_database_up") == 0
    assert not any(name == "qianjia_tickets" for name, _ in samples)


def test_metrics_can_be_switched_off(db_url: str, model_dir: Any, config: Any) -> None:
    from bot.app import create_app

    client = create_app(make_config(db_url, model_dir, **{"metrics.enabled": False})).test_client()
    assert client.get("/metrics").status_code == 404
