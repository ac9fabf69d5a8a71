"""The SLA escalation sweep: fire each configured level once per ticket deadline.

One indexed range query on tickets.escalation_at (the earliest running deadline) finds
every ticket with a level due: a level fires at deadline + offset, and the earliest
offset (the warning, e.g. -4 h) bounds the range, so the sweep's cost follows the
number of due tickets, not the size of the table. Exactly once comes from the unique
key (ticket_id, level, due_at): the sweep inserts with ON CONFLICT DO NOTHING and only
the rows it actually inserted produce a ticket event and notifications; a second sweep,
or a second scheduler process, finds the key taken. A level that fell due while no
scheduler ran fires once at the next sweep (catch-up), not once per missed tick.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from core import metrics
from core.db import transaction
from models import Branch, Escalation, Ticket, TicketStatus
from services import notifications
from services.calendar import BusinessCalendar, business_calendar, business_hours_teams
from services.once import insert_ignore
from services.sla import pending_answer_window
from services.tickets import add_event, transition

DEADLINES = ("first_reply", "resolution")
DEADLINE_NAMES = {"first_reply": "首次答复", "resolution": "办结"}
ROLE_NAMES = {"team": "处理小组", "team_lead": "组长", "branch_manager": "网点负责人"}
PRIORITY_NAMES = {"normal": "普通", "urgent": "加急"}


@dataclass(frozen=True)
class Level:
    """One escalation level from config escalation.levels."""

    code: str
    name: str
    deadline: str  # first_reply | resolution
    offsets_hours: Mapping[str, float]  # priority -> hours relative to the deadline ("*" = any)
    notify: str

    def offset(self, priority: str) -> timedelta:
        hours = self.offsets_hours.get(priority, self.offsets_hours.get("*", self.offsets_hours.get("normal", 0.0)))
        return timedelta(hours=float(hours))


def levels_from_config(cfg: Any) -> list[Level]:
    """Parse and check escalation.levels."""
    levels: list[Level] = []
    for raw in cfg.section("escalation").get("levels") or []:
        code = str(raw["code"])
        deadline = str(raw.get("deadline", "first_reply"))
        notify = str(raw.get("notify", "team"))
        if deadline not in DEADLINES:
            raise ValueError(f"escalation level {code}: deadline must be one of {DEADLINES}")
        if notify not in notifications.ROLES:
            raise ValueError(f"escalation level {code}: notify must be one of {notifications.ROLES}")
        offset = raw.get("offset_hours", 0)
        offsets = {str(k): float(v) for k, v in offset.items()} if isinstance(offset, Mapping) else {"*": float(offset)}
        if any(code == existing.code for existing in levels):
            raise ValueError(f"escalation level {code} is defined twice")
        levels.append(Level(code, str(raw.get("name", code)), deadline, offsets, notify))
    return levels


def lead_time(levels: Sequence[Level]) -> timedelta:
    """How far before a deadline the earliest level fires (the sweep's look-ahead)."""
    earliest = min((h for level in levels for h in level.offsets_hours.values()), default=0.0)
    return timedelta(hours=max(0.0, -earliest))


def fire_time(level: Level, *, due_at: datetime, priority: str, calendar: BusinessCalendar | None) -> datetime:
    """When `level` fires for a deadline: its offset counted like the deadline itself, in wall-clock hours,
    or in working hours on the team's business calendar (a -4 h warning before Monday 10:00 is Friday 14:00
    with 09:00-17:00 working hours, not Monday 06:00 when nobody is there)."""
    offset = level.offset(priority)
    if not offset:
        return due_at  # the deadline itself, even when it falls at the end of a working day
    return due_at + offset if calendar is None else calendar.add_working_time(due_at, offset)


def sweep_horizon(levels: Sequence[Level], *, now: datetime, sla: Mapping[str, Any]) -> datetime:
    """The latest deadline whose earliest level may be due at `now`: `lead_time` ahead in wall-clock time, or
    in working time when a team counts working hours (over a weekend that reaches into Monday)."""
    lead = lead_time(levels)
    horizon = now + lead
    calendar = business_calendar(sla)
    if lead and calendar is not None:
        horizon = max(horizon, calendar.add_working_time(now, lead))
    return horizon


@dataclass
class SweepResult:
    scanned: int = 0  # tickets read by the range query
    fired: int = 0
    batches: int = 0
    by_level: Counter[str] = field(default_factory=Counter)
    notifications: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"scanned": self.scanned, "fired": self.fired, "batches": self.batches,
                "by_level": dict(self.by_level), "notifications": self.notifications}


