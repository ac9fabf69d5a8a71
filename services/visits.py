"""Following, unfollowing and branch check-ins (scanning a branch's QR code)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from models import (
    Branch,
    CheckinSurveyStatus,
    Customer,
    SurveyKind,
    SurveyResponse,
    Visit,
    VisitSource,
)
from services.conversations import end_conversation

QR_SCENE_PREFIX = "qrscene_"  # WeChat's prefix on the EventKey of a subscribe through a QR code


@dataclass(frozen=True)
class CheckIn:
    visit: Visit
    branch: Branch
    new: bool  # False: a repeated scan of the same branch within conversations.visit_dedup_minutes


def scene_of(event: str | None, event_key: str | None) -> str | None:
    """The QR scene of a subscribe (`qrscene_<scene>`) or SCAN (`<scene>`) event, if any."""
    key = (event_key or "").strip()
    if (event or "").lower() == "subscribe":
        if not key.startswith(QR_SCENE_PREFIX):
            return None
        key = key[len(QR_SCENE_PREFIX):]
    return key or None


def subscribe(session: Session, *, customer: Customer, now: datetime) -> None:
    customer.subscribed = True
    customer.subscribed_at = now
    customer.unsubscribed_at = None


def unsubscribe(session: Session, *, customer: Customer, now: datetime) -> None:
    """No more notices or surveys; the customer's tickets and history stay."""
    customer.subscribed = False
    customer.unsubscribed_at = now
    end_conversation(session, customer_id=customer.id)
    session.execute(
        update(Visit)
        .where(Visit.customer_id == customer.id, Visit.survey_status == CheckinSurveyStatus.DUE.value)
        .values(survey_status=CheckinSurveyStatus.SKIPPED.value)
    )


def recently_surveyed(session: Session, *, customer_id: int, now: datetime, cfg: Any) -> bool:
    """A completed satisfaction survey, or a check-in survey owed or sent, within surveys.repeat_after_days."""
    since = now - timedelta(days=float(cfg.get("surveys.repeat_after_days", 90)))
    answered = exists().where(
        SurveyResponse.customer_id == customer_id,
        SurveyResponse.kind == SurveyKind.SATISFACTION.value,
        SurveyResponse.completed_at >= since,
    )
    invited = exists().where(
        Visit.customer_id == customer_id,
        Visit.survey_status.in_([s.value for s in (CheckinSurveyStatus.DUE, CheckinSurveyStatus.SENDING,
                                                    CheckinSurveyStatus.SENT)]),
        Visit.visited_at >= since,
    )
    return bool(session.scalar(select(answered | invited)))


def check_in(session: Session, *, customer: Customer, code: str, source: VisitSource, now: datetime,
             cfg: Any) -> CheckIn | None:
    """Bind the customer to the branch and record the visit; None for an unknown or closed branch."""
    branch = session.scalars(select(Branch).where(Branch.code == code.strip(), Branch.active.is_(True))).first()
    if branch is None:
        return None
    customer.branch_id = branch.id
    window = timedelta(minutes=float(cfg.get("conversations.visit_dedup_minutes", 120)))
    recent = session.scalars(
        select(Visit)
        .where(Visit.customer_id == customer.id, Visit.branch_id == branch.id, Visit.visited_at > now - window)
        .order_by(Visit.visited_at.desc())
        .limit(1)
    ).first()
    if recent is not None:
        return CheckIn(visit=recent, branch=branch, new=False)
    visit = Visit(customer_id=customer.id, branch_id=branch.id, source=source.value, visited_at=now)
    if cfg.get("surveys.checkin.enabled", True) and not recently_surveyed(
            session, customer_id=customer.id, now=now, cfg=cfg):
        visit.survey_due_at = now + timedelta(minutes=float(cfg.get("surveys.checkin.delay_minutes", 60)))
        visit.survey_status = CheckinSurveyStatus.DUE.value
    session.add(visit)
    session.flush()
    return CheckIn(visit=visit, branch=branch, new=True)


def recent_visit_branches(session: Session, *, customer_id: int, limit: int) -> list[Branch]:
    """Branches the customer checked in at, most recent first, without repeats."""
    rows = session.execute(
        select(Visit.branch_id).where(Visit.customer_id == customer_id).order_by(Visit.visited_at.desc()).limit(20)
    ).scalars()
    seen: list[int] = []
    for branch_id in rows:
        if branch_id not in seen:
            seen.append(branch_id)
    branches = [session.get(Branch, b) for b in seen[:limit]]
    return [b for b in branches if b is not None and b.active]
