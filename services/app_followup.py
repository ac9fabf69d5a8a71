"""After the ticket, for app customers: rating how it was handled (issue 4's post-resolution
check), answering a satisfaction survey round (issue 4's surveys) and the improvement notices
that concern them (issue 5's notices)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    Channel,
    Customer,
    Improvement,
    ImprovementTicket,
    SurveyKind,
    SurveyResponse,
    SurveyRound,
    Ticket,
    TicketStatus,
)
from services import surveys
from services.app_feedback import (
    FeedbackConflict,
    FeedbackError,
    FeedbackInvalid,
    FeedbackNotFound,
    get_ticket,
)
from services.notices import notices_for_customer
from services.runtime import Runtime
from services.surveys import answer_resolution_check

RATEABLE = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)


@dataclass(frozen=True)
class Rating:
    ticket: Ticket
    reply: str  # what the bank says back (Chinese), as on WeChat


@dataclass(frozen=True)
class Notice:
    improvement: Improvement
    ticket_numbers: list[str]  # the customer's own tickets this improvement answers


def rate_ticket(session: Session, *, runtime: Runtime, customer_id: int | None, number: str, score: int,
                now: datetime) -> Rating:
    """The customer's answer to "are you satisfied with how we handled it?": once per ticket;
    a low score reopens a resolved ticket (issue 4's rule)."""
    cfg = runtime.cfg
    ticket = get_ticket(session, customer_id=customer_id, number=number, for_update=True)
    days = float(cfg.get("surveys.resolution_check.answer_within_days", 7))
    if (not cfg.get("surveys.resolution_check.enabled", True) or ticket.status not in RATEABLE
            or ticket.resolved_at is None or ticket.resolved_at < now - timedelta(days=days)):
        raise FeedbackConflict("survey_not_open", f"工单 {ticket.number} 现在不能评价：处理完成后 {days:g} 天内可以评价")
    check = SurveyResponse(customer_id=ticket.customer_id, ticket_id=ticket.id, branch_id=ticket.branch_id,
                           kind=SurveyKind.RESOLUTION_CHECK.value, aspects={}, started_at=now)
    try:
        with session.begin_nested():
            session.add(check)  # one check per ticket: the unique ticket_id decides
    except IntegrityError:
        check = session.scalars(
            select(SurveyResponse).where(SurveyResponse.ticket_id == ticket.id).with_for_update()
        ).one()
        if check.completed_at is not None:
            raise FeedbackConflict("survey_already_answered", f"您已评价过工单 {ticket.number}，感谢您的反馈") from None
    reply = answer_resolution_check(session, runtime=runtime, check=check, score=score, now=now)
    session.flush()
    return Rating(ticket=ticket, reply=reply)


@dataclass(frozen=True)
class OpenSurvey:
    survey_round: SurveyRound
    answered: bool


@dataclass(frozen=True)
class SurveyAnswer:
    survey: OpenSurvey
    reply: str  # the thanks, as on WeChat
    complaint_ticket: Ticket | None  # opened by a low score or a complaining comment


def open_surveys(session: Session, *, runtime: Runtime, customer_id: int | None, now: datetime) -> list[OpenSurvey]:
    """The running survey rounds this customer was invited to or is in the audience of (issue 4's rule)."""
    if customer_id is None:
        return []
    return [OpenSurvey(survey_round=r, answered=surveys.completed_round(session, round_id=r.id,
                                                                       customer_id=customer_id))
            for r in surveys.rounds_for_customer(session, runtime=runtime, customer_id=customer_id, now=now)]


def answer_survey(session: Session, *, runtime: Runtime, customer: Customer, round_id: int, overall: int | None,
                  aspects: dict[str, Any], nps: int | None, comment: str | None, now: datetime) -> SurveyAnswer:
    """A whole survey response from the app; a low score opens a complaint ticket as on WeChat (channel app)."""
    try:
        recorded = surveys.record_survey_response(session, runtime=runtime, customer=customer, round_id=round_id,
                                                  overall=overall, aspects=aspects, nps=nps, comment=comment,
                                                  channel=Channel.APP, now=now)
    except surveys.SurveyAnswerError as exc:
        refusal: type[FeedbackError] = FeedbackInvalid
        if isinstance(exc, surveys.SurveyNotFound):
            refusal = FeedbackNotFound
        elif isinstance(exc, surveys.SurveyConflict):
            refusal = FeedbackConflict
        raise refusal(exc.code, exc.message, field=exc.field) from None
    response = recorded.response
    complaint = session.get(Ticket, response.complaint_ticket_id) if response.complaint_ticket_id else None
    survey_round = session.get_one(SurveyRound, round_id)
    return SurveyAnswer(survey=OpenSurvey(survey_round=survey_round, answered=True), reply=recorded.reply,
                        complaint_ticket=complaint)


def improvement_notices(session: Session, *, customer_id: int | None, now: datetime, limit: int,
                        recent_days: int) -> list[Notice]:
    """Published improvements answering the customer's tickets, told to them, or recent; newest first."""
    # Row ids start at 1: a customer not yet known gets only the recent notices.
    shown = {i.id: i for i in notices_for_customer(session, customer_id=customer_id or 0, now=now, limit=limit,
                                                     recent_days=recent_days)}
    numbers: dict[int, list[str]] = {}
    if customer_id is not None:
        rows = session.execute(
            select(Improvement, Ticket.number)
            .join(ImprovementTicket, ImprovementTicket.improvement_id == Improvement.id)
            .join(Ticket, Ticket.id == ImprovementTicket.ticket_id)
            .where(Ticket.customer_id == customer_id, Improvement.published_at.is_not(None),
                   Improvement.published_at <= now)
            .order_by(Ticket.id)
        ).all()
        for improvement, number in rows:
            shown[improvement.id] = improvement
            numbers.setdefault(improvement.id, []).append(str(number))  # numbered at creation
    ordered = sorted(shown.values(), key=lambda i: (i.published_at, i.id), reverse=True)[:limit]
    return [Notice(improvement=i, ticket_numbers=numbers.get(i.id, [])) for i in ordered]
