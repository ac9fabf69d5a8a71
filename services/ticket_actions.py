"""What staff do to a ticket from the console. Every action loads the ticket through the
acting staff member's scope (out of scope = not found), writes a ticket event and an audit row."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import (
    OPEN_STATUSES,
    CategoryCorrection,
    Channel,
    Customer,
    OfflineFeedback,
    Priority,
    Revisit,
    Staff,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from models.staff import RevisitMethod
from services import audit
from services.access import InputError, can_view, get_ticket
from services.outbound import Delivery, post_to_app, reply_channel, send_to_customer
from services.runtime import Runtime
from services.sla import apply_deadlines, record_staff_reply, refresh_escalation_at
from services.surveys import request_resolution_check
from services.tickets import TransitionError, add_event, transition

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 600  # a customer-service text must stay under WeChat's 2,048 bytes
MAX_NOTE_CHARS = 2000


def _record(session: Session, *, staff: Staff, ticket: Ticket, action: str, now: datetime,
            data: dict[str, Any] | None = None, event: str | None = None) -> None:
    """The ticket's history (what the ticket page shows) and the audit log (who did it)."""
    add_event(session, ticket=ticket, kind=event or action, now=now, actor=staff.username, data=data or {})
    audit.record(session, actor=staff.username, action=f"ticket.{action}", now=now, target_type="ticket",
                 target_id=ticket.number, data=data or {})
    ticket.updated_at = now


