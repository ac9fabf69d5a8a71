"""Paper suggestion-box slips, walk-in and phone feedback entered by staff: classified and
handled like any other ticket (channel `offline`, no WeChat customer)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Branch, Channel, OfflineFeedback, Role, Staff, Ticket
from models.staff import OfflineSource
from services import audit
from services.access import InputError
from services.classify import classify
from services.runtime import Runtime
from services.tickets import add_event, submit_feedback

PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,18}[0-9]$")
MAX_TEXT_CHARS = 2000
OLDEST_DAYS = 365


def submit_offline(session: Session, *, runtime: Runtime, staff: Staff, text: str, branch_code: str, source: str,
                   received_on: date, now: datetime, contact_name: str | None = None,
                   contact_phone: str | None = None) -> Ticket:
    """Enter offline feedback for a branch the staff member may work on; returns the new ticket."""
    text = (text or "").strip()
    if not text:
        raise InputError("请填写反馈内容")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"反馈内容不能超过 {MAX_TEXT_CHARS} 个字")
    try:
        source_value = OfflineSource(source)
    except ValueError:
        raise InputError("来源只能是意见箱、到店口述或来电") from None
    today = now.astimezone(runtime.tz).date()
    if received_on > today:
        raise InputError("收到日期不能晚于今天")
    if received_on < today - timedelta(days=OLDEST_DAYS):
        raise InputError(f"收到日期不能早于 {OLDEST_DAYS} 天前")
    branch = session.scalars(select(Branch).where(Branch.code == (branch_code or "").strip().upper(),
                                                  Branch.active.is_(True))).one_or_none()
    if branch is None:
        raise InputError("请选择有效的网点")
    if staff.role == Role.MANAGER.value and branch.id not in {b.id for b in staff.branches}:
        raise InputError("您只能为所辖网点登记反馈")
    name = (contact_name or "").strip()[:64] or None
    phone = (contact_phone or "").strip() or None
    if phone and not PHONE.match(phone):
        raise InputError("联系电话格式不正确")
    classification = classify(session, runtime=runtime, text=text)
    ticket = submit_feedback(session, customer=None, channel=Channel.OFFLINE, classification=classification,
                             now=now, cfg=runtime.cfg, msg_type="text", branch_id=branch.id)
    session.add(OfflineFeedback(ticket_id=ticket.id, source=source_value.value, received_on=received_on,
                                contact_name=name, contact_phone=phone, entered_by_id=staff.id, created_at=now))
    add_event(session, ticket=ticket, kind="offline", now=now, actor=staff.username,
              data={"source": source_value.value, "received_on": received_on.isoformat(), "branch": branch.code})
    audit.record(session, actor=staff.username, action="ticket.offline_create", now=now, target_type="ticket",
                 target_id=ticket.number, data={"source": source_value.value, "branch": branch.code})
    return ticket


def reveal_contact(session: Session, *, staff: Staff, cfg: Any, number: str, now: datetime) -> OfflineFeedback:
    """Show the full contact phone (for a callback); the reveal itself is audited."""
    from services.access import get_ticket

    ticket = get_ticket(session, staff=staff, cfg=cfg, number=number)
    row = session.scalars(select(OfflineFeedback).where(OfflineFeedback.ticket_id == ticket.id)).one_or_none()
    if row is None or not row.contact_phone:
        raise InputError("此工单没有登记联系电话")
    audit.record(session, actor=staff.username, action="ticket.contact_reveal", now=now, target_type="ticket",
                 target_id=ticket.number)
    return row
