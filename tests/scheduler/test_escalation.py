"""The escalation sweep, time-travelled: each level fires once per deadline, at the right moment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.db import transaction
from models import Escalation, NotificationDelivery, Ticket, TicketEvent, TicketStatus
from scheduler.jobs import escalate_overdue_tickets
from services.sla import record_staff_reply
from services.tickets import transition
from tests.scheduler.conftest import later, new_ticket


def sweep(rt: Any, at: Any) -> dict[str, Any]:
    rt.clock.set(at)
    return escalate_overdue_tickets(rt, at)


def fired(rt: Any, ticket_id: int | None = None) -> list[tuple[str, str]]:
    with rt.sessions() as s:
        stmt = select(Escalation.level, Escalation.deadline).order_by(Escalation.id)
        if ticket_id is not None:
            stmt = stmt.where(Escalation.ticket_id == ticket_id)
        return [tuple(r) for r in s.execute(stmt)]  # type: ignore[misc]


def events(rt: Any, ticket_id: int) -> list[dict[str, Any]]:
    with rt.sessions() as s:
        return [e.data for e in s.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "escalation").order_by(TicketEvent.id))]


def test_warning_at_20h_then_breach_at_24h_each_once(rt: Any) -> None:
    ticket_id = new_ticket(rt)
    assert sweep(rt, later(hours=19, minutes=59))["fired"] == 0
    assert fired(rt) == []

    result = sweep(rt, later(hours=20))
    assert result["by_level"] == {"first_reply_warning": 1}
    assert fired(rt) == [("first_reply_warning", "first_reply")]

    assert sweep(rt, later(hours=20, minutes=1))["fired"] == 0
    assert sweep(rt, later(hours=23, minutes=59))["fired"] == 0

    assert sweep(rt, later(hours=24))["by_level"] == {"first_reply_breach": 1}
    assert sweep(rt, later(hours=24, minutes=1))["fired"] == 0
    assert fired(rt) == [("first_reply_warning", "first_reply"), ("first_reply_breach", "first_reply")]
    assert [e["level"] for e in events(rt, ticket_id)] == ["first_reply_warning", "first_reply_breach"]


def test_notifications_are_queued_per_channel_and_target(rt: Any) -> None:
    new_ticket(rt)
    sweep(rt, later(hours=24))  # catch-up: warning (team) and breach (team lead) together
    with rt.sessions() as s:
        rows = s.execute(select(Escalation.level, NotificationDelivery.channel, NotificationDelivery.target)
                         .join(Escalation, Escalation.id == NotificationDelivery.escalation_id)
                         .order_by(NotificationDelivery.id)).all()
    targets = {(level, channel, target.split("?")[-1]) for level, channel, target in rows}
    assert targets == {
        ("first_reply_warning", "robot", "key=team-robot"),
        ("first_reply_warning", "email", "team@bank.example"),
        ("first_reply_breach", "template", "o-staff-lead"),
        ("first_reply_breach", "email", "lead@bank.example"),
    }


def test_staff_reply_at_23h_prevents_the_breach(rt: Any) -> None:
    ticket_id = new_ticket(rt)
    sweep(rt, later(hours=20))
    with transaction(rt.sessions) as s:
        ticket = s.get_one(Ticket, ticket_id)
        record_staff_reply(ticket, now=later(hours=23))
        transition(s, ticket=ticket, to=TicketStatus.OPEN, now=later(hours=23), actor="staff:li")
    for hours in (24, 30, 48, 60):
        assert sweep(rt, later(hours=hours))["fired"] == 0, hours
    assert fired(rt, ticket_id) == [("first_reply_warning", "first_reply")]
    with rt.sessions() as s:
        ticket = s.get_one(Ticket, ticket_id)
        assert ticket.first_replied_at == later(hours=23)
        assert ticket.first_reply_due_at is None
        assert ticket.escalation_at == ticket.resolution_due_at == later(hours=72)
    # The resolution deadline still runs.
    assert sweep(rt, later(hours=72))["by_level"] == {"resolution_breach": 1}


def test_catch_up_after_downtime_fires_each_due_level_once(rt: Any) -> None:
    ticket_id = new_ticket(rt)
    result = sweep(rt, later(hours=49))  # the scheduler was down for two days
    assert result["by_level"] == {"first_reply_warning": 1, "first_reply_breach": 1, "first_reply_breach_2": 1}
    assert sweep(rt, later(hours=49, minutes=1))["fired"] == 0
    assert len(events(rt, ticket_id)) == 3


def test_reopening_moves_the_deadline_and_rearms_the_levels(rt: Any) -> None:
    ticket_id = new_ticket(rt)
    sweep(rt, later(hours=24))
    with transaction(rt.sessions) as s:
        ticket = s.get_one(Ticket, ticket_id)
        record_staff_reply(ticket, now=later(hours=25))
        transition(s, ticket=ticket, to=TicketStatus.RESOLVED, now=later(hours=26))
    with transaction(rt.sessions) as s:
        transition(s, ticket=s.get_one(Ticket, ticket_id), to=TicketStatus.OPEN, now=later(hours=30),
                   sla=rt.cfg.section("sla"))
    assert sweep(rt, later(hours=49, minutes=59))["fired"] == 0
    assert sweep(rt, later(hours=50))["by_level"] == {"first_reply_warning": 1}
    with rt.sessions() as s:
        due = sorted(s.scalars(select(Escalation.due_at).where(Escalation.level == "first_reply_warning")))
    assert due == [later(hours=24), later(hours=54)]


def test_urgent_ticket_uses_its_own_offsets(rt: Any) -> None:
    new_ticket(rt, priority="urgent")  # first reply due in 2 h; warning 30 min before
    assert sweep(rt, later(hours=1, minutes=29))["fired"] == 0
    assert sweep(rt, later(hours=1, minutes=30))["by_level"] == {"first_reply_warning": 1}
    assert sweep(rt, later(hours=2))["by_level"] == {"first_reply_breach": 1}


def test_closed_tickets_are_not_read_and_batches_page_through(rt: Any) -> None:
    ids = [new_ticket(rt, now=later(minutes=i)) for i in range(7)]
    with transaction(rt.sessions) as s:
        transition(s, ticket=s.get_one(Ticket, ids[0]), to=TicketStatus.RESOLVED, now=later(hours=1))
    # 3 per batch: 6 open tickets are due -> batches of 3 and 3, and one empty read to end.
    rt.clock.set(later(hours=30))
    from services.escalation import escalate_overdue_tickets as sweep_service

    result = sweep_service(sessions=rt.sessions, cfg=rt.cfg, now=later(hours=30), batch_size=3)
    assert result.scanned == 6 and result.by_level == {"first_reply_warning": 6, "first_reply_breach": 6}
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Escalation).where(Escalation.ticket_id == ids[0])) == 0


def test_deadlines_use_wall_clock_hours_by_default(rt: Any) -> None:
    ticket_id = new_ticket(rt)
    with rt.sessions() as s:
        ticket = s.get_one(Ticket, ticket_id)
        assert ticket.first_reply_due_at - ticket.created_at == timedelta(hours=24)


# -- waiting for the customer (pending) stops the clocks -----------------------------------------


def _move(rt: Any, ticket_id: int, to: TicketStatus, at: Any) -> Ticket:
    with transaction(rt.sessions) as s:
        ticket = s.get_one(Ticket, ticket_id)
        transition(s, ticket=ticket, to=to, now=at, actor="test", sla=rt.cfg.section("sla"))
        s.flush()
        s.expunge(ticket)
        return ticket


def test_a_ticket_waiting_for_the_customer_does_not_escalate_and_its_deadline_moves_on(rt: Any) -> None:
    ticket_id = new_ticket(rt)
    with transaction(rt.sessions) as s:
        ticket = s.get_one(Ticket, ticket_id)
        record_staff_reply(ticket, now=later(hours=2))
        transition(s, ticket=ticket, to=TicketStatus.OPEN, now=later(hours=2), actor="staff:li")
    paused = _move(rt, ticket_id, TicketStatus.PENDING, later(hours=3))
    assert paused.sla_paused_at == later(hours=3)
    assert paused.resolution_due_at == later(hours=72) == paused.escalation_at  # frozen, kept for the queue order
    # Far past the 72-hour resolution deadline, but the bank is waiting for the customer.
    for hours in (72, 100, 103):
        assert sweep(rt, later(hours=hours))["fired"] == 0, hours

    # The customer answers after 100 hours: the 69 hours that were left start running again.
    resumed = _move(rt, ticket_id, TicketStatus.OPEN, later(hours=103))
    assert resumed.sla_paused_at is None
    assert resumed.resolution_due_at == later(hours=172) == resumed.escalation_at
    assert sweep(rt, later(hours=171, minutes=59))["fired"] == 0
    assert sweep(rt, later(hours=172))["by_level"] == {"resolution_breach": 1}
    assert sweep(rt, later(hours=173))["fired"] == 0
    assert fired(rt, ticket_id) == [("resolution_breach", "resolution")]


def test_a_deadline_passed_before_the_wait_stays_put_and_fires_nothing_twice(rt: Any) -> None:
    ticket_id = new_ticket(rt)
    assert sweep(rt, later(hours=25))["by_level"] == {"first_reply_warning": 1, "first_reply_breach": 1}
    _move(rt, ticket_id, TicketStatus.PENDING, later(hours=26))
    resumed = _move(rt, ticket_id, TicketStatus.OPEN, later(hours=30))
    assert resumed.first_reply_due_at == later(hours=24)  # overdue before the wait: not moved
    assert resumed.resolution_due_at == later(hours=76)  # still running then: moved on by the 4 hours
    assert sweep(rt, later(hours=30))["fired"] == 0
    assert sorted(fired(rt, ticket_id)) == [("first_reply_breach", "first_reply"),
                                            ("first_reply_warning", "first_reply")]


def test_resolving_a_waiting_ticket_ends_the_wait(rt: Any) -> None:
    ticket_id = new_ticket(rt)
    _move(rt, ticket_id, TicketStatus.PENDING, later(hours=1))
    resolved = _move(rt, ticket_id, TicketStatus.RESOLVED, later(hours=5))
    assert resolved.sla_paused_at is None and resolved.escalation_at is None
    reopened = _move(rt, ticket_id, TicketStatus.OPEN, later(hours=6))  # a fresh clock, as for any reopening
    assert reopened.resolution_due_at == later(hours=6 + 72) and reopened.sla_paused_at is None


def test_a_wait_that_outlasts_the_answer_window_ends_by_itself(rt: Any) -> None:
    """Past conversations.pending_answer_hours the customer's messages no longer reach the ticket, so the
    scheduler ends the wait: open again, clocks running, escalating like any other ticket."""
    hours = float(rt.cfg.get("conversations.pending_answer_hours"))
    ticket_id = new_ticket(rt)
    with transaction(rt.sessions) as s:
        ticket = s.get_one(Ticket, ticket_id)
        record_staff_reply(ticket, now=later(hours=1))
        transition(s, ticket=ticket, to=TicketStatus.OPEN, now=later(hours=1), actor="staff:li")
    _move(rt, ticket_id, TicketStatus.PENDING, later(hours=2))
    assert sweep(rt, later(hours=2 + hours - 0.01))["waits_ended"] == 0
    assert _move_status(rt, ticket_id) == "pending"
    result = sweep(rt, later(hours=2 + hours))
    assert result["waits_ended"] == 1 and result["fired"] == 0
    with rt.sessions() as s:
        ticket = s.get_one(Ticket, ticket_id)
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                          .order_by(TicketEvent.id))]
    assert ticket.status == "open" and ticket.sla_paused_at is None
    assert ticket.resolution_due_at == later(hours=72 + hours)  # 70 of the 72 hours were left
    assert kinds[-2:] == ["status", "wait_expired"]
    assert sweep(rt, later(hours=2 + hours, minutes=1))["waits_ended"] == 0  # once
    assert sweep(rt, later(hours=72 + hours))["by_level"] == {"resolution_breach": 1}


def _move_status(rt: Any, ticket_id: int) -> str:
    with rt.sessions() as s:
        return str(s.get_one(Ticket, ticket_id).status)
