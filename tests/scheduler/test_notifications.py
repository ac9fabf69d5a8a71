"""Staff notifications: WeCom robot and template messages on the fake server, e-mail to a real SMTP sink."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.fake_wechat import ROBOT_SEND_PATH, TEMPLATE_SEND_PATH
from core.db import transaction
from models import NotificationDelivery, OutboxStatus
from scheduler.jobs import deliver_notifications, escalate_overdue_tickets
from services.notifications import recipients
from tests.scheduler.conftest import STAFF_TEMPLATE, later, new_ticket


def deliver(rt: Any, at: Any) -> dict[str, Any]:
    rt.clock.set(at)
    return deliver_notifications(rt, at)


def deliveries(rt: Any) -> dict[tuple[str, str], NotificationDelivery]:
    with rt.sessions() as s:
        return {(d.channel, d.target.split("?")[-1]): d for d in s.scalars(select(NotificationDelivery))}


def test_breach_reaches_every_channel_once(rt: Any, fake_wechat: Any, smtp_sink: Any) -> None:
    new_ticket(rt)
    rt.clock.set(later(hours=24))
    escalate_overdue_tickets(rt, later(hours=24))
    result = deliver(rt, later(hours=24))
    assert result["sent"] == 4 and result["failed"] == 0
    assert deliver(rt, later(hours=24, minutes=1))["claimed"] == 0  # nothing left: nothing twice

    robot = fake_wechat.robot_messages()
    assert [m["_key"] for m in robot] == ["team-robot"]
    assert "即将超时预警" in robot[0]["markdown"]["content"]
    template = fake_wechat.template_messages("o-staff-lead")
    assert len(template) == 1 and template[0]["template_id"] == STAFF_TEMPLATE
    assert "首次答复超时" in template[0]["data"]["first"]["value"]
    team_mail = smtp_sink.to("team@bank.example")
    assert len(team_mail) == 1 and team_mail[0]["Subject"].startswith("【即将超时预警】工单 QJ")
    lead_mail = smtp_sink.to("lead@bank.example")
    assert len(lead_mail) == 1 and "首次答复超时" in lead_mail[0]["Subject"]
    assert "请组长尽快处理" in lead_mail[0].get_content()
    assert all(d.status == "sent" and d.attempts == 1 for d in deliveries(rt).values())


def test_failed_robot_call_is_retried_with_backoff(rt: Any, fake_wechat: Any) -> None:
    new_ticket(rt)
    rt.clock.set(later(hours=20))
    escalate_overdue_tickets(rt, later(hours=20))
    fake_wechat.fail_next(ROBOT_SEND_PATH, -1, times=2)
    first = deliver(rt, later(hours=20))
    assert (first["retry"], first["sent"]) == (1, 1)  # robot failed, e-mail went out
    robot = deliveries(rt)[("robot", "key=team-robot")]
    assert robot.status == "pending" and robot.attempts == 1 and "-1" in (robot.last_error or "")
    assert robot.next_attempt_at == later(hours=20, minutes=1)  # retry_base_seconds: 60

    assert deliver(rt, later(hours=20, seconds=59))["claimed"] == 0  # not before its time
    second = deliver(rt, later(hours=20, minutes=1))
    assert second["retry"] == 1
    assert deliveries(rt)[("robot", "key=team-robot")].next_attempt_at == later(hours=20, minutes=3)  # doubled
    third = deliver(rt, later(hours=20, minutes=3))
    assert third["sent"] == 1
    assert len(fake_wechat.robot_messages()) == 1
    assert deliveries(rt)[("robot", "key=team-robot")].attempts == 3


def test_permanent_failures_and_unreachable_mail_server(rt: Any, fake_wechat: Any, smtp_sink: Any,
                                                        sched_config: Any, clock: Any) -> None:
    from services.runtime import build_runtime

    # The e-mail relay is down (nothing listens on port 1) and the staff template is refused for good.
    broken = build_runtime(sched_config.with_overrides({"notifications.smtp.port": 1}), clock=clock)
    new_ticket(broken)
    clock.set(later(hours=24))
    escalate_overdue_tickets(broken, later(hours=24))
    fake_wechat.fail_next(TEMPLATE_SEND_PATH, 48001)
    result = deliver(broken, later(hours=24))
    assert result["failed"] == 1 and result["retry"] == 2 and result["sent"] == 1
    rows = deliveries(broken)
    assert rows[("template", "o-staff-lead")].status == OutboxStatus.FAILED.value
    assert "48001" in (rows[("template", "o-staff-lead")].last_error or "")
    assert "无法连接邮件服务器" in (rows[("email", "lead@bank.example")].last_error or "")
    assert smtp_sink.messages == []


def test_recipients_fall_back_from_branch_to_team_to_default(sched_config: Any) -> None:
    cfg = sched_config.with_overrides({
        "notifications.recipients.card_center": {"team": {"emails": ["cards@bank.example"]}},
        "notifications.branches": {"B001": {"branch_manager": {"emails": ["b001@bank.example"], "openids": "o1,o2"}}},
    })
    assert [t.address for t in recipients(cfg, team="card_center", role="team")] == ["cards@bank.example"]
    assert [t.address for t in recipients(cfg, team="card_center", role="team_lead")] == ["o-staff-lead",
                                                                                         "lead@bank.example"]
    manager = recipients(cfg, team="card_center", role="branch_manager", branch_code="B001")
    assert [(t.channel, t.address) for t in manager] == [("template", "o1"), ("template", "o2"),
                                                         ("email", "b001@bank.example")]
    assert [t.address for t in recipients(cfg, team="x", role="branch_manager", branch_code="B999")] == [
        "manager@bank.example"]


def test_a_dead_senders_in_flight_alert_is_sent_again(rt: Any, fake_wechat: Any) -> None:
    """Staff alerts prefer a duplicate to a loss: a stale `sending` row goes back to pending."""
    new_ticket(rt)
    rt.clock.set(later(hours=20))
    escalate_overdue_tickets(rt, later(hours=20))
    with transaction(rt.sessions) as s:
        row = s.scalars(select(NotificationDelivery).where(NotificationDelivery.channel == "robot")).one()
        row.status, row.claim_token, row.claimed_at, row.attempts = "sending", "dead-process", later(hours=20), 1
    assert deliver(rt, later(hours=20, minutes=1))["sent"] == 1  # the e-mail; the robot row is still leased
    result = deliver(rt, later(hours=20, minutes=6))  # claim_timeout_seconds: 300
    assert result["recovered_sending"] == 1 and result["sent"] == 1
    assert len(fake_wechat.robot_messages()) == 1
