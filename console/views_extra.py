"""Dashboard, offline feedback entry and the WeChat simulator."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from console import simulator
from console.web import bp, cfg, db, now, runtime, staff
from models import Branch, Customer, Message
from models.staff import OFFLINE_SOURCE_NAMES, OfflineSource
from services import audit
from services.access import InputError, NotAllowed, TicketNotFound, get_ticket, mask_openid
from services.console_kpis import kpi_panel
from services.offline import submit_offline
from services.queue import queue_summary


@bp.get("/dashboard")
def dashboard() -> Any:
    tz = runtime().tz
    local = now().astimezone(tz)
    day_start = datetime(local.year, local.month, local.day, tzinfo=tz)
    summary = queue_summary(db(), staff=staff(), cfg=cfg(), now=now(), day_start=day_start)
    period = (request.args.get("period") or "").strip() or None
    kpis = kpi_panel(db(), staff=staff(), cfg=cfg(), now=now(), period=period)
    return render_template("console/dashboard.html", s=summary, today=local.date(), kpis=kpis, period=period,
                           reply_target=cfg().get("kpi.targets.reply_24h_rate"))


def _branches_for_entry() -> list[Branch]:
    me = staff()
    if me.role == "manager":
        return list(me.branches)
    return list(db().scalars(select(Branch).where(Branch.active.is_(True)).order_by(Branch.code)))


@bp.route("/offline", methods=["GET", "POST"])
def offline() -> Any:
    branches = _branches_for_entry()
    today = now().astimezone(runtime().tz).date()
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        try:
            try:
                received_on = date.fromisoformat(form.get("received_on", ""))
            except ValueError:
                raise InputError("请填写收到日期（年-月-日）") from None
            ticket = submit_offline(db(), runtime=runtime(), staff=staff(), text=form.get("text", ""),
                                    branch_code=form.get("branch", ""), source=form.get("source", ""),
                                    received_on=received_on, now=now(), contact_name=form.get("contact_name"),
                                    contact_phone=form.get("contact_phone"))
        except InputError as exc:
            db().rollback()
            return render_template("console/offline.html", branches=branches, sources=OFFLINE_SOURCE_NAMES,
                                   today=today, form=form, error=str(exc)), 400
        db().commit()
        flash(f"已登记线下反馈，工单号 {ticket.number}", "ok")
        try:
            get_ticket(db(), staff=staff(), cfg=cfg(), number=str(ticket.number))
        except TicketNotFound:  # routed to a team outside this staff member's scope
            return redirect(url_for("console.offline"))
        return redirect(url_for("console.ticket", number=ticket.number))
    return render_template("console/offline.html", branches=branches, sources=OFFLINE_SOURCE_NAMES, today=today,
                           form={"source": OfflineSource.BOX.value}, error=None)


# -- WeChat simulator -----------------------------------------------------------------------

def _require_simulator() -> None:
    if not cfg().get("console.simulator.enabled", False):
        raise NotAllowed("微信模拟器未启用（console.simulator.enabled）")


def _openid(raw: str | None) -> str:
    openid = (raw or "").strip()
    if not openid or len(openid) > 64 or not openid.replace("_", "").replace("-", "").isalnum():
        raise InputError("openid 只能由字母、数字、下划线或连字符组成（不超过 64 位）")
    return openid


@bp.get("/simulator")
def simulator_page() -> Any:
    _require_simulator()
    openid = _openid(request.args.get("openid") or "oSimDemo" + "0" * 20)
    history: list[Message] = []
    customer = db().scalars(select(Customer).where(Customer.openid == openid)).one_or_none()
    if customer is not None:
        history = list(reversed(db().scalars(select(Message).where(Message.customer_id == customer.id)
                                             .order_by(Message.created_at.desc(), Message.id.desc())
                                             .limit(40)).all()))
    inbox = simulator.received(cfg(), openid=openid)
    return render_template("console/simulator.html", openid=openid, masked=mask_openid(openid), history=history,
                           seen=len(inbox) if inbox is not None else 0, fake=inbox is not None,
                           menu=simulator.menu_items(cfg()),
                           branches=db().scalars(select(Branch).where(Branch.active.is_(True))
                                                 .order_by(Branch.code)).all(),
                           new_openid="oSim" + secrets.token_hex(12))


@bp.post("/simulator/send")
def simulator_send() -> Response:
    _require_simulator()
    payload = request.get_json(silent=True) or request.form
    openid = _openid(payload.get("openid"))
    action = str(payload.get("action", ""))
    value = str(payload.get("value", "")).strip()
    if action not in simulator.ACTIONS:
        raise InputError("未知的操作")
    if action in ("text", "menu", "scan") and not value:
        raise InputError("请输入内容")
    audit.record(db(), actor=staff().username, action="simulator.send", now=now(), target_type="openid",
                 target_id=mask_openid(openid), data={"action": action})
    db().commit()
    result = simulator.send(cfg(), openid=openid, action=action, value=value[:600])
    return jsonify({"status": result.status, "reply": result.reply, "error": result.error})


@bp.get("/simulator/inbox")
def simulator_inbox() -> Response:
    _require_simulator()
    openid = _openid(request.args.get("openid"))
    seen = max(0, request.args.get("seen", default=0, type=int) or 0)
    items = simulator.received(cfg(), openid=openid)
    if items is None:
        return jsonify({"connected": False, "items": [], "seen": seen})
    return jsonify({"connected": True, "items": items[seen:], "seen": len(items)})
