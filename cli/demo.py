"""`qianjia demo …`: demo data for a fresh clone."""

from __future__ import annotations

import click

from cli.common import friendly_errors, get_config


@click.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@click.pass_context
@friendly_errors
def seed(ctx: click.Context) -> None:
    """Migrate the database and load the demo branches."""
    from cli.serve import prepare_database

    prepare_database(get_config(ctx), demo=True)
    click.echo("演示网点已就绪")


@demo.command("generate")
@click.option("--tickets", type=click.IntRange(1, 5_000_000), default=5000, show_default=True,
              help="How many tickets to create.")
@click.option("--quarters", type=click.IntRange(1, 20), default=4, show_default=True,
              help="Full quarters of history before the current quarter (which is filled up to --until).")
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed and --until: same data.")
@click.option("--until", "until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Last day of the history (bank-local, YYYY-MM-DD). Default: today.")
@click.pass_context
@friendly_errors
def generate(ctx: click.Context, tickets: int, quarters: int, seed: int, until: object | None) -> None:
    """Generate realistic feedback history (tickets, visits, surveys, revisits, inspections, training, …)."""
    from datetime import UTC, datetime, time

    from cli.common import fail
    from cli.serve import prepare_database
    from core.db import get_engine, session_factory, transaction
    from services.demo_data import DemoDataExists
    from services.demo_data import generate as generate_history
    from services.kpi import bank_tz

    cfg = get_config(ctx)
    prepare_database(cfg, demo=True)
    now = datetime.now(UTC)
    last_day = until.date() if isinstance(until, datetime) else None
    if last_day is not None:
        # A past --until makes "now" the end of that day, so the same seed gives the same rows any day.
        end_of_day = datetime.combine(last_day, time(23, 59, 59), tzinfo=bank_tz(cfg)).astimezone(UTC)
        now = min(now, end_of_day)
    try:
        with transaction(session_factory(get_engine(cfg.database_url))) as session:
            result = generate_history(session, cfg=cfg, tickets=tickets, quarters=quarters, seed=seed,
                                      until=last_day, now=now)
    except DemoDataExists as exc:
        fail(str(exc))
    click.echo(f"演示数据已生成（{result.start} 至 {result.end}）：")
    for name, count in result.counts.items():
        click.echo(f"  {name}: {count:,}")
