"""Issue 4's satisfaction survey rounds from the app: which rounds are open to a customer, a whole
response at once (validated like every body), once per round, a low score a complaint as on WeChat."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import transaction
from models import Channel, Customer, SurveyInvitation, SurveyResponse, SurveyRound, Ticket
from services.branches import load_branch_file, upsert_branches
from services.surveys import SurveyAnswerError, launch_survey_round, record_survey_response
from tests.api.conftest import AppUser, http_transport
from tests.support.threads import run_threads

ASPECTS = {"wait_time": 4, "staff_attitude": 5, "professionalism": 4, "environment": 4}
GOOD: dict[str, Any] = {"overall": 4, "aspects": ASPECTS, "nps": 9, "comment": "网点环境很干净，工作人员也很热情"}
# The answers of the WeChat low-score test (tests/conversations/test_surveys.py): 1, 1, 2, 3, 3, 0, 无.
LOW: dict[str, Any] = {"overall": 1, "nps": 0,
                       "aspects": {"wait_time": 1, "staff_attitude": 2, "professionalism": 3, "environment": 3}}


@pytest.fixture(autouse=True)
def branches(runtime: Any) -> None:
    with transaction(runtime.sessions) as s:
        upsert_branches(s, rows=load_branch_file(), now=runtime.clock.now())


def launch(runtime: Any, name: str, *, branches: tuple[str, ...] = (), audience: str = "gave_feedback",
           started: timedelta = timedelta(hours=1), lasts: timedelta = timedelta(days=14)) -> int:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as s:
        survey_round = launch_survey_round(s, name=name, branch_codes=list(branches), audience=audience,
                                           starts_at=now - started, ends_at=now - started + lasts,
                                           created_by="manager", now=now)
        s.flush()
        return int(survey_round.id)


def answer(user: AppUser, round_id: int, body: dict[str, Any], **kw: Any) -> Any:
    return user.request("POST", f"/surveys/{round_id}/responses", json_body=body, **kw)


def listed(user: AppUser) -> list[tuple[str, bool]]:
    reply = user.request("GET", "/surveys")
    assert reply.status == 200, reply.body
    return [(s["name"], s["answered"]) for s in reply.json["surveys"]]


def responses(runtime: Any) -> list[SurveyResponse]:
    with runtime.sessions() as s:
        return list(s.scalars(select(SurveyResponse).order_by(SurveyResponse.id)))


def test_the_rounds_open_to_a_customer(app_user: Any, runtime: Any) -> None:
    alice, carol, stranger = app_user("alice"), app_user("carol"), app_user("stranger")
    assert alice.submit("人民路支行排队太久", branch_code="RMR").status == 201
    assert carol.submit("开发区支行的叫号机坏了", branch_code="KFQ").status == 201
    launch(runtime, "全行满意度调查")  # every branch
    launch(runtime, "人民路支行回访调查", branches=("RMR",))
    invited_to = launch(runtime, "城东营业部调查", branches=("CDB",))
    launch(runtime, "到店客户调查", branches=("RMR",), audience="checked_in")  # alice never checked in
    launch(runtime, "已结束的调查", started=timedelta(days=30), lasts=timedelta(days=7))
    launch(runtime, "尚未开始的调查", started=-timedelta(days=1))
    closed = launch(runtime, "已关闭的调查")
    with transaction(runtime.sessions) as s:
        s.get_one(SurveyRound, closed).status = "closed"
        carol_id = s.scalars(select(Customer.id).join(Ticket, Ticket.customer_id == Customer.id)
                             .where(Ticket.text.contains("叫号机"))).one()
        s.add(SurveyInvitation(round_id=invited_to, customer_id=carol_id, invited_at=runtime.clock.now(),
                               delivery_status="sent"))

    assert listed(alice) == [("全行满意度调查", False), ("人民路支行回访调查", False)]
    assert listed(carol) == [("城东营业部调查", False), ("全行满意度调查", False)]  # invited first
    assert listed(stranger) == []  # never wrote: in no audience


def test_a_whole_response_is_recorded_once(app_user: Any, runtime: Any) -> None:
    alice = app_user("alice")
    alice.submit("人民路支行排队太久", branch_code="RMR")
    round_id = launch(runtime, "第四季度满意度调查", branches=("RMR",))
    first = answer(alice, round_id, GOOD, idempotency_key="survey-1")
    assert first.status == 201, first.body
    assert first.json["message"] == runtime.texts.render("survey_thanks")
    assert first.json["complaint_ticket"] is None
    assert first.json["survey"]["id"] == round_id and first.json["survey"]["answered"] is True
    [response] = responses(runtime)
    assert (response.round_id, response.kind, response.overall, response.nps) == (round_id, "satisfaction", 4, 9)
    assert response.aspects == ASPECTS and response.comment == GOOD["comment"]
    assert response.completed_at is not None and response.complaint_ticket_id is None
    assert listed(alice) == [("第四季度满意度调查", True)]

    retry = answer(alice, round_id, GOOD, idempotency_key="survey-1")
    assert retry.body == first.body and retry.headers.get("Idempotent-Replayed") == "true"
    second = answer(alice, round_id, {**GOOD, "overall": 1})
    assert second.status == 409 and second.error["code"] == "survey_already_answered"
    assert [r.overall for r in responses(runtime)] == [4]


def test_a_low_score_opens_a_complaint_ticket_as_on_wechat(app_user: Any, runtime: Any) -> None:
    alice, bob = app_user("alice"), app_user("bob")
    alice.submit("人民路支行排队太久", branch_code="RMR")
    bob.submit("人民路支行没有停车位", branch_code="RMR")
    round_id = launch(runtime, "第四季度满意度调查")
    reply = answer(alice, round_id, LOW)
    assert reply.status == 201, reply.body
    number = reply.json["complaint_ticket"]
    assert number and number in reply.json["message"] and "很抱歉" in reply.json["message"]
    with runtime.sessions() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert (ticket.channel, ticket.type, ticket.category, ticket.team) == ("app", "complaint", "wait_time",
                                                                              "branch_ops")
        assert ticket.text == ("满意度调查反馈：整体满意度 1 分，排队等候 1 分，服务态度 2 分，业务专业性 3 分，"
                               "网点环境 3 分，推荐意愿 0 分。")
        assert ticket.first_reply_due_at is not None  # the same SLA as any complaint
    assert responses(runtime)[0].complaint_ticket_id == ticket.id
    # The complaint is alice's ticket in the app, and nobody else's.
    assert number in [t["number"] for t in alice.tickets().json["tickets"]]
    assert bob.ticket(number).status == 404


def test_a_complaining_comment_opens_a_complaint_despite_good_scores(app_user: Any, runtime: Any) -> None:
    alice = app_user("alice")
    alice.submit("人民路支行排队太久", branch_code="RMR")
    round_id = launch(runtime, "第四季度满意度调查")
    reply = answer(alice, round_id, {**GOOD, "comment": "柜员办业务的时候一直在玩手机，态度很差"})
    assert reply.status == 201
    with runtime.sessions() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == reply.json["complaint_ticket"])).one()
    assert ticket.type == "complaint" and "玩手机" in ticket.text


def test_whole_numbers_written_as_decimals_count(app_user: Any, runtime: Any) -> None:
    """JSON Schema (and so the document) calls 4.0 an integer: such an answer is stored as 4."""
    alice = app_user("alice")
    alice.submit("人民路支行排队太久", branch_code="RMR")
    round_id = launch(runtime, "第四季度满意度调查")
    reply = answer(alice, round_id, {**GOOD, "overall": 4.0, "aspects": {**ASPECTS, "wait_time": 3.0}})
    assert reply.status == 201, reply.body
    [response] = responses(runtime)
    assert response.overall == 4 and response.aspects["wait_time"] == 3


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"overall": 6}, "invalid_field", "overall"),
    ({"overall": "5"}, "invalid_field", "overall"),
    ({"nps": 11}, "invalid_field", "nps"),
    ({"nps": None}, "invalid_field", "nps"),
    ({"aspects": {**ASPECTS, "wait_time": 0}}, "invalid_field", "aspects.wait_time"),
    ({"aspects": {k: v for k, v in ASPECTS.items() if k != "environment"}}, "missing_field",
     "aspects.environment"),
    ({"aspects": {**ASPECTS, "parking": 3}}, "unknown_field", "aspects.parking"),
    ({"comment": "   "}, "invalid_field", "comment"),
    ({"comment": "好" * 1001}, "invalid_field", "comment"),
    ({"score": 5}, "unknown_field", "score"),
])
def test_invalid_answers_are_refused_and_nothing_is_stored(app_user: Any, runtime: Any, change: dict[str, Any],
                                                           code: str, field: str) -> None:
    alice = app_user("alice")
    alice.submit("人民路支行排队太久", branch_code="RMR")
    round_id = launch(runtime, "第四季度满意度调查")
    reply = answer(alice, round_id, {**GOOD, **change})
    assert reply.status == 422 and (reply.error["code"], reply.error["field"]) == (code, field), reply.body
    assert responses(runtime) == []


@pytest.mark.parametrize("missing", ["overall", "aspects", "nps"])
def test_every_score_is_required_the_comment_is_not(app_user: Any, runtime: Any, missing: str) -> None:
    alice = app_user("alice")
    alice.submit("人民路支行排队太久", branch_code="RMR")
    round_id = launch(runtime, "第四季度满意度调查")
    reply = answer(alice, round_id, {k: v for k, v in GOOD.items() if k != missing})
    assert reply.status == 422 and reply.error == {"code": "missing_field", "message": f"缺少必填字段 {missing}",
                                                   "field": missing}
    without_comment = answer(alice, round_id, {k: v for k, v in GOOD.items() if k != "comment"})
    assert without_comment.status == 201 and responses(runtime)[0].comment is None


def test_rounds_not_open_to_the_customer_are_refused(app_user: Any, runtime: Any) -> None:
    alice, stranger = app_user("alice"), app_user("stranger")
    alice.submit("人民路支行排队太久", branch_code="RMR")
    elsewhere = launch(runtime, "城东营业部调查", branches=("CDB",))
    ended = launch(runtime, "已结束的调查", started=timedelta(days=30), lasts=timedelta(days=7))
    everyone = launch(runtime, "全行满意度调查")
    for round_id in (elsewhere, ended):
        reply = answer(alice, round_id, GOOD)
        assert reply.status == 409 and reply.error["code"] == "survey_not_open", reply.body
    for round_id in (everyone + 1000, 2**31 - 1):
        reply = answer(alice, round_id, GOOD)
        assert reply.status == 404 and reply.error["code"] == "survey_not_found", reply.body
    assert alice.request("POST", f"/surveys/{2**40}/responses", json_body=GOOD).status == 404  # no 500 past int4
    with runtime.sessions() as s:
        customers = s.scalar(select(func.count()).select_from(Customer))
    # Someone who never wrote is in no round's audience, and a refusal leaves no customer behind.
    reply = answer(stranger, everyone, GOOD)
    assert reply.status == 409 and reply.error["code"] == "survey_not_open"
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == customers
    assert responses(runtime) == []


def test_the_survey_operations_need_a_signed_customer(app_user: Any, runtime: Any) -> None:
    round_id = launch(runtime, "全行满意度调查")
    user = app_user("alice")
    assert user.request("GET", "/surveys", signed=False).status == 401
    unsigned = user.request("POST", f"/surveys/{round_id}/responses", json_body=GOOD, signed=False,
                            idempotency_key=uuid.uuid4().hex)
    assert unsigned.status == 401
    assert user.request("GET", "/surveys?limit=5").error["code"] == "unknown_parameter"


def test_answers_sent_at_once_with_different_keys_make_one_response(app_user: Any, live_server: Any, runtime: Any,
                                                                    api_key: Any) -> None:
    """Two taps on "submit" (two Idempotency-Keys) over real connections: the unique key keeps one."""
    user = AppUser(http_transport(live_server.url), api_key, "racer")
    assert user.submit("人民路支行排队太久", branch_code="RMR").status == 201
    round_id = launch(runtime, "全行满意度调查")
    replies = run_threads(4, lambda: answer(user, round_id, GOOD))
    assert sorted(r.status for r in replies) == [201, 409, 409, 409]
    assert {r.error["code"] for r in replies if r.status == 409} == {"survey_already_answered"}
    assert len(responses(runtime)) == 1


@pytest.mark.parametrize(("answers", "field"), [
    ({"overall": 0}, "overall"),
    ({"overall": True}, "overall"),
    ({"nps": None}, "nps"),
    ({"aspects": {"wait_time": 4}}, "aspects.staff_attitude"),
    ({"aspects": {**ASPECTS, "parking": 3}}, "aspects.parking"),
])
def test_the_service_checks_a_whole_response_itself(app_user: Any, runtime: Any, answers: dict[str, Any],
                                                    field: str) -> None:
    """Callers other than the API (whose schema refuses these first) get the same rules."""
    app_user("alice").submit("人民路支行排队太久", branch_code="RMR")
    round_id = launch(runtime, "全行满意度调查")
    whole = {"overall": 4, "aspects": ASPECTS, "nps": 9, "comment": None, **answers}
    with pytest.raises(SurveyAnswerError) as refused, transaction(runtime.sessions) as s:
        customer = s.scalars(select(Customer)).one()
        record_survey_response(s, runtime=runtime, customer=customer, round_id=round_id, channel=Channel.APP,
                               now=runtime.clock.now(), **whole)
    assert refused.value.field == field
    assert responses(runtime) == []
