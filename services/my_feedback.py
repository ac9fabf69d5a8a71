"""我的反馈: a customer's own tickets, as they see them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Message, Ticket, TicketEvent


@dataclass(frozen=True)
class TicketView:
    number: str
    status: str  # TicketStatus value
    category: str | None
    created_at: datetime
    text: str
    team_reply: str | None  # the latest reply the feedback team sent


def _view(session: Session, ticket: Ticket) -> TicketView:
    return TicketView(number=ticket.number or "", status=ticket.status, category=ticket.category,
                      created_at=ticket.created_at, text=ticket.text, team_reply=latest_team_reply(session, ticket))


def latest_team_reply(session: Session, ticket: Ticket) -> str | None:
    """The newest staff reply that reached the customer (the console records each as a `reply` event)."""
    events = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "reply")
        .order_by(TicketEvent.created_at.desc(), TicketEvent.id.desc()).limit(20)
    )
    for event in events:
        data: dict[str, Any] = event.data or {}
        if data.get("status", "sent") != "sent" or not data.get("message_id"):
            continue
        message = session.get(Message, int(data["message_id"]))
        if message is not None and message.ticket_id == ticket.id:
            return message.content
    return None


def customer_tickets(session: Session, *, customer_id: int, limit: int) -> list[TicketView]:
    """The customer's latest tickets, newest first."""
    tickets = session.scalars(
        select(Ticket).where(Ticket.customer_id == customer_id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)
    )
    return [_view(session, t) for t in tickets]


def normalize_number(text: str) -> str:
    return re.sub(r"\s+", "", text or "").upper().replace("－", "-").replace("—", "-")


def customer_ticket(session: Session, *, customer_id: int, number: str) -> TicketView | None:
    """One ticket by number, only if it is this customer's (another's number is simply not found)."""
    ticket = session.scalars(
        select(Ticket).where(Ticket.number == normalize_number(number), Ticket.customer_id == customer_id)
    ).first()
    return None if ticket is None else _view(session, ticket)
