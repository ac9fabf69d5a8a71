"""After the ticket: rating how it was handled (issue 4's check) and improvement notices (issue 5)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from core.db import transaction
from models import SurveyKind, SurveyResponse, Ticket, TicketStatus
from services.improvements import create_improvement, publish_improvement
from tests.api.conftest import AppUser, flask_transport, issue_key
from tests.api.test_tickets import move


def ticket_id(runtime: Any, number: str) -> int:
    with runtime.sessions() as s:
        return int(s.scalars(select(Ticket.id).where(Ticket.number == number)).one())


def rate(user: AppUser, number: str, score: Any, **kw: Any) -> Any:
    return user.request("POST", f"/tickets/{number}/survey", json_body={"score": score}, **kw)


def test_a_good_score_is_recorded_once(app_user: Any, runtime: Any) -> None:
    user = app_user()
    number = user.submit("柜员帮我挂失很快").json["number"]
    move(runtime, number, TicketStatus.RESOLVED)
    reply = rate(user, number, 5)
    assert reply.status == 201, reply.body
    assert reply.json["ticket"]["status"] == "resolved"
    assert reply.json["message"] == runtime.texts.render("resolution_check_thanks")
    again = rate(user, number, 4)
    assert again.status == 409 and again.error["code"] == "survey_already_answered"
    with runtime.sessions() as s:
        check = s.scalars(select(SurveyResponse)).one()
    assert (check.kind, check.overall, check.ticket_id) == (SurveyKind.RESOLUTION_CHECK.value, 5,
                                                           ticket_id(runtime, number))
    assert check.completed_at is not None


def test_a_low_score_reopens_the_ticket_as_on_wechat(app_user: Any, runtime: Any) -> None:
    user = app_user()
    number = user.submit("年费乱扣").json["number"]
    move(runtime, number, TicketStatus.OPEN, TicketStatus.RESOLVED)
    reply = rate(user, number, 1)
    assert reply.status == 201
    assert reply.json["ticket"]["status"] == "open"
    assert number in reply.json["message"]
    with runtime.sessions() as s:
        assert s.scalars(select(Ticket)).one().reopen_count == 1


def test_a_retried_rating_is_replayed_not_refused(app_user: Any) -> None:
    user = app_user()
    number = user.submit("年费乱扣").json["number"]
    first = rate(user, number, 2, idempotency_key="rate-1")
    assert first.status == 409  # not resolved yet: the refusal is the answer for this key
    assert rate(user, number, 2, idempotency_key="rate-1").body == first.body


@pytest.mark.parametrize("status", [(), (TicketStatus.PENDING,)])
def test_only_a_handled_ticket_can_be_rated(app_user: Any, runtime: Any, status: tuple[TicketStatus, ...]) -> None:
    user = app_user()
    number = user.submit("网点太吵").json["number"]
    move(runtime, number, *status)
    reply = rate(user, number, 3)
    assert reply.status == 409 and reply.error["code"] == "survey_not_open"
    with runtime.sessions() as s:
        assert s.scalars(select(SurveyResponse)).all() == []


def test_the_rating_window_closes(app_for: Any, config: Any, runtime: Any) -> None:
    clock = FixedClock(runtime.clock.now())
    app = app_for(config, clock=clock)
    user = AppUser(flask_transport(app.test_client()), issue_key(runtime), "c1", clock)
    number = user.submit("排队太久").json["number"]
    with transaction(runtime.sessions) as s:
        from services.tickets import transition

        ticket = s.scalars(select(Ticket)).one()
        transition(s, ticket=ticket, to=TicketStatus.RESOLVED, now=clock.now())
    days = runtime.cfg.get("surveys.resolution_check.answer_within_days")
    clock.advance(timedelta(days=days, minutes=1))
    reply = rate(user, number, 5)
    assert reply.status == 409 and reply.error["code"] == "survey_not_open"


@pytest.mark.parametrize(("score", "field_message"), [(0, "1 到 5"), (6, "1 到 5"), ("5", "整数"), (4.5, "整数")])
def test_scores_outside_the_scale_are_refused(app_user: Any, runtime: Any, score: Any, field_message: str) -> None:
    user = app_user()
    number = user.submit("排队太久").json["number"]
    move(runtime, number, TicketStatus.RESOLVED)
    reply = rate(user, number, score)
    assert reply.status == 422 and reply.error["field"] == "score" and field_message in reply.error["message"]


def test_another_customers_ticket_cannot_be_rated(app_user: Any, runtime: Any) -> None:
    number = app_user("alice").submit("排队太久").json["number"]
    move(runtime, number, TicketStatus.RESOLVED)
    reply = rate(app_user("mallory"), number, 1)
    assert reply.status == 404 and reply.error["code"] == "ticket_not_found"
    with runtime.sessions() as s:
        assert s.scalars(select(Ticket)).one().status == "resolved"


def improvement(runtime: Any, title: str, *, tickets: tuple[int, ...] = (), published: bool = True,
                when: Any = None) -> int:
    now = when or runtime.clock.now()
    with transaction(runtime.sessions) as s:
        imp = create_improvement(s, title=title, body=f"{title}：已整改。", category="wait_time", branch_ids=[],
                                 effective_date=date(2026, 12, 1), created_by="admin", now=now,
                                 ticket_ids=tickets)
        if published:
            publish_improvement(s, improvement_id=imp.id, include_category_feedback=False, period_start=None,
                                period_end=None, now=now, actor="admin")
        return int(imp.id)


def test_improvement_notices_for_the_customer(app_user: Any, runtime: Any) -> None:
    alice, bob = app_user("alice"), app_user("bob")
    number = alice.submit("人民路支行排队太久").json["number"]
    long_ago = runtime.clock.now() - timedelta(days=runtime.cfg.get("notices.menu_recent_days") + 10)
    answering = improvement(runtime, "增开周末窗口", tickets=(ticket_id(runtime, number),), when=long_ago)
    recent = improvement(runtime, "叫号机升级")
    improvement(runtime, "草稿：尚未发布", published=False)
    old_unrelated = improvement(runtime, "旧公告", when=long_ago)

    notices = alice.request("GET", "/improvements")
    assert notices.status == 200
    shown = [(n["id"], n["tickets"]) for n in notices.json["improvements"]]
    assert shown == [(recent, []), (answering, [number])]
    first = notices.json["improvements"][1]
    assert (first["title"], first["effective_date"], first["category"]) == ("增开周末窗口", "2026-12-01", "wait_time")
    # Bob sees what is recent, not the improvement answering alice's ticket (nor her ticket number).
    assert [n["id"] for n in bob.request("GET", "/improvements").json["improvements"]] == [recent]
    assert old_unrelated not in [n["id"] for n in notices.json["improvements"]]
    assert len(alice.request("GET", "/improvements?limit=1").json["improvements"]) == 1
