"""Survey rounds from the console, over issue 4's services/surveys: launch a round, see its responses.

Admins launch rounds for any branches, managers only for their own; everyone sees the totals of a
round, individual answers only within their branches (admins: all; agents: totals only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from models import Branch, Role, Staff, SurveyInvitation, SurveyResponse, SurveyRound
from services import audit
from services import surveys as survey_service
from services.access import InputError, NotAllowed


@dataclass(frozen=True)
class RoundSummary:
    round: SurveyRound
    invited: int
    completed: int
    satisfied: int  # overall 4 or 5
    rated: int  # completed with an overall score

    @property
    def response_rate(self) -> float | None:
        return self.completed / self.invited if self.invited else None

    @property
    def csat(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


def _require_launch(staff: Staff, branch_codes: Sequence[str]) -> None:
    if staff.active and staff.role == Role.ADMIN.value:
        return
    if staff.active and staff.role == Role.MANAGER.value:
        mine = {b.code for b in staff.branches}
        if branch_codes and set(branch_codes) <= mine:
            return
        raise InputError("网点负责人只能为所辖网点发起调查（请选择网点）")
    raise NotAllowed("只有管理员或网点负责人可以发起满意度调查")


def launch(session: Session, *, staff: Staff, cfg: Any, name: str, branch_codes: Sequence[str], audience: str,
           starts_on: date, ends_on: date, now: datetime) -> SurveyRound:
    """A round from the first day to the last day (bank-local, inclusive); invitations go out from the scheduler."""
    codes = sorted({c.strip().upper() for c in branch_codes if c.strip()})
    _require_launch(staff, codes)
    tz = ZoneInfo(str(cfg.get("timezone", "Asia/Shanghai")))
    starts_at = datetime.combine(starts_on, time(0), tzinfo=tz)
    ends_at = datetime.combine(ends_on + timedelta(days=1), time(0), tzinfo=tz)
    try:
        made = survey_service.launch_survey_round(session, name=name, branch_codes=codes, audience=audience,
                                                  starts_at=starts_at, ends_at=ends_at, created_by=staff.username,
                                                  now=now)
    except survey_service.SurveyInputError as exc:
        raise InputError(str(exc)) from None
    audit.record(session, actor=staff.username, action="survey.launch", now=now, target_type="survey_round",
                 target_id=made.id, data={"name": made.name, "branches": codes, "audience": audience})
    return made


def rounds(session: Session, *, limit: int = 30) -> list[RoundSummary]:
    """The newest rounds with their invitation and response counts."""
    chosen = list(session.scalars(select(SurveyRound).order_by(SurveyRound.created_at.desc(), SurveyRound.id.desc())
                                  .limit(limit)))
    ids = [r.id for r in chosen]
    invited = dict(session.execute(select(SurveyInvitation.round_id, func.count()).where(
        SurveyInvitation.round_id.in_(ids)).group_by(SurveyInvitation.round_id)).all()) if ids else {}
    done = SurveyResponse.completed_at.is_not(None)
    answers = {rid: (int(c), int(s or 0), int(r or 0)) for rid, c, s, r in session.execute(
        select(SurveyResponse.round_id, func.count(),
               func.count(case((SurveyResponse.overall >= 4, 1))),
               func.count(SurveyResponse.overall))
        .where(SurveyResponse.round_id.in_(ids), done).group_by(SurveyResponse.round_id))} if ids else {}
    return [RoundSummary(r, int(invited.get(r.id, 0)), *answers.get(r.id, (0, 0, 0))) for r in chosen]


def responses(session: Session, *, staff: Staff, round_id: int, limit: int = 100) -> list[tuple[SurveyResponse,
                                                                                               str]]:
    """Completed answers of a round the staff member may read, newest first, with the branch name."""
    if session.get(SurveyRound, round_id) is None:
        raise InputError(f"找不到调查 {round_id}")
    if staff.role == Role.AGENT.value or not staff.active:
        return []
    stmt = (select(SurveyResponse, Branch.name).outerjoin(Branch, Branch.id == SurveyResponse.branch_id)
            .where(SurveyResponse.round_id == round_id, SurveyResponse.completed_at.is_not(None)))
    if staff.role == Role.MANAGER.value:
        stmt = stmt.where(SurveyResponse.branch_id.in_([b.id for b in staff.branches]))
    rows = session.execute(stmt.order_by(SurveyResponse.completed_at.desc()).limit(limit)).all()
    return [(r, name or "—") for r, name in rows]