_COLUMNS = (Ticket.id, Ticket.escalation_at, Ticket.priority, Ticket.team, Ticket.first_reply_due_at,
            Ticket.resolution_due_at)


def end_expired_waits(*, sessions: sessionmaker[Session], cfg: Any, now: datetime, batch_size: int | None = None
                      ) -> int:
    """A wait for the customer that outlasts conversations.pending_answer_hours ends by itself.

    The ticket is open again and its clocks run on (like Zammad's pending reminder): after that the
    customer's messages no longer reach it, so it must not stay stopped where nothing escalates it.
    Returns how many waits ended. Rows another scheduler holds are skipped; it ends them itself.
    """
    window = pending_answer_window(cfg)
    cutoff = now - window
    size = int(batch_size or cfg.get("escalation.batch_size", 500))
    sla = cfg.section("sla")
    ended = 0
    while True:
        with transaction(sessions) as session:
            tickets = list(session.scalars(
                select(Ticket).where(Ticket.status == TicketStatus.PENDING.value, Ticket.sla_paused_at <= cutoff)
                .order_by(Ticket.id).limit(size).with_for_update(skip_locked=True)))
            for ticket in tickets:
                transition(session, ticket=ticket, to=TicketStatus.OPEN, now=now, actor="system", sla=sla)
                add_event(session, ticket=ticket, kind="wait_expired", now=now, actor="system",
                          data={"hours": f"{window / timedelta(hours=1):g}"})
        ended += len(tickets)
        if len(tickets) < size:
            return ended


def escalate_overdue_tickets(
    *,
    sessions: sessionmaker[Session],
    cfg: Any,
    now: datetime,
    batch_size: int | None = None,
) -> SweepResult:
    """Fire every escalation level that is due at `now` and has not fired for its deadline yet."""
    levels = levels_from_config(cfg)
    result = SweepResult()
    if not levels:
        return result
    size = int(batch_size or cfg.get("escalation.batch_size", 500))
    sla = cfg.section("sla")
    horizon = sweep_horizon(levels, now=now, sla=sla)
    after: tuple[datetime, int] | None = None
    while True:
        with transaction(sessions) as session:
            # A ticket waiting for the customer has its clocks stopped (services.sla.pause_deadlines).
            query = select(*_COLUMNS).where(Ticket.escalation_at <= horizon, Ticket.sla_paused_at.is_(None))
            if after is not None:
                # Keyset paging; the plain lower bound lets the index skip the pages already done.
                query = query.where(Ticket.escalation_at >= after[0],
                                    tuple_(Ticket.escalation_at, Ticket.id) > tuple_(*after))
            rows = session.execute(query.order_by(Ticket.escalation_at, Ticket.id).limit(size)).all()
            if not rows:
                break
            result.batches += 1
            result.scanned += len(rows)
            _fire_batch(session, cfg=cfg, sla=sla, levels=levels, rows=rows, now=now, result=result)
            after = (rows[-1].escalation_at, rows[-1].id)
        if len(rows) < size:
            break
    return result


