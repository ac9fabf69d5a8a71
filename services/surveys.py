"""Satisfaction surveys (满意度调查) and the post-resolution check.

A survey is a conversation flow ("survey"): one question per message, answers stored on a
SurveyResponse row as they come. Who may answer what is guarded by unique keys, not by
looking first: one response per customer per round, one per check-in, one check per ticket,
one invitation per customer per round.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Update, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    MAX_INTEGER,
    Branch,
    Channel,
    CheckinSurveyStatus,
    Customer,
    SurveyAudience,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
    SurveyRound,
    SurveyRoundStatus,
    Ticket,
    TicketStatus,
    Visit,
)
from services.classify import classify
from services.conversations import Conversation, start_flow_if_idle
from services.outbound import Delivery, send_to_customer
from services.runtime import Runtime
from services.sla import policy_hours
from services.tickets import Classification, submit_feedback, transition

log = logging.getLogger(__name__)

FLOW = "survey"
MAX_COMMENT_CHARS = 1000
SKIP_WORDS = frozenset({"跳过", "没有", "无", "没", "不用", "不用了", "没有了", "没了", "不填", "略", "no"})


class SurveyInputError(ValueError):
    """A survey round the team asked for cannot be launched; the message says why (Chinese)."""


# -- questions and answers --------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    code: str
    field: str  # overall | aspect | nps | comment
    low: int = 0
    high: int = 0
    optional: bool = False

    @property
    def message_key(self) -> str:
        return f"survey_q_{self.code}"


def questions(cfg: Any) -> list[Question]:
    out = []
    for item in cfg.get("surveys.questions") or []:
        out.append(Question(code=str(item["code"]), field=str(item.get("field", "aspect")),
                            low=int(item.get("min", 0)), high=int(item.get("max", 0)),
                            optional=bool(item.get("optional", False))))
    return out


_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_CHINESE_NUMBERS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
                    "八": 8, "九": 9, "十": 10}
_SCORE_RE = re.compile(r"(\d{1,2})")


def parse_score(text: str | None, low: int, high: int) -> int | None:
    """A whole-number score in [low, high] from "4", "４", "4分", "四分", "10"; None for anything else."""
    typed = (text or "").strip().translate(_FULL_WIDTH).rstrip("分星。.!！ ").strip()
    if typed in _CHINESE_NUMBERS:
        value = _CHINESE_NUMBERS[typed]
    else:
        match = _SCORE_RE.fullmatch(typed)
        if match is None:
            return None
        value = int(match.group(1))
    return value if low <= value <= high else None


# -- rounds ---------------------------------------------------------------------------------------

def launch_survey_round(session: Session, *, name: str, branch_codes: list[str], audience: str,
                        starts_at: datetime, ends_at: datetime, created_by: str, now: datetime) -> SurveyRound:
    """Create a survey round; invitations go out from the scheduler (invite_for_round)."""
    name = (name or "").strip()
    if not name:
        raise SurveyInputError("请填写调查名称")
    try:
        audience = SurveyAudience(audience).value
    except ValueError:
        raise SurveyInputError("调查对象只能是 checked_in（到店客户）、gave_feedback（反馈客户）或 both") from None
    if ends_at <= starts_at:
        raise SurveyInputError("结束时间必须晚于开始时间")
    codes = sorted({c.strip() for c in branch_codes if c.strip()})
    known = set(session.scalars(select(Branch.code).where(Branch.code.in_(codes)))) if codes else set()
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise SurveyInputError(f"找不到网点：{', '.join(unknown)}")
    survey_round = SurveyRound(name=name, branch_codes=codes, audience=audience, starts_at=starts_at,
                               ends_at=ends_at, status=SurveyRoundStatus.ACTIVE.value, created_by=created_by,
                               created_at=now)
    try:
        with session.begin_nested():
            session.add(survey_round)
    except IntegrityError:
        raise SurveyInputError(f"已有同名的调查：{name}") from None
    return survey_round


def _round_branch_ids(session: Session, survey_round: SurveyRound) -> list[int] | None:
    if not survey_round.branch_codes:
        return None
    return list(session.scalars(select(Branch.id).where(Branch.code.in_(survey_round.branch_codes))))


def _in_audience(session: Session, survey_round: SurveyRound, *, lookback: timedelta) -> Any:
    """A condition on Customer: the customer belongs to the round's audience."""
    since = survey_round.starts_at - lookback
    branch_ids = _round_branch_ids(session, survey_round)
    visited = exists().where(Visit.customer_id == Customer.id, Visit.visited_at >= since,
                             Visit.visited_at < survey_round.ends_at)
    wrote = exists().where(Ticket.customer_id == Customer.id, Ticket.created_at >= since,
                           Ticket.created_at < survey_round.ends_at)
    if branch_ids is not None:
        visited = visited.where(Visit.branch_id.in_(branch_ids))
        wrote = wrote.where(Ticket.branch_id.in_(branch_ids))
    audience = SurveyAudience(survey_round.audience)
    if audience is SurveyAudience.CHECKED_IN:
        return visited
    if audience is SurveyAudience.GAVE_FEEDBACK:
        return wrote
    return or_(visited, wrote)


