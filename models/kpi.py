"""KPI inputs that do not come from tickets: visit counts, branch inspections, training results."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class VisitCount(Base):
    """Customer visits of one branch on one bank-local day, imported from the branch's counter.

    One row per (branch, day): a re-import of the same day replaces the count.
    """

    __tablename__ = "visit_counts"
    __table_args__ = (
        UniqueConstraint("branch_id", "day"),
        CheckConstraint("count >= 0", name="count_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    day: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer)
    # Where the figure came from (file name of the import, "demo", ...).
    source: Mapped[str | None] = mapped_column(String(255))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BranchInspection(Base):
    """The monthly service-quality inspection of a branch: one score per checklist item (config kpi.inspection)."""

    __tablename__ = "branch_inspections"
    __table_args__ = (
        UniqueConstraint("branch_id", "month"),
        CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    # First day of the inspected month.
    month: Mapped[date] = mapped_column(Date)
    # Weighted total on a 0-100 scale, computed from item_scores when recorded.
    score: Mapped[float] = mapped_column(Float)
    # checklist item code -> points given (0..the item's max_points).
    item_scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    inspector: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="console")  # console | import | demo
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TrainingAssessment(Base):
    """The assessment after one training session at one branch: how many took it, how many passed."""

    __tablename__ = "training_assessments"
    __table_args__ = (
        UniqueConstraint("branch_id", "session_code"),
        CheckConstraint("passed >= 0 AND participants >= passed", name="passed_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    session_code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(128), default="")
    # Bank-local date of the session (the period it counts in).
    held_on: Mapped[date] = mapped_column(Date, index=True)
    participants: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), default="import")  # import | console | demo
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
