"""/api/v1: the operations of the OpenAPI document, each a thin call into services/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from api import serialize
from api.errors import (
    HTTP_ERRORS,
    ApiError,
    json_response,
    render_api_error,
    render_http_exception,
    render_unexpected,
)
from api.http import authenticate_request, caller, exactly_once, query_int, read_json, state
from api.openapi import BLANK_CHARS
from services import app_feedback, app_followup

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = frozenset({"api_v1.openapi", "api_v1.no_such_operation"})
# OPTIONS is not part of the API (no CORS: the app is not a browser): routing answers 405.


# Query parameters each operation documents; any other is refused rather than silently ignored.
QUERY_PARAMETERS = {"api_v1.list_tickets": frozenset({"limit", "offset"}),
                    "api_v1.list_improvement_notices": frozenset({"limit"})}


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in PUBLIC_ENDPOINTS:
        g.api_caller = authenticate_request(state())
    unknown = sorted(set(request.args) - QUERY_PARAMETERS.get(request.endpoint or "", frozenset()))
    if unknown:
        raise ApiError(400, "unknown_parameter", f"不支持的查询参数 {unknown[0]}", field=unknown[0])


@bp.after_request
def _rate_headers(response: Response) -> Response:
    decision = g.get("api_rate")
    if decision is not None:
        response.headers["X-RateLimit-Limit"] = str(decision.limit)
        response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
    return response


bp.register_error_handler(ApiError, render_api_error)
bp.register_error_handler(HTTPException, render_http_exception)
bp.register_error_handler(Exception, render_unexpected)


@bp.get("/openapi.json", provide_automatic_options=False)
def openapi() -> Response:
    return json_response(state().document)


@bp.post("/feedback", provide_automatic_options=False)
def submit_feedback() -> Response:
    api, who = state(), caller()
    body = read_json(api, "FeedbackRequest")
    # Load (or train) the classifier before the transaction, never while holding the database's write lock.
    api.runtime.analyzer  # noqa: B018

    def handler(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        customer = app_feedback.get_or_create_customer(session, app=who.app, app_user_id=who.customer_ref, now=now)
        ticket = app_feedback.submit(
            session,
            runtime=api.runtime,
            customer=customer,
            api_client_id=who.api_client_id,
            text=body["text"].strip(BLANK_CHARS),
            client_id=body["client_id"],
            branch_code=body.get("branch_code"),
            contact=body.get("contact"),
            now=now,
        )
        return 201, serialize.ticket_detail(session, ticket)

    return exactly_once(api, who, body, handler)


@bp.get("/tickets", provide_automatic_options=False)
def list_tickets() -> Response:
    api, who = state(), caller()
    limit = query_int("limit", default=api.settings.page_size, minimum=1, maximum=api.settings.max_page_size)
    offset = query_int("offset", default=0, minimum=0, maximum=1_000_000)
    with api.runtime.sessions() as session:
        tickets, total = app_feedback.list_tickets(session, customer_id=who.customer_id(session), limit=limit,
                                                   offset=offset)
        items = [serialize.ticket_summary(t) for t in tickets]
    return json_response({"tickets": items, "total": total, "limit": limit, "offset": offset})


@bp.get("/tickets/<number>", provide_automatic_options=False)
def get_ticket(number: str) -> Response:
    api, who = state(), caller()
    with api.runtime.sessions() as session:
        try:
            ticket = app_feedback.get_ticket(session, customer_id=who.customer_id(session), number=number)
        except app_feedback.TicketNotFound as exc:
            raise ApiError(404, exc.code, exc.message) from None
        return json_response(serialize.ticket_detail(session, ticket))


@bp.post("/tickets/<number>/replies", provide_automatic_options=False)
def reply_to_ticket(number: str) -> Response:
    api, who = state(), caller()
    body = read_json(api, "ReplyRequest")

    def handler(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        reply = app_feedback.add_reply(session, runtime=api.runtime, customer_id=who.customer_id(session),
                                       number=number, text=body["text"].strip(BLANK_CHARS), now=now)
        return 201, serialize.ticket_detail(session, reply.ticket)

    return exactly_once(api, who, body, handler)


@bp.post("/tickets/<number>/survey", provide_automatic_options=False)
def answer_ticket_survey(number: str) -> Response:
    api, who = state(), caller()
    body = read_json(api, "SurveyAnswerRequest")

    def handler(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        rating = app_followup.rate_ticket(session, runtime=api.runtime, customer_id=who.customer_id(session),
                                          number=number, score=int(body["score"]), now=now)
        return 201, {"ticket": serialize.ticket_detail(session, rating.ticket), "message": rating.reply}

    return exactly_once(api, who, body, handler)


@bp.get("/surveys", provide_automatic_options=False)
def list_surveys() -> Response:
    api, who = state(), caller()
    with api.runtime.sessions() as session:
        found = app_followup.open_surveys(session, runtime=api.runtime, customer_id=who.customer_id(session),
                                          now=api.runtime.clock.now())
        items = [serialize.survey(s) for s in found]
    return json_response({"surveys": items})


def _score(value: Any) -> int | None:
    """A validated score as an int: JSON Schema counts 4.0 as an integer too."""
    return None if value is None else int(value)


# `id` is the path parameter's documented name (the contract check matches routes to the document by it).
@bp.post("/surveys/<int:id>/responses", provide_automatic_options=False)
def answer_survey(id: int) -> Response:
    api, who = state(), caller()
    body = read_json(api, "SurveyResponseRequest")
    # A comment is read by the classifier: load it before the transaction, as for feedback.
    api.runtime.analyzer  # noqa: B018

    def handler(session: Session, now: datetime) -> tuple[int, dict[str, Any]]:
        customer = app_feedback.get_or_create_customer(session, app=who.app, app_user_id=who.customer_ref, now=now)
        answer = app_followup.answer_survey(session, runtime=api.runtime, customer=customer, round_id=id,
                                            overall=_score(body.get("overall")), nps=_score(body.get("nps")),
                                            aspects={k: _score(v) for k, v in (body.get("aspects") or {}).items()},
                                            comment=body.get("comment"), now=now)
        return 201, serialize.survey_answer(answer)

    return exactly_once(api, who, body, handler)


@bp.get("/improvements", provide_automatic_options=False)
def list_improvement_notices() -> Response:
    api, who = state(), caller()
    limit = query_int("limit", default=api.settings.page_size, minimum=1, maximum=api.settings.max_page_size)
    with api.runtime.sessions() as session:
        notices = app_followup.improvement_notices(session, customer_id=who.customer_id(session),
                                                   now=api.runtime.clock.now(), limit=limit,
                                                   recent_days=api.settings.notice_recent_days)
        items = [serialize.improvement_notice(n) for n in notices]
    return json_response({"improvements": items})


# Anything else under /api/v1 lands here, so the refusal is JSON whatever app-wide 404/405
# handlers other blueprints install: 405 (with Allow) if the path exists with other methods, else 404.
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@bp.route("/<path:unknown>", methods=ALL_METHODS, provide_automatic_options=False)
@bp.route("/", methods=ALL_METHODS, provide_automatic_options=False, defaults={"unknown": ""})
def no_such_operation(unknown: str) -> Response:
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST"):
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "api_v1.no_such_operation":
            allowed.append(method)
    if allowed:
        raise ApiError(405, *HTTP_ERRORS[405], headers={"Allow": ", ".join(allowed)})
    raise ApiError(404, *HTTP_ERRORS[404])

