"""Satisfaction surveys: rounds the team launches, invitations, and every response."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class SurveyAudience(enum.StrEnum):
    CHECKED_IN = "checked_in"  # customers who checked in at one of the round's branches
    GAVE_FEEDBACK = "gave_feedback"  # customers with a ticket about one of the round's branches
    BOTH = "both"


class SurveyRoundStatus(enum.StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class SurveyKind(enum.StrEnum):
    SATISFACTION = "satisfaction"  # the quarterly satisfaction survey
    RESOLUTION_CHECK = "resolution_check"  # "are you satisfied with how we handled ticket X?"


class SurveyRound(Base):
    """A survey round the team launches (e.g. 2026年第四季度满意度调查)."""

    __tablename__ = "survey_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # Branch codes the round covers; empty = every branch.
    branch_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience: Mapped[str] = mapped_column(String(16))  # SurveyAudience
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=SurveyRoundStatus.ACTIVE.value)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SurveyInvitation(Base):
    """One invitation per customer per round (the unique key makes inviting exactly-once)."""

    __tablename__ = "survey_invitations"
    __table_args__ = (UniqueConstraint("round_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("survey_rounds.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # pending | sent | retry | failed (services/outbound.Delivery.status)
    delivery_status: Mapped[str] = mapped_column(String(16), default="pending")
    delivery_channel: Mapped[str | None] = mapped_column(String(16))  # custom | template | none
    error_code: Mapped[int | None] = mapped_column(Integer)


class SurveyResponse(Base):
    """A customer's answers to a satisfaction survey or a post-resolution check.

    A row is written when the customer starts answering; `completed_at` is set when the
    last question is answered (KPIs count completed rows only). NULLs never collide in the
    unique keys, on SQLite and PostgreSQL alike: one response per customer per round
    (round_id set), one check per ticket (ticket_id set), one survey per check-in (visit_id set).
    """

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("round_id", "customer_id"),
        UniqueConstraint("ticket_id"),
        UniqueConstraint("visit_id"),
        CheckConstraint("kind IN ('satisfaction', 'resolution_check')", name="kind"),
        Index("ix_survey_responses_customer", "customer_id", "started_at"),
        Index("ix_survey_responses_completed", "completed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("survey_rounds.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    # The resolved ticket a resolution check asks about.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    # The check-in that prompted the survey, if any.
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    kind: Mapped[str] = mapped_column(String(24))  # SurveyKind
    overall: Mapped[int | None] = mapped_column(Integer)  # 1-5 (a resolution check's score too)
    aspects: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # aspect code -> 1-5
    nps: Mapped[int | None] = mapped_column(Integer)  # 0-10
    comment: Mapped[str | None] = mapped_column(Text)  # PII-redacted
    # The complaint ticket a low score or a negative comment created.
    complaint_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
