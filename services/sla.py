"""Service-level deadlines stored on the ticket."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from models import OPEN_STATUSES, Ticket, TicketStatus


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
    ticket.first_reply_due_at = start + timedelta(hours=first_hours)
    ticket.resolution_due_at = start + timedelta(hours=resolution_hours)
    refresh_escalation_at(ticket)


def refresh_escalation_at(ticket: Ticket) -> None:
    """escalation_at = the earliest deadline still running (indexed; the sweep's range key)."""
    if TicketStatus(ticket.status) not in OPEN_STATUSES:
        ticket.escalation_at = None
        return
    running = [d for d in (ticket.first_reply_due_at, ticket.resolution_due_at) if d is not None]
    ticket.escalation_at = min(running) if running else None
