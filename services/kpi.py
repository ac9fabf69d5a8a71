"""Service KPIs, defined once: the console dashboard and the quarterly report call these functions.

Conventions (reports/KPIS.md states every formula):
- A window is a bank-local month, quarter or day range; its bounds are converted to UTC instants and
  rows are filtered with ranges [start, end), so a ticket at 23:30 Shanghai time on the last day of a
  quarter counts in that quarter.
- Ticket KPIs take the cohort of tickets *created* in the window. Merged tickets are left out: they
  live on in the ticket they were merged into.
- Every ratio carries its numerator and denominator; `value` is None when the denominator is 0
  (shown as "—"), never a division by zero.
- Every figure is a SQL aggregation (no per-row Python) that gives the same numbers on SQLite and
  PostgreSQL. Each function returns a `Breakdown`: the total, plus one value per group when `by` is given.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, distinct, exists, func, literal_column, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from models import Branch, Customer, Ticket, TicketStatus
from models.kpi import BranchInspection, TrainingAssessment, VisitCount
from services.kpi_periods import Period, PeriodError, Window
from services.kpi_sql import (
    dialect_name,
    duration_seconds,
    local_date,
    month_bucket,
    native_percentiles,
    percentile_cont_columns,
    percentiles,
    to_float,
)

T = TypeVar("T")

# Dimensions a KPI can be broken down by, with the Chinese column heading.
DIMENSIONS: dict[str, str] = {
    "branch": "网点",
    "branch_kind": "网点类型",
    "team": "处理小组",
    "category": "问题类别",
    "channel": "渠道",
    "month": "月份",
}

COMPLAINT = "complaint"


class ScopeError(ValueError):
    """An unknown branch, dimension or period; the message is Chinese and names the fix."""


@dataclass(frozen=True)
class Scope:
    """What a KPI is computed over: a window, optionally some branches and ticket categories."""

    window: Window
    branch_ids: tuple[int, ...] | None = None  # None: the whole bank, tickets without a branch included
    categories: tuple[str, ...] | None = None  # only narrows tickets (visits have no category)

    @property
    def tz(self) -> ZoneInfo:
        return self.window.tz


@dataclass(frozen=True)
class Breakdown(Generic[T]):
    """A KPI's total and, when asked for, its value per group (key None: rows without that attribute)."""

    total: T
    by: str | None = None
    groups: dict[str | None, T] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Stable order on every backend: by key, the group without a key last.
        ordered = dict(sorted(self.groups.items(), key=lambda kv: (kv[0] is None, str(kv[0]))))
        object.__setattr__(self, "groups", ordered)


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator ÷ denominator, or None for an empty denominator (displayed as "—")."""
    return None if not denominator else numerator / denominator


def bank_tz(cfg: Any) -> ZoneInfo:
    return ZoneInfo(str(cfg.get("timezone", "Asia/Shanghai")))


def resolve_scope(session: Session, *, cfg: Any, period: str | Window, branch_codes: Sequence[str] = (),
                  categories: Sequence[str] = ()) -> Scope:
    """Build a scope from a period string ("2026Q3", "2026-07") and branch codes, or fail clearly."""
    try:
        window = Period.parse(period, bank_tz(cfg)) if isinstance(period, str) else period
    except PeriodError as exc:
        raise ScopeError(str(exc)) from None
    branch_ids: tuple[int, ...] | None = None
    if branch_codes:
        rows = dict(session.execute(select(Branch.code, Branch.id).where(Branch.code.in_(branch_codes))).all())
        unknown = [c for c in branch_codes if c not in rows]
        if unknown:
            raise ScopeError(f"未知的网点代码：{', '.join(unknown)}")
        branch_ids = tuple(rows[c] for c in dict.fromkeys(branch_codes))
    known = cfg.section("labels").get("categories", {})
    bad = [c for c in categories if c not in known]
    if bad:
        raise ScopeError(f"未知的问题类别：{', '.join(bad)}")
    return Scope(window=window, branch_ids=branch_ids, categories=tuple(categories) or None)


def _check_by(by: str | None) -> None:
    if by is not None and by not in DIMENSIONS:
        raise ScopeError(f"不支持的分组维度“{by}”，可选：{', '.join(DIMENSIONS)}")


def optional_model(module: str, name: str) -> Any | None:
    """A model owned by another feature, or None while that feature has not landed."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _collect(session: Session, by: str | None, build: Callable[[str | None], Select[Any]],
             convert: Callable[[Any], T]) -> Breakdown[T]:
    """Run the total query and, with `by`, the grouped one (each returns a `grp` column first)."""
    _check_by(by)
    total = convert(session.execute(build(None)).one())
    groups = {row.grp: convert(row) for row in session.execute(build(by)).all()} if by else {}
    return Breakdown(total=total, by=by, groups=groups)


NO_GROUP: ColumnElement[Any] = literal_column("NULL")


# -- tickets --------------------------------------------------------------------------------------

def ticket_filters(scope: Scope, *, merged: bool = False) -> list[ColumnElement[bool]]:
    """The scope's filters on tickets other than the creation window: branches, categories and (unless
    merged=True) not merged."""
    conds: list[ColumnElement[bool]] = [] if merged else [Ticket.status != TicketStatus.MERGED.value]
    if scope.branch_ids is not None:
        conds.append(Ticket.branch_id.in_(scope.branch_ids))
    if scope.categories is not None:
        conds.append(Ticket.category.in_(scope.categories))
    return conds


def ticket_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """Tickets of the scope: created in the window [start, end), plus ticket_filters."""
    return [Ticket.created_at >= scope.window.start, Ticket.created_at < scope.window.end, *ticket_filters(scope)]


