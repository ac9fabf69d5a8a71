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
