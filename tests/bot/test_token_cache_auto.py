"""token_cache: auto picks a store that works with the configured database."""

from __future__ import annotations

from typing import Any

from bot.fake_wechat import FakeWeChatServer
from bot.wechat_api import DatabaseTokenStore, MemoryTokenStore
from core.db import transaction
from models import Customer
from services.outbound import send_to_customer
from services.runtime import build_runtime
from tests.conftest import IS_POSTGRES, TEST_SECRETS


def test_auto_store_follows_the_database(config: Any) -> None:
    runtime = build_runtime(config.with_overrides({"wechat.api_base_url": "http://127.0.0.1:9"}))
    expected = DatabaseTokenStore if IS_POSTGRES else MemoryTokenStore
    assert isinstance(runtime.wechat_api.token_store, expected)


def test_customer_message_sent_from_inside_a_write_transaction(config: Any) -> None:
    """The console and jobs send while their transaction is open; the token fetch must not wait on it."""
    with FakeWeChatServer(TEST_SECRETS["wechat.app_id"], TEST_SECRETS["wechat.app_secret"]) as fake:
        runtime = build_runtime(config.with_overrides({"wechat.api_base_url": fake.url}))
        now = runtime.clock.now()
        with transaction(runtime.sessions) as session:
            customer = Customer(openid="oTokenInsideTx000000000001", subscribed=True, created_at=now,
                                last_interaction_at=now)
            session.add(customer)
            session.flush()
            delivery = send_to_customer(session, messenger=runtime.wechat_api, cfg=runtime.cfg, customer=customer,
                                        text="您反映的问题已处理完毕。", now=now, tz=runtime.tz)
        assert delivery.ok, delivery
        assert [m["text"]["content"] for m in fake.custom_messages("oTokenInsideTx000000000001")] == [
            "您反映的问题已处理完毕。"]
