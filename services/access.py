"""Who may see and touch what: the scope filter every console query and action goes through.

- admin: every ticket;
- manager: tickets of the branches they manage;
- agent: tickets routed to their team; agents of the triage team also see low-confidence tickets.

A ticket outside the acting staff member's scope is reported exactly like a missing one
(`TicketNotFound`), so the console answers 404 and never confirms that it exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from models import Role, Staff, Ticket


class TicketNotFound(LookupError):
    """No such ticket, or not one this staff member may see."""

    def __init__(self, ref: object) -> None:
        super().__init__(f"找不到工单 {ref}")


class NotAllowed(PermissionError):
    """The staff member's role does not allow this (staff administration, config view, …)."""


class InputError(ValueError):
    """Bad input from a form: the message says what to fix, in Chinese; nothing was changed."""


def triage_team(cfg: Any) -> str:
    return str(cfg.get("console.triage_team", "feedback") or "")


def ticket_scope(staff: Staff, cfg: Any) -> ColumnElement[bool]:
    """The WHERE clause limiting tickets to what `staff` may see."""
    if not staff.active:
        return false()
    role = Role(staff.role)
    if role is Role.ADMIN:
        return true()
    if role is Role.MANAGER:
        branch_ids = [b.id for b in staff.branches]
        return Ticket.branch_id.in_(branch_ids) if branch_ids else false()
    if not staff.team:
        return false()
    clause: ColumnElement[bool] = Ticket.team == staff.team
    if staff.team == triage_team(cfg):
        clause = or_(clause, and_(Ticket.needs_triage.is_(True), Ticket.team.is_(None)))
    return clause


def can_view(session: Session, *, staff: Staff, ticket: Ticket, cfg: Any) -> bool:
    """The same rule as `ticket_scope`, asked of the database so the two can never disagree."""
    found = session.scalar(select(Ticket.id).where(Ticket.id == ticket.id, ticket_scope(staff, cfg)))
    return found is not None


def get_ticket(session: Session, *, staff: Staff, cfg: Any, number: str, for_update: bool = False) -> Ticket:
    """The ticket with this number if `staff` may see it; otherwise TicketNotFound."""
    number = (number or "").strip().upper()
    stmt = select(Ticket).where(Ticket.number == number, ticket_scope(staff, cfg))
    if for_update:
        stmt = stmt.with_for_update()
    ticket = session.scalars(stmt).one_or_none()
    if ticket is None:
        raise TicketNotFound(number)
    return ticket


def require_admin(staff: Staff) -> None:
    if not staff.active or staff.role != Role.ADMIN.value:
        raise NotAllowed("只有管理员可以执行此操作")


def mask_openid(openid: str | None) -> str:
    """oQianjia…0001 → oQia****0001: enough to tell customers apart, not enough to message them."""
    if not openid:
        return "—"
    if len(openid) <= 8:
        return openid[:1] + "****"
    return f"{openid[:4]}****{openid[-4:]}"


def mask_phone(phone: str | None) -> str:
    if not phone:
        return "—"
    digits = phone.strip()
    if len(digits) <= 4:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"
