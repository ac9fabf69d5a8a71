"""`qianjia doctor`, `qianjia retention run`, `qianjia customer export|erase`: running it for real."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cli.common import fail, friendly_errors, get_config

if TYPE_CHECKING:
    from services.privacy import CustomerRef

F = TypeVar("F", bound=Callable[..., Any])

CHECK_NAMES = {
    "wechat_credentials": "微信公众号密钥",
    "database": "数据库连接",
    "migrations": "数据库迁移",
    "model": "分类模型",
    "calendar": "工作日历（节假日）",
    "wechat_api": "微信接口（access_token）",
}
_MARKS = {"ok": "✓", "warn": "!", "skipped": "-", "loading": "…", "fail": "✗"}


def database_errors(func: F) -> F:
    """A database failure is one clear line (and exit 1), not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return func(*args, **kwargs)
        except SQLAlchemyError as exc:
            fail(f"数据库操作失败（{type(exc).__name__}）：请运行 qianjia doctor 检查数据库连接和迁移", code=1)
        return None

    return wrapper  # type: ignore[return-value]


def _quiet_logging(cfg: object) -> None:
    from core.logging import configure_logging

    # Command output is for the operator; only warnings and errors go to the log stream.
    configure_logging(cfg, level="WARNING")


@click.command()
@click.pass_context
@friendly_errors
def doctor(ctx: click.Context) -> None:
    """Check configuration, database, migrations, model and the WeChat API; say how to fix what fails."""
    from services.health import doctor_checks
    from services.runtime import build_runtime

    cfg = get_config(ctx)
    _quiet_logging(cfg)
    runtime = build_runtime(cfg)
    click.echo(f"千佳反馈自检（配置：{cfg.source}）")
    checks = doctor_checks(runtime)
    problems = 0
    for name, check in checks.items():
        label = CHECK_NAMES.get(name, name)
        line = f"{_MARKS.get(check.status, '?')} {label}：{check.detail or check.status}"
        click.echo(line)
        if check.hint and check.status in ("fail", "warn", "loading"):
            click.echo(f"    → {check.hint}")
        problems += not check.ok
    if problems:
        click.echo(f"发现 {problems} 个问题，请按提示修复后重新运行 qianjia doctor。")
        ctx.exit(1)
    click.echo("一切正常。")


ACTION_NAMES = {"anonymised": "匿名化", "purged": "清除客户", "erased": "删除个人信息", "deleted": "删除"}


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("请使用 ISO 时间，例如 2026-12-01T03:00:00+08:00", param_hint="--now") from None
    if moment.tzinfo is None:
        raise click.BadParameter("时间必须带时区，例如 +08:00", param_hint="--now")
    return moment


@click.group()
def retention() -> None:
    """Personal-data retention (config `retention:`)."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what would change.")
@click.option("--now", "now_text", default=None, help="Apply the policy as of this ISO time (with time zone).")
@click.pass_context
@friendly_errors
@database_errors
def retention_run(ctx: click.Context, dry_run: bool, now_text: str | None) -> None:
    """Anonymise old texts, purge long-unsubscribed customers, drop old dedup records, expired API
    Idempotency-Keys and finished rate-limit windows; print counts per table."""
    from core.clock import SystemClock
    from services.retention import run_retention
    from services.runtime import build_runtime

    cfg = get_config(ctx)
    _quiet_logging(cfg)
    runtime = build_runtime(cfg)
    now = _parse_now(now_text) or SystemClock().now()
    report = run_retention(sessions=runtime.sessions, cfg=cfg, now=now, dry_run=dry_run)
    click.echo(f"保留策略{'（试运行，未做任何修改）' if dry_run else ''}，基准时间 {now.isoformat()}：")
    if not report.counts:
        click.echo("  没有需要处理的数据。")
    for table, actions in sorted(report.counts.items()):
        parts = "，".join(f"{ACTION_NAMES.get(a, a)} {n} 行" for a, n in sorted(actions.items()))
        click.echo(f"  {table}：{parts}")
    click.echo(f"合计 {report.total} 行。")


@click.group()
def customer() -> None:
    """Data-subject requests: export or erase what is held about one customer."""


def _names_customer(func: F) -> F:
    """OPENID for a WeChat customer, or --app-user-id (with --app) for a customer of the bank's app."""
    func = click.option("--app-user-id", default=None,
                        help="The app's own customer id (X-Customer-Id) instead of an OPENID.")(func)
    func = click.option("--app", "app_name", default=None,
                        help="With --app-user-id: the app (as in qianjia apikey create --app; default mobile).")(func)
    return click.argument("openid", required=False)(func)