def _ticket_group(by: str | None, scope: Scope) -> tuple[Any, bool]:
    """(group expression, needs the branches join) for tickets."""
    if by is None:
        return NO_GROUP, False
    if by == "branch":
        return Branch.code, True
    if by == "branch_kind":
        return Branch.kind, True
    if by == "month":
        return month_bucket(Ticket.created_at, _months_of(scope)), False
    return {"team": Ticket.team, "category": Ticket.category, "channel": Ticket.channel}[by], False


def _months_of(scope: Scope) -> Period:
    if not isinstance(scope.window, Period):
        raise ScopeError("按月份分组只适用于月度或季度期间")
    return scope.window


def ticket_select(scope: Scope, by: str | None, *columns: Any) -> Select[Any]:
    """SELECT grp, columns FROM tickets (joined to branches when the grouping needs it), scoped."""
    grp, join = _ticket_group(by, scope)
    stmt = select(grp.label("grp"), *columns).select_from(Ticket)
    if join:
        stmt = stmt.outerjoin(Branch, Branch.id == Ticket.branch_id)
    stmt = stmt.where(*ticket_conditions(scope))
    return stmt.group_by(grp) if by is not None else stmt


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _hours(seconds: Any) -> float | None:
    value = to_float(seconds)
    return None if value is None else round(value / 3600.0, 4)


@dataclass(frozen=True)
class _TicketPart(Generic[T]):
    """One ticket KPI: its aggregate columns (labels unique across parts), the durations whose median
    and p90 it needs, and how a result row becomes its value. Parts share one scan of the tickets."""

    name: str
    columns: list[Any]
    convert: Callable[[Any, Mapping[int, float | None]], T]
    seconds: ColumnElement[Any] | None = None


PERCENTS = (50, 90)


def _run_parts(session: Session, scope: Scope, by: str | None,
               parts: Sequence[_TicketPart[Any]]) -> dict[str, Breakdown[Any]]:
    """Evaluate ticket parts together: one aggregate query over the scope's tickets (PostgreSQL adds the
    percentiles to it with percentile_cont); elsewhere the percentiles come from the portable window
    query (kpi_sql.percentiles), one per part that needs them. Both are the same interpolation (tested)."""
    _check_by(by)
    native = native_percentiles(dialect_name(session))
    columns = [c for part in parts for c in part.columns]
    if native:
        for part in parts:
            if part.seconds is not None:
                columns += [c.label(f"{part.name}_p{p}") for p, c in
                            zip(PERCENTS, percentile_cont_columns(part.seconds, PERCENTS), strict=True)]

    def window_percentiles(part: _TicketPart[Any], b: str | None) -> dict[Any, dict[int, float | None]]:
        assert part.seconds is not None
        grp, join = _ticket_group(b, scope)
        stmt = select(grp.label("grp"), part.seconds.label("value")).select_from(Ticket)
        if join:
            stmt = stmt.outerjoin(Branch, Branch.id == Ticket.branch_id)
        return percentiles(session, stmt.where(*ticket_conditions(scope)), PERCENTS, grouped=b is not None)

    def run(b: str | None) -> dict[str, dict[Any, Any]]:
        rows = session.execute(ticket_select(scope, b, *columns)).all()
        out: dict[str, dict[Any, Any]] = {}
        for part in parts:
            if part.seconds is None:
                found: dict[Any, dict[int, float | None]] = {}
            elif native:
                found = {r.grp: {p: to_float(getattr(r, f"{part.name}_p{p}")) for p in PERCENTS} for r in rows}
            else:
                found = window_percentiles(part, b)
            out[part.name] = {r.grp: part.convert(r, found.get(r.grp, {})) for r in rows}
        return out

    totals = run(None)
    groups = run(by) if by else {part.name: {} for part in parts}
    return {part.name: Breakdown(total=totals[part.name][None], by=by, groups=groups[part.name]) for part in parts}


@dataclass(frozen=True)
class TicketVolume:
    tickets: int
    complaints: int
    suggestions: int
    praise: int
    inquiries: int
    unclassified: int  # no type yet (waiting for manual triage)


def _volume_part() -> _TicketPart[TicketVolume]:
    return _TicketPart("volume", [
        func.count().label("tickets"),
        count_if(Ticket.type == COMPLAINT).label("complaints"),
        count_if(Ticket.type == "suggestion").label("suggestions"),
        count_if(Ticket.type == "praise").label("praise"),
        count_if(Ticket.type == "inquiry").label("inquiries"),
        count_if(Ticket.type.is_(None)).label("unclassified"),
    ], lambda r, _p: TicketVolume(r.tickets, r.complaints, r.suggestions, r.praise, r.inquiries, r.unclassified))


def ticket_volume(session: Session, *, scope: Scope, by: str | None = None) -> Breakdown[TicketVolume]:
    """Tickets created in the window by type (投诉/建议/表扬/咨询)."""
    return _run_parts(session, scope, by, [_volume_part()])["volume"]


@dataclass(frozen=True)
class ReplyStats:
    """First replies of the tickets created in the window."""

    tickets: int
    due: int  # owed a reply by now: replied, or older than the limit
    within_limit: int  # first reply within kpi.reply_within_hours of creation
    replied: int
    median_hours: float | None
    p90_hours: float | None
    mean_hours: float | None

    @property
    def value(self) -> float | None:
        """24-hour reply rate = within_limit ÷ due."""
        return ratio(self.within_limit, self.due)


