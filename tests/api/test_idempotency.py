"""Idempotency-Key: a retry gets the first response and never a second ticket, even when
the retries race each other against the live server."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.db import transaction
from models import IdempotencyRecord, Message, Ticket
from services.idempotency import purge_expired
from tests.api.conftest import AppUser, http_transport
from tests.support.threads import run_threads


def count(runtime: Any, model: Any) -> int:
    with runtime.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_a_retry_gets_the_first_response_and_makes_no_second_ticket(app_user: Any, runtime: Any) -> None:
    user = app_user()
    first = user.submit("排队太久", client_id="c-1", idempotency_key="key-1")
    retries = [user.submit("排队太久", client_id="c-1", idempotency_key="key-1") for _ in range(2)]
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    for retry in retries:
        assert (retry.status, retry.body) == (first.status, first.body)
        assert retry.headers["Idempotent-Replayed"] == "true"
    assert count(runtime, Ticket) == 1


def test_a_refusal_is_replayed_too(app_user: Any, runtime: Any) -> None:
    user = app_user()
    first = user.submit("网点在哪", client_id="c-1", branch_code="NOPE", idempotency_key="key-1")
    retry = user.submit("网点在哪", client_id="c-1", branch_code="NOPE", idempotency_key="key-1")
    assert first.status == 422 and (retry.status, retry.body) == (first.status, first.body)
    assert count(runtime, Ticket) == 0


def test_replies_are_exactly_once_too(app_user: Any, runtime: Any) -> None:
    user = app_user()
    number = user.submit("年费扣错了").json["number"]
    first = user.reply(number, "补充一下", idempotency_key="r-1")
    retry = user.reply(number, "补充一下", idempotency_key="r-1")
    assert (retry.status, retry.body) == (first.status, first.body)
    assert count(runtime, Message) == 2


def test_the_same_key_for_another_request_is_refused(app_user: Any, runtime: Any) -> None:
    user = app_user()
    user.submit("排队太久", client_id="c-1", idempotency_key="key-1")
    reused = user.submit("另一件事", client_id="c-2", idempotency_key="key-1")
    assert reused.status == 422
    assert (reused.error["code"], reused.error["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert count(runtime, Ticket) == 1


def test_json_formatting_does_not_make_another_request(app_user: Any, runtime: Any) -> None:
    user = app_user()
    first = user.submit("排队太久", client_id="c-1", idempotency_key="key-1")
    retry = user.request("POST", "/feedback", idempotency_key="key-1", headers={"Content-Type": "application/json"},
                         raw='{ "client_id" : "c-1",\n  "text": "排队太久" }'.encode())
    assert (retry.status, retry.body) == (first.status, first.body)


def test_keys_belong_to_one_customer(app_user: Any, runtime: Any) -> None:
    """Another customer reusing a key is another request: refused, not served alice's answer."""
    alice, bob = app_user("alice"), app_user("bob")
    alice.submit("排队太久", client_id="c-1", idempotency_key="shared")
    reply = bob.submit("排队太久", client_id="c-1", idempotency_key="shared")
    assert reply.status == 422 and reply.error["code"] == "idempotency_key_reused"
    assert "QJ" not in reply.body.decode()


def test_concurrent_retries_make_one_ticket(app: Any, live_server: Any, runtime: Any, api_key: Any) -> None:
    """Threads send the same request at once over real connections: one ticket, one answer."""
    user = AppUser(http_transport(live_server.url), api_key, "racer")
    key, client_id = uuid.uuid4().hex, uuid.uuid4().hex
    replies = run_threads(6, lambda: user.submit("ATM吞卡了，卡还没退出来", client_id=client_id, idempotency_key=key))
    assert {r.status for r in replies} == {201}
    assert len({r.body for r in replies}) == 1
    assert sum("Idempotent-Replayed" in r.headers for r in replies) == 5
    assert count(runtime, Ticket) == 1 and count(runtime, IdempotencyRecord) == 1


def test_old_keys_are_forgotten_by_the_purge(app_user: Any, runtime: Any) -> None:
    user = app_user()
    user.submit("排队太久", client_id="c-1", idempotency_key="old")
    retention = timedelta(hours=runtime.cfg.get("api.idempotency_retention_hours"))
    with transaction(runtime.sessions) as s:
        assert purge_expired(s, now=runtime.clock.now() + retention - timedelta(minutes=1), retention=retention) == 0
        assert purge_expired(s, now=runtime.clock.now() + retention + timedelta(minutes=1), retention=retention) == 1
    assert count(runtime, IdempotencyRecord) == 0
