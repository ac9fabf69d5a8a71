"""Sign-in, the queue, the ticket page and its actions."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from console.web import bp, cfg, client_address, db, now, run_action, runtime, safe_next, staff
from models import Branch
from services import auth
from services import ticket_actions as actions
from services.access import InputError
from services.offline import reveal_contact
from services.queue import QueueFilters, queue_page, ticket_view


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = safe_next(request.args.get("next"), url_for("console.queue"))
    if request.method == "GET":
        return render_template("console/login.html", next=target)
    username = request.form.get("username", "")
    try:
        signed_in = auth.login(db(), username=username, password=request.form.get("password", ""),
                               remote_addr=client_address(), now=now(), cfg=cfg())
    except auth.LoginThrottled as exc:
        wait = max(1, int((exc.retry_after - now()).total_seconds() // 60) + 1)
        return render_template("console/login.html", next=target, username=username,
                               error=f"登录失败次数过多，请约 {wait} 分钟后再试"), 429
    except auth.LoginRefused as exc:
        db().commit()  # the failed attempt counts towards the throttle
        return render_template("console/login.html", next=target, username=username, error=str(exc)), 401
    db().commit()
    session.clear()  # a fresh session (and CSRF token) for the signed-in user: no fixation
    session.permanent = True
    session["sid"] = signed_in.token
    return redirect(target)


@bp.post("/logout")
def logout() -> Response:
    auth.logout(db(), token=session.get("sid"), now=now())
    db().commit()
    session.clear()
    flash("您已退出登录", "ok")
    return redirect(url_for("console.login"))


@bp.get("/")
def index() -> Response:
    return redirect(url_for("console.queue"))


@bp.get("/queue")
def queue() -> Any:
    filters = QueueFilters.from_args(request.args, cfg())
    if filters.q and not request.args.get("cursor"):
        # A ticket number typed into the search box opens that ticket directly.
        page = queue_page(db(), staff=staff(), cfg=cfg(), now=now(),
                          filters=QueueFilters(q=filters.q, status="all"), page_size=2)
        if len(page.items) == 1 and page.items[0].ticket.number == filters.q.strip().upper():
            return redirect(url_for("console.ticket", number=page.items[0].ticket.number))
    page = queue_page(db(), staff=staff(), cfg=cfg(), filters=filters, now=now(), cursor=request.args.get("cursor"))
    branches = db().query(Branch).filter(Branch.active.is_(True)).order_by(Branch.code).all()
    return render_template("console/queue.html", page=page, filters=filters, branches=branches,
                           first_page=url_for("console.queue", **filters.as_args()),  # type: ignore[arg-type]
                           next_page=url_for("console.queue", cursor=page.next_cursor,
                                             **filters.as_args())  # type: ignore[arg-type]
                           if page.next_cursor else None,
                           paged=bool(request.args.get("cursor")))


@bp.get("/triage")
def triage() -> Response:
    return redirect(url_for("console.queue", triage="1"))


@bp.get("/tickets/<number>")
def ticket(number: str) -> Any:
    view = ticket_view(db(), staff=staff(), cfg=cfg(), number=number, now=now())
    assignees = actions.eligible_assignees(db(), runtime=runtime(), staff=staff(), number=number)
    return render_template("console/ticket.html", v=view, t=view.ticket, assignees=assignees,
                           canned=cfg().section("console").get("canned_replies") or [],
                           revealed_phone=None)


def _back(number: str) -> str:
    return url_for("console.ticket", number=number)


@bp.post("/tickets/<number>/reply")
def reply(number: str) -> Response:
    return run_action(lambda: actions.reply(db(), runtime=runtime(), staff=staff(), number=number,
                                            text=request.form.get("text", ""), now=now()),
                      success=lambda d: f"回复结果：{d.describe()}", back=_back(number))


@bp.post("/tickets/<number>/note")
def note(number: str) -> Response:
    return run_action(lambda: actions.add_note(db(), runtime=runtime(), staff=staff(), number=number,
                                               text=request.form.get("text", ""), now=now()),
                      success="已添加内部备注", back=_back(number))


@bp.post("/tickets/<number>/take")
def take(number: str) -> Response:
    back = safe_next(request.form.get("next"), _back(number))
    return run_action(lambda: actions.take(db(), runtime=runtime(), staff=staff(), number=number, now=now()),
                      success=f"已领取工单 {number}", back=back)


@bp.post("/tickets/<number>/assign")
def assign(number: str) -> Response:
    return run_action(lambda: actions.assign(db(), runtime=runtime(), staff=staff(), number=number,
                                             assignee=request.form.get("assignee") or None, now=now()),
                      success=lambda s: f"已指派给 {s.label}" if s else "已取消指派", back=_back(number))


@bp.post("/tickets/<number>/transfer")
def transfer(number: str) -> Response:
    def act() -> None:
        actions.transfer(db(), runtime=runtime(), staff=staff(), number=number,
                         team=request.form.get("team", ""), now=now())

    return _leave_if_gone(number, act, "已转交给其他小组")


@bp.post("/tickets/<number>/category")
def category(number: str) -> Response:
    def act() -> None:
        actions.change_category(db(), runtime=runtime(), staff=staff(), number=number,
                                category=request.form.get("category", ""), now=now())

    return _leave_if_gone(number, act, "已更新类别（已记录为分类纠正）")


def _leave_if_gone(number: str, act: Any, message: str) -> Response:
    """After a transfer or re-routing the ticket may leave the staff member's scope: go to the queue."""
    response = run_action(act, success=message, back=_back(number))
    if response.status_code == 302 and response.location.endswith(_back(number)):
        from services.access import TicketNotFound, get_ticket

        try:
            get_ticket(db(), staff=staff(), cfg=cfg(), number=number)
        except TicketNotFound:
            return redirect(url_for("console.queue"))
    return response


