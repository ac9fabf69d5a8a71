"""`qianjia doctor`, `qianjia retention run`, `qianjia customer export|erase`: running it for real."""

from __future__ import annotations

import click

from cli.common import friendly_errors, get_config

CHECK_NAMES = {
    "wechat_credentials": "微信公众号密钥",
    "database": "数据库连接",
    "migrations": "数据库迁移",
    "model": "分类模型",
    "wechat_api": "微信接口（access_token）",
}
_MARKS = {"ok": "✓", "warn": "!", "skipped": "-", "loading": "…", "fail": "✗"}


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


def register(group: click.Group) -> None:
    group.add_command(doctor)