def _reply_part(session: Session, cfg: Any, now: datetime) -> _TicketPart[ReplyStats]:
    limit = float(cfg.get("kpi.reply_within_hours", 24))
    seconds = duration_seconds(dialect_name(session), Ticket.created_at, Ticket.first_replied_at)
    replied = Ticket.first_replied_at.is_not(None)
    due = or_(replied, Ticket.created_at <= now - timedelta(hours=limit))
    return _TicketPart("reply", [
        func.count().label("reply_tickets"),
        count_if(due).label("reply_due"),
        count_if(and_(replied, seconds <= limit * 3600)).label("reply_within"),
        func.count(Ticket.first_replied_at).label("reply_replied"),
        func.avg(seconds).label("reply_mean"),
    ], lambda r, p: ReplyStats(r.reply_tickets, r.reply_due, r.reply_within, r.reply_replied, _hours(p.get(50)),
                               _hours(p.get(90)), _hours(r.reply_mean)), seconds)


def first_reply_stats(session: Session, *, cfg: Any, scope: Scope, now: datetime,
                      by: str | None = None) -> Breakdown[ReplyStats]:
    """24-hour reply rate and first-reply time (median, p90, mean) of the tickets created in the window."""
    return _run_parts(session, scope, by, [_reply_part(session, cfg, now)])["reply"]


@dataclass(frozen=True)
class ResolutionStats:
    """Resolution of the tickets created in the window (a reopened ticket counts from its last resolution)."""

    tickets: int
    resolved: int
    resolved_on_time: int  # resolved by the resolution deadline stored on the ticket
    median_hours: float | None
    p90_hours: float | None
    mean_hours: float | None

    @property
    def value(self) -> float | None:
        """Resolution rate = resolved ÷ tickets."""
        return ratio(self.resolved, self.tickets)

    @property
    def on_time_rate(self) -> float | None:
        return ratio(self.resolved_on_time, self.resolved)


def _resolution_part(session: Session) -> _TicketPart[ResolutionStats]:
    seconds = duration_seconds(dialect_name(session), Ticket.created_at, Ticket.resolved_at)
    resolved = Ticket.resolved_at.is_not(None)
    return _TicketPart("resolution", [
        func.count().label("res_tickets"),
        func.count(Ticket.resolved_at).label("res_resolved"),
        count_if(and_(resolved, Ticket.resolved_at <= Ticket.resolution_due_at)).label("res_on_time"),
        func.avg(seconds).label("res_mean"),
    ], lambda r, p: ResolutionStats(r.res_tickets, r.res_resolved, r.res_on_time, _hours(p.get(50)),
                                    _hours(p.get(90)), _hours(r.res_mean)), seconds)


def resolution_stats(session: Session, *, scope: Scope, by: str | None = None) -> Breakdown[ResolutionStats]:
    """Resolution rate and time from creation to resolution (median, p90, mean)."""
    return _run_parts(session, scope, by, [_resolution_part(session)])["resolution"]


@dataclass(frozen=True)
class ReopenStats:
    resolved_once: int  # resolved at least once (still resolved, or reopened since)
    reopened: int

    @property
    def value(self) -> float | None:
        """Reopen rate = reopened ÷ resolved at least once."""
        return ratio(self.reopened, self.resolved_once)


def _reopen_part() -> _TicketPart[ReopenStats]:
    return _TicketPart("reopen", [
        count_if(or_(Ticket.resolved_at.is_not(None), Ticket.reopen_count > 0)).label("resolved_once"),
        count_if(Ticket.reopen_count > 0).label("reopened"),
    ], lambda r, _p: ReopenStats(r.resolved_once, r.reopened))


def reopen_stats(session: Session, *, scope: Scope, by: str | None = None) -> Breakdown[ReopenStats]:
    """Share of the window's resolved tickets that the customer reopened."""
    return _run_parts(session, scope, by, [_reopen_part()])["reopen"]


# -- visits and the complaint rate --------------------------------------------------------------

VISIT_DIMENSIONS = ("branch", "branch_kind", "month")


@dataclass(frozen=True)
class VisitTotals:
    imported: int  # from visit_counts (qianjia visits import)
    checkins: int  # branch check-ins on days without an imported count

    @property
    def total(self) -> int:
        return self.imported + self.checkins