def _text(value: str | None, *, limit: int, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(f"{what}不能为空")
    if len(text) > limit:
        raise InputError(f"{what}不能超过 {limit} 个字")
    return text


def _require_open(ticket: Ticket, doing: str) -> None:
    if TicketStatus(ticket.status) not in OPEN_STATUSES:
        raise InputError(f"工单 {ticket.number} 当前状态不能{doing}（请先重新打开）")


def reply(session: Session, *, runtime: Runtime, staff: Staff, number: str, text: str, now: datetime) -> Delivery:
    """Send a reply to the customer: in the app for app tickets; on WeChat a customer-service message
    inside the 48-hour window, else a template."""
    ticket = get_ticket(session, staff=staff, cfg=runtime.cfg, number=number, for_update=True)
    _require_open(ticket, "回复")
    text = _text(text, limit=MAX_REPLY_CHARS, what="回复内容")
    customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    channel = reply_channel(ticket, customer)
    if channel is None or customer is None:
        raise InputError(_unreachable(session, ticket))
    if channel is Channel.APP:
        delivery = post_to_app(session, customer=customer, ticket=ticket, text=text, now=now)
    else:
        # No transaction stays open across the call to WeChat: it would hold the ticket's row lock for
        # the length of a network call, and on SQLite it would block the token store's own connection.
        session.commit()
        delivery = send_to_customer(session, messenger=runtime.wechat_api, cfg=runtime.cfg, customer=customer,
                                    text=text, now=now, tz=runtime.tz, ticket=ticket, title="您的反馈有了回复")
        session.refresh(ticket, with_for_update=True)  # another agent may have moved it meanwhile
    if delivery.ok and TicketStatus(ticket.status) in OPEN_STATUSES:
        if ticket.status == TicketStatus.NEW.value:
            transition(session, ticket=ticket, to=TicketStatus.OPEN, now=now, actor=staff.username)
        record_staff_reply(ticket, now=now)
    _record(session, staff=staff, ticket=ticket, action="reply", now=now, data={
        "status": delivery.status, "channel": delivery.channel, "error_code": delivery.error_code,
        "message_id": delivery.message_id, "result": delivery.describe()})
    return delivery


def _unreachable(session: Session, ticket: Ticket) -> str:
    """Why a reply cannot be sent, and what to do instead (as a helpdesk would: log the call)."""
    if ticket.channel == Channel.OFFLINE.value:
        phone = session.scalar(select(OfflineFeedback.contact_phone).where(OfflineFeedback.ticket_id == ticket.id))
        if phone:
            return "线下登记的工单无法在线回复：请按登记的联系电话联系客户，并在“记录回访”中登记结果"
        return ("线下登记的工单没有客户联系方式，无法回复客户；如与客户电话或当面沟通过，"
                "请在“记录回访”中登记结果，或添加内部备注")
    return "此工单没有可用的联系渠道（微信或APP），无法在线回复；请电话或当面回访后记录回访结果"


def add_note(session: Session, *, runtime: Runtime, staff: Staff, number: str, text: str, now: datetime) -> None:
    """An internal note: visible to staff on the ticket page, never sent to the customer."""
    ticket = get_ticket(session, staff=staff, cfg=runtime.cfg, number=number, for_update=True)
    _record(session, staff=staff, ticket=ticket, action="note", now=now,
            data={"text": _text(text, limit=MAX_NOTE_CHARS, what="备注")})


def assign(session: Session, *, runtime: Runtime, staff: Staff, number: str, assignee: str | None,
           now: datetime) -> Staff | None:
    """Give the ticket to a staff member who can see it (None: unassign)."""
    ticket = get_ticket(session, staff=staff, cfg=runtime.cfg, number=number, for_update=True)
    target: Staff | None = None
    if assignee:
        target = session.scalars(select(Staff).where(Staff.username == assignee.strip().lower(),
                                                     Staff.active.is_(True))).one_or_none()
        if target is None or not can_view(session, staff=target, ticket=ticket, cfg=runtime.cfg):
            raise InputError(f"员工 {assignee} 不存在、已停用或无权处理此工单")
    old = ticket.assignee_id
    ticket.assignee_id = target.id if target else None
    _record(session, staff=staff, ticket=ticket, action="assign", now=now, data={
        "from": _username(session, old), "to": target.username if target else None})
    return target


def take(session: Session, *, runtime: Runtime, staff: Staff, number: str, now: datetime) -> None:
    """"领取": assign the ticket to oneself."""
    assign(session, runtime=runtime, staff=staff, number=number, assignee=staff.username, now=now)


def transfer(session: Session, *, runtime: Runtime, staff: Staff, number: str, team: str, now: datetime) -> None:
    """Route the ticket to another team (its assignee is cleared: the new team picks it up)."""
    ticket = get_ticket(session, staff=staff, cfg=runtime.cfg, number=number, for_update=True)
    teams = runtime.cfg.section("teams")
    if team not in teams:
        raise InputError(f"没有小组 {team}")
    if team == ticket.team:
        raise InputError("工单已在该小组")
    old = ticket.team
    ticket.team = team
    ticket.assignee_id = None
    _record(session, staff=staff, ticket=ticket, action="transfer", now=now, data={"from": old, "to": team})


def change_category(session: Session, *, runtime: Runtime, staff: Staff, number: str, category: str,
                    now: datetime) -> CategoryCorrection | None:
    """Set the category (routing the ticket to that category's team) and clear manual triage.

    A changed category is stored as a training correction; confirming the classifier's
    category only takes the ticket out of triage.
    """
    cfg = runtime.cfg
    ticket = get_ticket(session, staff=staff, cfg=cfg, number=number, for_update=True)
    if category not in cfg.section("labels").get("categories", {}):
        raise InputError(f"没有类别 {category}")
    old = ticket.category
    correction = None
    if category != old:
        correction = CategoryCorrection(ticket_id=ticket.id, text=ticket.text, old_category=old,
                                        new_category=category, staff_id=staff.id, created_at=now)
        session.add(correction)
    elif not ticket.needs_triage:
        raise InputError("类别没有变化")
    ticket.category = category
    ticket.needs_triage = False
    new_team = cfg.section("routing").get("categories", {}).get(category) or ticket.team
    if new_team != ticket.team:
        ticket.team = new_team
        ticket.assignee_id = None
    _record(session, staff=staff, ticket=ticket, action="category" if correction else "triage", now=now,
            data={"from": old, "to": category, "team": ticket.team})
    return correction


def _clock_start(session: Session, ticket: Ticket) -> datetime:
    """When the current SLA clock started: creation, or the latest reopening."""
    events = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                       TicketEvent.kind == "status")
                             .order_by(TicketEvent.created_at.desc(), TicketEvent.id.desc())).all()
    for event in events:
        if event.data.get("from") == TicketStatus.RESOLVED.value and event.data.get("to") == TicketStatus.OPEN.value:
            return event.created_at
    return ticket.created_at