def _customer_ref(openid: str | None, app_name: str | None, app_user_id: str | None) -> CustomerRef:
    from services.apikeys import DEFAULT_APP
    from services.privacy import CustomerRef

    if (openid is None) == (app_user_id is None):
        raise click.UsageError("请指定客户：微信 OPENID，或 --app-user-id ID（APP 客户，可加 --app 应用名）")
    if openid is not None:
        if app_name is not None:
            raise click.UsageError("--app 只能与 --app-user-id 一起使用")
        return CustomerRef(openid=openid)
    return CustomerRef(app=app_name or DEFAULT_APP, app_user_id=app_user_id)


def _not_found(who: CustomerRef) -> None:
    fail(f"未找到{who.describe()}（可能从未联系过，或已被删除）", code=1)


@customer.command("export")
@_names_customer
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the JSON here instead of standard output.")
@click.option("--reason", default=None, help="Request reference, kept in the audit log.")
@click.pass_context
@friendly_errors
@database_errors
def customer_export(ctx: click.Context, openid: str | None, app_name: str | None, app_user_id: str | None,
                    output: str | None, reason: str | None) -> None:
    """Print (JSON) everything held about the customer with this OPENID (or app customer id); audited."""
    import json

    from core.clock import SystemClock
    from core.db import transaction
    from services.privacy import CustomerNotFound, export_customer
    from services.runtime import build_runtime

    who = _customer_ref(openid, app_name, app_user_id)
    cfg = get_config(ctx)
    _quiet_logging(cfg)
    runtime = build_runtime(cfg)
    try:
        with transaction(runtime.sessions) as session:
            data = export_customer(session, who=who, actor=_actor(), now=SystemClock().now(), reason=reason)
    except CustomerNotFound:
        _not_found(who)
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        click.echo(f"已导出到 {output}（{sum(len(v) for v in data['tables'].values())} 行）", err=True)
    else:
        click.echo(text)


@customer.command("erase")
@_names_customer
@click.option("--reason", default=None, help="Request reference, kept in the audit log.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@friendly_errors
@database_errors
def customer_erase(ctx: click.Context, openid: str | None, app_name: str | None, app_user_id: str | None,
                   reason: str | None, yes: bool) -> None:
    """Erase the personal data of the customer with this OPENID (or app customer id) from every table; audited."""
    from core.clock import SystemClock
    from core.db import transaction
    from services.privacy import CustomerNotFound, erase_customer
    from services.runtime import build_runtime

    who = _customer_ref(openid, app_name, app_user_id)
    cfg = get_config(ctx)
    _quiet_logging(cfg)
    runtime = build_runtime(cfg)
    if not yes:
        click.confirm("将永久删除该客户的全部个人信息（工单保留用于统计），确定继续？", abort=True)
    try:
        with transaction(runtime.sessions) as session:
            report = erase_customer(session, who=who, now=SystemClock().now(), actor=_actor(), reason=reason,
                                    templates=[str(t) for t in cfg.section("messages").values()])
    except CustomerNotFound:
        _not_found(who)
    click.echo(f"已删除客户 #{report.customer_id} 的个人信息：")
    for table, n in sorted(report.rows.items()):
        click.echo(f"  {table}：{n} 行")


def register(group: click.Group) -> None:
    group.add_command(doctor)
    group.add_command(retention)
    group.add_command(customer)
