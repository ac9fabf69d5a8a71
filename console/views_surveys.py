"""Satisfaction surveys: launch a round, see its responses."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import render_template, request, url_for
from werkzeug.wrappers import Response

from console.web import bp, cfg, db, now, run_action, runtime, staff
from models import Branch
from services import console_surveys as surveys
from services.access import InputError

AUDIENCES = {"both": "到店客户和反馈客户", "checked_in": "到店签到的客户", "gave_feedback": "提交过反馈的客户"}


def _day(raw: str | None, what: str) -> date:
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        raise InputError(f"请填写{what}（年-月-日）") from None


@bp.get("/surveys")
def surveys_list() -> Any:
    branches = list(staff().branches) if staff().role == "manager" else \
        db().query(Branch).filter(Branch.active.is_(True)).order_by(Branch.code).all()
    today = now().astimezone(runtime().tz).date()
    return render_template("console/surveys.html", rows=surveys.rounds(db()), branches=branches,
                           audiences=AUDIENCES, today=today, can_launch=staff().role in ("admin", "manager"))


@bp.post("/surveys")
def survey_launch() -> Response:
    form = request.form
    return run_action(lambda: surveys.launch(
        db(), staff=staff(), cfg=cfg(), name=form.get("name", ""), branch_codes=form.getlist("branch"),
        audience=form.get("audience", ""), starts_on=_day(form.get("starts_on"), "开始日期"),
        ends_on=_day(form.get("ends_on"), "结束日期"), now=now()),
        success=lambda r: f"已发起调查“{r.name}”，邀请将由定时任务陆续发出", back=url_for("console.surveys_list"))


@bp.get("/surveys/<int:round_id>")
def survey_detail(round_id: int) -> Any:
    rows = surveys.responses(db(), staff=staff(), round_id=round_id)
    summary = next((r for r in surveys.rounds(db(), limit=1000) if r.round.id == round_id), None)
    return render_template("console/survey.html", rows=rows, s=summary, audiences=AUDIENCES)
