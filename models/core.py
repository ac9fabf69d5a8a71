"""Branches, customers, tickets, the message log and the inbound dedup record."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime


class BranchKind(enum.StrEnum):
    BUSINESS_HALL = "business_hall"  # 营业部
    SERVICE_CENTER = "service_center"  # 客户服务中心
    SELF_SERVICE = "self_service"  # 自助服务区


BRANCH_KIND_NAMES = {
    BranchKind.BUSINESS_HALL: "营业部",
    BranchKind.SERVICE_CENTER: "客户服务中心",
    BranchKind.SELF_SERVICE: "自助服务区",
}


class Channel(enum.StrEnum):
    WECHAT = "wechat"
    APP = "app"
    OFFLINE = "offline"


class TicketStatus(enum.StrEnum):
    NEW = "new"  # received, nobody has answered yet
    OPEN = "open"  # a staff member is working on it / has replied
    PENDING = "pending"  # waiting for the customer
    RESOLVED = "resolved"  # answered and done; the customer may still reopen
    CLOSED = "closed"  # final
    MERGED = "merged"  # folded into another ticket


# The explicit state machine: every allowed move, nothing else.
TICKET_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.NEW: frozenset({TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.MERGED}),
    TicketStatus.OPEN: frozenset({TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.MERGED}),
    TicketStatus.PENDING: frozenset({TicketStatus.OPEN, TicketStatus.RESOLVED, TicketStatus.MERGED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.OPEN, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
    TicketStatus.MERGED: frozenset(),
}

OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


class Priority(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class Direction(enum.StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32), default=BranchKind.BUSINESS_HALL.value)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    address: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # WeChat openid; NULL for customers known only through the APP or on paper.
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    # The 48-hour customer-service window runs from the customer's last message or event.
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    branch: Mapped[Branch | None] = relationship()


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_escalation_at", "escalation_at"),
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_customer", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default=Channel.WECHAT.value)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    type: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    type_confidence: Mapped[float | None] = mapped_column(Float)
    category_confidence: Mapped[float | None] = mapped_column(Float)
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    team: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16), default=Priority.NORMAL.value)
    urgent_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.NEW.value)
    # The first customer message, PII-redacted.
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # SLA deadlines, stored so the escalation sweep is one indexed range query.
    first_reply_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set while the ticket waits for the customer (pending): the deadlines' clocks are stopped since then.
    sla_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # The staff member working the ticket (issue 6, migration 0004; the Staff model is in models/staff.py).
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    customer: Mapped[Customer | None] = relationship()
    branch: Mapped[Branch | None] = relationship()


class TicketEvent(Base):
    """System history of a ticket: created, status changes, classification, escalations."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket", "ticket_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Message(Base):
    """Every inbound and outbound message, PII-redacted."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_ticket", "ticket_id", "created_at"),
        Index("ix_messages_customer", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    direction: Mapped[str] = mapped_column(String(4))
    channel: Mapped[str] = mapped_column(String(16), default=Channel.WECHAT.value)
    # text, image, voice, video, location, link, event, ...; outbound: passive, custom, template
    msg_type: Mapped[str] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text, default="")
    media_id: Mapped[str | None] = mapped_column(String(255))
    wechat_msg_id: Mapped[str | None] = mapped_column(String(64))
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboundDedup(Base):
    """One row per WeChat delivery key; the unique key makes a retry a no-op.

    The reply is stored in plaintext XML so a retry gets exactly the same answer
    (re-encrypted in safe mode).
    """

    __tablename__ = "inbound_dedup"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    reply_xml: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class WeChatAccessToken(Base):
    """The Official Account access token, shared by every process."""

    __tablename__ = "wechat_access_tokens"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(String(1024))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditLog(Base):
    """Who did what, when: every staff action and every data-subject request."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))  # staff username, "cli:<user>", "system"
    action: Mapped[str] = mapped_column(String(64))  # e.g. ticket.reply, customer.erase
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
