"""`qianjia staff …`: console accounts from the command line (the first admin starts here)."""

from __future__ import annotations

import getpass
import sys

import click

from cli.common import fail, friendly_errors, get_config


def _runtime(ctx: click.Context):  # type: ignore[no-untyped-def]
    from services.runtime import build_runtime

    return build_runtime(get_config(ctx))


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("标准输入中没有密码")
        return password
    password = click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    return str(password)


@click.group()
def staff() -> None:
    """Console staff accounts."""


@staff.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["agent", "manager", "admin"]), required=True,
              help="agent: a team's queue; manager: their branches; admin: everything.")
@click.option("--team", default=None, help="Team code (required for agents), e.g. branch_ops.")
@click.option("--branch", "branches", multiple=True, help="Branch code a manager is responsible for (repeatable).")
@click.option("--name", "display_name", default="", help="Display name shown in the console.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.pass_context
@friendly_errors
def add(ctx: click.Context, username: str, role: str, team: str | None, branches: tuple[str, ...],
        display_name: str, password_stdin: bool) -> None:
    """Create a staff account (the password is prompted for, or read with --password-stdin)."""
    from core.db import transaction
    from services.access import InputError
    from services.staff import create_staff

    runtime = _runtime(ctx)
    password = _read_password(password_stdin)
    try:
        with transaction(runtime.sessions) as session:
            created = create_staff(session, cfg=runtime.cfg, username=username, password=password, role=role,
                                   now=runtime.clock.now(), actor=_actor(), team=team, branch_codes=branches,
                                   display_name=display_name)
            summary = f"已创建员工 {created.username}（{role}"
            if created.team:
                summary += f"，小组 {created.team}"
            if created.branches:
                summary += f"，网点 {'、'.join(b.code for b in created.branches)}"
    except InputError as exc:
        fail(str(exc))
    click.echo(summary + "）")


@staff.command("list")
@click.pass_context
@friendly_errors
def list_(ctx: click.Context) -> None:
    """List staff accounts."""
    from services.staff import list_staff

    runtime = _runtime(ctx)
    with runtime.sessions() as session:
        for person in list_staff(session):
            branches = ",".join(b.code for b in person.branches) or "-"
            state = "启用" if person.active else "停用"
            click.echo(f"{person.username}\t{person.role}\t{person.team or '-'}\t{branches}\t{state}")


@staff.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.pass_context
@friendly_errors
def set_password(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a new password (signs the account out everywhere)."""
    from core.db import transaction
    from services import staff as staff_service
    from services.access import InputError

    runtime = _runtime(ctx)
    password = _read_password(password_stdin)
    try:
        with transaction(runtime.sessions) as session:
            person = staff_service.get_staff(session, username=username)
            staff_service.set_password(session, cfg=runtime.cfg, staff=person, password=password,
                                       now=runtime.clock.now(), actor=_actor())
    except InputError as exc:
        fail(str(exc))
    click.echo(f"已更新 {username} 的密码")


@staff.command("deactivate")
@click.argument("username")
@click.pass_context
@friendly_errors
def deactivate(ctx: click.Context, username: str) -> None:
    """Deactivate an account and end its sessions."""
    from core.db import transaction
    from services import staff as staff_service
    from services.access import InputError

    runtime = _runtime(ctx)
    try:
        with transaction(runtime.sessions) as session:
            person = staff_service.get_staff(session, username=username)
            staff_service.set_active(session, staff=person, active=False, now=runtime.clock.now(), actor=_actor())
    except InputError as exc:
        fail(str(exc))
    click.echo(f"已停用 {username}")
