"""`qianjia wechat …`: the Official Account's menu, branch QR codes and survey rounds."""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import click

from cli.common import fail, friendly_errors, get_config

QR_IMAGE_URL = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="


def _runtime(ctx: click.Context) -> Any:
    from services.runtime import build_runtime

    return build_runtime(get_config(ctx))


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _wechat_call(call: Any) -> Any:
    from bot.wechat_api import WeChatAPIError

    try:
        return call()
    except WeChatAPIError as exc:
        fail(f"微信接口调用失败：{exc}")


@click.group()
def wechat() -> None:
    """The Official Account: custom menu, branch QR codes, survey rounds."""


@wechat.group()
def menu() -> None:
    """The custom menu defined in config.yaml (menu:)."""


def _menu(ctx: click.Context) -> dict[str, Any]:
    from services.menu import MenuError, wechat_menu

    try:
        return wechat_menu(get_config(ctx))
    except MenuError as exc:
        fail(f"config.yaml 中的菜单不符合微信的要求：{exc}")
        raise  # unreachable: fail() exits


@menu.command("show")
@click.pass_context
@friendly_errors
def menu_show(ctx: click.Context) -> None:
    """Print the menu as it would be sent to WeChat."""
    click.echo(json.dumps(_menu(ctx), ensure_ascii=False, indent=2))


@menu.command("push")
@click.pass_context
@friendly_errors
def menu_push(ctx: click.Context) -> None:
    """Install the menu on the Official Account (menu/create)."""
    from core.db import transaction
    from services import audit

    payload = _menu(ctx)
    runtime = _runtime(ctx)
    _wechat_call(lambda: runtime.wechat_api.create_menu(menu=payload))
    with transaction(runtime.sessions) as session:
        audit.record(session, actor=_actor(), action="wechat.menu_push", now=runtime.clock.now(), data=payload)
    names = [b["name"] for b in payload["button"]]
    click.echo(f"菜单已发布：{' / '.join(names)}（约5分钟内对所有用户生效）")


@wechat.command("qrcode")
@click.argument("branch_code")
@click.option("--temporary", is_flag=True, help="A temporary code (for events) instead of a permanent one.")
@click.option("--days", type=click.IntRange(1, 30), default=30, show_default=True,
              help="How long a temporary code works.")
@click.pass_context
@friendly_errors
def qrcode(ctx: click.Context, branch_code: str, temporary: bool, days: int) -> None:
    """Create the check-in QR code of a branch (its scene is the branch code)."""
    from core.db import transaction
    from services import audit
    from services.branches import get_by_code

    runtime = _runtime(ctx)
    with runtime.sessions() as session:
        branch = get_by_code(session, branch_code.strip())
        if branch is None or not branch.active:
            fail(f"找不到网点 {branch_code}（或已停用），请先导入网点")
            return
        name, code = branch.name, branch.code
    result = _wechat_call(lambda: runtime.wechat_api.create_qrcode(
        code, permanent=not temporary, expire_seconds=days * 86400 if temporary else None))
    with transaction(runtime.sessions) as session:
        audit.record(session, actor=_actor(), action="wechat.qrcode", now=runtime.clock.now(),
                     target_type="branch", target_id=code, data={"temporary": temporary, "url": result.get("url")})
    click.echo(f"网点：{name}（{code}）")
    click.echo(f"二维码内容：{result.get('url', '')}")
    click.echo(f"二维码图片：{QR_IMAGE_URL}{quote(str(result.get('ticket', '')))}")
    if temporary:
        click.echo(f"有效期：{days} 天")


@wechat.group()
def survey() -> None:
    """Satisfaction survey rounds."""


def _local(value: datetime | None, tz: Any, default: datetime) -> datetime:
    return default if value is None else value.replace(tzinfo=tz)


@survey.command("launch")
@click.option("--name", required=True, help="e.g. 2026年第四季度网点服务满意度调查")
@click.option("--branches", default="", help="Branch codes, comma-separated; empty = every branch.")
@click.option("--audience", type=click.Choice(["checked_in", "gave_feedback", "both"]), default="both",
              show_default=True)
@click.option("--starts", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%d %H:%M"]), default=None,
              help="Bank-local start (default: now).")
@click.option("--ends", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%d %H:%M"]), default=None,
              help="Bank-local end (default: 30 days after the start).")
@click.pass_context
@friendly_errors
def survey_launch(ctx: click.Context, name: str, branches: str, audience: str, starts: datetime | None,
                  ends: datetime | None) -> None:
    """Launch a survey round; the scheduler's invite_survey_rounds job sends the invitations."""
    from core.db import transaction
    from services import audit
    from services.surveys import SurveyInputError, launch_survey_round

    runtime = _runtime(ctx)
    now = runtime.clock.now()
    starts_at = _local(starts, runtime.tz, now)
    ends_at = _local(ends, runtime.tz, starts_at + timedelta(days=30))
    try:
        with transaction(runtime.sessions) as session:
            survey_round = launch_survey_round(
                session, name=name, branch_codes=branches.split(","), audience=audience, starts_at=starts_at,
                ends_at=ends_at, created_by=_actor(), now=now)
            audit.record(session, actor=_actor(), action="survey.launch", now=now, target_type="survey_round",
                         target_id=survey_round.id, data={"name": survey_round.name})
            round_id = survey_round.id
    except SurveyInputError as exc:
        fail(str(exc))
        return
    click.echo(f"调查已创建（编号 {round_id}）：{name}，"
               f"{starts_at.astimezone(runtime.tz):%Y-%m-%d %H:%M} 至 {ends_at.astimezone(runtime.tz):%Y-%m-%d %H:%M}")
