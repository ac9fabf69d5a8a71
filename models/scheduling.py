"""Escalations, staff notifications and daily digests: the scheduler's exactly-once records."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class OutboxStatus(enum.StrEnum):
    """Life of one outgoing message (staff notification or customer notice)."""

    PENDING = "pending"  # waiting for its turn (next_attempt_at)
    CLAIMED = "claimed"  # reserved by one dispatcher (claim_token), not sent yet
    SENDING = "sending"  # committed just before the HTTP call: may or may not have arrived
    SENT = "sent"
    FAILED = "failed"  # permanent failure or attempts used up; error_* say why
    UNKNOWN = "unknown"  # the dispatcher died mid-send: possibly delivered, never resent


class Escalation(Base):
    """One escalation level fired for one deadline of one ticket.

    The unique key includes the deadline itself, so a deadline that moves (a reopened
    ticket owes a new reply) arms every level again, while a sweep that runs twice, or
    two schedulers at once, cannot fire the same level for the same deadline twice.
    """

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint("ticket_id", "level", "due_at"),
        Index("ix_escalations_fired_at", "fired_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    level: Mapped[str] = mapped_column(String(32))  # level code from config escalation.levels
    deadline: Mapped[str] = mapped_column(String(16))  # first_reply | resolution
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the deadline this level belongs to
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime())  # due_at + the level's offset
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the sweep actually fired it
    team: Mapped[str | None] = mapped_column(String(64))
    notify: Mapped[str] = mapped_column(String(32))  # recipient role: team | team_lead | branch_manager


class NotificationDelivery(Base):
    """One message to staff on one channel and target, sent (and retried) by a job."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
        Index("ix_notification_deliveries_escalation", "escalation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # escalation | digest
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("daily_digests.id"))
    team: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))  # robot | template | email
    target: Mapped[str] = mapped_column(String(512))  # robot webhook URL, staff openid, e-mail address
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DailyDigest(Base):
    """The daily digest of one team for one bank-local day; unique so it goes out once."""

    __tablename__ = "daily_digests"
    __table_args__ = (UniqueConstraint("team", "digest_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team: Mapped[str] = mapped_column(String(64))
    digest_date: Mapped[date] = mapped_column(Date)
    open_count: Mapped[int] = mapped_column(Integer)
    due_today_count: Mapped[int] = mapped_column(Integer)
    breached_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
