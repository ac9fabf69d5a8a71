"""Follow-up views for the report: overdue and escalated cases, and what improvement measures changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, literal_column, or_, select
from sqlalchemy.orm import Session

from models import OPEN_STATUSES, Branch, Ticket
from services.kpi import ComplaintRate, Scope, complaint_rate, count_if, optional_model, ticket_conditions
from services.kpi_periods import DayRange


@dataclass(frozen=True)
class Case:
    number: str | None
    branch_code: str | None
    category: str | None
    type: str | None
    priority: str
    status: str
    created_at: datetime
    first_replied_at: datetime | None
    resolved_at: datetime | None
    escalation_at: datetime | None
    overdue: bool  # still open with a deadline passed at `now`
    escalation_levels: tuple[str, ...]  # levels fired for it, in firing order


@dataclass(frozen=True)
class CaseList:
    overdue_open: int  # tickets of the window still open past a deadline
    escalated: int  # tickets of the window with at least one escalation fired
    cases: list[Case]  # the first `limit` of them: still overdue first, then oldest first


def overdue_cases(session: Session, *, scope: Scope, now: datetime, limit: int = 50) -> CaseList:
    """Tickets created in the window that are open past a deadline now, or were escalated."""
    escalation = optional_model("models.scheduling", "Escalation")
    overdue = Ticket.status.in_([s.value for s in OPEN_STATUSES]) & (Ticket.escalation_at < now)
    escalated = exists().where(escalation.ticket_id == Ticket.id) if escalation is not None else None
    conds = ticket_conditions(scope)
    counts = session.execute(select(
        count_if(overdue),
        count_if(escalated) if escalated is not None else literal_column("0"),
    ).select_from(Ticket).where(*conds)).one()
    wanted = or_(overdue, escalated) if escalated is not None else overdue
    rows = session.execute(
        select(Ticket, Branch.code, overdue.label("overdue")).outerjoin(Branch, Branch.id == Ticket.branch_id)
        .where(*conds, wanted).order_by(overdue.desc(), Ticket.created_at, Ticket.id).limit(limit)
    ).all()
    levels: dict[int, list[str]] = {}
    if escalation is not None and rows:
        ids = [r[0].id for r in rows]
        for ticket_id, level in session.execute(
            select(escalation.ticket_id, escalation.level).where(escalation.ticket_id.in_(ids))
            .order_by(escalation.fired_at, escalation.id)
        ).all():
            levels.setdefault(ticket_id, []).append(level)
    cases = [
        Case(t.number, code, t.category, t.type, t.priority, t.status, t.created_at, t.first_replied_at,
             t.resolved_at, t.escalation_at, bool(is_overdue), tuple(levels.get(t.id, ())))
        for t, code, is_overdue in rows
    ]
    return CaseList(int(counts[0] or 0), int(counts[1] or 0), cases)


@dataclass(frozen=True)
class ImprovementEffect:
    title: str
    category: str | None
    branch_codes: tuple[str, ...]  # empty: every branch
    published_at: datetime
    pivot: DayRange  # before = [pivot - N days, pivot), after = [pivot, pivot + N days) cut at today
    before: ComplaintRate
    after: ComplaintRate
    after_complete: bool  # the whole after-window has passed

    @property
    def change(self) -> float | None:
        """after − before complaint rate (negative: fewer complaints per visit)."""
        if self.before.value is None or self.after.value is None:
            return None
        return self.after.value - self.before.value


def improvement_effects(session: Session, *, cfg: Any, scope: Scope, now: datetime) -> list[ImprovementEffect]:
    """Improvements published in the window: complaint rate in their category and branches before/after.

    The pivot is the measure's effective date (else its publication day); both windows last
    kpi.report.improvement_window_days days, the after-window ending today at the latest.
    """
    improvement = optional_model("models.improvements", "Improvement")
    if improvement is None:
        return []
    days = int(cfg.get("kpi.report.improvement_window_days", 90))
    tz = scope.tz
    found = session.scalars(select(improvement).where(
        improvement.published_at.is_not(None),
        improvement.published_at >= scope.window.start,
        improvement.published_at < scope.window.end,
    ).order_by(improvement.published_at, improvement.id)).all()
    codes = dict(session.execute(select(Branch.id, Branch.code)).all())
    today = now.astimezone(tz).date()
    effects = []
    for item in found:
        own = tuple(int(b) for b in (item.branch_ids or []))
        if scope.branch_ids is not None:
            # A measure for every branch counts for the report's branches; otherwise only overlapping ones.
            own = tuple(b for b in own if b in scope.branch_ids) if own else scope.branch_ids
            if not own:
                continue
        pivot_day = item.effective_date or item.published_at.astimezone(tz).date()
        after_end = min(pivot_day + timedelta(days=days), today + timedelta(days=1))
        categories = (item.category,) if item.category else None
        before_scope = Scope(DayRange(pivot_day - timedelta(days=days), pivot_day, tz), own or None, categories)
        after_scope = Scope(DayRange(pivot_day, max(after_end, pivot_day), tz), own or None, categories)
        effects.append(ImprovementEffect(
            title=item.title,
            category=item.category,
            branch_codes=tuple(codes.get(b, str(b)) for b in (item.branch_ids or [])),
            published_at=item.published_at,
            pivot=DayRange(pivot_day, pivot_day + timedelta(days=1), tz),
            before=complaint_rate(session, scope=before_scope).total,
            after=complaint_rate(session, scope=after_scope).total,
            after_complete=pivot_day + timedelta(days=days) <= today,
        ))
    return effects