def _running(survey_round: SurveyRound, now: datetime) -> bool:
    return (survey_round.status == SurveyRoundStatus.ACTIVE.value
            and survey_round.starts_at <= now < survey_round.ends_at)


def running_rounds(session: Session, *, now: datetime) -> list[SurveyRound]:
    return list(session.scalars(
        select(SurveyRound).where(SurveyRound.status == SurveyRoundStatus.ACTIVE.value,
                                  SurveyRound.starts_at <= now, SurveyRound.ends_at > now)
        .order_by(SurveyRound.starts_at, SurveyRound.id)
    ))


def invite_for_round(session: Session, *, runtime: Runtime, round_id: int, now: datetime, limit: int) -> int:
    """Invite up to `limit` customers of the round's audience; returns how many invitations were delivered.

    Never twice: the invitation row (unique per round and customer) is written before the message
    is sent, in the caller's transaction. Never to customers who unfollowed.
    """
    survey_round = session.get(SurveyRound, round_id)
    if survey_round is None or not _running(survey_round, now):
        return 0
    lookback = timedelta(days=float(runtime.cfg.get("surveys.rounds.audience_lookback_days", 90)))
    invited = exists().where(SurveyInvitation.round_id == survey_round.id,
                             SurveyInvitation.customer_id == Customer.id)
    candidates = list(session.scalars(
        select(Customer)
        .where(Customer.subscribed.is_(True), Customer.openid.is_not(None), ~invited,
               _in_audience(session, survey_round, lookback=lookback))
        .order_by(Customer.id)
        .limit(limit)
    ))
    delivered = 0
    for customer in candidates:
        invitation = SurveyInvitation(round_id=survey_round.id, customer_id=customer.id, invited_at=now,
                                      delivery_status="pending")
        try:
            with session.begin_nested():
                session.add(invitation)
        except IntegrityError:
            continue  # another run invited this customer first
        delivered += _deliver_invitation(session, runtime=runtime, survey_round=survey_round, customer=customer,
                                         invitation=invitation, now=now)
    # Invitations WeChat asked us to retry later (-1, quotas) go out again, each claimed once.
    for invitation in session.scalars(
            select(SurveyInvitation).where(SurveyInvitation.round_id == survey_round.id,
                                           SurveyInvitation.delivery_status == "retry")
            .order_by(SurveyInvitation.id).limit(max(0, limit - len(candidates)))).all():
        claimed = _claim(session, update(SurveyInvitation).where(SurveyInvitation.id == invitation.id,
                                                                 SurveyInvitation.delivery_status == "retry")
                         .values(delivery_status="pending"))
        invitee = session.get(Customer, invitation.customer_id)
        if not claimed or invitee is None:
            continue
        session.refresh(invitation)
        delivered += _deliver_invitation(session, runtime=runtime, survey_round=survey_round, customer=invitee,
                                         invitation=invitation, now=now)
    return delivered