def visit_totals(session: Session, *, scope: Scope, by: str | None = None) -> Breakdown[VisitTotals]:
    """Customer visits in the window: imported daily counts, plus check-ins where no count was imported.

    Where a branch imported a count for a day, that count is the day's visits (check-ins at that
    branch that day are already in it). A customer checking in at one branch several times on one
    day is one visit. Breakdowns exist by branch, branch kind and month only.
    """
    if by is not None and by not in VISIT_DIMENSIONS:
        raise ScopeError(f"客流只能按 {', '.join(DIMENSIONS[d] for d in VISIT_DIMENSIONS)} 分组")
    window = scope.window

    def grp_for(b: str | None, day_col: Any, instant_col: Any | None) -> tuple[Any, bool]:
        if b is None:
            return NO_GROUP, False
        if b == "branch":
            return Branch.code, True
        if b == "branch_kind":
            return Branch.kind, True
        if instant_col is not None:
            return month_bucket(instant_col, _months_of(scope)), False
        return month_bucket(day_col, _months_of(scope), dates=True), False

    def imported(b: str | None) -> dict[Any, int]:
        grp, join = grp_for(b, VisitCount.day, None)
        stmt = select(grp.label("grp"), func.coalesce(func.sum(VisitCount.count), 0)).select_from(VisitCount)
        if join:
            stmt = stmt.join(Branch, Branch.id == VisitCount.branch_id)
        stmt = stmt.where(VisitCount.day >= window.first_day, VisitCount.day < window.end_day)
        if scope.branch_ids is not None:
            stmt = stmt.where(VisitCount.branch_id.in_(scope.branch_ids))
        if b is not None:
            stmt = stmt.group_by(grp)
        return {row[0]: int(row[1] or 0) for row in session.execute(stmt).all()}

    visit = optional_model("models.conversation", "Visit")

    def checkins(b: str | None) -> dict[Any, int]:
        if visit is None:
            return {}
        vday = local_date(dialect_name(session), visit.visited_at, tz=scope.tz, start=window.start, end=window.end)
        grp, join = grp_for(b, None, visit.visited_at)
        who = func.coalesce(visit.customer_id, -visit.id)
        inner = select(grp.label("grp"), visit.branch_id, who.label("who"), vday.label("vday")).select_from(visit)
        if join:
            inner = inner.join(Branch, Branch.id == visit.branch_id)
        inner = inner.where(
            visit.visited_at >= window.start,
            visit.visited_at < window.end,
            ~exists().where(VisitCount.branch_id == visit.branch_id, VisitCount.day == vday),
        )
        if scope.branch_ids is not None:
            inner = inner.where(visit.branch_id.in_(scope.branch_ids))
        sub = inner.distinct().subquery()
        stmt = select(sub.c.grp if b is not None else NO_GROUP, func.count()).select_from(sub)
        if b is not None:
            stmt = stmt.group_by(sub.c.grp)
        return {row[0]: int(row[1] or 0) for row in session.execute(stmt).all()}

    total = VisitTotals(imported(None).get(None, 0), checkins(None).get(None, 0))
    groups: dict[str | None, VisitTotals] = {}
    if by is not None:
        imp, chk = imported(by), checkins(by)
        groups = {k: VisitTotals(imp.get(k, 0), chk.get(k, 0)) for k in set(imp) | set(chk)}
    return Breakdown(total=total, by=by, groups=groups)


DENOMINATOR_NAMES = {
    "imported": "导入客流",
    "checkins": "网点签到",
    "mixed": "导入客流+网点签到",
}


@dataclass(frozen=True)
class ComplaintRate:
    complaints: int
    visits: VisitTotals

    @property
    def value(self) -> float | None:
        """Complaint rate = complaints ÷ customer visits."""
        return ratio(self.complaints, self.visits.total)

    @property
    def denominator_source(self) -> str | None:
        """Which visits the denominator holds: imported | checkins | mixed (None: no visits)."""
        if self.visits.imported and self.visits.checkins:
            return "mixed"
        if self.visits.imported:
            return "imported"
        if self.visits.checkins:
            return "checkins"
        return None

    @property
    def denominator_label(self) -> str:
        return DENOMINATOR_NAMES.get(self.denominator_source or "", "无客流数据")


def complaint_rate(session: Session, *, scope: Scope, by: str | None = None,
                   volume: Breakdown[TicketVolume] | None = None) -> Breakdown[ComplaintRate]:
    """Complaints created in the window ÷ customer visits in the window (see visit_totals).

    By team, category or channel the denominator is all visits of the scope: visits have no category.
    `volume`: the ticket_volume of the same scope and `by`, when the caller has it already.
    """
    complaints = volume if volume is not None and volume.by == by else ticket_volume(session, scope=scope, by=by)
    visits = visit_totals(session, scope=scope, by=by if by in VISIT_DIMENSIONS else None)
    total = ComplaintRate(complaints.total.complaints, visits.total)
    groups: dict[str | None, ComplaintRate] = {}
    if by is not None:
        keys = set(complaints.groups) | (set(visits.groups) if by in VISIT_DIMENSIONS else set())
        for key in keys:
            count = complaints.groups[key].complaints if key in complaints.groups else 0
            denominator = visits.groups.get(key, VisitTotals(0, 0)) if by in VISIT_DIMENSIONS else visits.total
            groups[key] = ComplaintRate(count, denominator)
    return Breakdown(total=total, by=by, groups=groups)


# -- escalations ----------------------------------------------------------------------------------

def _joined_ticket_group(by: str | None, scope: Scope, instant: Any) -> tuple[Any, bool]:
    """Group expression for rows joined to their ticket; `month` follows the row's own instant."""
    if by == "month":
        return month_bucket(instant, _months_of(scope)), False
    return _ticket_group(by, scope)


@dataclass(frozen=True)
class EscalationStats:
    by_level: dict[str, int]  # level code (config escalation.levels) -> escalations fired

    @property
    def total(self) -> int:
        return sum(self.by_level.values())


def escalation_stats(session: Session, *, scope: Scope, by: str | None = None) -> Breakdown[EscalationStats]:
    """Escalations fired in the window, per level (tickets of the scope's branches and categories,
    merged ones included: the escalation happened)."""
    _check_by(by)
    escalation = optional_model("models.scheduling", "Escalation")
    if escalation is None:
        return Breakdown(total=EscalationStats({}), by=by)

    def run(b: str | None) -> dict[Any, dict[str, int]]:
        grp, join = _joined_ticket_group(b, scope, escalation.fired_at)
        # An escalation that fired stays counted even if its ticket was merged later; the tickets
        # table is joined only when the scope or the grouping needs it (it is the big one).
        filters = ticket_filters(scope, merged=True)
        stmt = select(grp.label("grp"), escalation.level, func.count()).select_from(escalation)
        if filters or join or b in ("team", "category", "channel"):
            stmt = stmt.join(Ticket, Ticket.id == escalation.ticket_id)
        if join:
            stmt = stmt.outerjoin(Branch, Branch.id == Ticket.branch_id)
        stmt = stmt.where(escalation.fired_at >= scope.window.start, escalation.fired_at < scope.window.end,
                          *filters)
        stmt = stmt.group_by(grp, escalation.level) if b is not None else stmt.group_by(escalation.level)
        out: dict[Any, dict[str, int]] = {}
        for key, level, count in session.execute(stmt).all():
            out.setdefault(key, {})[level] = int(count)
        return out

    total = EscalationStats(run(None).get(None, {}))
    groups = {k: EscalationStats(v) for k, v in run(by).items()} if by else {}
    return Breakdown(total=total, by=by, groups=groups)


