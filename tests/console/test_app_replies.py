"""Staff replies reach every customer the bank can reach: app customers read them in the app
(through /api/v1), offline tickets without a contact are refused with what to do instead."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from models import AuditLog, Message, Ticket, TicketEvent
from services.offline import submit_offline
from tests.api.conftest import AppUser, flask_transport, issue_key
from tests.api.contract import ContractChecker
from tests.console.conftest import Bank, StaffClient


def _agent_for(bank: Bank, ticket: Ticket) -> str:
    """An agent of the team the classifier routed the ticket to (the triager when it awaits triage)."""
    if ticket.team is None:
        return "triager"
    username = f"agent_{ticket.team}"
    if username not in bank.staff_ids:
        bank.add_staff(username, "agent", team=ticket.team)
    return username


def _page(user: StaffClient, number: str) -> str:
    return html.unescape(user.get(f"/tickets/{number}").get_data(as_text=True))


def test_a_staff_reply_reaches_the_app_customer_and_nobody_else(
        bank: Bank, staff_client: Any, app: Any, runtime: Any, fake_wechat: Any, warm_analyzer: Any) -> None:
    contract = ContractChecker(app.extensions["qianjia.api"].document)
    contract.install(app)
    key = issue_key(runtime, "ios")
    alice = AppUser(flask_transport(app.test_client()), key, "alice")
    mallory = AppUser(flask_transport(app.test_client()), key, "mallory")
    submitted = alice.submit("人民路支行排队等了两个小时，只开了一个窗口", branch_code="RMR")
    assert submitted.status == 201, submitted.body
    number = submitted.json["number"]
    assert submitted.json["reply_due_at"] is not None
    own = mallory.submit("城东营业部的取号机坏了，没人管")
    assert own.status == 201

    ticket = bank.get(number)
    username = _agent_for(bank, ticket)
    agent = staff_client(username)
    form = _page(agent, number)
    assert "将发送到客户的手机银行APP" in form and "APP客户" in form
    answer = "您好，人民路支行已于今日增开两个窗口，感谢您的反馈。"
    resp = agent.post(f"/tickets/{number}/reply", {"text": answer})
    assert resp.status_code == 302
    page = _page(agent, number)
    assert "回复结果：已发送到APP" in page  # the flash
    assert "回复客户：已发送到APP" in page  # the ticket's history
    assert "APP 回复" in page and answer in page

    # The first-reply SLA is met exactly as by a WeChat reply.
    replied = bank.get(number)
    assert replied.status == "open" and replied.first_replied_at is not None
    assert replied.first_reply_due_at is None and replied.escalation_at == replied.resolution_due_at
    with bank.runtime.sessions() as s:
        logged = s.scalars(select(Message).where(Message.ticket_id == replied.id, Message.direction == "out")).one()
        assert (logged.channel, logged.delivery_status, logged.content) == ("app", "sent", answer)
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "ticket.reply")).one()
        assert (audit.actor, audit.target_id) == (username, number)
        assert audit.data["channel"] == "app" and audit.data["result"] == "已发送到APP"
    assert fake_wechat.received() == []  # nothing went to WeChat

    # The app shows the reply to alice ...
    detail = alice.ticket(number)
    assert detail.status == 200
    assert [(m["from"], m["text"]) for m in detail.json["messages"]][-1] == ("bank", answer)
    assert detail.json["status"] == "open" and detail.json["reply_due_at"] is None
    # ... and to nobody else: mallory cannot open alice's ticket, and her own has no bank reply.
    assert mallory.ticket(number).status == 404
    theirs = mallory.ticket(own.json["number"])
    assert [m["from"] for m in theirs.json["messages"]] == ["customer"]
    assert answer not in theirs.body.decode("utf-8")
    assert contract.checked == 5 and contract.failures == []


def test_offline_ticket_without_contact_cannot_be_replied_to_but_a_call_can_be_noted(
        bank: Bank, staff_client: Any, warm_analyzer: Any) -> None:
    today = bank.now.astimezone(bank.runtime.tz).date()
    with bank.session() as s:
        slip = submit_offline(s, runtime=bank.runtime, staff=bank.staff(s, "manager"), text="意见箱：网点门口台阶太高，轮椅进不去",
                              branch_code="RMR", source="box", received_on=today - timedelta(days=1), now=bank.now)
        number = str(slip.number)
    manager = staff_client("manager")
    form = _page(manager, number)
    assert "此工单没有可用的联系渠道" in form  # the reply box is disabled and says why
    before = bank.history()

    resp = manager.post(f"/tickets/{number}/reply", {"text": "您好，我们会尽快整改。"})
    assert resp.status_code == 302
    page = _page(manager, number)
    assert "线下登记的工单没有客户联系方式，无法回复客户" in page and "记录回访" in page
    assert bank.history() == before
    ticket = bank.get(number)
    assert ticket.status == "new" and ticket.first_replied_at is None
    assert bank.count(Message, Message.ticket_id == ticket.id, Message.direction == "out") == 0

    # What a helpdesk does instead: the conversation outside the system is an internal note.
    manager.post(f"/tickets/{number}/note", {"text": "客户来电，已口头答复将加装坡道"})
    with bank.runtime.sessions() as s:
        note = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                   TicketEvent.kind == "note")).one()
        assert note.data["text"] == "客户来电，已口头答复将加装坡道"


def test_offline_ticket_with_a_phone_says_to_call(bank: Bank, staff_client: Any, warm_analyzer: Any) -> None:
    today = bank.now.astimezone(bank.runtime.tz).date()
    with bank.session() as s:
        slip = submit_offline(s, runtime=bank.runtime, staff=bank.staff(s, "manager"), text="来电：柜员办理太慢",
                              branch_code="RMR", source="phone", received_on=today, now=bank.now,
                              contact_name="王先生", contact_phone="139 1234 5678")
        number = str(slip.number)
    manager = staff_client("manager")
    _page(manager, number)
    manager.post(f"/tickets/{number}/reply", {"text": "您好"})
    page = _page(manager, number)
    assert "请按登记的联系电话联系客户" in page
    assert bank.count(Message, Message.direction == "out") == 0
