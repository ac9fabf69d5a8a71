"""Improvement measures from the console, over issue 5's services (improvements, notices), with
the console's permission rules: managers write and publish for their own branches, admins for
any; everyone may read. Tickets are proposed and linked only within the staff member's scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Branch, Improvement, ImprovementTicket, Role, Staff, Ticket
from services import audit
from services import improvements as measures
from services.access import InputError, NotAllowed, get_ticket, ticket_scope
from services.notices import NoticeProgress, notice_progress


@dataclass(frozen=True)
class ImprovementView:
    improvement: Improvement
    branches: list[Branch]
    linked: list[Ticket]  # the linked tickets this staff member may see
    hidden_linked: int  # linked tickets outside their scope (counted, not shown)
    proposed: list[Ticket]
    progress: NoticeProgress | None
    can_edit: bool


def _can_edit(staff: Staff, improvement: Improvement | None = None) -> bool:
    if not staff.active:
        return False
    if staff.role == Role.ADMIN.value:
        return True
    if staff.role != Role.MANAGER.value:
        return False
    if improvement is None:
        return True
    mine = {b.id for b in staff.branches}
    return bool(improvement.branch_ids) and set(improvement.branch_ids) <= mine


def _require_edit(staff: Staff, improvement: Improvement | None = None) -> None:
    if not _can_edit(staff, improvement):
        raise NotAllowed("只有管理员或所涉网点的负责人可以编辑、发布改进措施")


def list_improvements(session: Session, *, limit: int = 50) -> list[Improvement]:
    return list(session.scalars(select(Improvement).order_by(Improvement.created_at.desc(), Improvement.id.desc())
                                .limit(limit)))


def _get(session: Session, improvement_id: int) -> Improvement:
    improvement = session.get(Improvement, improvement_id)
    if improvement is None:
        raise InputError(f"找不到改进措施 {improvement_id}")
    return improvement


def create(session: Session, *, staff: Staff, cfg: Any, title: str, body: str, category: str | None,
           branch_codes: Sequence[str], effective_date: date | None, now: datetime) -> Improvement:
    """Write a measure (not yet published). A manager's measure names only their own branches."""
    _require_edit(staff)
    if category and category not in cfg.section("labels").get("categories", {}):
        raise InputError(f"没有类别 {category}")
    codes = sorted({c.strip().upper() for c in branch_codes if c.strip()})
    branches = list(session.scalars(select(Branch).where(Branch.code.in_(codes)))) if codes else []
    if len(branches) != len(codes):
        raise InputError("请选择有效的网点")
    if staff.role == Role.MANAGER.value:
        mine = {b.id for b in staff.branches}
        if not branches or not {b.id for b in branches} <= mine:
            raise InputError("网点负责人只能为所辖网点发布改进措施（请选择网点）")
    if len(title.strip()) > 128:
        raise InputError("标题不能超过 128 个字")
    try:
        return measures.create_improvement(session, title=title, body=body, category=category or None,
                                           branch_ids=[b.id for b in branches], effective_date=effective_date,
                                           created_by=staff.username, now=now)
    except measures.ImprovementError as exc:
        raise InputError(str(exc)) from None


def _period(now: datetime, days: int) -> tuple[datetime, datetime]:
    if not 1 <= days <= 366:
        raise InputError("期间须为 1–366 天")
    return now - timedelta(days=days), now + timedelta(seconds=1)


def view(session: Session, *, staff: Staff, cfg: Any, improvement_id: int, now: datetime,
         proposal_days: int = 90) -> ImprovementView:
    """A measure, the tickets linked to it and the ones proposed (both within the staff member's scope)."""
    improvement = _get(session, improvement_id)
    scope = ticket_scope(staff, cfg)
    linked_ids = select(ImprovementTicket.ticket_id).where(ImprovementTicket.improvement_id == improvement.id)
    linked = list(session.scalars(select(Ticket).where(Ticket.id.in_(linked_ids), scope).order_by(Ticket.id)))
    total_linked = len(list(session.scalars(linked_ids)))
    start, end = _period(now, proposal_days)
    proposed_all = measures.propose_tickets(session, category=improvement.category,
                                            branch_ids=improvement.branch_ids, period_start=start, period_end=end,
                                            exclude_improvement_id=improvement.id, limit=100)
    visible = set(session.scalars(select(Ticket.id).where(Ticket.id.in_([t.id for t in proposed_all]), scope)))
    branches = list(session.scalars(select(Branch).where(Branch.id.in_(improvement.branch_ids or []))))
    progress = notice_progress(session, improvement_id=improvement.id) if improvement.published_at else []
    return ImprovementView(improvement=improvement, branches=branches, linked=linked,
                           hidden_linked=total_linked - len(linked),
                           proposed=[t for t in proposed_all if t.id in visible],
                           progress=progress[0] if progress else None, can_edit=_can_edit(staff, improvement))


def link(session: Session, *, staff: Staff, cfg: Any, improvement_id: int, numbers: Sequence[str],
         now: datetime) -> int:
    """Accept proposed tickets (or add any by number) as answered by this measure."""
    improvement = _get(session, improvement_id)
    _require_edit(staff, improvement)
    wanted = [n.strip() for n in numbers if n and n.strip()]
    if not wanted:
        raise InputError("请选择或填写要关联的工单")
    ids = [get_ticket(session, staff=staff, cfg=cfg, number=n).id for n in wanted]
    added = measures.link_tickets(session, improvement_id=improvement.id, ticket_ids=ids, actor=staff.username,
                                  now=now)
    audit.record(session, actor=staff.username, action="improvement.link", now=now, target_type="improvement",
                 target_id=improvement.id, data={"tickets": wanted, "added": added})
    return added


def publish(session: Session, *, staff: Staff, improvement_id: int, include_category_feedback: bool,
            period_days: int, now: datetime) -> measures.PublishResult:
    """Publish: one notice per customer of the linked tickets (and optionally same-category feedback)."""
    improvement = _get(session, improvement_id)
    _require_edit(staff, improvement)
    start, end = _period(now, period_days) if include_category_feedback else (None, None)
    try:
        return measures.publish_improvement(session, improvement_id=improvement.id,
                                            include_category_feedback=include_category_feedback,
                                            period_start=start, period_end=end, now=now, actor=staff.username)
    except measures.ImprovementError as exc:
        raise InputError(str(exc)) from None
