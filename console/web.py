"""Request plumbing for the console: one database session per request, the signed-in staff
member, CSRF on every POST, security headers, and error pages."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from models import Role, Staff
from models.staff import ROLE_NAMES
from services import auth
from services.access import InputError, NotAllowed, TicketNotFound
from services.runtime import Runtime

bp = Blueprint("console", __name__, template_folder="templates", static_folder="static")

PUBLIC_ENDPOINTS = {"console.login", "console.static"}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

F = TypeVar("F", bound=Callable[..., Any])


def runtime() -> Runtime:
    return current_app.extensions["qianjia.runtime"]


def cfg() -> Any:
    return runtime().cfg


def staff() -> Staff:
    """The signed-in staff member (every non-public view has one)."""
    return g.staff


def now() -> datetime:
    return g.now


def db() -> Any:
    return g.db


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return bool(expected) and hmac.compare_digest(str(expected), str(given))


def client_address() -> str:
    return request.remote_addr or "unknown"


def safe_next(target: str | None, default: str) -> str:
    """Only same-site paths under the console; anything else goes to `default`."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(request.script_root + bp_prefix()):
        return default
    return target


def bp_prefix() -> str:
    return str(cfg().get("console.url_prefix", "/console")).rstrip("/") or "/console"


@bp.before_request
def _begin() -> Response | None:
    if request.endpoint == "console.static":
        return None  # no database work for stylesheets and scripts
    rt = runtime()
    g.db = rt.sessions()
    g.now = rt.clock.now()
    if request.method not in ("GET", "HEAD", "OPTIONS") and not _csrf_ok():
        return Response(render_template("console/error.html", code=400, title="请求被拒绝",
                                        message="表单已过期或来源不明（CSRF 校验失败）。请刷新页面后重试。"),
                        status=400)
    g.staff = auth.current_staff(g.db, token=session.get("sid"), now=g.now, cfg=rt.cfg)
    if g.staff is None and request.endpoint not in PUBLIC_ENDPOINTS:
        g.db.commit()  # an expired session row was removed
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        return Response(render_template("console/error.html", code=401, title="请先登录",
                                        message="登录已过期，请重新登录。"), status=401)
    return None


@bp.after_request
def _finish(response: Response) -> Response:
    database = g.pop("db", None)
    if database is not None:
        try:
            if response.status_code < 400:
                database.commit()
            else:
                database.rollback()
        finally:
            database.close()
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    return response


@bp.teardown_request
def _teardown(exc: BaseException | None) -> None:
    database = g.pop("db", None)
    if database is not None:  # the view raised: nothing it did is kept
        database.rollback()
        database.close()


def _error_page(code: int, title: str, message: str) -> tuple[str, int]:
    return render_template("console/error.html", code=code, title=title, message=message), code


@bp.errorhandler(TicketNotFound)
def _not_found(exc: TicketNotFound) -> tuple[str, int]:
    return _error_page(404, "找不到工单", "工单不存在，或不在您的处理范围内。")


@bp.errorhandler(NotAllowed)
def _not_allowed(exc: NotAllowed) -> tuple[str, int]:
    return _error_page(403, "无权访问", str(exc))


@bp.errorhandler(InputError)
def _bad_input(exc: InputError) -> tuple[str, int]:
    return _error_page(400, "输入有误", str(exc))


@bp.app_errorhandler(404)
def _plain_not_found(exc: HTTPException) -> Any:
    if request.path.startswith(bp_prefix()):
        return _error_page(404, "页面不存在", "您访问的页面不存在。")
    return exc


def run_action(action: Callable[[], Any], *, success: str | Callable[[Any], str] | None,
               back: str) -> Response:
    """Run a service action for a form POST: commit and flash on success; on bad input roll back,
    flash the reason and go back. Out-of-scope tickets propagate to the 404 handler."""
    try:
        result = action()
    except InputError as exc:
        g.db.rollback()
        flash(str(exc), "error")
        return redirect(back)
    g.db.commit()
    if success is not None:
        flash(success(result) if callable(success) else success, "ok")
    return redirect(back)


def role_name(role: str) -> str:
    try:
        return ROLE_NAMES[Role(role)]
    except ValueError:
        return role


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    if request.blueprint != "console":
        return {}
    c = cfg()
    labels = c.section("labels")
    return {
        "csrf_token": csrf_token,
        "me": g.get("staff"),
        "role_name": role_name,
        "type_names": labels.get("types", {}),
        "category_names": labels.get("categories", {}),
        "team_names": c.section("teams"),
        "status_names": STATUS_NAMES,
        "priority_names": PRIORITY_NAMES,
        "channel_names": CHANNEL_NAMES,
        "simulator_enabled": bool(c.get("console.simulator.enabled", False)),
        "escalation_names": {str(lv.get("code")): str(lv.get("name", lv.get("code")))
                             for lv in (c.get("escalation.levels") or []) if isinstance(lv, dict)},
        "local_time": local_time,
        "duration": duration,
    }


STATUS_NAMES = {"new": "待处理", "open": "处理中", "pending": "待客户回复", "resolved": "已解决", "closed": "已关闭",
                "merged": "已合并"}
PRIORITY_NAMES = {"normal": "普通", "urgent": "加急"}
CHANNEL_NAMES = {"wechat": "微信", "app": "手机银行APP", "offline": "线下"}


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(runtime().tz).strftime(fmt)


def duration(seconds: float | None) -> str:
    """剩余 3小时12分 / 已超时 2天4小时."""
    if seconds is None:
        return "—"
    past = seconds < 0
    total = int(abs(seconds)) // 60
    days, rest = divmod(total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        text = f"{days}天{hours}小时"
    elif hours:
        text = f"{hours}小时{minutes}分"
    else:
        text = f"{minutes}分钟"
    return f"已超时 {text}" if past else f"剩余 {text}"
