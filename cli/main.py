"""`qianjia`: serve the bot, manage the database, simulate a customer, classify text, …"""

from __future__ import annotations

import click

from cli.common import friendly_errors, get_config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Extra YAML merged over config.yaml (same as QIANJIA_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """千佳反馈 — the bank's WeChat feedback bot and the feedback team's tools."""
    ctx.ensure_object(dict)["config_path"] = config_path


@cli.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
@friendly_errors
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the database to the latest schema."""
    from core.db import get_engine, migration_status, upgrade

    cfg = get_config(ctx)
    engine = get_engine(cfg.database_url)
    upgrade(engine, revision)
    current, head = migration_status(engine)
    click.echo(f"数据库已迁移到 {current}（最新 {head}）：{engine.url.render_as_string(hide_password=True)}")


@db.command("current")
@click.pass_context
@friendly_errors
def db_current(ctx: click.Context) -> None:
    """Show the database's migration revision and the code's."""
    from core.db import get_engine, migration_status

    current, head = migration_status(get_engine(get_config(ctx).database_url))
    click.echo(f"current={current or '-'} head={head}")


def _register_subcommands() -> None:
    from cli import apikey, demo, serve, simulate

    cli.add_command(serve.serve)
    cli.add_command(simulate.simulate)
    cli.add_command(demo.demo)
    cli.add_command(apikey.apikey)
    from cli import staff  # console accounts

    cli.add_command(staff.staff)
    from cli import nlp as nlp_cli  # classify, nlp train/evaluate

    cli.add_command(nlp_cli.classify)
    cli.add_command(nlp_cli.nlp)
    from cli import ops  # doctor, retention, customer export/erase

    ops.register(cli)
    from cli import scheduler as scheduler_cli  # scheduler, jobs, notices, improvements

    for command in scheduler_cli.COMMANDS:
        cli.add_command(command)
    from cli import kpi_data, report  # report quarterly/kpis; visits, inspections, training import

    cli.add_command(report.report)
    for group in (kpi_data.visits, kpi_data.inspections, kpi_data.training):
        cli.add_command(group)
    from cli import wechat  # menu push, qrcode, survey rounds

    cli.add_command(wechat.wechat)


_register_subcommands()


def main() -> None:
    cli(prog_name="qianjia")


if __name__ == "__main__":
    main()