# -- surveys ------------------------------------------------------------------------------------

def survey_aspects(cfg: Any) -> list[str]:
    """Aspect codes asked in the satisfaction survey (config surveys.questions, field: aspect)."""
    questions = cfg.section("surveys").get("questions") or []
    return [str(q["code"]) for q in questions if isinstance(q, Mapping) and q.get("field") == "aspect"]


@dataclass(frozen=True)
class Satisfaction:
    invitations: int  # surveys sent in the window (round invitations + check-in surveys)
    responses: int  # completed in the window with an overall score
    satisfied: int  # overall 4 or 5
    nps_responses: int
    promoters: int  # nps 9-10
    detractors: int  # nps 0-6
    mean_overall: float | None
    aspects: dict[str, float | None] = field(default_factory=dict)  # aspect code -> mean score (1-5)

    @property
    def value(self) -> float | None:
        """CSAT = satisfied ÷ responses."""
        return ratio(self.satisfied, self.responses)

    @property
    def response_rate(self) -> float | None:
        """responses ÷ invitations (None when no survey was sent, e.g. resolution checks)."""
        return ratio(self.responses, self.invitations)

    @property
    def nps(self) -> float | None:
        """NPS = % promoters − % detractors, from −100 to +100."""
        if not self.nps_responses:
            return None
        return 100.0 * (self.promoters - self.detractors) / self.nps_responses


EMPTY_SATISFACTION = Satisfaction(0, 0, 0, 0, 0, 0, None, {})


def satisfaction_stats(session: Session, *, cfg: Any, scope: Scope, by: str | None = None,
                       kind: str = "satisfaction") -> Breakdown[Satisfaction]:
    """CSAT, NPS and aspect scores of the surveys completed in the window, with the response rate.

    kind="resolution_check" gives the same figures for the post-resolution question ("处理满意度").
    A response counts for its own branch, else its ticket's; category, team and channel come from
    the ticket (surveys without one fall in the group None).
    """
    _check_by(by)
    response = optional_model("models.survey", "SurveyResponse")
    if response is None:
        return Breakdown(total=EMPTY_SATISFACTION, by=by)
    aspects = survey_aspects(cfg) if kind == "satisfaction" else []
    branch_col = func.coalesce(response.branch_id, Ticket.branch_id)

    def grp_for(b: str | None) -> tuple[Any, bool]:
        if b == "branch":
            return Branch.code, True
        if b == "branch_kind":
            return Branch.kind, True
        return _joined_ticket_group(b, scope, response.completed_at)

    def scoped(stmt: Select[Any], b: str | None) -> Select[Any]:
        """FROM survey_responses (+ ticket, + branch) WHERE the scope's completed responses."""
        stmt = stmt.select_from(response).outerjoin(Ticket, Ticket.id == response.ticket_id)
        if grp_for(b)[1]:
            stmt = stmt.outerjoin(Branch, Branch.id == branch_col)
        stmt = stmt.where(response.kind == kind, response.completed_at >= scope.window.start,
                          response.completed_at < scope.window.end, response.overall.is_not(None))
        if scope.branch_ids is not None:
            stmt = stmt.where(branch_col.in_(scope.branch_ids))
        if scope.categories is not None:
            stmt = stmt.where(Ticket.category.in_(scope.categories))
        return stmt

    def build(b: str | None) -> Select[Any]:
        grp = grp_for(b)[0]
        overall, nps = response.overall, response.nps
        stmt = scoped(select(
            grp.label("grp"),
            func.count(overall).label("responses"),
            count_if(overall >= 4).label("satisfied"),
            func.count(nps).label("nps_responses"),
            count_if(nps >= 9).label("promoters"),
            count_if(nps <= 6).label("detractors"),
            func.avg(overall).label("mean_overall"),
            # JSON ->> per aspect in the same pass (faster than json_each's set-returning join).
            *[func.avg(response.aspects[a].as_float()).label(f"aspect_{i}") for i, a in enumerate(aspects)],
        ), b)
        return stmt.group_by(grp) if b is not None else stmt

    invited = survey_invitations(session, scope=scope, by=by) if kind == "satisfaction" else Breakdown(0, by)

    def convert(row: Any, invitations: int) -> Satisfaction:
        return Satisfaction(
            invitations, row.responses, row.satisfied, row.nps_responses, row.promoters, row.detractors,
            to_float(row.mean_overall), {a: to_float(getattr(row, f"aspect_{i}")) for i, a in enumerate(aspects)},
        )

    total = convert(session.execute(build(None)).one(), invited.total)
    groups: dict[str | None, Satisfaction] = {}
    if by is not None:
        rows = {row.grp: row for row in session.execute(build(by)).all()}
        for key in set(rows) | set(invited.groups):
            row = rows.get(key)
            groups[key] = convert(row, invited.groups.get(key, 0)) if row is not None else Satisfaction(
                invited.groups.get(key, 0), 0, 0, 0, 0, 0, None, {a: None for a in aspects})
    return Breakdown(total=total, by=by, groups=groups)


