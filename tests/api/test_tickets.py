"""Listing tickets, reading one with its conversation, and the customer's replies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import transaction
from models import Message, Ticket, TicketEvent, TicketStatus
from services.messages import log_outbound
from services.tickets import transition


def move(runtime: Any, number: str, *statuses: TicketStatus) -> None:
    with transaction(runtime.sessions) as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        for status in statuses:
            transition(s, ticket=ticket, to=status, now=runtime.clock.now(), actor="staff")


def bank_says(runtime: Any, number: str, text: str, *, delivery_status: str = "sent") -> None:
    with transaction(runtime.sessions) as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        log_outbound(s, customer_id=ticket.customer_id, ticket_id=ticket.id, msg_type="custom", content=text,
                     now=runtime.clock.now(), delivery_status=delivery_status, channel="app")


def test_list_shows_only_the_callers_tickets_newest_first(app_user: Any) -> None:
    alice, bob = app_user(), app_user()
    numbers = [alice.submit(f"第{i}次反馈：排队太久").json["number"] for i in range(3)]
    bob.submit("ATM吞卡")
    listed = alice.tickets()
    assert listed.status == 200
    assert [t["number"] for t in listed.json["tickets"]] == numbers[::-1]
    assert listed.json["total"] == 3
    assert "messages" not in listed.json["tickets"][0]
    assert [t["number"] for t in bob.tickets().json["tickets"]] != numbers


def test_list_pages(app_user: Any) -> None:
    user = app_user()
    numbers = [user.submit(f"反馈{i}").json["number"] for i in range(5)][::-1]
    page = user.tickets(limit=2, offset=2).json
    assert [t["number"] for t in page["tickets"]] == numbers[2:4]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)
    assert user.tickets(offset=5).json["tickets"] == []


def test_a_new_customer_has_no_tickets_and_reading_creates_nothing(app_user: Any, runtime: Any) -> None:
    assert app_user().tickets().json == {"tickets": [], "total": 0, "limit": 20, "offset": 0}
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0


@pytest.mark.parametrize(("query", "field"), [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset"),
])
def test_bad_paging_parameters_are_refused(app_user: Any, query: dict[str, Any], field: str) -> None:
    reply = app_user().tickets(**query)
    assert reply.status == 400
    assert (reply.error["code"], reply.error["field"]) == ("invalid_parameter", field)


def test_ticket_detail_shows_status_and_the_conversation(app_user: Any, runtime: Any) -> None:
    user = app_user()
    number = user.submit("网点空调坏了，很热").json["number"]
    bank_says(runtime, number, "您好，已安排维修。")
    bank_says(runtime, number, "发送失败的一条", delivery_status="failed")
    move(runtime, number, TicketStatus.OPEN)
    detail = user.ticket(number)
    assert detail.status == 200
    body = detail.json
    assert (body["status"], body["status_name"]) == ("open", "处理中")
    assert [(m["from"], m["text"]) for m in body["messages"]] == [
        ("customer", "网点空调坏了，很热"), ("bank", "您好，已安排维修。")]


def test_replying_to_an_open_ticket_adds_a_message(app_user: Any, runtime: Any) -> None:
    user = app_user()
    number = user.submit("手机银行转账一直失败").json["number"]
    reply = user.reply(number, "补充：错误码是E102，电话13812345678")
    assert reply.status == 201, reply.body
    assert reply.json["status"] == "new"
    assert [m["from"] for m in reply.json["messages"]] == ["customer", "customer"]
    assert "13812345678" not in reply.json["messages"][-1]["text"]  # masked like every stored message
    with runtime.sessions() as s:
        last = s.scalars(select(Message).order_by(Message.id.desc())).first()
        assert last is not None and (last.channel, last.direction) == ("app", "in")


def test_a_reply_answers_a_pending_ticket(app_user: Any, runtime: Any) -> None:
    user = app_user()
    number = user.submit("想咨询大额存单利率").json["number"]
    move(runtime, number, TicketStatus.PENDING)
    with runtime.sessions() as s:
        waiting = s.scalars(select(Ticket).where(Ticket.number == number)).one()
    assert waiting.sla_paused_at is not None
    assert user.reply(number, "我想存三年期的").json["status"] == "open"
    with runtime.sessions() as s:
        answered = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        paused_for = s.scalars(select(TicketEvent.created_at).where(TicketEvent.kind == "status")
                               .order_by(TicketEvent.id.desc())).first() - waiting.sla_paused_at
    # The wait ended with the customer's answer: the clock runs again, moved on by the time it was stopped.
    assert answered.sla_paused_at is None
    assert answered.resolution_due_at == waiting.resolution_due_at + paused_for


def test_a_reply_reopens_a_resolved_ticket_with_a_fresh_deadline(app_user: Any, runtime: Any) -> None:
    user = app_user()
    number = user.submit("年费扣错了").json["number"]
    move(runtime, number, TicketStatus.OPEN, TicketStatus.RESOLVED)
    reply = user.reply(number, "问题没有解决，又扣了一次")
    assert reply.status == 201 and reply.json["status"] == "open" and reply.json["resolved_at"] is None
    with runtime.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.reopen_count == 1
        assert ticket.escalation_at is not None
        hours = runtime.cfg.get(f"sla.priorities.{ticket.priority}.first_reply_hours")
        assert ticket.first_reply_due_at is not None
        assert ticket.first_reply_due_at - ticket.updated_at == timedelta(hours=hours)
        kinds = [(e.kind, e.data.get("to"), e.actor) for e in s.scalars(select(TicketEvent).order_by(TicketEvent.id))]
    assert kinds[-1] == ("status", "open", "customer")


@pytest.mark.parametrize("path", [(TicketStatus.RESOLVED, TicketStatus.CLOSED), (TicketStatus.MERGED,)])
def test_a_closed_or_merged_ticket_refuses_replies(app_user: Any, runtime: Any, path: tuple[TicketStatus, ...]) -> None:
    user = app_user()
    number = user.submit("柜员态度差").json["number"]
    move(runtime, number, *path)
    reply = user.reply(number, "还想说一句")
    assert reply.status == 409 and reply.error["code"] == "ticket_closed"
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1


def test_unknown_ticket_is_404(app_user: Any) -> None:
    user = app_user()
    user.submit("排队太久")
    for reply in (user.ticket("QJ000000-999999"), user.reply("QJ000000-999999", "在吗")):
        assert reply.status == 404 and reply.error["code"] == "ticket_not_found"