def change_priority(session: Session, *, runtime: Runtime, staff: Staff, number: str, priority: str,
                    now: datetime) -> None:
    """New priority; the deadlines are recomputed from when the current clock started."""
    ticket = get_ticket(session, staff=staff, cfg=runtime.cfg, number=number, for_update=True)
    try:
        value = Priority(priority)
    except ValueError:
        raise InputError("优先级只能是 normal（普通）或 urgent（加急）") from None
    if value.value == ticket.priority:
        raise InputError("优先级没有变化")
    _require_open(ticket, "调整优先级")
    old = ticket.priority
    replied = ticket.first_reply_due_at is None and ticket.first_replied_at is not None
    ticket.priority = value.value
    apply_deadlines(ticket, sla=runtime.cfg.section("sla"), start=_clock_start(session, ticket))
    if replied:  # the reply already given still counts
        ticket.first_reply_due_at = None
        refresh_escalation_at(ticket)
    _record(session, staff=staff, ticket=ticket, action="priority", now=now, data={
        "from": old, "to": value.value,
        "resolution_due_at": ticket.resolution_due_at.isoformat() if ticket.resolution_due_at else None})


def merge(session: Session, *, runtime: Runtime, staff: Staff, number: str, into: str, now: datetime) -> Ticket:
    """Fold a duplicate into another ticket: it becomes `merged`, its messages show on the target."""
    cfg = runtime.cfg
    source = get_ticket(session, staff=staff, cfg=cfg, number=number)
    target = get_ticket(session, staff=staff, cfg=cfg, number=into)
    if source.id == target.id:
        raise InputError("不能把工单合并到它自己")
    # Lock both rows in id order, so two opposite merges cannot deadlock each other.
    session.scalars(select(Ticket).where(Ticket.id.in_(sorted((source.id, target.id)))).order_by(Ticket.id)
                    .with_for_update().execution_options(populate_existing=True)).all()
    if target.status in (TicketStatus.MERGED.value, TicketStatus.CLOSED.value):
        raise InputError(f"目标工单 {target.number} 已合并或已关闭")
    try:
        transition(session, ticket=source, to=TicketStatus.MERGED, now=now, actor=staff.username)
    except TransitionError as exc:
        raise InputError(str(exc)) from None
    source.merged_into_id = target.id
    # Tickets merged into the source earlier follow it, so one hop always reaches the survivor.
    session.execute(update(Ticket).where(Ticket.merged_into_id == source.id, Ticket.id != source.id)
                    .values(merged_into_id=target.id))
    _record(session, staff=staff, ticket=source, action="merge", now=now, data={"into": target.number})
    add_event(session, ticket=target, kind="merged_in", now=now, actor=staff.username,
              data={"from": source.number})
    target.updated_at = now
    return target


def _resolution_check(session: Session, *, runtime: Runtime, ticket: Ticket, now: datetime) -> None:
    """Issue 4's post-resolution question to the customer (once per ticket)."""
    try:
        request_resolution_check(session, runtime=runtime, ticket=ticket, now=now)
        session.commit()
    except Exception:  # the question is a courtesy: its failure must not undo the resolution
        session.rollback()
        log.exception("resolution check for %s failed", ticket.number)


def resolve(session: Session, *, runtime: Runtime, staff: Staff, number: str, now: datetime) -> None:
    """Mark resolved (committed at once), then ask the customer whether they are satisfied."""
    ticket = get_ticket(session, staff=staff, cfg=runtime.cfg, number=number, for_update=True)
    try:
        transition(session, ticket=ticket, to=TicketStatus.RESOLVED, now=now, actor=staff.username)
    except TransitionError as exc:
        raise InputError(str(exc)) from None
    audit.record(session, actor=staff.username, action="ticket.resolve", now=now, target_type="ticket",
                 target_id=ticket.number)
    # Committed before the question goes out: no transaction is held across the call to WeChat.
    session.commit()
    _resolution_check(session, runtime=runtime, ticket=ticket, now=now)