def survey_invitations(session: Session, *, scope: Scope, by: str | None = None) -> Breakdown[int]:
    """Satisfaction surveys sent in the window: round invitations delivered plus check-in surveys sent.

    Round invitations count for the customer's home branch; check-in surveys for the visited branch.
    Category, team and channel do not apply (the total only).
    """
    invitation = optional_model("models.survey", "SurveyInvitation")
    visit = optional_model("models.conversation", "Visit")
    window = scope.window
    b_for_invites = by if by in VISIT_DIMENSIONS else None

    def count(b: str | None, model: Any, instant: Any, branch_col: Any, conds: list[Any],
              join_customer: bool) -> dict[Any, int]:
        if b == "branch":
            grp: Any = Branch.code
        elif b == "branch_kind":
            grp = Branch.kind
        elif b == "month":
            grp = month_bucket(instant, _months_of(scope))
        else:
            grp = NO_GROUP
        stmt = select(grp.label("grp"), func.count()).select_from(model)
        if join_customer and (b in ("branch", "branch_kind") or scope.branch_ids is not None):
            stmt = stmt.join(Customer, Customer.id == model.customer_id)
        if b in ("branch", "branch_kind"):
            stmt = stmt.outerjoin(Branch, Branch.id == branch_col)
        stmt = stmt.where(instant >= window.start, instant < window.end, *conds)
        if scope.branch_ids is not None:
            stmt = stmt.where(branch_col.in_(scope.branch_ids))
        if b is not None:
            stmt = stmt.group_by(grp)
        return {row[0]: int(row[1]) for row in session.execute(stmt).all()}

    def run(b: str | None) -> dict[Any, int]:
        out: dict[Any, int] = {}
        parts = []
        if invitation is not None:
            parts.append(count(b, invitation, invitation.invited_at, Customer.branch_id,
                               [invitation.delivery_status == "sent"], True))
        if visit is not None:
            parts.append(count(b, visit, visit.survey_due_at, visit.branch_id, [visit.survey_status == "sent"], False))
        for part in parts:
            for key, value in part.items():
                out[key] = out.get(key, 0) + value
        return out

    total = run(None).get(None, 0)
    groups = run(b_for_invites) if b_for_invites else {}
    return Breakdown(total=total, by=by, groups=groups)


# -- revisits -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RevisitStats:
    complainants: int  # distinct customers with a complaint created in the window
    revisited: int  # of them: a revisit recorded, or a post-resolution check answered

    @property
    def value(self) -> float | None:
        """Revisit rate = revisited complainants ÷ complainants."""
        return ratio(self.revisited, self.complainants)


def revisit_stats(session: Session, *, scope: Scope, by: str | None = None) -> Breakdown[RevisitStats]:
    """Complainants revisited (revisits table, or an answered resolution check) ÷ complainants.

    A complainant is a customer (a complaint without a known customer, e.g. on paper, is one
    complainant by itself); any of their complaints in the window being revisited, at any time, counts.
    """
    return _run_parts(session, scope, by, [_revisit_part()])["revisit"]


def _revisit_part() -> _TicketPart[RevisitStats]:
    revisit = optional_model("models.staff", "Revisit")
    response = optional_model("models.survey", "SurveyResponse")
    complainant = case((Ticket.customer_id.is_(None), -Ticket.id), else_=Ticket.customer_id)
    complaint = Ticket.type == COMPLAINT
    followed: list[ColumnElement[bool]] = []
    # IN (subquery): one hashed set per query rather than a probe per ticket.
    if revisit is not None:
        followed.append(Ticket.id.in_(select(revisit.ticket_id)))
    if response is not None:
        followed.append(Ticket.id.in_(select(response.ticket_id).where(
            response.ticket_id.is_not(None), response.kind == "resolution_check", response.completed_at.is_not(None))))
    revisited = (func.count(distinct(case((and_(complaint, or_(*followed)), complainant)))) if followed
                 else literal_column("0"))
    return _TicketPart("revisit", [
        func.count(distinct(case((complaint, complainant)))).label("complainants"),
        revisited.label("revisited"),
    ], lambda r, _p: RevisitStats(r.complainants, int(r.revisited)))


# -- inspections and training ---------------------------------------------------------------------

BRANCH_DIMENSIONS = ("branch", "branch_kind", "month")


def _branch_table_group(by: str | None, scope: Scope, day_col: Any) -> tuple[Any, bool]:
    if by is None:
        return NO_GROUP, False
    if by not in BRANCH_DIMENSIONS:
        raise ScopeError(f"只能按 {', '.join(DIMENSIONS[d] for d in BRANCH_DIMENSIONS)} 分组")
    if by == "branch":
        return Branch.code, True
    if by == "branch_kind":
        return Branch.kind, True
    return month_bucket(day_col, _months_of(scope), dates=True), False


def inspection_items(cfg: Any) -> list[dict[str, Any]]:
    """The checklist (config kpi.inspection.items): code, name, max_points."""
    items = cfg.section("kpi").get("inspection", {}).get("items") or []
    return [dict(i) for i in items if isinstance(i, Mapping)]


@dataclass(frozen=True)
class InspectionStats:
    inspections: int
    mean_score: float | None  # 0-100
    items: dict[str, float | None] = field(default_factory=dict)  # item code -> mean points

    @property
    def value(self) -> float | None:
        return self.mean_score


