"""Service improvement notices (服务改进公告): the measure, the tickets it answers, its outbox."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime
from models.scheduling import OutboxStatus


class Improvement(Base):
    """An improvement measure staff publish in answer to feedback."""

    __tablename__ = "improvements"
    __table_args__ = (Index("ix_improvements_published_at", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(32))  # a label code from config labels.categories
    branch_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # empty = every branch
    effective_date: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(String(64))
    # The feedback period whose authors were also told (include_category_feedback).
    include_category_feedback: Mapped[bool] = mapped_column(Boolean, default=False)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImprovementTicket(Base):
    """A ticket the improvement answers; its customer is told when the notice is published."""

    __tablename__ = "improvement_tickets"
    __table_args__ = (Index("ix_improvement_tickets_ticket", "ticket_id"),)

    improvement_id: Mapped[int] = mapped_column(ForeignKey("improvements.id"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    linked_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NoticeOutbox(Base):
    """One customer to tell about one improvement; the unique pair makes publishing idempotent."""

    __tablename__ = "notice_outbox"
    __table_args__ = (
        UniqueConstraint("improvement_id", "customer_id"),
        Index("ix_notice_outbox_due", "status", "next_attempt_at"),
        Index("ix_notice_outbox_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    improvement_id: Mapped[int] = mapped_column(ForeignKey("improvements.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    reason: Mapped[str] = mapped_column(String(16))  # ticket (a linked ticket) | category (same category/branch)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_token: Mapped[str | None] = mapped_column(String(36))
    channel: Mapped[str | None] = mapped_column(String(16))  # custom | template | none
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
