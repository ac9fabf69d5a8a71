"""`qianjia apikey create|list|revoke`: API keys for the bank's app."""

from __future__ import annotations

import getpass
from zoneinfo import ZoneInfo

import click

from cli.common import fail, friendly_errors, get_config


def _sessions(ctx: click.Context):  # type: ignore[no-untyped-def]
    from core.db import get_engine, session_factory

    return session_factory(get_engine(get_config(ctx).database_url))


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@click.group()
def apikey() -> None:
    """API keys of the mobile app (/api/v1)."""


@apikey.command("create")
@click.argument("name")
@click.option("--app", "app_name", default="mobile", show_default=True,
              help="Whose customer ids the key carries: keys of one app share its customers.")
@click.option("--rate-limit", type=click.IntRange(min=1), default=None,
              help="Requests per minute for this key (default: api.rate_limit.requests_per_minute).")
@click.pass_context
@friendly_errors
def create(ctx: click.Context, name: str, app_name: str, rate_limit: int | None) -> None:
    """Create a key; the key and its signing secret are printed once and never again."""
    from core.clock import SystemClock
    from core.db import transaction
    from services import audit
    from services.apikeys import ApiKeyError, create_api_client

    now = SystemClock().now()
    try:
        with transaction(_sessions(ctx)) as session:
            issued = create_api_client(session, name=name, app=app_name, rate_limit_per_minute=rate_limit, now=now)
            audit.record(session, actor=_actor(), action="apikey.create", now=now, target_type="api_client",
                         target_id=issued.client.id, data={"name": name, "app": app_name,
                                                           "prefix": issued.client.key_prefix})
    except ApiKeyError as exc:
        fail(str(exc))
        return
    click.echo(f"已创建 API 密钥“{name}”（编号 {issued.client.id}，应用 {app_name}）。以下两项只显示这一次，请妥善保存：")
    click.echo(f"API 密钥（Authorization: Bearer …）：{issued.api_key}")
    click.echo(f"签名密钥（X-Customer-Signature 的 HMAC 密钥）：{issued.signing_secret}")


@apikey.command("list")
@click.pass_context
@friendly_errors
def list_keys(ctx: click.Context) -> None:
    """List the keys (never their secrets)."""
    from services.apikeys import list_api_clients

    tz = ZoneInfo(str(get_config(ctx).get("timezone", "Asia/Shanghai")))
    with _sessions(ctx)() as session:
        clients = list_api_clients(session)
    if not clients:
        click.echo("还没有 API 密钥：用 qianjia apikey create NAME 创建")
        return
    click.echo("编号\t名称\t应用\t前缀\t每分钟上限\t创建时间\t状态")
    for c in clients:
        state = f"已吊销 {c.revoked_at.astimezone(tz):%Y-%m-%d %H:%M}" if c.revoked_at else "有效"
        limit = str(c.rate_limit_per_minute) if c.rate_limit_per_minute else "默认"
        click.echo(f"{c.id}\t{c.name}\t{c.app}\t{c.key_prefix}\t{limit}\t{c.created_at.astimezone(tz):%Y-%m-%d %H:%M}"
                   f"\t{state}")


@apikey.command("revoke")
@click.argument("ref", metavar="NAME|ID")
@click.pass_context
@friendly_errors
def revoke(ctx: click.Context, ref: str) -> None:
    """Revoke a key at once: its requests get 401 api_key_revoked from now on."""
    from core.clock import SystemClock
    from core.db import transaction
    from services import audit
    from services.apikeys import ApiKeyError, revoke_api_client

    now = SystemClock().now()
    try:
        with transaction(_sessions(ctx)) as session:
            client, changed = revoke_api_client(session, ref=ref, now=now)
            if changed:
                audit.record(session, actor=_actor(), action="apikey.revoke", now=now, target_type="api_client",
                             target_id=client.id, data={"name": client.name})
    except ApiKeyError as exc:
        fail(str(exc))
        return
    click.echo(f"API 密钥“{client.name}”（编号 {client.id}）{'已吊销' if changed else '早已吊销，无需再次操作'}")
