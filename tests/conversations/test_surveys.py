"""The satisfaction survey: answered step by step, invalid answers asked again, low scores become complaints,
one response per round, invitations by round and after a check-in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from models import Branch, SurveyInvitation, SurveyResponse, Ticket, Visit
from scheduler.survey_jobs import checkin_surveys, invite_survey_rounds
from services.surveys import launch_survey_round
from tests.conversations.conftest import START, Bank, ticket_number


def answer_all(chat, answers: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    return [chat.say(a) for a in answers]


def only_response(bank: Bank) -> SurveyResponse:
    with bank.runtime.sessions() as s:
        response = s.scalars(select(SurveyResponse)).one()
        s.expunge(response)
        return response


def test_full_survey_with_one_invalid_answer(bank: Bank) -> None:
    chat = bank.chat()
    chat.scan("KFQ")
    assert "1/7" in chat.tap("MENU_SURVEY")
    hint = chat.say("挺好的")
    assert "1到5之间" in hint and "1/7" in hint
    assert bank.run(lambda s: s.scalar(select(func.count()).select_from(SurveyResponse))) == 0
    replies = answer_all(chat, ["5", "４", "5分", "四", "4"])
    assert ["2/7" in replies[0], "3/7" in replies[1], "4/7" in replies[2], "5/7" in replies[3],
            "6/7" in replies[4]] == [True] * 5
    assert "0到10之间" in chat.say("11")
    assert "7/7" in chat.say("9")
    assert "感谢您参与" in chat.say("网点环境很干净，工作人员也很热情，谢谢你们")
    response = only_response(bank)
    kfq = bank.run(lambda s: s.scalars(select(Branch.id).where(Branch.code == "KFQ")).one())
    assert (response.overall, response.nps, response.kind, response.branch_id) == (5, 9, "satisfaction", kfq)
    assert response.aspects == {"wait_time": 4, "staff_attitude": 5, "professionalism": 4, "environment": 4}
    assert response.comment and response.completed_at == START and response.visit_id is not None
    assert response.complaint_ticket_id is None
    assert bank.run(lambda s: s.scalar(select(func.count()).select_from(Ticket))) == 0


def test_low_score_creates_a_complaint_ticket(bank: Bank) -> None:
    chat = bank.chat()
    chat.scan("CDB")
    chat.say("满意度调查")
    *_, last = answer_all(chat, ["1", "1", "2", "3", "3", "0", "无"])
    number = ticket_number(last)
    assert "很抱歉" in last
    ticket = bank.ticket(number)
    response = only_response(bank)
    assert response.complaint_ticket_id == ticket.id and response.comment is None
    assert ticket.type == "complaint" and ticket.category == "wait_time" and ticket.team == "branch_ops"
    assert ticket.branch_id == response.branch_id and ticket.branch_id is not None
    assert "排队等候 1 分" in ticket.text


def test_a_complaining_comment_creates_a_complaint_despite_good_scores(bank: Bank) -> None:
    chat = bank.chat()
    chat.tap("MENU_SURVEY")
    *_, last = answer_all(chat, ["4", "4", "4", "4", "4", "8", "柜员办业务的时候一直在玩手机，态度很差"])
    ticket = bank.ticket(ticket_number(last))
    assert ticket.type == "complaint" and "玩手机" in ticket.text


def test_round_invitations_once_per_customer_and_a_second_response_is_refused(bank: Bank) -> None:
    rmr, cdb, gone = bank.chat(), bank.chat(), bank.chat()
    rmr.scan("RMR")
    cdb.scan("CDB")
    gone.scan("RMR")
    gone.unfollow()
    bank.run(lambda s: launch_survey_round(
        s, name="2026年第四季度人民路网点满意度调查", branch_codes=["RMR"], audience="checked_in",
        starts_at=START, ends_at=START + timedelta(days=30), created_by="tester", now=START))
    assert invite_survey_rounds(bank.runtime, bank.clock.now()) == {"rounds": 1, "sent": 1}
    assert invite_survey_rounds(bank.runtime, bank.clock.now()) == {"rounds": 1, "sent": 0}
    [invitation] = rmr.inbox()
    assert "人民路网点满意度调查" in invitation and "1/7" in invitation
    assert cdb.inbox() == [] and gone.inbox() == []
    # The invited customer answers the first question straight away.
    assert "2/7" in rmr.say("5")
    *_, last = answer_all(rmr, ["5", "5", "5", "5", "10", "没有"])
    assert "感谢您参与" in last
    assert "已经参加过“2026年第四季度人民路网点满意度调查”" in rmr.tap("MENU_SURVEY")
    response = only_response(bank)
    assert response.round_id is not None and response.completed_at is not None
    # The database refuses a second response for the same round and customer, whoever asks.
    with pytest.raises(IntegrityError):
        bank.run(lambda s: s.add(SurveyResponse(round_id=response.round_id, customer_id=response.customer_id,
                                                kind="satisfaction", aspects={}, started_at=START)))
    assert bank.run(lambda s: s.scalar(select(func.count()).select_from(SurveyInvitation))) == 1


def test_checkin_survey_is_sent_once_after_the_delay(bank: Bank) -> None:
    chat, left = bank.chat(), bank.chat()
    chat.scan("HCZ")
    left.scan("HCZ")
    left.unfollow()
    assert checkin_surveys(bank.runtime, bank.later(minutes=59)) == {"sent": 0}
    assert checkin_surveys(bank.runtime, bank.later(minutes=2)) == {"sent": 1}
    assert checkin_surveys(bank.runtime, bank.later(minutes=5)) == {"sent": 0}
    [invitation] = chat.inbox()
    assert "火车站自助服务区" in invitation and "1/7" in invitation
    assert left.inbox() == []
    assert "2/7" in chat.say("3")
    with bank.db() as s:
        assert sorted(str(v) for v in s.scalars(select(Visit.survey_status))) == ["sent", "skipped"]
    # A second visit soon after does not survey the customer again.
    chat.scan("XHS")
    with bank.db() as s:
        assert s.scalars(select(Visit.survey_status).order_by(Visit.id.desc()).limit(1)).one() is None