def _claim(session: Session, statement: Update) -> bool:
    """A conditional update that only one run can win (the row still had the status it expects)."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return result.rowcount == 1


def _deliver_invitation(session: Session, *, runtime: Runtime, survey_round: SurveyRound, customer: Customer,
                        invitation: SurveyInvitation, now: datetime) -> int:
    delivery = _invite(session, runtime=runtime, customer=customer, now=now, intro_key="survey_invitation_round",
                       intro={"name": survey_round.name}, data={"round_id": survey_round.id})
    invitation.delivery_status = delivery.status
    invitation.delivery_channel = delivery.channel
    invitation.error_code = delivery.error_code
    return int(delivery.ok)


# -- check-in surveys -------------------------------------------------------------------------------

def send_due_checkin_surveys(session: Session, *, runtime: Runtime, now: datetime, limit: int) -> int:
    """Invite customers whose check-in survey is due; returns how many invitations were delivered.

    Each visit is claimed with a conditional update (due -> sending), so two runs never send the same one.
    """
    due = list(session.scalars(
        select(Visit).where(Visit.survey_status == CheckinSurveyStatus.DUE.value, Visit.survey_due_at <= now)
        .order_by(Visit.survey_due_at, Visit.id).limit(limit)
    ))
    delivered = 0
    for visit in due:
        if not _claim(session, update(Visit).where(Visit.id == visit.id,
                                                   Visit.survey_status == CheckinSurveyStatus.DUE.value)
                      .values(survey_status=CheckinSurveyStatus.SENDING.value)):
            continue
        session.refresh(visit)
        customer = session.get(Customer, visit.customer_id)
        answered = session.scalar(select(exists().where(SurveyResponse.visit_id == visit.id)))
        if customer is None or not customer.subscribed or not customer.openid or answered or _surveyed_since(
                session, customer_id=customer.id, since=visit.visited_at):
            visit.survey_status = CheckinSurveyStatus.SKIPPED.value
            continue
        branch = session.get(Branch, visit.branch_id)
        delivery = _invite(session, runtime=runtime, customer=customer, now=now, intro_key="survey_invitation_checkin",
                           intro={"branch": branch.name if branch else ""},
                           data={"visit_id": visit.id, "branch_id": visit.branch_id})
        visit.survey_status = (CheckinSurveyStatus.SENT if delivery.ok else CheckinSurveyStatus.FAILED).value
        delivered += int(delivery.ok)
    return delivered


def _surveyed_since(session: Session, *, customer_id: int, since: datetime) -> bool:
    return bool(session.scalar(select(exists().where(
        SurveyResponse.customer_id == customer_id, SurveyResponse.kind == SurveyKind.SATISFACTION.value,
        SurveyResponse.completed_at >= since))))


def _invite(session: Session, *, runtime: Runtime, customer: Customer, now: datetime, intro_key: str,
            intro: dict[str, Any], data: dict[str, Any]) -> Delivery:
    """Send an invitation; a customer in no other conversation can answer the first question straight away."""
    cfg, texts = runtime.cfg, runtime.texts
    first = questions(cfg)[0]
    question = texts.render(first.message_key)
    text = texts.render(intro_key, **intro) + "\n" + question
    delivery = send_to_customer(session, messenger=runtime.wechat_api, cfg=cfg, customer=customer, text=text,
                                now=now, tz=runtime.tz, title=texts.render("survey_invitation_title"))
    if delivery.ok:
        ttl = timedelta(hours=float(cfg.get("surveys.invitation_reply_hours", 24)))
        start_flow_if_idle(session, customer=customer, flow=FLOW, step=first.code,
                           data={"index": 0, **data}, now=now, ttl=ttl, cfg=cfg)
    return delivery


# -- the survey conversation --------------------------------------------------------------------------

def start_survey(session: Session, *, runtime: Runtime, customer: Customer, conversation: Conversation,
                 now: datetime) -> str:
    """The customer asked for the survey: the round they belong to, their latest check-in, or a survey of
    their own (once per surveys.repeat_after_days). Returns the reply."""
    cfg, texts = runtime.cfg, runtime.texts
    data: dict[str, Any] = {"index": 0}
    survey_round = _round_for(session, runtime=runtime, customer=customer, now=now)
    if survey_round is not None:
        if completed_round(session, round_id=survey_round.id, customer_id=customer.id):
            return texts.render("survey_already_answered_round", name=survey_round.name)
        data["round_id"] = survey_round.id
    else:
        visit = _open_checkin(session, runtime=runtime, customer=customer, now=now)
        if visit is not None:
            data.update(visit_id=visit.id, branch_id=visit.branch_id)
        elif _surveyed_since(session, customer_id=customer.id,
                             since=now - timedelta(days=float(cfg.get("surveys.repeat_after_days", 90)))):
            return texts.render("survey_already_answered_recently")
    first = questions(cfg)[0]
    conversation.enter(FLOW, first.code, data)
    return texts.render("survey_intro") + "\n" + texts.render(first.message_key)


def rounds_for_customer(session: Session, *, runtime: Runtime, customer_id: int, now: datetime) -> list[SurveyRound]:
    """The running rounds this customer may answer: those they were invited to, then those whose
    audience they belong to (visited or wrote about one of the round's branches)."""
    rounds = running_rounds(session, now=now)
    invited = set(session.scalars(select(SurveyInvitation.round_id).where(
        SurveyInvitation.customer_id == customer_id, SurveyInvitation.round_id.in_([r.id for r in rounds]))))
    lookback = timedelta(days=float(runtime.cfg.get("surveys.rounds.audience_lookback_days", 90)))
    in_audience = [r for r in rounds if r.id not in invited and session.scalar(
        select(Customer.id).where(Customer.id == customer_id, _in_audience(session, r, lookback=lookback)))]
    return [r for r in rounds if r.id in invited] + in_audience


def _round_for(session: Session, *, runtime: Runtime, customer: Customer, now: datetime) -> SurveyRound | None:
    """The running round this customer was invited to, else one whose audience they belong to."""
    found = rounds_for_customer(session, runtime=runtime, customer_id=customer.id, now=now)
    return found[0] if found else None


def _open_checkin(session: Session, *, runtime: Runtime, customer: Customer, now: datetime) -> Visit | None:
    """The customer's latest check-in still waiting for its survey (invited or not yet)."""
    since = now - timedelta(hours=float(runtime.cfg.get("surveys.invitation_reply_hours", 24)))
    visit = session.scalars(
        select(Visit).where(Visit.customer_id == customer.id, Visit.visited_at >= since,
                            Visit.survey_status.in_([CheckinSurveyStatus.DUE.value, CheckinSurveyStatus.SENT.value]),
                            ~exists().where(SurveyResponse.visit_id == Visit.id))
        .order_by(Visit.visited_at.desc()).limit(1)
    ).first()
    if visit is not None and visit.survey_status == CheckinSurveyStatus.DUE.value:
        # The customer came by themselves: no invitation needed any more.
        visit.survey_status = CheckinSurveyStatus.SKIPPED.value
    return visit


def completed_round(session: Session, *, round_id: int, customer_id: int) -> bool:
    """Whether the customer has completed this round's survey (on any channel)."""
    return bool(session.scalar(select(exists().where(
        SurveyResponse.round_id == round_id, SurveyResponse.customer_id == customer_id,
        SurveyResponse.completed_at.is_not(None)))))


def _claim_response(session: Session, *, customer: Customer, data: dict[str, Any], now: datetime
                    ) -> SurveyResponse | None:
    """The response row for this survey, created at the first answer; None if already completed."""
    round_id, visit_id = data.get("round_id"), data.get("visit_id")
    if data.get("response_id"):
        return session.get(SurveyResponse, data["response_id"])
    unfinished = session.scalars(
        select(SurveyResponse).where(SurveyResponse.customer_id == customer.id,
                                     SurveyResponse.kind == SurveyKind.SATISFACTION.value,
                                     SurveyResponse.round_id.is_(None) if round_id is None
                                     else SurveyResponse.round_id == round_id,
                                     SurveyResponse.visit_id.is_(None) if visit_id is None
                                     else SurveyResponse.visit_id == visit_id,
                                     SurveyResponse.completed_at.is_(None))
        .order_by(SurveyResponse.id.desc()).limit(1)
    ).first()
    if unfinished is not None:
        return unfinished  # an earlier attempt that timed out: continue it (one customer at a time: row lock)
    branch_id = data.get("branch_id") or customer.branch_id
    response = SurveyResponse(round_id=round_id, visit_id=visit_id, customer_id=customer.id, branch_id=branch_id,
                              kind=SurveyKind.SATISFACTION.value, aspects={}, started_at=now)
    try:
        with session.begin_nested():
            session.add(response)
    except IntegrityError:
        # Started before (an earlier, unfinished attempt) or finished already: the unique key decides.
        key = SurveyResponse.round_id == round_id if round_id else SurveyResponse.visit_id == visit_id
        existing = session.scalars(select(SurveyResponse).where(key, SurveyResponse.customer_id == customer.id)
                                   ).first()
        if existing is None or existing.completed_at is not None:
            return None
        return existing
    return response


@dataclass(frozen=True)
class SurveyStep:
    """What an answer led to: the next question (or a hint), or a completed response to conclude."""

    reply: str | None = None
    completed: SurveyResponse | None = None


def answer_survey(session: Session, *, runtime: Runtime, customer: Customer, conversation: Conversation,
                  text: str, now: datetime) -> SurveyStep:
    """Record one answer; an invalid one is asked again with a hint and changes nothing."""
    from nlp import redact

    cfg, texts = runtime.cfg, runtime.texts
    items = questions(cfg)
    index = int(conversation.data.get("index", 0))
    if index >= len(items):
        conversation.leave()
        return SurveyStep(reply=texts.render("survey_thanks"))
    question = items[index]
    typed = (text or "").strip()
    value: int | str | None
    if question.field == "comment":
        value = None if typed in SKIP_WORDS else redact(typed)[:MAX_COMMENT_CHARS]
        if value is None and not question.optional:
            again = texts.render(question.message_key)
            return SurveyStep(reply=texts.render("survey_comment_required") + "\n" + again)
    else:
        value = parse_score(typed, question.low, question.high)
        if value is None:
            hint = texts.render("survey_invalid_answer", min=question.low, max=question.high)
            return SurveyStep(reply=hint + "\n" + texts.render(question.message_key))
    response = _claim_response(session, customer=customer, data=conversation.data, now=now)
    if response is None:
        conversation.leave()
        return SurveyStep(reply=texts.render("survey_already_answered"))
    _store(response, question, value)
    index += 1
    if index < len(items):
        conversation.advance(items[index].code, index=index, response_id=response.id)
        return SurveyStep(reply=texts.render(items[index].message_key))
    conversation.leave()
    response.completed_at = now
    return SurveyStep(completed=response)


def _store(response: SurveyResponse, question: Question, value: int | str | None) -> None:
    if question.field == "overall":
        response.overall = int(value) if value is not None else None
    elif question.field == "nps":
        response.nps = int(value) if value is not None else None
    elif question.field == "comment":
        response.comment = str(value) if value else None
    else:
        response.aspects = {**(response.aspects or {}), question.code: value}


def conclude_survey(session: Session, *, runtime: Runtime, customer: Customer, response: SurveyResponse,
                    now: datetime, channel: Channel = Channel.WECHAT) -> str:
    """After the last answer: a low score or a complaining comment becomes a complaint ticket (on the channel
    the customer answered on, where staff replies reach them). Returns the thanks."""
    cfg, texts = runtime.cfg, runtime.texts
    comment_analysis = classify(session, runtime=runtime, text=response.comment) if response.comment else None
    low = response.overall is not None and response.overall <= int(cfg.get("surveys.low_score_threshold", 2))
    complaining = comment_analysis is not None and comment_analysis.type == "complaint"
    if not (low or complaining):
        return texts.render("survey_thanks")
    ticket = _complaint_from_survey(session, runtime=runtime, customer=customer, response=response,
                                    comment=comment_analysis, now=now, channel=channel)
    response.complaint_ticket_id = ticket.id
    hours, _ = policy_hours(cfg.section("sla"), ticket.priority)
    return texts.render("survey_thanks_with_complaint", number=ticket.number, hours=f"{hours:g}")


def _complaint_from_survey(session: Session, *, runtime: Runtime, customer: Customer, response: SurveyResponse,
                           comment: Classification | None, now: datetime, channel: Channel) -> Ticket:
    cfg = runtime.cfg
    names = cfg.section("labels").get("categories", {})
    aspects = {k: v for k, v in (response.aspects or {}).items() if isinstance(v, int)}
    parts = [f"整体满意度 {response.overall} 分" if response.overall is not None else ""]
    parts += [f"{names.get(code, code)} {score} 分" for code, score in aspects.items()]
    if response.nps is not None:
        parts.append(f"推荐意愿 {response.nps} 分")
    text = "满意度调查反馈：" + "，".join(p for p in parts if p) + "。"
    if response.comment:
        text += f"客户留言：{response.comment}"
    if comment is not None:
        classification = dataclasses.replace(comment, text=text, type="complaint", type_confidence=1.0,
                                             branch_code=None)
    else:
        # No words to classify: the worst-rated aspect says what the complaint is about.
        category = min(aspects, key=lambda code: aspects[code]) if aspects else "other"
        category = category if category in names else "other"
        classification = Classification(text=text, type="complaint", type_confidence=1.0, category=category,
                                        team=cfg.section("routing").get("categories", {}).get(category),
                                        needs_triage=False)
    return submit_feedback(session, customer=customer, channel=channel, classification=classification,
                           now=now, cfg=cfg, msg_type="survey", branch_id=response.branch_id)


# -- a whole response at once (the app's survey form) --------------------------------------------------

class SurveyAnswerError(ValueError):
    """A response that cannot be recorded: `code` is stable, `message` Chinese, `field` the answer at fault."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class SurveyNotFound(SurveyAnswerError):
    def __init__(self) -> None:
        super().__init__("survey_not_found", "找不到该满意度调查")


class SurveyConflict(SurveyAnswerError):
    """The round is not open to this customer, or they answered it already."""


@dataclass(frozen=True)
class RecordedResponse:
    response: SurveyResponse
    reply: str  # the thanks, naming the complaint ticket a low score opened (as on WeChat)


def _validated(cfg: Any, *, overall: int | None, aspects: dict[str, Any], nps: int | None,
               comment: str | None) -> list[tuple[Question, int | str | None]]:
    """Every question with its answer, checked as the conversation checks each one."""
    from nlp import redact

    items = questions(cfg)
    codes = {q.code for q in items if q.field == "aspect"}
    unknown = sorted(set(aspects) - codes)
    if unknown:
        raise SurveyAnswerError("unknown_field", f"不支持的评价项 {unknown[0]}", field=f"aspects.{unknown[0]}")
    whole: dict[str, Any] = {"overall": overall, "nps": nps, "comment": comment}
    answers: list[tuple[Question, int | str | None]] = []
    for question in items:
        if question.field in whole:
            name, value = question.field, whole[question.field]
        else:
            name, value = f"aspects.{question.code}", aspects.get(question.code)
        if question.field == "comment":
            typed = value.strip() if isinstance(value, str) else ""
            value = None if not typed or typed in SKIP_WORDS else redact(typed)[:MAX_COMMENT_CHARS]
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                    or not question.low <= value <= question.high):
            raise SurveyAnswerError("invalid_field", f"{name} 应为 {question.low} 到 {question.high} 之间的整数",
                                    field=name)
        if value is None:
            if not question.optional:
                raise SurveyAnswerError("missing_field", f"缺少必填字段 {name}", field=name)
            continue
        answers.append((question, value))
    return answers


def record_survey_response(session: Session, *, runtime: Runtime, customer: Customer, round_id: int,
                           overall: int | None, aspects: dict[str, Any], nps: int | None, comment: str | None,
                           channel: Channel, now: datetime) -> RecordedResponse:
    """Every answer to a round at once, validated against surveys.questions; one response per customer per
    round (the unique key decides); concluded exactly as the conversation's last answer is."""
    survey_round = session.get(SurveyRound, round_id) if 0 < round_id <= MAX_INTEGER else None
    if survey_round is None:
        raise SurveyNotFound()
    open_rounds = rounds_for_customer(session, runtime=runtime, customer_id=customer.id, now=now)
    if survey_round not in open_rounds:
        raise SurveyConflict("survey_not_open", f"“{survey_round.name}”现在不能参加（未开始、已结束或不面向您）")
    answers = _validated(runtime.cfg, overall=overall, aspects=aspects, nps=nps, comment=comment)
    response = SurveyResponse(round_id=survey_round.id, customer_id=customer.id, branch_id=customer.branch_id,
                              kind=SurveyKind.SATISFACTION.value, aspects={}, started_at=now)
    try:
        with session.begin_nested():
            session.add(response)
    except IntegrityError:
        response = session.scalars(select(SurveyResponse).where(SurveyResponse.round_id == survey_round.id,
                                                                SurveyResponse.customer_id == customer.id)
                                   .with_for_update()).one()
        if response.completed_at is not None:
            raise SurveyConflict("survey_already_answered",
                                 f"您已经参加过“{survey_round.name}”，感谢您的支持！") from None
        # Started in a conversation and never finished: this whole response completes it.
    for question, value in answers:
        _store(response, question, value)
    response.completed_at = now
    reply = conclude_survey(session, runtime=runtime, customer=customer, response=response, now=now, channel=channel)
    session.flush()
    return RecordedResponse(response=response, reply=reply)


# -- the post-resolution check ------------------------------------------------------------------------

def request_resolution_check(session: Session, *, runtime: Runtime, ticket: Ticket, now: datetime
                             ) -> SurveyResponse | None:
    """Ask the customer whether they are satisfied with how the ticket was handled (once per ticket).

    Called by the console's resolve action in its own transaction. Inside the 48-hour window the
    question goes as a customer-service message, outside it as a template message. Returns None when
    nothing was asked (disabled, no WeChat customer, or asked before).
    """
    cfg = runtime.cfg
    if not cfg.get("surveys.resolution_check.enabled", True) or ticket.customer_id is None:
        return None
    customer = session.get(Customer, ticket.customer_id)
    if customer is None or not customer.openid or not customer.subscribed:
        return None
    check = SurveyResponse(customer_id=customer.id, ticket_id=ticket.id, branch_id=ticket.branch_id,
                           kind=SurveyKind.RESOLUTION_CHECK.value, aspects={}, started_at=now)
    try:
        with session.begin_nested():
            session.add(check)
    except IntegrityError:
        return None  # asked before: one check per ticket
    texts = runtime.texts
    send_to_customer(session, messenger=runtime.wechat_api, cfg=cfg, customer=customer, ticket=ticket, now=now,
                     tz=runtime.tz, text=texts.render("resolution_check_question", number=ticket.number),
                     title=texts.render("resolution_check_title"))
    return check


def pending_resolution_check(session: Session, *, customer_id: int, now: datetime, cfg: Any
                             ) -> SurveyResponse | None:
    """The customer's latest unanswered resolution check that may still be answered."""
    since = now - timedelta(days=float(cfg.get("surveys.resolution_check.answer_within_days", 7)))
    return session.scalars(
        select(SurveyResponse).where(SurveyResponse.customer_id == customer_id,
                                     SurveyResponse.kind == SurveyKind.RESOLUTION_CHECK.value,
                                     SurveyResponse.completed_at.is_(None), SurveyResponse.started_at >= since)
        .order_by(SurveyResponse.started_at.desc(), SurveyResponse.id.desc()).limit(1)
    ).first()


def answer_resolution_check(session: Session, *, runtime: Runtime, check: SurveyResponse, score: int,
                            now: datetime) -> str:
    """Record the score; "not satisfied" reopens the ticket with a fresh deadline. Returns the reply."""
    cfg, texts = runtime.cfg, runtime.texts
    check.overall = score
    check.completed_at = now
    ticket = session.get(Ticket, check.ticket_id) if check.ticket_id else None
    if ticket is None or score > int(cfg.get("surveys.resolution_check.reopen_at_or_below", 2)):
        return texts.render("resolution_check_thanks")
    if ticket.status != TicketStatus.RESOLVED.value:
        # Closed for good (or already reopened): the customer can describe it again as new feedback.
        return texts.render("resolution_check_not_reopened", number=ticket.number)
    transition(session, ticket=ticket, to=TicketStatus.OPEN, now=now, actor="customer", sla=cfg.section("sla"))
    hours, _ = policy_hours(cfg.section("sla"), ticket.priority)
    return texts.render("resolution_check_reopened", number=ticket.number, hours=f"{hours:g}")
