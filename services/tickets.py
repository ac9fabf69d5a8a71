"""Tickets: submit feedback, number it, set deadlines, move through the state machine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.logging import bind_ticket
from models import (
    TICKET_TRANSITIONS,
    Branch,
    Channel,
    Customer,
    Message,
    Priority,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from services import messages as message_log
from services.sla import apply_deadlines, pause_deadlines, refresh_escalation_at, resume_deadlines


class TransitionError(ValueError):
    """A status change the state machine does not allow."""


@dataclass(frozen=True)
class Classification:
    """What the NLP layer concluded about a message (already redacted text)."""

    text: str
    type: str | None = None
    type_confidence: float | None = None
    category: str | None = None
    category_confidence: float | None = None
    priority: str = Priority.NORMAL.value
    urgent_reasons: tuple[str, ...] = ()
    team: str | None = None
    needs_triage: bool = True
    branch_code: str | None = None


def ticket_number(*, prefix: str, ticket_id: int, created_at: datetime, tz: ZoneInfo) -> str:
    """QJ261128-000123: prefix, the bank-local date, and the row id."""
    return f"{prefix}{created_at.astimezone(tz):%y%m%d}-{ticket_id:06d}"


def add_event(session: Session, *, ticket: Ticket, kind: str, now: datetime, actor: str | None = None,
              data: Mapping[str, Any] | None = None) -> TicketEvent:
    event = TicketEvent(ticket_id=ticket.id, kind=kind, data=dict(data or {}), actor=actor, created_at=now)
    session.add(event)
    return event


def submit_feedback(
    session: Session,
    *,
    customer: Customer | None,
    channel: Channel,
    classification: Classification,
    now: datetime,
    cfg: Any,
    msg_type: str = "text",
    wechat_msg_id: str | None = None,
    media_id: str | None = None,
    branch_id: int | None = None,
    message: Message | None = None,
) -> Ticket:
    """Create a numbered ticket with its deadlines and log the customer's message on it."""
    if branch_id is None and classification.branch_code:
        branch_id = session.scalars(select(Branch.id).where(Branch.code == classification.branch_code)).first()
    if branch_id is None and customer is not None:
        branch_id = customer.branch_id
    ticket = Ticket(
        channel=channel.value,
        customer_id=customer.id if customer else None,
        branch_id=branch_id,
        type=classification.type,
        category=classification.category,
        type_confidence=classification.type_confidence,
        category_confidence=classification.category_confidence,
        needs_triage=classification.needs_triage,
        team=classification.team,
        priority=classification.priority,
        urgent_reasons=list(classification.urgent_reasons),
        status=TicketStatus.NEW.value,
        text=classification.text,
        created_at=now,
        updated_at=now,
    )
    apply_deadlines(ticket, sla=cfg.section("sla"), start=now)
    session.add(ticket)
    session.flush()  # the id makes the number
    ticket.number = ticket_number(
        prefix=str(cfg.get("tickets.number_prefix", "QJ")),
        ticket_id=ticket.id,
        created_at=now,
        tz=ZoneInfo(str(cfg.get("timezone", "Asia/Shanghai"))),
    )
    bind_ticket(ticket.number)
    add_event(session, ticket=ticket, kind="created", now=now, data={
        "channel": channel.value,
        "type": classification.type,
        "category": classification.category,
        "priority": classification.priority,
        "team": classification.team,
        "needs_triage": classification.needs_triage,
    })
    if message is not None:
        # The adapter already logged the raw delivery; it becomes the ticket's first message.
        message.ticket_id = ticket.id
        message.content = classification.text
        return ticket
    message_log.log_inbound(
        session,
        customer_id=ticket.customer_id,
        ticket_id=ticket.id,
        msg_type=msg_type,
        content=classification.text,
        now=now,
        wechat_msg_id=wechat_msg_id,
        media_id=media_id,
        channel=channel.value,
    )
    return ticket


def transition(session: Session, *, ticket: Ticket, to: TicketStatus, now: datetime, actor: str | None = None,
               sla: Mapping[str, Any] | None = None) -> None:
    """Move a ticket along the state machine, keeping timestamps and deadlines right."""
    current = TicketStatus(ticket.status)
    if to not in TICKET_TRANSITIONS[current]:
        raise TransitionError(f"工单 {ticket.number} 不能从“{current.value}”变为“{to.value}”")
    if to is TicketStatus.RESOLVED:
        ticket.resolved_at = now
    elif to is TicketStatus.CLOSED:
        ticket.closed_at = now
    elif to is TicketStatus.OPEN and current is TicketStatus.RESOLVED:
        # Reopening starts a new clock: the customer is owed a fresh answer.
        ticket.reopen_count += 1
        ticket.resolved_at = None
        if sla is not None:
            ticket.status = to.value
            apply_deadlines(ticket, sla=sla, start=now)
    ticket.status = to.value
    ticket.updated_at = now
    if to is TicketStatus.PENDING:
        pause_deadlines(ticket, now=now)  # waiting for the customer: the bank's clocks stop
    elif current is TicketStatus.PENDING:
        if to is TicketStatus.OPEN:
            resume_deadlines(ticket, now=now, sla=sla)
        ticket.sla_paused_at = None
    refresh_escalation_at(ticket)
    add_event(session, ticket=ticket, kind="status", now=now, actor=actor,
              data={"from": current.value, "to": to.value})
