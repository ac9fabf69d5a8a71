"""Improvement measures (服务改进): create, link the tickets they answer, publish to customers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, literal, select
from sqlalchemy.orm import Session

from models import (
    Customer,
    Improvement,
    ImprovementTicket,
    NoticeOutbox,
    OutboxStatus,
    Ticket,
)
from services import audit
from services.once import insert_from_select_ignore, insert_ignore


class ImprovementError(ValueError):
    """A request the improvement workflow refuses; the message is for staff (Chinese)."""


@dataclass(frozen=True)
class PublishResult:
    improvement_id: int
    published_at: datetime
    added_for_tickets: int  # customers of linked tickets newly queued
    added_for_category: int  # other feedback authors (same category, branches, period) newly queued
    total_recipients: int


def create_improvement(
    session: Session,
    *,
    title: str,
    body: str,
    category: str | None,
    branch_ids: Sequence[int],
    effective_date: date | None,
    created_by: str,
    now: datetime,
    ticket_ids: Sequence[int] = (),
) -> Improvement:
    """Record an improvement measure (not yet published), optionally with the tickets it answers."""
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise ImprovementError("改进措施需要标题和正文")
    improvement = Improvement(
        title=title,
        body=body,
        category=category or None,
        branch_ids=sorted({int(b) for b in branch_ids}),
        effective_date=effective_date,
        created_by=created_by,
        created_at=now,
        include_category_feedback=False,
    )
    session.add(improvement)
    session.flush()
    audit.record(session, actor=created_by, action="improvement.create", now=now,
                 target_type="improvement", target_id=improvement.id, data={"title": title})
    if ticket_ids:
        link_tickets(session, improvement_id=improvement.id, ticket_ids=ticket_ids, actor=created_by, now=now)
    return improvement


def link_tickets(session: Session, *, improvement_id: int, ticket_ids: Sequence[int], actor: str,
                 now: datetime) -> int:
    """Link tickets the improvement answers (linking twice is harmless); returns how many were new."""
    wanted = sorted({int(t) for t in ticket_ids})
    existing = set(session.scalars(select(Ticket.id).where(Ticket.id.in_(wanted))))
    missing = [t for t in wanted if t not in existing]
    if missing:
        raise ImprovementError(f"找不到工单：{', '.join(map(str, missing))}")
    rows = [{"improvement_id": improvement_id, "ticket_id": t, "linked_by": actor, "created_at": now} for t in wanted]
    added = insert_ignore(session, ImprovementTicket, rows, returning=[ImprovementTicket.ticket_id])
    return len(added)


def propose_tickets(
    session: Session,
    *,
    category: str | None,
    branch_ids: Sequence[int],
    period_start: datetime,
    period_end: datetime,
    limit: int = 200,
    exclude_improvement_id: int | None = None,
) -> list[Ticket]:
    """Tickets an improvement probably answers: same category, at its branches, created in the period."""
    stmt = select(Ticket).where(Ticket.created_at >= period_start, Ticket.created_at < period_end)
    if category:
        stmt = stmt.where(Ticket.category == category)
    if branch_ids:
        stmt = stmt.where(Ticket.branch_id.in_(list(branch_ids)))
    if exclude_improvement_id is not None:
        linked = select(ImprovementTicket.ticket_id).where(ImprovementTicket.improvement_id == exclude_improvement_id)
        stmt = stmt.where(Ticket.id.not_in(linked))
    return list(session.scalars(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))


def publish_improvement(
    session: Session,
    *,
    improvement_id: int,
    include_category_feedback: bool,
    period_start: datetime | None,
    period_end: datetime | None,
    now: datetime,
    actor: str,
) -> PublishResult:
    """Publish: queue one notice per customer (linked tickets, optionally every author of matching feedback).

    Publishing again (e.g. after linking more tickets) only queues customers not queued yet:
    the (improvement, customer) key is unique.
    """
    improvement = session.scalars(
        select(Improvement).where(Improvement.id == improvement_id).with_for_update()
    ).one_or_none()
    if improvement is None:
        raise ImprovementError(f"找不到改进措施 {improvement_id}")
    if include_category_feedback:
        if period_start is None or period_end is None or not period_start < period_end:
            raise ImprovementError("通知同类反馈客户时需要给出起止时间（开始早于结束）")
        if not improvement.category and not improvement.branch_ids:
            raise ImprovementError("改进措施没有类别和网点，无法确定同类反馈的客户")
    if improvement.published_at is None:
        improvement.published_at = now
        improvement.published_by = actor
    if include_category_feedback:
        improvement.include_category_feedback = True
        improvement.period_start, improvement.period_end = period_start, period_end

    columns = ["improvement_id", "customer_id", "reason", "status", "attempts", "next_attempt_at", "created_at"]

    def recipients(reason: str, condition: object) -> int:
        # Customers reachable on WeChat; unsubscribed ones are skipped at send time (and counted there).
        pick = (
            select(
                literal(improvement.id), Customer.id, literal(reason), literal(OutboxStatus.PENDING.value),
                literal(0), literal(now, type_=NoticeOutbox.next_attempt_at.type),
                literal(now, type_=NoticeOutbox.created_at.type),
            )
            .where(Customer.openid.is_not(None), Customer.id.in_(condition))  # type: ignore[arg-type]
        )
        return insert_from_select_ignore(session, NoticeOutbox, columns, pick)

    linked_customers = (
        select(Ticket.customer_id)
        .join(ImprovementTicket, ImprovementTicket.ticket_id == Ticket.id)
        .where(ImprovementTicket.improvement_id == improvement.id, Ticket.customer_id.is_not(None))
    )
    added_tickets = recipients("ticket", linked_customers)
    added_category = 0
    if include_category_feedback:
        assert period_start is not None and period_end is not None
        filters = [Ticket.created_at >= period_start, Ticket.created_at < period_end,
                   Ticket.customer_id.is_not(None)]
        if improvement.category:
            filters.append(Ticket.category == improvement.category)
        if improvement.branch_ids:
            filters.append(Ticket.branch_id.in_(list(improvement.branch_ids)))
        added_category = recipients("category", select(Ticket.customer_id).where(and_(*filters)))
    total = session.scalar(
        select(func.count()).select_from(NoticeOutbox).where(NoticeOutbox.improvement_id == improvement.id)
    ) or 0
    audit.record(session, actor=actor, action="improvement.publish", now=now, target_type="improvement",
                 target_id=improvement.id, data={
                     "include_category_feedback": include_category_feedback,
                     "added_for_tickets": added_tickets, "added_for_category": added_category,
                     "total_recipients": total,
                 })
    return PublishResult(
        improvement_id=improvement.id,
        published_at=improvement.published_at,
        added_for_tickets=added_tickets,
        added_for_category=added_category,
        total_recipients=int(total),
    )

