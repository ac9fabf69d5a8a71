"""The console's ticket queue and ticket page: scoped, filtered, keyset-paginated reads.

Open tickets are listed by `escalation_at` (the earliest running deadline), so breached
tickets come first; pages continue after the last (escalation_at, id) seen, which an index
serves directly however deep the page. Other statuses and text searches list newest first.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, tuple_
from sqlalchemy.orm import Session, selectinload

from models import (
    OPEN_STATUSES,
    Branch,
    CategoryCorrection,
    Channel,
    Customer,
    Message,
    OfflineFeedback,
    Priority,
    Revisit,
    Staff,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from services.access import InputError, get_ticket, mask_openid, ticket_scope

TICKET_NUMBER = re.compile(r"^[A-Z]{1,8}\d{6}-\d{6}$")
OPEN_VALUES = tuple(s.value for s in OPEN_STATUSES)
ALL_STATUSES = "all"


@dataclass(frozen=True)
class QueueFilters:
    branch: str | None = None  # branch code
    category: str | None = None
    type: str | None = None
    priority: str | None = None
    status: str | None = None  # one status, "all", or None = every open status
    channel: str | None = None
    triage: bool = False
    mine: bool = False
    q: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str], cfg: Any) -> QueueFilters:
        """Parse query-string filters; an unknown value is an InputError, not an empty page."""
        def pick(name: str, allowed: Any, what: str) -> str | None:
            value = (args.get(name) or "").strip()
            if not value:
                return None
            if value not in allowed:
                raise InputError(f"未知的{what}：{value}")
            return value

        labels = cfg.section("labels")
        statuses = [s.value for s in TicketStatus] + [ALL_STATUSES]
        branch = (args.get("branch") or "").strip().upper() or None
        q = (args.get("q") or "").strip()[:100]
        return cls(
            branch=branch,
            category=pick("category", labels.get("categories", {}), "类别"),
            type=pick("type", labels.get("types", {}), "类型"),
            priority=pick("priority", [p.value for p in Priority], "优先级"),
            status=pick("status", statuses, "状态"),
            channel=pick("channel", [c.value for c in Channel], "渠道"),
            triage=(args.get("triage") or "") in ("1", "on", "true"),
            mine=(args.get("mine") or "") in ("1", "on", "true"),
            q=q,
        )

    def as_args(self) -> dict[str, str]:
        out = {k: str(v) for k, v in (("branch", self.branch), ("category", self.category), ("type", self.type),
                                       ("priority", self.priority), ("status", self.status),
                                       ("channel", self.channel), ("q", self.q)) if v}
        if self.triage:
            out["triage"] = "1"
        if self.mine:
            out["mine"] = "1"
        return out

    @property
    def by_deadline(self) -> bool:
        """Deadline order for open tickets without a text search; newest first otherwise."""
        return not self.q and (self.status is None or self.status in OPEN_VALUES)


@dataclass(frozen=True)
class QueueItem:
    ticket: Ticket
    branch_name: str
    assignee: str | None
    seconds_left: float | None  # until escalation_at; negative = breached
    sla_state: str  # breached | warn | notice | ok | none


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    next_cursor: str | None
    total: int
    total_capped: bool


def time_left(ticket: Ticket, now: datetime) -> float | None:
    """Until the earliest running deadline; None when there is none or its clock is stopped (pending)."""
    if ticket.escalation_at is None or ticket.sla_paused_at is not None:
        return None
    return (ticket.escalation_at - now).total_seconds()


def sla_state(seconds_left: float | None, cfg: Any) -> str:
    if seconds_left is None:
        return "none"
    if seconds_left < 0:
        return "breached"
    if seconds_left < float(cfg.get("console.sla_warn_hours", 2)) * 3600:
        return "warn"
    if seconds_left < float(cfg.get("console.sla_notice_hours", 8)) * 3600:
        return "notice"
    return "ok"


def _encode_cursor(ticket: Ticket, by_deadline: bool) -> str:
    key = f"{ticket.escalation_at.isoformat() if by_deadline and ticket.escalation_at else ''}|{ticket.id}"
    return base64.urlsafe_b64encode(key.encode("ascii")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, by_deadline: bool) -> tuple[datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        stamp, _, ident = raw.partition("|")
        at = datetime.fromisoformat(stamp) if stamp else None
        if by_deadline and (at is None or at.tzinfo is None):
            raise ValueError("deadline cursor needs an aware timestamp")
        return at, int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InputError("翻页参数无效，请回到第一页") from None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(session: Session, *, staff: Staff, cfg: Any, filters: QueueFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [ticket_scope(staff, cfg)]
    if filters.status is None:
        conds.append(Ticket.status.in_(OPEN_VALUES))
    elif filters.status != ALL_STATUSES:
        conds.append(Ticket.status == filters.status)
    if filters.branch:
        branch_id = session.scalar(select(Branch.id).where(Branch.code == filters.branch))
        if branch_id is None:
            raise InputError(f"未知的网点：{filters.branch}")
        conds.append(Ticket.branch_id == branch_id)
    for column, value in ((Ticket.category, filters.category), (Ticket.type, filters.type),
                          (Ticket.priority, filters.priority), (Ticket.channel, filters.channel)):
        if value:
            conds.append(column == value)
    if filters.triage:
        conds.append(Ticket.needs_triage.is_(True))
    if filters.mine:
        conds.append(Ticket.assignee_id == staff.id)
    if filters.q:
        number = filters.q.upper()
        if TICKET_NUMBER.match(number):
            conds.append(Ticket.number == number)
        else:
            conds.append(or_(Ticket.text.like(_like(filters.q), escape="\\"),
                             Ticket.number.like(_like(number), escape="\\")))
    return conds


def _ordered(stmt: Select[Any], filters: QueueFilters, cursor: str | None) -> Select[Any]:
    if filters.by_deadline:
        if cursor:
            at, ident = _decode_cursor(cursor, True)
            stmt = stmt.where(tuple_(Ticket.escalation_at, Ticket.id) > tuple_(at, ident))
        # Open tickets always carry a deadline (services/sla), so escalation_at is never NULL here.
        return stmt.where(Ticket.escalation_at.is_not(None)).order_by(Ticket.escalation_at, Ticket.id)
    if cursor:
        _, ident = _decode_cursor(cursor, False)
        stmt = stmt.where(Ticket.id < ident)
    return stmt.order_by(Ticket.id.desc())


def queue_page(session: Session, *, staff: Staff, cfg: Any, filters: QueueFilters, now: datetime,
               cursor: str | None = None, page_size: int | None = None) -> QueuePage:
    """One page of the queue as `staff` may see it."""
    size = page_size or int(cfg.get("console.page_size", 25))
    conds = _conditions(session, staff=staff, cfg=cfg, filters=filters)
    stmt = _ordered(select(Ticket).where(*conds), filters, cursor).limit(size + 1)
    rows = list(session.scalars(stmt.options(selectinload(Ticket.branch))))
    more = len(rows) > size
    rows = rows[:size]
    assignees = _usernames(session, {t.assignee_id for t in rows if t.assignee_id})
    items = []
    for ticket in rows:
        left = time_left(ticket, now)
        items.append(QueueItem(ticket=ticket, branch_name=ticket.branch.name if ticket.branch else "—",
                               assignee=assignees.get(ticket.assignee_id) if ticket.assignee_id else None,
                               seconds_left=left, sla_state=sla_state(left, cfg)))
    cap = int(cfg.get("console.count_limit", 1000))
    counted = select(Ticket.id).where(*_conditions(session, staff=staff, cfg=cfg, filters=filters)).limit(cap + 1)
    total = int(session.scalar(select(func.count()).select_from(counted.subquery())) or 0)
    return QueuePage(items=items, next_cursor=_encode_cursor(rows[-1], filters.by_deadline) if more and rows else None,
                     total=min(total, cap), total_capped=total > cap)


def _usernames(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {i: (d or u) for i, u, d in session.execute(
        select(Staff.id, Staff.username, Staff.display_name).where(Staff.id.in_(ids)))}


# -- the ticket page ------------------------------------------------------------------------

@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # in | out | event | note | escalation
    actor: str | None
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    ticket_number: str | None = None  # set for messages of tickets merged into this one


@dataclass(frozen=True)
class TicketView:
    ticket: Ticket
    branch_name: str
    customer_label: str  # the openid, masked
    reply_channel: str | None  # wechat | app | None: where a staff reply goes (services.outbound.reply_channel)
    can_reply: bool
    in_service_window: bool
    assignee: str | None
    merged_into: str | None
    merged_from: list[str]
    offline: OfflineFeedback | None
    timeline: list[TimelineEntry]
    revisits: list[Revisit]
    corrections: list[CategoryCorrection]
    seconds_left: float | None
    sla_state: str


def ticket_view(session: Session, *, staff: Staff, cfg: Any, number: str, now: datetime) -> TicketView:
    """Everything the ticket page shows; messages of merged duplicates are included."""
    from services.customers import in_service_window
    from services.outbound import reply_channel

    ticket = get_ticket(session, staff=staff, cfg=cfg, number=number)
    merged = session.execute(select(Ticket.id, Ticket.number).where(Ticket.merged_into_id == ticket.id)
                             .order_by(Ticket.id)).all()
    numbers: dict[int | None, str | None] = {ticket.id: None, **{i: n for i, n in merged}}
    timeline: list[TimelineEntry] = []
    for m in session.scalars(select(Message).where(Message.ticket_id.in_(numbers)).order_by(Message.created_at,
                                                                                           Message.id)):
        timeline.append(TimelineEntry(at=m.created_at, kind=m.direction, actor=None, text=m.content,
                                      data={"msg_type": m.msg_type, "channel": m.channel,
                                            "delivery_status": m.delivery_status,
                                            "error_code": m.error_code, "error_message": m.error_message},
                                      ticket_number=numbers[m.ticket_id]))
    for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                             .order_by(TicketEvent.created_at, TicketEvent.id)):
        kind = e.kind if e.kind in ("note", "escalation") else "event"
        timeline.append(TimelineEntry(at=e.created_at, kind=kind, actor=e.actor, text=e.kind, data=dict(e.data)))
    timeline.sort(key=lambda entry: entry.at)
    customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    merged_into = session.scalar(select(Ticket.number).where(Ticket.id == ticket.merged_into_id)) \
        if ticket.merged_into_id else None
    left = time_left(ticket, now)
    channel = reply_channel(ticket, customer)
    reachable = channel is Channel.APP or (channel is Channel.WECHAT and customer is not None and customer.subscribed)
    return TicketView(
        ticket=ticket,
        branch_name=ticket.branch.name if ticket.branch else "—",
        customer_label="APP客户" if channel is Channel.APP else mask_openid(customer.openid if customer else None),
        reply_channel=channel.value if channel else None,
        can_reply=reachable and TicketStatus(ticket.status) in OPEN_STATUSES,
        in_service_window=bool(customer and in_service_window(customer, now=now)),
        assignee=_usernames(session, {ticket.assignee_id}).get(ticket.assignee_id) if ticket.assignee_id else None,
        merged_into=merged_into,
        merged_from=[str(n) for _, n in merged],
        offline=session.scalars(select(OfflineFeedback).where(OfflineFeedback.ticket_id == ticket.id)).first(),
        timeline=timeline,
        revisits=list(session.scalars(select(Revisit).where(Revisit.ticket_id == ticket.id)
                                      .order_by(Revisit.created_at))),
        corrections=list(session.scalars(select(CategoryCorrection).where(CategoryCorrection.ticket_id == ticket.id)
                                         .order_by(CategoryCorrection.created_at))),
        seconds_left=left,
        sla_state=sla_state(left, cfg),
    )


# -- counts for the dashboard (until issue 7's KPIs) -------------------------------------------

@dataclass(frozen=True)
class QueueSummary:
    open_by_status: dict[str, int]
    breached: int
    due_soon: int
    triage: int
    created_today: int
    resolved_today: int
    open_by_category: dict[str, int]
    open_by_branch: dict[str, int]


def queue_summary(session: Session, *, staff: Staff, cfg: Any, now: datetime, day_start: datetime) -> QueueSummary:
    """Ticket counts within `staff`'s scope, computed in SQL."""
    scope = ticket_scope(staff, cfg)
    is_open = Ticket.status.in_(OPEN_VALUES)

    def count(*conds: ColumnElement[bool]) -> int:
        return int(session.scalar(select(func.count()).select_from(Ticket).where(scope, *conds)) or 0)

    by_status = dict(session.execute(select(Ticket.status, func.count()).where(scope, is_open)
                                     .group_by(Ticket.status)).all())
    warn = timedelta(hours=float(cfg.get("console.sla_warn_hours", 2)))
    running = Ticket.sla_paused_at.is_(None)  # pending tickets' clocks are stopped: neither breached nor due
    by_category: dict[str, int] = {}
    for category, n in session.execute(select(Ticket.category, func.count()).where(scope, is_open)
                                       .group_by(Ticket.category)):
        by_category[category or "other"] = by_category.get(category or "other", 0) + int(n)
    by_branch = {name or "未识别网点": int(n) for _, name, n in session.execute(
        select(Ticket.branch_id, Branch.name, func.count()).select_from(Ticket)
        .outerjoin(Branch, Branch.id == Ticket.branch_id).where(scope, is_open)
        .group_by(Ticket.branch_id, Branch.name))}
    return QueueSummary(
        open_by_status={s: int(by_status.get(s, 0)) for s in OPEN_VALUES},
        breached=count(is_open, running, Ticket.escalation_at < now),
        due_soon=count(is_open, running, Ticket.escalation_at >= now, Ticket.escalation_at < now + warn),
        triage=count(is_open, Ticket.needs_triage.is_(True)),
        # Listing every status lets the (status, created_at) index serve the range.
        created_today=count(Ticket.status.in_([st.value for st in TicketStatus]), Ticket.created_at >= day_start),
        resolved_today=count(Ticket.resolved_at >= day_start),
        open_by_category=by_category,
        open_by_branch=by_branch,
    )