def _fire_batch(session: Session, *, cfg: Any, sla: Mapping[str, Any], levels: Sequence[Level],
                rows: Sequence[Any], now: datetime, result: SweepResult) -> None:
    candidates: list[dict[str, Any]] = []
    # Read once per batch, not per row: every working-hours team shares the one calendar.
    working_hours_teams, shared_calendar = set(business_hours_teams(sla)), business_calendar(sla)
    for row in rows:
        calendar = shared_calendar if row.team in working_hours_teams else None
        for level in levels:
            due_at = getattr(row, f"{level.deadline}_due_at")
            if due_at is None:
                continue
            fire_at = fire_time(level, due_at=due_at, priority=row.priority, calendar=calendar)
            if fire_at <= now:
                candidates.append({"ticket_id": row.id, "level": level.code, "deadline": level.deadline,
                                   "due_at": due_at, "fire_at": fire_at, "fired_at": now, "notify": level.notify,
                                   "team": row.team})
    if not candidates:
        return
    # Most due tickets have fired their levels on an earlier sweep: skip those without a write.
    # (The unique key, not this read, is what guarantees once: see insert_ignore below.)
    ticket_ids = sorted({c["ticket_id"] for c in candidates})
    done = {tuple(r) for r in session.execute(
        select(Escalation.ticket_id, Escalation.level, Escalation.due_at).where(Escalation.ticket_id.in_(ticket_ids))
    )}
    fresh = [c for c in candidates if (c["ticket_id"], c["level"], c["due_at"]) not in done]
    if not fresh:
        return
    # Same order in every process, so two concurrent sweeps wait on each other instead of deadlocking.
    fresh.sort(key=lambda c: (c["ticket_id"], c["level"], c["due_at"]))
    inserted = insert_ignore(session, Escalation, fresh, returning=[Escalation.id, Escalation.ticket_id,
                                                                     Escalation.level, Escalation.due_at])
    if not inserted:
        return
    by_code = {level.code: level for level in levels}
    tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_({r[1] for r in inserted})))}
    branch_ids = {t.branch_id for t in tickets.values() if t.branch_id is not None}
    branches = {b.id: b for b in session.scalars(select(Branch).where(Branch.id.in_(branch_ids)))} if branch_ids else {}
    names = _Names(tz=ZoneInfo(str(cfg.get("timezone", "Asia/Shanghai"))),
                   categories=cfg.section("labels").get("categories") or {}, teams=cfg.section("teams"))
    targets: dict[tuple[str | None, str, str | None], list[notifications.Target]] = {}
    for escalation_id, ticket_id, code, due_at in inserted:
        ticket, level = tickets[ticket_id], by_code[code]
        branch = branches.get(ticket.branch_id) if ticket.branch_id is not None else None
        subject, body = _message(names, ticket=ticket, level=level, due_at=due_at, branch=branch)
        key = (ticket.team, level.notify, branch.code if branch else None)
        if key not in targets:
            targets[key] = notifications.recipients(cfg, team=key[0], role=key[1], branch_code=key[2])
        queued = notifications.enqueue(
            session, cfg=cfg, kind="escalation", team=ticket.team, role=level.notify, subject=subject, body=body,
            now=now, branch_code=key[2], escalation_id=escalation_id, targets=targets[key],
        )
        add_event(session, ticket=ticket, kind="escalation", now=now, actor="system", data={
            "level": code, "deadline": level.deadline, "due_at": due_at.isoformat(), "notify": level.notify,
            "notifications": len(queued),
        })
        result.fired += 1
        metrics.record_sla(level.deadline, warning=level.offset(ticket.priority) < timedelta(0))
        result.by_level[code] += 1
        result.notifications += len(queued)


@dataclass(frozen=True)
class _Names:
    """Display names read from the configuration once per batch."""

    tz: ZoneInfo
    categories: Mapping[str, str]
    teams: Mapping[str, str]


def _message(names: _Names, *, ticket: Ticket, level: Level, due_at: datetime,
             branch: Branch | None) -> tuple[str, str]:
    """Subject and body for staff, in Chinese."""
    tz, categories, teams = names.tz, names.categories, names.teams
    overdue = level.offset(ticket.priority) >= timedelta(0)
    when = "已于" if overdue else "将于"
    subject = f"【{level.name}】工单 {ticket.number or ticket.id}"
    summary = ticket.text if len(ticket.text) <= 80 else ticket.text[:80] + "…"
    lines = [
        (f"工单 {ticket.number or ticket.id} {when} {due_at.astimezone(tz):%m-%d %H:%M} "
        f"到达{DEADLINE_NAMES[level.deadline]}时限，请{ROLE_NAMES[level.notify]}尽快处理。"),
        f"类别：{categories.get(ticket.category or '', ticket.category or '待分类')}",
        f"处理小组：{teams.get(ticket.team or '', ticket.team or '待分派')}",
        f"网点：{branch.name if branch else '未识别'}",
        f"优先级：{PRIORITY_NAMES.get(ticket.priority, ticket.priority)}",
        f"反馈内容：{summary}",
    ]
    return subject, "\n".join(lines)
