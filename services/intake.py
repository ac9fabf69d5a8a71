"""Feedback arriving on WeChat: new tickets, follow-ups to an open ticket, media, and the branch
a ticket is about."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import OPEN_STATUSES, Branch, Direction, Message, Priority, Ticket, TicketStatus
from services.classify import branch_refs, classify
from services.runtime import Runtime
from services.sla import apply_deadlines, pending_answer_window
from services.tickets import Classification, add_event, transition
from services.visits import recent_visit_branches

# Staff read these in a ticket that began with something other than text.
MEDIA_LABELS = {
    "image": "图片", "voice": "语音", "video": "视频", "shortvideo": "小视频",
    "location": "位置", "link": "链接", "file": "文件",
}


def followup_ticket(session: Session, *, customer_id: int, now: datetime, cfg: Any) -> Ticket | None:
    """The ticket a free-text message continues, if any.

    The open ticket the customer wrote to within conversations.followup_window_minutes; failing that, the
    ticket on which the team is waiting for this customer's answer (the wait began less than
    conversations.pending_answer_hours ago; after that the escalation sweep ends it), so the answer
    reaches it and ends the wait.
    """
    recent = _recently_written_ticket(session, customer_id=customer_id, now=now, cfg=cfg)
    if recent is not None:
        return recent
    wait = pending_answer_window(cfg)
    return session.scalars(
        select(Ticket)
        .where(Ticket.customer_id == customer_id, Ticket.status == TicketStatus.PENDING.value,
               Ticket.sla_paused_at > now - wait)
        .order_by(Ticket.sla_paused_at.desc(), Ticket.id.desc())
        .limit(1)
    ).first()


def _recently_written_ticket(session: Session, *, customer_id: int, now: datetime, cfg: Any) -> Ticket | None:
    window = timedelta(minutes=float(cfg.get("conversations.followup_window_minutes", 30)))
    last_in = (
        select(Message.ticket_id, func.max(Message.created_at).label("last_at"))
        .where(Message.customer_id == customer_id, Message.direction == Direction.INBOUND.value,
               Message.ticket_id.is_not(None))
        .group_by(Message.ticket_id)
        .subquery()
    )
    return session.scalars(
        select(Ticket)
        .join(last_in, last_in.c.ticket_id == Ticket.id)
        .where(Ticket.status.in_([s.value for s in OPEN_STATUSES]), last_in.c.last_at >= now - window)
        .order_by(last_in.c.last_at.desc(), Ticket.id.desc())
        .limit(1)
    ).first()


def raw_classification(session: Session, *, runtime: Runtime, text: str) -> Classification:
    """What is known without the classifier model: redacted text, urgency and a named branch."""
    from nlp import UrgencyRules, detect_branch, redact

    redacted = redact(text)
    urgency = UrgencyRules(runtime.cfg.section("nlp").get("urgency") or None).match(redacted)
    refs = branch_refs(session)
    return Classification(
        text=redacted,
        priority=Priority.URGENT.value if urgency.urgent else Priority.NORMAL.value,
        urgent_reasons=tuple(urgency.reasons),
        needs_triage=True,
        branch_code=detect_branch(redacted, refs) if refs and redacted else None,
    )


def with_type(classification: Classification, kind: str | None) -> Classification:
    """The customer said what it is (我要投诉 / 我要建议): that wins over the classifier's guess."""
    if not kind:
        return classification
    return dataclasses.replace(classification, type=kind, type_confidence=1.0)


def apply_classification(session: Session, *, ticket: Ticket, classification: Classification, cfg: Any,
                         now: datetime) -> None:
    """Classify a ticket that was stored before its text could be classified (media first, slow start)."""
    ticket.type = ticket.type or classification.type
    ticket.type_confidence = classification.type_confidence if ticket.type_confidence is None \
        else ticket.type_confidence
    ticket.category = classification.category
    ticket.category_confidence = classification.category_confidence
    ticket.needs_triage = classification.needs_triage
    ticket.team = classification.team
    if classification.branch_code and ticket.branch_id is None:
        ticket.branch_id = session.scalars(select(Branch.id).where(Branch.code == classification.branch_code)).first()
    reasons = sorted(set(ticket.urgent_reasons or []) | set(classification.urgent_reasons))
    ticket.urgent_reasons = reasons
    if classification.priority == Priority.URGENT.value and ticket.priority != Priority.URGENT.value:
        ticket.priority = Priority.URGENT.value
        apply_deadlines(ticket, sla=cfg.section("sla"), start=ticket.created_at)
    ticket.updated_at = now
    add_event(session, ticket=ticket, kind="classified", now=now, data={
        "type": ticket.type, "category": ticket.category, "team": ticket.team,
        "needs_triage": ticket.needs_triage, "priority": ticket.priority})


def append_to_ticket(session: Session, *, runtime: Runtime, ticket: Ticket, message: Message, text: str | None,
                     now: datetime) -> None:
    """A follow-up message joins the open ticket instead of opening a new one."""
    message.ticket_id = ticket.id
    ticket.updated_at = now
    if ticket.status == TicketStatus.PENDING.value:
        # The team was waiting for the customer: the answer is in.
        transition(session, ticket=ticket, to=TicketStatus.OPEN, now=now, actor="customer",
                   sla=runtime.cfg.section("sla"))
    if ticket.type is None and text:
        # The ticket began with a picture or a voice note; the first words classify it.
        apply_classification(session, ticket=ticket, classification=classify(session, runtime=runtime, text=text),
                             cfg=runtime.cfg, now=now)
    add_event(session, ticket=ticket, kind="customer_message", now=now,
              data={"message_id": message.id, "msg_type": message.msg_type})


def branch_by_code(session: Session, code: str) -> Branch | None:
    return session.scalars(select(Branch).where(Branch.code == code, Branch.active.is_(True))).first()


def suggest(session: Session, *, text: str, limit: int) -> list[Branch]:
    """Active branches whose names come closest to `text`, best first."""
    from nlp import suggest_branches

    found = (branch_by_code(session, ref.code) for ref in suggest_branches(text, branch_refs(session), limit=limit))
    return [b for b in found if b is not None]


def branch_options(session: Session, *, customer_id: int, text: str, limit: int) -> list[Branch]:
    """Branches to offer when asking which one: the customer's recent check-ins, then names close to the text."""
    options = recent_visit_branches(session, customer_id=customer_id, limit=limit)
    if len(options) < limit and text:
        options += [b for b in suggest(session, text=text, limit=limit) if b not in options]
    return options[:limit]


def find_branch(session: Session, text: str) -> Branch | None:
    """The branch a short answer names (exact, alias or a close short form)."""
    from nlp import detect_branch

    code = detect_branch(text, branch_refs(session)) if text else None
    return None if code is None else branch_by_code(session, code)


def has_branches(session: Session) -> bool:
    return session.scalar(select(Branch.id).where(Branch.active.is_(True)).limit(1)) is not None


def set_ticket_branch(session: Session, *, ticket: Ticket, branch: Branch, now: datetime) -> None:
    ticket.branch_id = branch.id
    ticket.updated_at = now
    add_event(session, ticket=ticket, kind="branch_set", now=now, actor="customer", data={"branch": branch.code})