@bp.post("/tickets/<number>/priority")
def priority(number: str) -> Response:
    return run_action(lambda: actions.change_priority(db(), runtime=runtime(), staff=staff(), number=number,
                                                      priority=request.form.get("priority", ""), now=now()),
                      success="已调整优先级，期限已重新计算", back=_back(number))


@bp.post("/tickets/<number>/merge")
def merge(number: str) -> Any:
    into = request.form.get("into", "").strip().upper()
    try:
        target = actions.merge(db(), runtime=runtime(), staff=staff(), number=number, into=into, now=now())
    except InputError as exc:
        db().rollback()
        flash(str(exc), "error")
        return redirect(_back(number))
    db().commit()
    flash(f"已将 {number} 合并到 {target.number}", "ok")
    return redirect(_back(str(target.number)))


@bp.post("/tickets/<number>/resolve")
def resolve(number: str) -> Response:
    return run_action(lambda: actions.resolve(db(), runtime=runtime(), staff=staff(), number=number, now=now()),
                      success="工单已标记为已解决", back=_back(number))


@bp.post("/tickets/<number>/reopen")
def reopen(number: str) -> Response:
    return run_action(lambda: actions.reopen(db(), runtime=runtime(), staff=staff(), number=number, now=now()),
                      success="工单已重新打开，期限已重新计算", back=_back(number))


@bp.post("/tickets/<number>/pending")
def pending(number: str) -> Response:
    return run_action(lambda: actions.wait_for_customer(db(), runtime=runtime(), staff=staff(), number=number,
                                                        now=now()),
                      success="工单已设为等待客户回复，期限计时已暂停；客户回复后自动恢复", back=_back(number))


@bp.post("/tickets/<number>/resume")
def resume(number: str) -> Response:
    return run_action(lambda: actions.resume_work(db(), runtime=runtime(), staff=staff(), number=number, now=now()),
                      success="工单已恢复处理，期限已顺延暂停的时长", back=_back(number))


@bp.post("/tickets/<number>/revisit")
def revisit(number: str) -> Response:
    raw = request.form.get("satisfaction", "").strip()
    try:
        satisfaction = int(raw) if raw else None
    except ValueError:
        flash("满意度须为 1–5 分", "error")
        return redirect(_back(number))
    return run_action(lambda: actions.record_revisit(db(), runtime=runtime(), staff=staff(), number=number,
                                                     method=request.form.get("method", ""),
                                                     outcome=request.form.get("outcome", ""),
                                                     satisfaction=satisfaction, now=now()),
                      success="已记录回访", back=_back(number))


@bp.post("/tickets/<number>/contact")
def contact(number: str) -> Any:
    row = reveal_contact(db(), staff=staff(), cfg=cfg(), number=number, now=now())
    db().commit()
    view = ticket_view(db(), staff=staff(), cfg=cfg(), number=number, now=now())
    assignees = actions.eligible_assignees(db(), runtime=runtime(), staff=staff(), number=number)
    return render_template("console/ticket.html", v=view, t=view.ticket, assignees=assignees,
                           canned=cfg().section("console").get("canned_replies") or [],
                           revealed_phone=row.contact_phone)
