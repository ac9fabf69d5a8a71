"""Service-level deadlines stored on the ticket."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from models import OPEN_STATUSES, Ticket, TicketStatus
from services.calendar import calendar_for_team


def policy_hours(sla: Mapping[str, Any], priority: str) -> tuple[float, float]:
    """(first reply hours, resolution hours) for a priority; unknown priorities use `normal`."""
    priorities = sla.get("priorities", {})
    policy = priorities.get(priority) or priorities.get("normal") or {}
    return float(policy.get("first_reply_hours", 24)), float(policy.get("resolution_hours", 72))


def apply_deadlines(ticket: Ticket, *, sla: Mapping[str, Any], start: datetime) -> None:
    """Owe the customer a reply and a resolution counted from `start` (creation or reopening).

    `first_reply_due_at` is the reply currently owed; a staff reply clears it, while
    `first_replied_at` keeps the first reply ever for the KPIs.
    """
    first_hours, resolution_hours = policy_hours(sla, ticket.priority)
    ticket.first_reply_due_at = deadline_after(start, hours=first_hours, sla=sla, team=ticket.team)
    ticket.resolution_due_at = deadline_after(start, hours=resolution_hours, sla=sla, team=ticket.team)
    refresh_escalation_at(ticket)


def deadline_after(start: datetime, *, hours: float, sla: Mapping[str, Any], team: str | None) -> datetime:
    """`hours` after `start`: wall-clock by default, working hours for sla.business_hours_teams."""
    calendar = calendar_for_team(sla, team)
    if calendar is None:
        return start + timedelta(hours=hours)
    return calendar.add_working_time(start, timedelta(hours=hours))


def record_staff_reply(ticket: Ticket, *, now: datetime) -> None:
    """A staff reply meets the reply currently owed: stop its clock and keep the first reply time."""
    if ticket.first_replied_at is None:
        ticket.first_replied_at = now
    ticket.first_reply_due_at = None
    refresh_escalation_at(ticket)


def pending_answer_window(cfg: Any) -> timedelta:
    """How long a wait for the customer lasts (conversations.pending_answer_hours): until then the customer's
    messages reach the waiting ticket (services.intake); after it the escalation sweep ends the wait."""
    return timedelta(hours=float(cfg.get("conversations.pending_answer_hours", 168)))


def pause_deadlines(ticket: Ticket, *, now: datetime) -> None:
    """The ticket waits for the customer: its clocks stop, and nothing escalates while they are stopped.

    `escalation_at` keeps the frozen deadline, so the queue still lists the ticket in deadline order; the
    escalation sweep, the queue's countdown and the breach counts skip tickets whose clocks are stopped.
    """
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def resume_deadlines(ticket: Ticket, *, now: datetime, sla: Mapping[str, Any] | None) -> None:
    """The wait is over: every deadline that was still running when the clock stopped moves on by the pause.

    The pause is counted in the team's working time when it has a business calendar, else in wall-clock
    time. A deadline that had already passed before the pause stays where it is: its escalations have
    fired, and a moved deadline would fire them again.
    """
    paused_at, ticket.sla_paused_at = ticket.sla_paused_at, None
    if paused_at is not None and now > paused_at:
        calendar = calendar_for_team(sla, ticket.team) if sla is not None else None
        for attr in ("first_reply_due_at", "resolution_due_at"):
            due = getattr(ticket, attr)
            if due is None or due <= paused_at:
                continue
            if calendar is None:
                setattr(ticket, attr, due + (now - paused_at))
            else:
                setattr(ticket, attr, calendar.add_working_time(now, calendar.working_time_between(paused_at, due)))
    refresh_escalation_at(ticket)


def refresh_escalation_at(ticket: Ticket) -> None:
    """escalation_at = the earliest deadline still running (indexed; the sweep's range key)."""
    if TicketStatus(ticket.status) not in OPEN_STATUSES:
        ticket.escalation_at = None
        return
    running = [d for d in (ticket.first_reply_due_at, ticket.resolution_due_at) if d is not None]
    ticket.escalation_at = min(running) if running else None