def inspection_stats(session: Session, *, cfg: Any, scope: Scope, by: str | None = None) -> Breakdown[InspectionStats]:
    """Mean monthly service-quality inspection score (0-100) and mean points per checklist item."""
    _check_by(by)
    codes = [str(i["code"]) for i in inspection_items(cfg)]
    window = scope.window

    def build(b: str | None) -> Select[Any]:
        grp, join = _branch_table_group(b, scope, BranchInspection.month)
        stmt = select(
            grp.label("grp"),
            func.count().label("inspections"),
            func.avg(BranchInspection.score).label("mean_score"),
            *[func.avg(BranchInspection.item_scores[c].as_float()).label(f"item_{i}") for i, c in enumerate(codes)],
        ).select_from(BranchInspection)
        if join:
            stmt = stmt.join(Branch, Branch.id == BranchInspection.branch_id)
        stmt = stmt.where(BranchInspection.month >= window.first_day, BranchInspection.month < window.end_day)
        if scope.branch_ids is not None:
            stmt = stmt.where(BranchInspection.branch_id.in_(scope.branch_ids))
        return stmt.group_by(grp) if b is not None else stmt

    return _collect(session, by, build, lambda r: InspectionStats(
        r.inspections, to_float(r.mean_score), {c: to_float(getattr(r, f"item_{i}")) for i, c in enumerate(codes)}))


def _target(cfg: Any, key: str, default: float) -> float:
    return float(cfg.get(f"kpi.targets.{key}", default))


@dataclass(frozen=True)
class TrainingStats:
    sessions: int
    participants: int
    passed: int
    sessions_on_target: int  # sessions whose own pass rate reached the target

    @property
    def value(self) -> float | None:
        """Training pass rate = passed ÷ participants."""
        return ratio(self.passed, self.participants)


def training_stats(session: Session, *, cfg: Any, scope: Scope, by: str | None = None) -> Breakdown[TrainingStats]:
    """Pass rate of the training assessments held in the window, and sessions that met the target."""
    _check_by(by)
    # Basis points keep "≥ 90 %" exact in integer arithmetic on both backends.
    target_bp = round(_target(cfg, "training_pass_rate", 0.9) * 10000)
    ta = TrainingAssessment

    def build(b: str | None) -> Select[Any]:
        grp, join = _branch_table_group(b, scope, ta.held_on)
        stmt = select(
            grp.label("grp"),
            func.count().label("sessions"),
            func.coalesce(func.sum(ta.participants), 0).label("participants"),
            func.coalesce(func.sum(ta.passed), 0).label("passed"),
            count_if(and_(ta.participants > 0, ta.passed * 10000 >= ta.participants * target_bp)).label("on_target"),
        ).select_from(ta)
        if join:
            stmt = stmt.join(Branch, Branch.id == ta.branch_id)
        stmt = stmt.where(ta.held_on >= scope.window.first_day, ta.held_on < scope.window.end_day)
        if scope.branch_ids is not None:
            stmt = stmt.where(ta.branch_id.in_(scope.branch_ids))
        return stmt.group_by(grp) if b is not None else stmt

    return _collect(session, by, build, lambda r: TrainingStats(
        r.sessions, int(r.participants), int(r.passed), r.on_target))


# -- all KPIs at once, their definitions and targets --------------------------------------------

@dataclass(frozen=True)
class KpiSummary:
    """Every KPI of one scope (the dashboard's tiles, the report's table, the benchmark's workload)."""

    scope: Scope
    volume: Breakdown[TicketVolume]
    complaint_rate: Breakdown[ComplaintRate]
    first_reply: Breakdown[ReplyStats]
    resolution: Breakdown[ResolutionStats]
    reopen: Breakdown[ReopenStats]
    escalations: Breakdown[EscalationStats]
    satisfaction: Breakdown[Satisfaction]
    resolution_check: Breakdown[Satisfaction]
    revisit: Breakdown[RevisitStats]
    inspection: Breakdown[InspectionStats]
    training: Breakdown[TrainingStats]


def _postgres_work_mem(session: Session, cfg: Any) -> None:
    # A quarter's durations are sorted for the percentiles and its complainants de-duplicated: with
    # PostgreSQL's default 4 MB these spill to disk. SET LOCAL lasts for this transaction only.
    value = str(cfg.get("kpi.postgres_work_mem", "") or "")
    if value and dialect_name(session) == "postgresql":
        if not value.replace(" ", "").rstrip("kKMGTB").isdigit():
            raise ScopeError(f"kpi.postgres_work_mem 的值“{value}”无效，应写成 64MB 这样的格式")
        session.execute(text(f"SET LOCAL work_mem = '{value}'"))


def kpi_summary(session: Session, *, cfg: Any, scope: Scope, now: datetime, by: str | None = None) -> KpiSummary:
    """All KPIs for a scope; with `by`, each KPI that has that dimension is broken down too."""
    _check_by(by)
    branch_by = by if by in BRANCH_DIMENSIONS else None
    _postgres_work_mem(session, cfg)
    # The ticket KPIs share one scan of the tickets.
    tickets = _run_parts(session, scope, by, [_volume_part(), _reply_part(session, cfg, now),
                                              _resolution_part(session), _reopen_part(), _revisit_part()])
    return KpiSummary(
        scope=scope,
        volume=tickets["volume"],
        complaint_rate=complaint_rate(session, scope=scope, by=by, volume=tickets["volume"]),
        first_reply=tickets["reply"],
        resolution=tickets["resolution"],
        reopen=tickets["reopen"],
        escalations=escalation_stats(session, scope=scope, by=by),
        satisfaction=satisfaction_stats(session, cfg=cfg, scope=scope, by=by),
        resolution_check=satisfaction_stats(session, cfg=cfg, scope=scope, by=by, kind="resolution_check"),
        revisit=tickets["revisit"],
        inspection=inspection_stats(session, cfg=cfg, scope=scope, by=branch_by),
        training=training_stats(session, cfg=cfg, scope=scope, by=branch_by),
    )


