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


def refresh_escalation_at(ticket: Ticket) -> None:
    """escalation_at = the earliest deadline still running (indexed; the sweep's range key)."""
    if TicketStatus(ticket.status) not in OPEN_STATUSES:
        ticket.escalation_at = None
        return
    running = [d for d in (ticket.first_reply_due_at, ticket.resolution_due_at) if d is not None]
    ticket.escalation_at = min(running) if running else None
