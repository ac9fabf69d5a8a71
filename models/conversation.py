"""Conversation state and branch check-ins (visits)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class ConversationState(Base):
    """Where a customer is in a multi-step conversation; one row per customer.

    Kept in the database so any worker can continue any conversation. A row whose
    `expires_at` has passed counts as no conversation at all.
    """

    __tablename__ = "conversation_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    flow: Mapped[str] = mapped_column(String(32))  # feedback | survey | ...
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class VisitSource(enum.StrEnum):
    SCAN = "scan"  # a follower scanned the branch's QR code
    SUBSCRIBE = "subscribe"  # a new follower subscribed through the branch's QR code


class CheckinSurveyStatus(enum.StrEnum):
    DUE = "due"  # to be sent at survey_due_at
    SENDING = "sending"  # claimed by a job run
    SENT = "sent"
    SKIPPED = "skipped"  # unsubscribed, surveyed recently, ...
    FAILED = "failed"


class Visit(Base):
    """A customer checked in at a branch by scanning its QR code.

    Visits are the denominator of the complaint rate (complaints per visit) in the KPIs.
    """

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_branch_visited", "branch_id", "visited_at"),
        Index("ix_visits_customer_visited", "customer_id", "visited_at"),
        Index("ix_visits_survey_due", "survey_status", "survey_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    source: Mapped[str] = mapped_column(String(16))  # VisitSource
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The check-in satisfaction survey owed for this visit (NULL: none, e.g. surveyed recently).
    survey_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    survey_status: Mapped[str | None] = mapped_column(String(16))  # CheckinSurveyStatus