@dataclass(frozen=True)
class KpiDefinition:
    """One headline KPI: how to read it off a summary, its unit and its target (config kpi.targets)."""

    code: str
    name: str
    unit: str  # percent | hours | count | score | nps
    formula: str  # Chinese, shown in the report's notes
    target_key: str | None = None  # key under kpi.targets
    lower_is_better: bool = False

    def target(self, cfg: Any) -> float | None:
        if self.target_key is None:
            return None
        value = cfg.get(f"kpi.targets.{self.target_key}")
        return None if value is None else float(value)

    def meets_target(self, value: float | None, cfg: Any) -> bool | None:
        """True/False against the target; None when there is no value or no target."""
        target = self.target(cfg)
        if value is None or target is None:
            return None
        # Rounded to 1e-9 so that 0.9 computed as 27/30 meets a 0.9 target.
        return round(value, 9) <= target if self.lower_is_better else round(value, 9) >= target


KPI_DEFINITIONS: tuple[KpiDefinition, ...] = (
    KpiDefinition("satisfaction", "客户满意度（CSAT）", "percent",
                  "满意度调查总体评价（1–5分）中打4分或5分的答卷数 ÷ 有总体评价的答卷数", "satisfaction"),
    KpiDefinition("survey_response_rate", "调查回复率", "percent",
                  "期间内完成的满意度答卷数 ÷ 期间内发出的调查（轮次邀请＋签到后调查）"),
    KpiDefinition("nps", "净推荐值（NPS）", "nps", "推荐意愿（0–10分）中9–10分占比 − 0–6分占比（−100至+100）"),
    KpiDefinition("complaint_rate", "投诉率", "percent",
                  "期间内新建的投诉工单数 ÷ 期间内客户到访量（导入客流；无导入的网点日按签到人数）",
                  "complaint_rate", lower_is_better=True),
    KpiDefinition("complaints", "投诉量", "count", "期间内新建的投诉类工单数（不含被合并的工单）"),
    KpiDefinition("reply_24h_rate", "24小时答复率", "percent",
                  "创建后24小时内首次答复的工单数 ÷ 已到答复期限的工单数（已答复或已超过24小时）", "reply_24h_rate"),
    KpiDefinition("first_reply_median", "首次答复时长中位数", "hours", "已答复工单从创建到首次答复的时长的中位数（小时）"),
    KpiDefinition("first_reply_p90", "首次答复时长P90", "hours", "已答复工单首次答复时长的第90百分位（线性插值，小时）"),
    KpiDefinition("resolution_median", "办结时长中位数", "hours",
                  "已办结工单从创建到（最后一次）办结的时长中位数（小时）"),
    KpiDefinition("resolution_rate", "办结率", "percent", "期间内新建工单中已办结的工单数 ÷ 新建工单数"),
    KpiDefinition("reopen_rate", "重开率", "percent", "被客户重开过的工单数 ÷ 曾办结过的工单数",
                  lower_is_better=True),
    KpiDefinition("escalations", "升级次数", "count", "期间内触发的超时升级次数（各级别合计）"),
    KpiDefinition("revisit_rate", "回访率", "percent",
                  "被回访的投诉客户数（有回访记录或回答了办结确认）÷ 投诉客户数", "revisit_rate"),
    KpiDefinition("inspection_score", "网点服务检查平均分", "score", "期间内各网点月度服务质量检查得分（百分制）的平均值"),
    KpiDefinition("training_pass_rate", "培训考核通过率", "percent", "期间内培训考核通过人数 ÷ 参加考核人数",
                  "training_pass_rate"),
)

KPI_BY_CODE = {d.code: d for d in KPI_DEFINITIONS}


def headline_values(summary: KpiSummary) -> dict[str, float | None]:
    """The KPI_DEFINITIONS values of a summary's totals (None: no data, shown as "—")."""
    t = summary
    return {
        "satisfaction": t.satisfaction.total.value,
        "survey_response_rate": t.satisfaction.total.response_rate,
        "nps": t.satisfaction.total.nps,
        "complaint_rate": t.complaint_rate.total.value,
        "complaints": float(t.volume.total.complaints),
        "reply_24h_rate": t.first_reply.total.value,
        "first_reply_median": t.first_reply.total.median_hours,
        "first_reply_p90": t.first_reply.total.p90_hours,
        "resolution_median": t.resolution.total.median_hours,
        "resolution_rate": t.resolution.total.value,
        "reopen_rate": t.reopen.total.value,
        "escalations": float(t.escalations.total.total),
        "revisit_rate": t.revisit.total.value,
        "inspection_score": t.inspection.total.mean_score,
        "training_pass_rate": t.training.total.value,
    }


DASH = "—"


def format_value(value: float | None, unit: str) -> str:
    """A KPI value as managers read it: 85.3%, 12.5 小时, 1,234, 88.0 分, +42; None → "—"."""
    if value is None:
        return DASH
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "hours":
        return f"{value:.1f} 小时"
    if unit == "count":
        return f"{int(value):,}"
    if unit == "score":
        return f"{value:.1f} 分"
    if unit == "nps":
        return f"{value:+.0f}"
    return f"{value}"
