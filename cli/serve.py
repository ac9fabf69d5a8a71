"""`qianjia serve`: the webhook (and, with --demo, the fake WeChat API and demo data)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

import click

from cli.common import fail, friendly_errors, get_config
from core.config import Config, demo_overrides
from core.logging import configure_logging


def required_secrets(cfg: Config) -> list[str]:
    keys = ["wechat.token", "wechat.app_id", "wechat.app_secret"]
    if str(cfg.get("wechat.mode", "safe")).lower() in ("safe", "compatible"):
        keys.append("wechat.encoding_aes_key")
    if cfg.get("console.enabled", True):
        keys.append("console.secret_key")
    return keys


def start_demo_wechat(cfg: Config) -> tuple[Config, Any]:
    """Demo credentials for what the environment left unset, and the fake WeChat API on loopback."""
    from bot.fake_wechat import FakeWeChatServer

    cfg = cfg.with_overrides(demo_overrides(cfg))
    fake = FakeWeChatServer(
        app_id=str(cfg.get("wechat.app_id")),
        app_secret=str(cfg.get("wechat.app_secret")),
        port=int(cfg.get("demo.fake_wechat_port", 8081)),
    )
    fake.start()
    # The demo runs on plain http over loopback: the console cookie cannot require HTTPS there;
    # the WeChat simulator page is for demos and training.
    overrides: dict[str, Any] = {"wechat.api_base_url": fake.url, "console.cookie_secure": False,
                                 "console.simulator.enabled": True}
    for key in ("service_update", "improvement_notice"):
        if not cfg.get(f"wechat.templates.{key}"):
            overrides[f"wechat.templates.{key}"] = f"TM_DEMO_{key.upper()}"
    return cfg.with_overrides(overrides), fake


def prepare_database(cfg: Config, *, demo: bool) -> None:
    from core.db import get_engine, transaction, upgrade
    from core.db import session_factory as make_factory
    from services.branches import load_branch_file, upsert_branches

    engine = get_engine(cfg.database_url)
    upgrade(engine)
    if demo:
        from core.clock import SystemClock

        with transaction(make_factory(engine)) as session:
            created = upsert_branches(session, rows=load_branch_file(), now=SystemClock().now())
        if created:
            click.echo(f"已写入 {created} 个演示网点")


DEMO_ADMIN = ("demo", "qianjia-demo-2026")


def seed_demo_history(cfg: Config) -> None:
    """A fresh demo database gets an admin account and a year of history for the console and reports."""
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from core.db import get_engine, session_factory, transaction
    from models import Ticket
    from models.staff import Staff
    from services.demo_data import generate
    from services.staff import create_staff

    now = datetime.now(UTC)
    with transaction(session_factory(get_engine(cfg.database_url))) as session:
        if not session.scalar(select(func.count()).select_from(Staff)):
            create_staff(session, cfg=cfg, username=DEMO_ADMIN[0], password=DEMO_ADMIN[1], role="admin", now=now,
                         actor="cli:demo", display_name="演示管理员")
            click.echo(f"演示管理员账号：{DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}（仅用于演示）")
        if not session.scalar(select(func.count()).select_from(Ticket)):
            result = generate(session, cfg=cfg, tickets=3000, quarters=4, seed=7, now=now)
            click.echo(f"已生成演示历史数据：{result.counts.get('tickets', 0)} 个工单（最近四个季度）")


@click.command()
@click.option("--host", default=None, help="Listen address (default: server.host).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Listen port (default: server.port).")
@click.option("--demo", is_flag=True, help="Demo: fake WeChat API on loopback, demo secrets and branches.")
@click.option("--no-scheduler", is_flag=True,
              help="Do not run the periodic jobs in this process (run `qianjia scheduler` separately).")
@click.pass_context
@friendly_errors
def serve(ctx: click.Context, host: str | None, port: int | None, demo: bool, no_scheduler: bool) -> None:
    """Serve the WeChat webhook on the embedded database (migrated on start)."""
    from werkzeug.serving import make_server

    from bot.app import create_app, trusted_proxies
    from services.health import startup_calendar_check
    from services.runtime import build_runtime

    cfg = get_config(ctx)
    configure_logging(cfg)  # redacted, with request ids (config logging:)
    fake = None
    if demo:
        try:
            cfg, fake = start_demo_wechat(cfg)
        except OSError as exc:
            fail(f"无法启动模拟微信接口（端口 {cfg.get('demo.fake_wechat_port')}）：{exc}")
    for key in required_secrets(cfg):
        cfg.require(key)
    trusted_proxies(cfg)  # a bad setting stops here, before the database is touched
    calendar_warning = startup_calendar_check(cfg, now=datetime.now(UTC))  # so does a broken calendar
    prepare_database(cfg, demo=demo)
    if demo:
        seed_demo_history(cfg)
    runtime = build_runtime(cfg)
    started = time.perf_counter()
    click.echo("正在加载分类模型（首次启动会用自带语料训练，不到一分钟）…")
    runtime.analyzer  # noqa: B018  (load or train once, before the first customer waits for it)
    click.echo(f"分类模型就绪（{time.perf_counter() - started:.1f} 秒）")
    app = create_app(runtime=runtime)
    host = host or str(cfg.get("server.host", "127.0.0.1"))
    port = port or int(cfg.get("server.port", 8080))
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:
        fail(f"无法监听 {host}:{port}：{exc}")
    base = f"http://{host}:{port}"
    click.echo(f"千佳反馈已启动：微信回调地址 {base}/wechat")
    if calendar_warning:
        click.echo(calendar_warning)
    if cfg.get("console.enabled", True):
        console_url = base + str(cfg.get("console.url_prefix", "/console")).rstrip("/")
        click.echo(f"反馈工作台：{console_url}/（首个账号：qianjia staff add 用户名 --role admin）")
        if cfg.get("console.simulator.enabled", False):
            click.echo(f"微信模拟器：{console_url}/simulator")
    click.echo(f"数据库：{runtime.engine.url.render_as_string(hide_password=True)}")
    if fake is not None:
        click.echo(f"模拟微信接口：{fake.url}")
        click.echo(f"另开一个终端，与机器人对话：qianjia simulate --url {base}")
    job_runner = None
    if not no_scheduler:
        from scheduler.runner import build_scheduler

        job_runner, jobs = build_scheduler(runtime, blocking=False)
        job_runner.start()
        click.echo("定时任务在本进程运行：" + "、".join(j.job.name for j in jobs) + "（--no-scheduler 关闭）")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("已停止")
    finally:
        if job_runner is not None:
            job_runner.shutdown(wait=False)
        server.server_close()
        if fake is not None:
            fake.stop()
        sys.stdout.flush()