def _move(session: Session, *, runtime: Runtime, staff: Staff, number: str, now: datetime,
          allowed: tuple[TicketStatus, ...], refusal: str, to: TicketStatus, action: str) -> None:
    """A staff status change from one of `allowed` to `to`, audited; anything else is refused unchanged."""
    ticket = get_ticket(session, staff=staff, cfg=runtime.cfg, number=number, for_update=True)
    if TicketStatus(ticket.status) not in allowed:
        raise InputError(refusal)
    transition(session, ticket=ticket, to=to, now=now, actor=staff.username, sla=runtime.cfg.section("sla"))
    audit.record(session, actor=staff.username, action=action, now=now, target_type="ticket",
                 target_id=ticket.number)


def reopen(session: Session, *, runtime: Runtime, staff: Staff, number: str, now: datetime) -> None:
    """Back to open with fresh deadlines."""
    _move(session, runtime=runtime, staff=staff, number=number, now=now, allowed=(TicketStatus.RESOLVED,),
          refusal="只有已解决的工单可以重新打开", to=TicketStatus.OPEN, action="ticket.reopen")


def wait_for_customer(session: Session, *, runtime: Runtime, staff: Staff, number: str, now: datetime) -> None:
    """Pending: the team waits for the customer, and the ticket's deadlines stop until the wait ends.

    A message from the customer ends the wait by itself (back to open); so does `resume_work`.
    """
    _move(session, runtime=runtime, staff=staff, number=number, now=now,
          allowed=(TicketStatus.NEW, TicketStatus.OPEN), refusal="只有待处理或处理中的工单可以设为等待客户回复",
          to=TicketStatus.PENDING, action="ticket.pending")


def resume_work(session: Session, *, runtime: Runtime, staff: Staff, number: str, now: datetime) -> None:
    """End the wait without the customer: open again, deadlines moved on by the time they were stopped."""
    _move(session, runtime=runtime, staff=staff, number=number, now=now, allowed=(TicketStatus.PENDING,),
          refusal="只有等待客户回复的工单可以恢复处理", to=TicketStatus.OPEN, action="ticket.resume")


def record_revisit(session: Session, *, runtime: Runtime, staff: Staff, number: str, method: str, outcome: str,
                   satisfaction: int | None, now: datetime) -> Revisit:
    """A follow-up call, visit or WeChat conversation with the customer (回访) and its result."""
    ticket = get_ticket(session, staff=staff, cfg=runtime.cfg, number=number, for_update=True)
    if ticket.status == TicketStatus.MERGED.value:
        raise InputError("已合并的工单请在目标工单上记录回访")
    try:
        method_value = RevisitMethod(method)
    except ValueError:
        raise InputError("回访方式只能是电话、上门/到店或微信") from None
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        raise InputError("满意度须为 1–5 分")
    revisit = Revisit(ticket_id=ticket.id, staff_id=staff.id, method=method_value.value,
                      outcome=_text(outcome, limit=MAX_NOTE_CHARS, what="回访结果"), satisfaction=satisfaction,
                      created_at=now)
    session.add(revisit)
    _record(session, staff=staff, ticket=ticket, action="revisit", now=now,
            data={"method": method_value.value, "satisfaction": satisfaction})
    return revisit


def _username(session: Session, staff_id: int | None) -> str | None:
    return session.scalar(select(Staff.username).where(Staff.id == staff_id)) if staff_id else None


def eligible_assignees(session: Session, *, runtime: Runtime, staff: Staff, number: str) -> list[Staff]:
    """Active staff who may work this ticket (the choices of the assign form)."""
    ticket = get_ticket(session, staff=staff, cfg=runtime.cfg, number=number)
    candidates = session.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.username)).all()
    return [s for s in candidates if can_view(session, staff=s, ticket=ticket, cfg=runtime.cfg)]
