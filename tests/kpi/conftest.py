"""KPI fixtures: a session on the per-run test database and a factory for hand-made rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from core.config import Config
from core.db import get_engine, session_factory
from models import Branch, Customer, Ticket
from models.kpi import BranchInspection, TrainingAssessment, VisitCount

SH = ZoneInfo("Asia/Shanghai")


def sh(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """An instant given in Shanghai time."""
    return datetime(year, month, day, hour, minute, tzinfo=SH)


@pytest.fixture
def session(config: Config) -> Iterator[Session]:
    """A session on the cleaned test database (the `config` fixture empties every table)."""
    s = session_factory(get_engine(config.database_url))()
    yield s
    s.rollback()
    s.close()


class Rows:
    """Row factory: every KPI input with explicit timestamps; flushes so ids exist."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self._seq = itertools.count(1)
        self.now = sh(2026, 1, 1)

    def add(self, obj: Any) -> Any:
        self.s.add(obj)
        self.s.flush()
        return obj

    def branch(self, code: str, kind: str = "business_hall") -> Branch:
        return self.add(Branch(code=code, name=f"千佳银行{code}网点", kind=kind, aliases=[], created_at=self.now))

    def customer(self, branch: Branch | None = None) -> Customer:
        return self.add(Customer(openid=f"o-kpi-{next(self._seq)}", branch_id=branch.id if branch else None,
                                 created_at=self.now))

    def ticket(self, created: datetime, *, type: str | None = "complaint", category: str | None = "wait_time",
               branch: Branch | None = None, customer: Customer | None = None, channel: str = "wechat",
               team: str | None = "branch_ops", replied: timedelta | None = None, resolved: timedelta | None = None,
               resolution_due: timedelta = timedelta(hours=72), reopened: int = 0, status: str | None = None,
               text: str = "排队太久了") -> Ticket:
        if status is None:
            status = "resolved" if resolved is not None else ("open" if replied is not None else "new")
        return self.add(Ticket(
            number=f"QJT-{next(self._seq):06d}", channel=channel, customer_id=customer.id if customer else None,
            branch_id=branch.id if branch else None, type=type, category=category, team=team, status=status,
            text=text, created_at=created, updated_at=created, needs_triage=False,
            first_reply_due_at=created + timedelta(hours=24), resolution_due_at=created + resolution_due,
            first_replied_at=created + replied if replied is not None else None,
            resolved_at=created + resolved if resolved is not None else None, reopen_count=reopened,
        ))

    def visit_count(self, branch: Branch, day: date, count: int) -> VisitCount:
        return self.add(VisitCount(branch_id=branch.id, day=day, count=count, source="test", imported_at=self.now))

    def checkin(self, branch: Branch, customer: Customer, at: datetime, *, survey: str | None = None) -> Any:
        from models.conversation import Visit

        return self.add(Visit(customer_id=customer.id, branch_id=branch.id, source="scan", visited_at=at,
                              survey_status=survey, survey_due_at=at + timedelta(hours=1) if survey else None))

    def response(self, customer: Customer, completed: datetime | None, *, overall: int | None,
                 nps: int | None = None, aspects: dict[str, int] | None = None, branch: Branch | None = None,
                 ticket: Ticket | None = None, kind: str = "satisfaction") -> Any:
        from models.survey import SurveyResponse

        return self.add(SurveyResponse(
            customer_id=customer.id, branch_id=branch.id if branch else None, ticket_id=ticket.id if ticket else None,
            kind=kind, overall=overall, nps=nps, aspects=aspects or {}, started_at=completed or self.now,
            completed_at=completed))

    def survey_round(self, name: str = "季度满意度调查") -> Any:
        from models.survey import SurveyRound

        return self.add(SurveyRound(name=name, branch_codes=[], audience="both", starts_at=self.now,
                                    ends_at=self.now + timedelta(days=90), created_by="test", created_at=self.now))

    def invitation(self, round_: Any, customer: Customer, at: datetime, status: str = "sent") -> Any:
        from models.survey import SurveyInvitation

        return self.add(SurveyInvitation(round_id=round_.id, customer_id=customer.id, invited_at=at,
                                         delivery_status=status))

    def staff(self) -> Any:
        from models.staff import Staff

        return self.add(Staff(username=f"staff{next(self._seq)}", password_hash="x", role="agent",
                              created_at=self.now))

    def revisit(self, ticket: Ticket, staff: Any, at: datetime) -> Any:
        from models.staff import Revisit

        return self.add(Revisit(ticket_id=ticket.id, staff_id=staff.id, method="phone", outcome="已回访",
                                created_at=at))

    def escalation(self, ticket: Ticket, level: str, fired: datetime) -> Any:
        from models.scheduling import Escalation

        return self.add(Escalation(ticket_id=ticket.id, level=level, deadline="first_reply", due_at=fired,
                                   fire_at=fired, fired_at=fired, notify="team"))

    def inspection(self, branch: Branch, month: date, items: dict[str, float], score: float) -> BranchInspection:
        return self.add(BranchInspection(branch_id=branch.id, month=month, score=score, item_scores=items,
                                         source="test", created_at=self.now, updated_at=self.now))

    def training(self, branch: Branch, code: str, held_on: date, participants: int, passed: int) -> TrainingAssessment:
        return self.add(TrainingAssessment(branch_id=branch.id, session_code=code, title=code, held_on=held_on,
                                           participants=participants, passed=passed, source="test",
                                           created_at=self.now, updated_at=self.now))


@pytest.fixture
def rows(session: Session) -> Rows:
    return Rows(session)
