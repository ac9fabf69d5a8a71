"""POST /api/v1/feedback: app feedback becomes a ticket exactly like WeChat feedback does."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import transaction
from models import AppCustomer, AppFeedback, Customer, IdempotencyRecord, Message, Ticket, TicketStatus
from services.branches import load_branch_file, upsert_branches

TICKET_NUMBER = re.compile(r"^QJ\d{6}-\d{6}$")


def counts(runtime: Any) -> dict[str, int]:
    with runtime.sessions() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (Ticket, Customer, AppCustomer, AppFeedback, Message, IdempotencyRecord)}


def seed_branches(runtime: Any) -> None:
    with transaction(runtime.sessions) as s:
        upsert_branches(s, rows=load_branch_file(), now=runtime.clock.now())


def test_feedback_becomes_a_numbered_app_ticket(app_user: Any, runtime: Any) -> None:
    user = app_user()
    reply = user.submit("人民路支行今天排队等了两个小时，只开了一个窗口，太慢了", client_id="draft-1")
    assert reply.status == 201, reply.body
    body = reply.json
    assert TICKET_NUMBER.match(body["number"])
    assert body["channel"] == "app" and body["status"] == "new" and body["status_name"] == "已受理"
    assert body["client_id"] == "draft-1"
    assert [(m["from"], m["text"]) for m in body["messages"]] == [("customer", body["text"])]
    with runtime.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.number == body["number"] and ticket.channel == "app"
        assert ticket.category == body["category"] == "wait_time"
        assert ticket.first_reply_due_at is not None
        assert ticket.escalation_at == ticket.first_reply_due_at
        link = s.scalars(select(AppCustomer)).one()
        assert (link.app, link.app_user_id, link.customer_id) == ("mobile", user.customer_id, ticket.customer_id)
        assert s.get_one(Customer, ticket.customer_id).openid is None
        message = s.scalars(select(Message)).one()
        assert (message.ticket_id, message.direction, message.channel) == (ticket.id, "in", "app")


@pytest.mark.parametrize("text", [
    "人民路支行今天排队等了两个小时，只开了一个窗口，太慢了",
    "我的卡被盗刷了五万块，我要报警，还要向银保监投诉",
    "大堂经理态度特别好，耐心帮我老人家办完了业务，表扬一下",
])
def test_app_and_wechat_tickets_are_classified_routed_and_timed_alike(
        app_user: Any, wechat_user: Any, runtime: Any, text: str) -> None:
    seed_branches(runtime)
    wechat_user().send_text(text)
    assert app_user().submit(text).status == 201
    with runtime.sessions() as s:
        wechat, app = s.scalars(select(Ticket).order_by(Ticket.id)).all()
    assert (wechat.channel, app.channel) == ("wechat", "app")
    same = ("type", "category", "team", "priority", "urgent_reasons", "needs_triage", "branch_id", "text", "status")
    assert {f: getattr(app, f) for f in same} == {f: getattr(wechat, f) for f in same}
    for ticket in (wechat, app):
        assert ticket.first_reply_due_at is not None and ticket.resolution_due_at is not None
    assert app.first_reply_due_at - app.created_at == wechat.first_reply_due_at - wechat.created_at
    assert app.resolution_due_at - app.created_at == wechat.resolution_due_at - wechat.created_at


def test_urgent_feedback_gets_the_short_deadline(app_user: Any, runtime: Any) -> None:
    reply = app_user().submit("有人冒充银行打电话，我的钱被转走了，已经报警")
    assert reply.status == 201 and reply.json["priority"] == "urgent"
    hours = runtime.cfg.get("sla.priorities.urgent.first_reply_hours")
    with runtime.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
    assert ticket.first_reply_due_at - ticket.created_at == timedelta(hours=hours)


def test_branch_code_and_contact_are_kept(app_user: Any, runtime: Any) -> None:
    seed_branches(runtime)
    reply = app_user().submit("柜员办业务很慢", branch_code="CDB", contact="13812345678")
    assert reply.status == 201, reply.body
    assert reply.json["branch"] == {"code": "CDB", "name": "千佳银行城东营业部"}
    assert "contact" not in reply.json  # for staff only
    with runtime.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.branch is not None and ticket.branch.code == "CDB"
        assert s.get_one(AppFeedback, ticket.id).contact == "13812345678"


def test_personal_data_in_the_text_is_masked(app_user: Any, runtime: Any) -> None:
    reply = app_user().submit("我的卡 6222 0212 3456 7890 128 被ATM吞了，电话13812345678")
    assert reply.status == 201
    with runtime.sessions() as s:
        stored = " ".join([*s.scalars(select(Ticket.text)), *s.scalars(select(Message.content))])
    for text in (stored, reply.body.decode()):
        assert "13812345678" not in text and "6222 0212 3456 7890 128" not in text


def test_unknown_or_closed_branch_is_refused_and_nothing_is_created(app_user: Any, runtime: Any) -> None:
    seed_branches(runtime)
    with transaction(runtime.sessions) as s:
        upsert_branches(s, rows=[{"code": "OLD", "name": "已撤并网点", "active": False}], now=runtime.clock.now())
    user = app_user()
    for code in ("NOPE", "OLD"):
        reply = user.submit("服务不错", branch_code=code)
        assert reply.status == 422
        assert reply.error["code"] == "unknown_branch" and reply.error["field"] == "branch_code"
        assert code in reply.error["message"]
    after = counts(runtime)
    assert after["tickets"] == after["customers"] == after["app_customers"] == after["messages"] == 0


def test_a_client_id_names_one_piece_of_feedback(app_user: Any, runtime: Any) -> None:
    user = app_user()
    first = user.submit("ATM吞卡了", client_id="abc-1")
    again = user.submit("ATM吞卡了", client_id="abc-1")  # a new Idempotency-Key: not a retry
    assert first.status == 201
    assert again.status == 409 and again.error["code"] == "duplicate_client_id"
    assert again.error["field"] == "client_id" and first.json["number"] in again.error["message"]
    # Another customer may use the same client id.
    assert app_user().submit("ATM吞卡了", client_id="abc-1").status == 201
    assert counts(runtime)["tickets"] == 2


VALID = {"text": "排队太久", "client_id": "c-1"}


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"client_id": "c-1"}, 422, "missing_field", "text"),
    ({"text": "排队太久"}, 422, "missing_field", "client_id"),
    ({**VALID, "text": ""}, 422, "invalid_field", "text"),
    ({**VALID, "text": " \n\t "}, 422, "invalid_field", "text"),
    ({**VALID, "text": "\u3000\x1c\ufeff"}, 422, "invalid_field", "text"),
    ({**VALID, "text": "排队\x00太久"}, 422, "invalid_field", "text"),
    ({**VALID, "text": "长" * 2001}, 422, "invalid_field", "text"),
    ({**VALID, "text": 42}, 422, "invalid_field", "text"),
    ({**VALID, "client_id": "has space"}, 422, "invalid_field", "client_id"),
    ({**VALID, "client_id": "x" * 65}, 422, "invalid_field", "client_id"),
    ({**VALID, "branch_code": "人民路"}, 422, "invalid_field", "branch_code"),
    ({**VALID, "contact": "call me"}, 422, "invalid_field", "contact"),
    ({**VALID, "contact": None}, 422, "invalid_field", "contact"),
    ({**VALID, "priority": "urgent"}, 422, "unknown_field", "priority"),
    (["排队太久"], 422, "invalid_body", None),
])
def test_invalid_bodies_name_the_field_and_change_nothing(app_user: Any, runtime: Any, body: Any, status: int,
                                                          code: str, field: str | None) -> None:
    user = app_user()
    reply = user.request("POST", "/feedback", json_body=body)
    assert reply.status == status, reply.body
    assert reply.error["code"] == code
    assert reply.error.get("field") == field
    if field:
        assert field in reply.error["message"]
    assert re.search(r"[\u4e00-\u9fff]", reply.error["message"])  # Chinese, for the customer
    assert set(counts(runtime).values()) == {0}


@pytest.mark.parametrize(("raw", "content_type", "status", "code"), [
    (b"{not json", "application/json", 400, "invalid_json"),
    (b'{"text": NaN, "client_id": "c"}', "application/json", 400, "invalid_json"),
    ('{"text": "排队", "client_id": "c"}'.encode("gbk"), "application/json", 400, "invalid_json"),
    (b'{"text": "x", "client_id": "c"}', "text/plain", 415, "unsupported_media_type"),
    (b'{"text": "x", "client_id": "c"}', "application/json; charset=gbk", 415, "unsupported_media_type"),
    (b"", None, 415, "unsupported_media_type"),
])
def test_malformed_requests_are_refused(app_user: Any, runtime: Any, raw: bytes, content_type: str | None,
                                        status: int, code: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    reply = app_user().request("POST", "/feedback", raw=raw, headers=headers)
    assert (reply.status, reply.error["code"]) == (status, code)
    assert set(counts(runtime).values()) == {0}


def test_body_size_limit(app_user: Any, runtime: Any) -> None:
    limit = runtime.cfg.get("api.max_body_bytes")
    padding = "x" * limit
    reply = app_user().request("POST", "/feedback", json_body={**VALID, "text": padding})
    assert reply.status == 413 and reply.error["code"] == "payload_too_large"
    assert str(limit) in reply.error["message"]
    assert set(counts(runtime).values()) == {0}


@pytest.mark.parametrize(("key", "code"), [(None, "idempotency_key_required"), ("", "invalid_idempotency_key"),
                                           ("caf\u00e9", "invalid_idempotency_key"), ("with space", "invalid_idempotency_key"),
                                           ("k" * 256, "invalid_idempotency_key")])
def test_every_post_needs_a_usable_idempotency_key(app_user: Any, runtime: Any, key: str | None, code: str) -> None:
    user = app_user()
    headers = {**user.auth_headers(), "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    reply = user.send("POST", "/api/v1/feedback", headers, b'{"text": "queue", "client_id": "c"}')
    assert reply.status == 400
    assert (reply.error["code"], reply.error["field"]) == (code, "Idempotency-Key")
    assert set(counts(runtime).values()) == {0}


def test_the_contact_is_anonymised_by_the_retention_policy(app_user: Any, runtime: Any) -> None:
    from services.privacy import ANONYMISED
    from services.retention import run_retention

    number = app_user().submit("柜员态度差", contact="13812345678").json["number"]
    with transaction(runtime.sessions) as s:
        from services.tickets import transition

        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        transition(s, ticket=ticket, to=TicketStatus.RESOLVED, now=runtime.clock.now())
    months = runtime.cfg.get("retention.message_text_months")
    run_retention(sessions=runtime.sessions, cfg=runtime.cfg, now=runtime.clock.now() + timedelta(days=31 * months + 1))
    with runtime.sessions() as s:
        assert s.scalars(select(AppFeedback.contact)).one() == ANONYMISED
