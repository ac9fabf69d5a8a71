"""Tickets and messages as the API shows them to the customer (no internal fields)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from api.openapi import STATUS_NAMES
from models import Direction, Message, Ticket
from services import app_feedback
from services.app_followup import Notice, OpenSurvey, SurveyAnswer


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    branch = ticket.branch
    return {
        "number": ticket.number,
        "channel": ticket.channel,
        "status": ticket.status,
        "status_name": STATUS_NAMES.get(ticket.status, ticket.status),
        "type": ticket.type,
        "category": ticket.category,
        "priority": ticket.priority,
        "branch": {"code": branch.code, "name": branch.name} if branch is not None else None,
        "text": ticket.text,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
    }


def message_item(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "from": "customer" if message.direction == Direction.INBOUND.value else "bank",
        "text": message.content,
        "created_at": iso(message.created_at),
    }


def ticket_detail(session: Session, ticket: Ticket) -> dict[str, Any]:
    return {
        **ticket_summary(ticket),
        "client_id": app_feedback.client_id_of(session, ticket_id=ticket.id),
        "reply_due_at": iso(ticket.first_reply_due_at),
        "resolution_due_at": iso(ticket.resolution_due_at),
        "resolved_at": iso(ticket.resolved_at),
        "closed_at": iso(ticket.closed_at),
        "messages": [message_item(m) for m in app_feedback.conversation(session, ticket_id=ticket.id)],
    }


def improvement_notice(notice: Notice) -> dict[str, Any]:
    improvement = notice.improvement
    return {
        "id": improvement.id,
        "title": improvement.title,
        "body": improvement.body,
        "category": improvement.category,
        "effective_date": improvement.effective_date.isoformat() if improvement.effective_date else None,
        "published_at": iso(improvement.published_at),
        "tickets": notice.ticket_numbers,
    }


def survey(item: OpenSurvey) -> dict[str, Any]:
    survey_round = item.survey_round
    return {
        "id": survey_round.id,
        "name": survey_round.name,
        "branch_codes": list(survey_round.branch_codes or []),
        "starts_at": iso(survey_round.starts_at),
        "ends_at": iso(survey_round.ends_at),
        "answered": item.answered,
    }


def survey_answer(answer: SurveyAnswer) -> dict[str, Any]:
    ticket = answer.complaint_ticket
    return {"survey": survey(answer.survey), "message": answer.reply,
            "complaint_ticket": ticket.number if ticket is not None else None}
