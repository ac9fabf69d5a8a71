"""The feedback team's console: staff accounts, sign-in sessions, and what staff record on tickets."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime
from models.core import Branch, Ticket


class Role(enum.StrEnum):
    AGENT = "agent"  # works their team's queue
    MANAGER = "manager"  # branch manager: tickets of their branches only
    ADMIN = "admin"  # everything, plus staff, branches and the config view


ROLE_NAMES = {Role.AGENT: "坐席", Role.MANAGER: "网点负责人", Role.ADMIN: "管理员"}


class RevisitMethod(enum.StrEnum):
    PHONE = "phone"
    VISIT = "visit"
    WECHAT = "wechat"


REVISIT_METHOD_NAMES = {RevisitMethod.PHONE: "电话", RevisitMethod.VISIT: "上门/到店", RevisitMethod.WECHAT: "微信"}


class OfflineSource(enum.StrEnum):
    BOX = "box"  # 意见箱
    WALK_IN = "walk_in"  # 到店口述
    PHONE = "phone"  # 来电


OFFLINE_SOURCE_NAMES = {OfflineSource.BOX: "意见箱", OfflineSource.WALK_IN: "到店口述", OfflineSource.PHONE: "来电"}


staff_branches = Table(
    "staff_branches",
    Base.metadata,
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("branch_id", ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True),
)


class Staff(Base):
    """A console user. Agents belong to a team; managers to one or more branches."""

    __tablename__ = "staff"
    __table_args__ = (CheckConstraint("role IN ('agent', 'manager', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    team: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    branches: Mapped[list[Branch]] = relationship(secondary=staff_branches, order_by=Branch.code)

    @property
    def label(self) -> str:
        return self.display_name or self.username


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored,
    so logging out (deleting the row) makes a copied cookie worthless."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_expires", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    staff: Mapped[Staff] = relationship()


class LoginAttempt(Base):
    """Every sign-in attempt; recent failures per username and per address throttle new ones."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username", "username", "created_at"),
        Index("ix_login_attempts_remote_addr", "remote_addr", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CategoryCorrection(Base):
    """A staff member's correction of the classifier: training data for `qianjia nlp train --include-corrections`."""

    __tablename__ = "category_corrections"
    __table_args__ = (Index("ix_category_corrections_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(Text)  # the redacted ticket text at the time of the correction
    old_category: Mapped[str | None] = mapped_column(String(32))
    new_category: Mapped[str] = mapped_column(String(32))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Revisit(Base):
    """A follow-up contact with the customer (回访); the revisit-rate KPI reads this table."""

    __tablename__ = "revisits"
    __table_args__ = (
        CheckConstraint("method IN ('phone', 'visit', 'wechat')", name="method"),
        CheckConstraint("satisfaction IS NULL OR (satisfaction >= 1 AND satisfaction <= 5)", name="satisfaction"),
        Index("ix_revisits_ticket", "ticket_id", "created_at"),
        Index("ix_revisits_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    method: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(Text, default="")
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OfflineFeedback(Base):
    """Where a paper, walk-in or phone ticket came from and how to reach the customer."""

    __tablename__ = "offline_feedback"
    __table_args__ = (CheckConstraint("source IN ('box', 'walk_in', 'phone')", name="source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    received_on: Mapped[date] = mapped_column(Date)
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Queue indexes on tickets (issue 6): each scope filter (team, branch, assignee, triage) walks its own
# index in deadline order, so the first page of a 100,000-ticket queue reads a few dozen rows.
Index("ix_tickets_team_escalation", Ticket.team, Ticket.escalation_at, Ticket.id)
Index("ix_tickets_branch_escalation", Ticket.branch_id, Ticket.escalation_at, Ticket.id)
Index("ix_tickets_assignee_escalation", Ticket.assignee_id, Ticket.escalation_at, Ticket.id)
Index("ix_tickets_triage_escalation", Ticket.needs_triage, Ticket.escalation_at, Ticket.id)
