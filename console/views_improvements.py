"""Improvement measures: write, pick or accept the proposed tickets, publish, follow the notices."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import render_template, request, url_for
from werkzeug.wrappers import Response

from console.web import bp, cfg, db, now, run_action, staff
from models import Branch
from services import console_improvements as improvements
from services.access import InputError


def _date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError("生效日期格式应为 年-月-日") from None


def _days(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        raise InputError("天数须为整数") from None


@bp.get("/improvements")
def improvements_list() -> Any:
    branches = db().query(Branch).filter(Branch.active.is_(True)).order_by(Branch.code).all()
    if staff().role == "manager":
        branches = list(staff().branches)
    return render_template("console/improvements.html", rows=improvements.list_improvements(db()),
                           branches=branches, can_create=improvements._can_edit(staff()))


@bp.post("/improvements")
def improvement_create() -> Response:
    form = request.form
    return run_action(lambda: improvements.create(
        db(), staff=staff(), cfg=cfg(), title=form.get("title", ""), body=form.get("body", ""),
        category=form.get("category") or None, branch_codes=form.getlist("branch"),
        effective_date=_date(form.get("effective_date")), now=now()),
        success=lambda i: f"已保存改进措施“{i.title}”，请关联工单后发布",
        back=url_for("console.improvements_list"))


@bp.get("/improvements/<int:improvement_id>")
def improvement_detail(improvement_id: int) -> Any:
    days = _days(request.args.get("days"), 90)
    v = improvements.view(db(), staff=staff(), cfg=cfg(), improvement_id=improvement_id, now=now(),
                          proposal_days=days)
    return render_template("console/improvement.html", v=v, i=v.improvement, days=days)


@bp.post("/improvements/<int:improvement_id>/link")
def improvement_link(improvement_id: int) -> Response:
    numbers = request.form.getlist("ticket") + request.form.get("numbers", "").replace("，", ",").split(",")
    return run_action(lambda: improvements.link(db(), staff=staff(), cfg=cfg(), improvement_id=improvement_id,
                                                numbers=numbers, now=now()),
                      success=lambda n: f"已关联 {n} 张工单",
                      back=url_for("console.improvement_detail", improvement_id=improvement_id))


@bp.post("/improvements/<int:improvement_id>/publish")
def improvement_publish(improvement_id: int) -> Response:
    form = request.form
    return run_action(lambda: improvements.publish(
        db(), staff=staff(), improvement_id=improvement_id,
        include_category_feedback=form.get("include_category_feedback") == "1",
        period_days=_days(form.get("period_days"), 90), now=now()),
        success=lambda r: f"已发布：共 {r.total_recipients} 位客户将收到改进通知（本次新增 "
                          f"{r.added_for_tickets + r.added_for_category} 位）",
        back=url_for("console.improvement_detail", improvement_id=improvement_id))
