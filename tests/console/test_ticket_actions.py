"""What each ticket action does (in scope): replies through the right WeChat channel, deadlines,
merges, corrections, revisits, offline entry; bad input changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models import AuditLog, CategoryCorrection, Message, OfflineFeedback, Ticket
from services import ticket_actions as actions
from services.access import InputError
from services.offline import submit_offline
from services.queue import queue_summary, ticket_view
from services.runtime import build_runtime
from tests.console.conftest import Bank, console_config


def _reply(bank: Bank, number: str, text: str = "您好，已为您处理。", runtime: Any = None) -> Any:
    with bank.session() as s:
        return actions.reply(s, runtime=runtime or bank.runtime, staff=bank.staff(s, "agent"), number=number,
                             text=text, now=bank.now)


def test_reply_inside_the_window_is_a_customer_service_message(bank: Bank, fake_wechat: Any) -> None:
    number = bank.ticket(openid="oInWindow000000000000000000001")
    delivery = _reply(bank, number)
    assert (delivery.status, delivery.channel) == ("sent", "custom")
    assert delivery.describe() == "已通过客服消息送达"
    assert [m["text"]["content"] for m in fake_wechat.custom_messages("oInWindow000000000000000000001")] == [
        "您好，已为您处理。"]
    ticket = bank.get(number)
    assert ticket.status == "open" and ticket.first_replied_at == bank.now and ticket.first_reply_due_at is None
    assert ticket.escalation_at == ticket.resolution_due_at
    with bank.runtime.sessions() as s:
        logged = s.scalars(select(Message).where(Message.ticket_id == ticket.id, Message.msg_type == "custom")).one()
        assert logged.delivery_status == "sent"
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "ticket.reply")).one()
        assert audit.actor == "agent" and audit.target_id == number and audit.data["channel"] == "custom"


def test_reply_outside_the_window_is_a_template_message(bank: Bank, fake_wechat: Any) -> None:
    number = bank.ticket(openid="oOutOfWindow00000000000000001", in_window=False)
    delivery = _reply(bank, number, "您的问题已处理完毕")
    assert (delivery.status, delivery.channel) == ("sent", "template")
    sent = fake_wechat.template_messages("oOutOfWindow00000000000000001")
    assert len(sent) == 1 and sent[0]["template_id"] == "TM_TEST_SERVICE_UPDATE"
    assert sent[0]["data"]["remark"]["value"] == "您的问题已处理完毕"
    assert fake_wechat.custom_messages() == []


def test_failed_reply_is_shown_and_does_not_count_as_answered(bank: Bank, fake_wechat: Any) -> None:
    number = bank.ticket(openid="oFailing000000000000000000001")
    fake_wechat.fail_next("/cgi-bin/message/custom/send", 45015)
    delivery = _reply(bank, number)
    assert delivery.status == "failed" and delivery.error_code == 45015
    assert "发送失败" in delivery.describe() and "45015" in delivery.describe()
    ticket = bank.get(number)
    assert ticket.status == "new" and ticket.first_replied_at is None and ticket.first_reply_due_at is not None
    with bank.runtime.sessions() as s:
        assert s.scalars(select(Message.delivery_status).where(Message.ticket_id == ticket.id,
                                                               Message.direction == "out")).one() == "failed"


def test_reply_with_the_database_token_store(bank: Bank, db_url: str, model_dir: Any, fake_wechat: Any) -> None:
    """The default token cache: no transaction is held across the WeChat call, so SQLite does not deadlock."""
    runtime = build_runtime(console_config(db_url, model_dir, fake_wechat, **{"wechat.token_cache": "database"}))
    number = bank.ticket(openid="oDbToken000000000000000000001")
    assert _reply(bank, number, runtime=runtime).ok
    assert _reply(bank, number, "第二条回复", runtime=runtime).ok  # the stored token is reused
    assert fake_wechat.token_fetch_count == 1


def test_reply_needs_text_and_a_wechat_customer(bank: Bank, fake_wechat: Any) -> None:
    number = bank.ticket()
    offline = bank.ticket(channel=bank_channel_offline())
    before = bank.history()
    for ref, text in ((number, "   "), (number, "长" * 601), (offline, "您好")):
        with pytest.raises(InputError):
            _reply(bank, ref, text)
    assert bank.history() == before and fake_wechat.received() == []


def bank_channel_offline() -> Any:
    from models import Channel

    return Channel.OFFLINE


def test_priority_change_recomputes_the_deadlines(bank: Bank) -> None:
    number = bank.ticket(created_at=bank.now - timedelta(hours=1))
    created = bank.get(number).created_at
    with bank.session() as s:
        actions.change_priority(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number,
                                priority="urgent", now=bank.now)
    ticket = bank.get(number)
    assert ticket.first_reply_due_at == created + timedelta(hours=2)
    assert ticket.resolution_due_at == created + timedelta(hours=24)
    assert ticket.escalation_at == ticket.first_reply_due_at
    with pytest.raises(InputError), bank.session() as s:
        actions.change_priority(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number,
                                priority="urgent", now=bank.now)
    with pytest.raises(InputError), bank.session() as s:
        actions.change_priority(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number,
                                priority="critical", now=bank.now)


def test_priority_change_keeps_a_reply_already_given(bank: Bank) -> None:
    number = bank.ticket(openid="oPriority00000000000000000001")
    _reply(bank, number)
    with bank.session() as s:
        actions.change_priority(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number,
                                priority="urgent", now=bank.now)
    ticket = bank.get(number)
    assert ticket.first_reply_due_at is None and ticket.escalation_at == ticket.resolution_due_at


def test_category_change_is_a_training_correction_and_reroutes(bank: Bank) -> None:
    number = bank.ticket(team="branch_ops", category="wait_time", text="年费怎么又扣了")
    with bank.session() as s:
        correction = actions.change_category(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number,
                                             category="fees", now=bank.now)
        assert correction is not None
    with bank.runtime.sessions() as s:
        row = s.scalars(select(CategoryCorrection)).one()
        assert (row.text, row.old_category, row.new_category, row.staff_id) == (
            "年费怎么又扣了", "wait_time", "fees", bank.staff_ids["agent"])
    ticket = bank.get(number)
    assert ticket.category == "fees" and ticket.team == "retail_products"  # routing.categories.fees


def test_confirming_a_triage_category_is_not_a_correction(bank: Bank) -> None:
    number = bank.ticket(needs_triage=True, category="environment")
    with bank.session() as s:
        assert actions.change_category(s, runtime=bank.runtime, staff=bank.staff(s, "triager"), number=number,
                                       category="environment", now=bank.now) is None
    ticket = bank.get(number)
    assert not ticket.needs_triage and ticket.team == "branch_ops"
    assert bank.count(CategoryCorrection) == 0


def test_merge_moves_the_duplicate_and_shows_its_messages_on_the_target(bank: Bank) -> None:
    target = bank.ticket(text="人民路支行排队太久")
    first = bank.ticket(text="又去人民路支行，还是排队")
    second = bank.ticket(text="第三次反映排队问题")
    with bank.session() as s:
        actions.merge(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=second, into=first, now=bank.now)
    with bank.session() as s:
        actions.merge(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=first, into=target, now=bank.now)
    for dup in (first, second):
        ticket = bank.get(dup)
        assert ticket.status == "merged" and ticket.merged_into_id == bank.get(target).id
    with bank.runtime.sessions() as s:
        view = ticket_view(s, staff=bank.staff(s, "agent"), cfg=bank.runtime.cfg, number=target, now=bank.now)
        texts = [e.text for e in view.timeline if e.kind == "in"]
        assert texts == ["人民路支行排队太久", "又去人民路支行，还是排队", "第三次反映排队问题"]
        assert sorted(view.merged_from) == sorted([first, second])
    with pytest.raises(InputError), bank.session() as s:  # nothing merges into a merged ticket
        actions.merge(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=target, into=first, now=bank.now)


def test_resolve_then_reopen_starts_a_fresh_clock(bank: Bank) -> None:
    number = bank.ticket(created_at=bank.now - timedelta(hours=50))
    with bank.session() as s:
        actions.resolve(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number, now=bank.now)
    resolved = bank.get(number)
    assert resolved.status == "resolved" and resolved.escalation_at is None
    later = bank.now + timedelta(hours=5)
    with bank.session() as s:
        actions.reopen(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number, now=later)
    ticket = bank.get(number)
    assert ticket.status == "open" and ticket.reopen_count == 1
    assert ticket.resolution_due_at == later + timedelta(hours=72)
    with pytest.raises(InputError), bank.session() as s:
        actions.reopen(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number, now=later)


def test_revisit_is_recorded_for_the_kpi(bank: Bank) -> None:
    number = bank.ticket()
    with bank.session() as s:
        actions.record_revisit(s, runtime=bank.runtime, staff=bank.staff(s, "manager"), number=number,
                               method="visit", outcome="到店当面致歉", satisfaction=None, now=bank.now)
    before = bank.history()
    for method, score in (("fax", 3), ("phone", 0), ("phone", 6)):
        with pytest.raises(InputError), bank.session() as s:
            actions.record_revisit(s, runtime=bank.runtime, staff=bank.staff(s, "manager"), number=number,
                                   method=method, outcome="x", satisfaction=score, now=bank.now)
    assert bank.history() == before


def test_transfer_and_assign(bank: Bank) -> None:
    number = bank.ticket(team="branch_ops")
    with bank.session() as s:
        actions.take(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number, now=bank.now)
    assert bank.get(number).assignee_id == bank.staff_ids["agent"]
    with bank.session() as s:
        actions.transfer(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number, team="card_center",
                         now=bank.now)
    ticket = bank.get(number)
    assert ticket.team == "card_center" and ticket.assignee_id is None
    with bank.session() as s:
        actions.assign(s, runtime=bank.runtime, staff=bank.staff(s, "carder"), number=number, assignee="carder",
                       now=bank.now)
    assert bank.get(number).assignee_id == bank.staff_ids["carder"]


def test_offline_feedback_is_classified_like_any_ticket(bank: Bank, warm_analyzer: Any) -> None:
    today = bank.now.astimezone(bank.runtime.tz).date()
    with bank.session() as s:
        ticket = submit_offline(s, runtime=bank.runtime, staff=bank.staff(s, "manager"),
                                text="柜员办理业务太慢，等了一个多小时，电话13912345678", branch_code="rmr",
                                source="walk_in", received_on=today - timedelta(days=2), now=bank.now,
                                contact_name="王先生", contact_phone="139 1234 5678")
        number = ticket.number
    ticket = bank.get(number)
    assert ticket.channel == "offline" and ticket.customer_id is None and ticket.number
    assert "13912345678" not in ticket.text  # redacted like any customer text
    assert ticket.category and ticket.first_reply_due_at is not None
    with bank.runtime.sessions() as s:
        row = s.scalars(select(OfflineFeedback)).one()
        assert (row.source, row.received_on, row.contact_phone) == ("walk_in", today - timedelta(days=2),
                                                                    "139 1234 5678")


@pytest.mark.parametrize("change", [
    {"branch_code": "CDB"},  # not the manager's branch
    {"branch_code": "XXX"},
    {"received_on": date(2099, 1, 1)},
    {"source": "email"},
    {"text": "  "},
    {"contact_phone": "call me"},
])
def test_offline_entry_refuses_bad_input(bank: Bank, change: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"text": "网点门口台阶太高，轮椅进不去", "branch_code": "RMR", "source": "box",
                              "received_on": bank.now.astimezone(bank.runtime.tz).date(), "contact_phone": None}
    fields.update(change)
    with pytest.raises(InputError), bank.session() as s:
        submit_offline(s, runtime=bank.runtime, staff=bank.staff(s, "manager"), now=bank.now, **fields)
    assert bank.count(Ticket) == 0


def test_resolving_asks_the_customer_whether_they_are_satisfied(bank: Bank, fake_wechat: Any) -> None:
    openid = "oResolveCheck000000000000001"
    number = bank.ticket(openid=openid)
    with bank.session() as s:
        actions.resolve(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=number, now=bank.now)
    asked = [m["text"]["content"] for m in fake_wechat.custom_messages(openid)]
    assert len(asked) == 1 and number in asked[0]
    assert bank.get(number).status == "resolved"


def test_escalations_show_on_the_ticket_page(bank: Bank, staff_client: Any) -> None:
    from services.escalation import escalate_overdue_tickets

    number = bank.ticket(created_at=bank.now - timedelta(hours=30))
    fired = escalate_overdue_tickets(sessions=bank.runtime.sessions, cfg=bank.runtime.cfg, now=bank.now)
    assert fired.fired >= 1
    page = staff_client("agent").get(f"/tickets/{number}").get_data(as_text=True)
    assert "entry-escalation" in page and "超时升级：首次答复超时" in page


def test_a_waiting_ticket_is_neither_breached_nor_due_soon(bank: Bank) -> None:
    overdue = bank.ticket(created_at=bank.now - timedelta(hours=80))  # both deadlines long past
    waiting = bank.ticket(created_at=bank.now - timedelta(hours=80))

    def summary() -> Any:
        with bank.session() as s:
            return queue_summary(s, staff=bank.staff(s, "admin"), cfg=bank.runtime.cfg, now=bank.now,
                                 day_start=bank.now - timedelta(hours=1))

    assert summary().breached == 2
    with bank.session() as s:
        actions.wait_for_customer(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=waiting,
                                  now=bank.now)
    counts = summary()
    assert (counts.breached, counts.open_by_status["pending"]) == (1, 1)
    with bank.session() as s:
        view = ticket_view(s, staff=bank.staff(s, "agent"), cfg=bank.runtime.cfg, number=waiting, now=bank.now)
    assert view.seconds_left is None and view.sla_state == "none"
    assert bank.get(overdue).status == "new"
