"""Conversation state: the flow and step a customer is in, kept in the database.

Any worker can continue any conversation: the state is loaded at the start of a
delivery's transaction (with the customer's row locked, so one customer's messages
are handled one after another) and saved in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import ConversationState, Customer


@dataclass
class Conversation:
    """A working copy of a customer's conversation state; handlers change it, the pipeline saves it."""

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # The flow that timed out just before this message (the customer may be answering it too late).
    expired_flow: str | None = None
    # How long the next step waits for the customer; None = conversations.idle_minutes.
    ttl: timedelta | None = None
    changed: bool = False

    def enter(self, flow: str, step: str, data: dict[str, Any] | None = None, *,
              ttl: timedelta | None = None) -> None:
        self.flow, self.step, self.data, self.ttl, self.changed = flow, step, dict(data or {}), ttl, True

    def advance(self, step: str, **data: Any) -> None:
        """Move to the next step of the current flow (the idle timeout starts again)."""
        self.step = step
        self.data.update(data)
        self.ttl = None
        self.changed = True

    def leave(self) -> None:
        self.flow, self.step, self.data, self.ttl, self.changed = None, None, {}, None, True


def idle_timeout(cfg: Any) -> timedelta:
    return timedelta(minutes=float(cfg.get("conversations.idle_minutes", 30)))


def lock_customer(session: Session, customer: Customer) -> None:
    """Serialise one customer's deliveries (PostgreSQL row lock; SQLite writers queue anyway)."""
    session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())


def _row(session: Session, customer_id: int) -> ConversationState | None:
    return session.scalars(
        select(ConversationState).where(ConversationState.customer_id == customer_id)
    ).one_or_none()


def load_conversation(session: Session, *, customer: Customer, now: datetime) -> Conversation:
    """The customer's current conversation; an expired one is removed and reported as `expired_flow`."""
    lock_customer(session, customer)
    row = _row(session, customer.id)
    if row is None:
        return Conversation()
    if row.expires_at <= now:
        session.delete(row)
        session.flush()
        return Conversation(expired_flow=row.flow)
    return Conversation(flow=row.flow, step=row.step, data=dict(row.data or {}))


def save_conversation(session: Session, *, customer: Customer, conversation: Conversation, now: datetime,
                      cfg: Any) -> None:
    """Write back what the handlers changed (in the delivery's own transaction)."""
    if not conversation.changed:
        return
    row = _row(session, customer.id)
    if conversation.flow is None or conversation.step is None:
        if row is not None:
            session.delete(row)
            session.flush()
        return
    expires_at = now + (conversation.ttl or idle_timeout(cfg))
    if row is None:
        row = ConversationState(customer_id=customer.id, flow=conversation.flow, step=conversation.step)
        session.add(row)
    row.flow = conversation.flow
    row.step = conversation.step
    row.data = dict(conversation.data)
    row.updated_at = now
    row.expires_at = expires_at
    session.flush()


def start_flow_if_idle(session: Session, *, customer: Customer, flow: str, step: str, data: dict[str, Any],
                       now: datetime, ttl: timedelta, cfg: Any) -> bool:
    """Put a customer who is in no conversation into `flow` (e.g. a survey invitation); False if busy."""
    conversation = load_conversation(session, customer=customer, now=now)
    if conversation.flow is not None:
        return False
    conversation.enter(flow, step, data, ttl=ttl)
    save_conversation(session, customer=customer, conversation=conversation, now=now, cfg=cfg)
    return True


def end_conversation(session: Session, *, customer_id: int) -> None:
    session.execute(delete(ConversationState).where(ConversationState.customer_id == customer_id))
