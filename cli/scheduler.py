"""`qianjia scheduler`, `qianjia jobs …`, `qianjia notices …`, `qianjia improvements …`."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from cli.common import fail, friendly_errors, get_config
from core.config import Config
from core.logging import configure_logging
from core.metrics import serve_metrics


def _parse_moment(text: str, tz: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"无法识别的时间：{text}（示例 2026-11-28T09:30 或 2026-11-28T01:30+00:00）") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _runtime(cfg: Config, now: datetime | None = None) -> Any:
    from core.clock import FixedClock
    from services.runtime import build_runtime

    return build_runtime(cfg, clock=FixedClock(now) if now is not None else None)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str, sort_keys=True))


# -- the scheduler process ---------------------------------------------------------------


@click.command("scheduler")
@click.pass_context
@friendly_errors
def scheduler_command(ctx: click.Context) -> None:
    """Run the periodic jobs in this process (production: one or more of these beside `serve`)."""
    from scheduler.runner import build_scheduler
    from services.health import startup_calendar_check

    cfg = get_config(ctx)
    configure_logging(cfg)  # redacted, with the job name on every line
    serve_metrics(cfg)  # job runs, SLA warnings/breaches, notices (metrics.scheduler_port)
    cfg.require("wechat.app_id")
    cfg.require("wechat.app_secret")
    calendar_warning = startup_calendar_check(cfg, now=datetime.now(UTC))
    runtime = _runtime(cfg)
    scheduler, guarded = build_scheduler(runtime, blocking=True)

    def stop(signum: int, _frame: Any) -> None:
        click.echo(f"收到信号 {signum}，正在停止调度器…")
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    click.echo("调度器已启动：" + "、".join(f"{g.job.name}（{g.job.trigger_text()}）" for g in guarded))
    if calendar_warning:
        click.echo(calendar_warning)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        pass
    click.echo("调度器已停止")


# -- jobs -------------------------------------------------------------------------------


@click.group()
def jobs() -> None:
    """List the periodic jobs or run one once."""


@jobs.command("list")
@click.pass_context
@friendly_errors
def jobs_list(ctx: click.Context) -> None:
    """Show every job, its schedule and whether it is enabled."""
    from scheduler.registry import registered_jobs

    cfg = get_config(ctx)
    disabled = set(cfg.get("scheduler.disabled_jobs") or [])
    for name, job in registered_jobs(cfg).items():
        state = "已停用" if name in disabled else "启用"
        click.echo(f"{name:<28} {job.trigger_text():<12} {state:<4} {job.description}")


@jobs.command("run")
@click.argument("name")
@click.option("--now", "now_text", default=None,
              help="Run as if it were this time (ISO 8601; without an offset: bank-local time).")
@click.pass_context
@friendly_errors
def jobs_run(ctx: click.Context, name: str, now_text: str | None) -> None:
    """Run one job once and print what it did (JSON)."""
    from scheduler.registry import registered_jobs

    cfg = get_config(ctx)
    registry = registered_jobs(cfg)
    job = registry.get(name)
    if job is None:
        fail(f"没有名为 {name} 的任务；可用：{', '.join(registry)}")
        return
    tz = ZoneInfo(str(cfg.get("timezone", "Asia/Shanghai")))
    now = _parse_moment(now_text, tz) if now_text else None
    runtime = _runtime(cfg, now)
    result = job.func(runtime, runtime.clock.now())
    _echo_json({"job": name, "result": result})


# -- notices ----------------------------------------------------------------------------


def _bar(done: int, total: int, width: int = 30) -> str:
    share = done / total if total else 1.0
    filled = round(share * width)
    return f"[{'█' * filled}{'░' * (width - filled)}] {share:6.1%}"


def _progress_lines(progress: list[Any], tz: ZoneInfo) -> list[str]:
    lines = []
    for p in progress:
        counts = p.counts
        published = f"{p.published_at.astimezone(tz):%Y-%m-%d %H:%M}" if p.published_at else "未发布"
        lines.append(f"#{p.improvement_id} {p.title}（发布于 {published}）")
        lines.append(f"  {_bar(p.done, p.total)} {p.done}/{p.total}")
        lines.append(
            f"  已发送 {counts.get('sent', 0)}  失败 {counts.get('failed', 0)}  "
            f"状态不明 {counts.get('unknown', 0)}  待发送 {counts.get('pending', 0)}  "
            f"发送中 {counts.get('claimed', 0) + counts.get('sending', 0)}"
        )
    return lines


@click.group()
def notices() -> None:
    """Improvement notices to customers (服务改进公告)."""


@notices.command("status")
@click.argument("improvement_id", type=int, required=False)
@click.option("--watch", type=click.FloatRange(min=0.5), default=None, metavar="SECONDS",
              help="Refresh every SECONDS until nothing is waiting.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@friendly_errors
def notices_status(ctx: click.Context, improvement_id: int | None, watch: float | None, as_json: bool) -> None:
    """Per notice: sent / failed / unknown / pending, with a progress bar."""
    from core.db import get_engine, session_factory
    from services.notices import notice_progress

    cfg = get_config(ctx)
    tz = ZoneInfo(str(cfg.get("timezone", "Asia/Shanghai")))
    sessions = session_factory(get_engine(cfg.database_url))
    while True:
        with sessions() as session:
            progress = notice_progress(session, improvement_id=improvement_id)
        if improvement_id is not None and not progress:
            fail(f"找不到服务改进公告 #{improvement_id}")
        if as_json:
            _echo_json([{"improvement_id": p.improvement_id, "title": p.title, "total": p.total,
                         "done": p.done, "counts": p.counts} for p in progress])
        else:
            click.echo("\n".join(_progress_lines(progress, tz)) or "还没有发布过服务改进公告")
        if watch is None or all(p.waiting == 0 for p in progress):
            return
        time.sleep(watch)
        click.echo("")


# -- improvements ----------------------------------------------------------------------


@click.group()
def improvements() -> None:
    """Improvement measures: create, propose the tickets they answer, publish."""


def _branch_ids(session: Any, codes: tuple[str, ...]) -> list[int]:
    from services.branches import get_by_code

    ids = []
    for code in codes:
        branch = get_by_code(session, code)
        if branch is None:
            fail(f"找不到网点代码 {code}")
            return []
        ids.append(branch.id)
    return ids


def _actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@improvements.command("create")
@click.option("--title", required=True)
@click.option("--body", required=True)
@click.option("--category", default=None, help="Category code, e.g. wait_time.")
@click.option("--branch", "branches", multiple=True, help="Branch code (repeatable).")
@click.option("--effective", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Effective date.")
@click.option("--ticket", "tickets", type=int, multiple=True, help="Ticket id it answers (repeatable).")
@click.pass_context
@friendly_errors
def improvements_create(ctx: click.Context, title: str, body: str, category: str | None, branches: tuple[str, ...],
                        effective: datetime | None, tickets: tuple[int, ...]) -> None:
    """Record an improvement measure (published separately)."""
    from core.db import transaction
    from services.improvements import ImprovementError, create_improvement

    runtime = _runtime(get_config(ctx))
    try:
        with transaction(runtime.sessions) as session:
            improvement = create_improvement(
                session, title=title, body=body, category=category, branch_ids=_branch_ids(session, branches),
                effective_date=effective.date() if effective else None, created_by=_actor(),
                now=runtime.clock.now(), ticket_ids=tickets,
            )
    except ImprovementError as exc:
        fail(str(exc))
        return
    click.echo(f"已创建改进措施 #{improvement.id}：{improvement.title}")


@improvements.command("propose")
@click.argument("improvement_id", type=int)
@click.option("--from", "start", required=True, help="Period start (ISO date or time, bank-local).")
@click.option("--to", "end", required=True, help="Period end, exclusive.")
@click.option("--link", is_flag=True, help="Link every proposed ticket.")
@click.pass_context
@friendly_errors
def improvements_propose(ctx: click.Context, improvement_id: int, start: str, end: str, link: bool) -> None:
    """Propose the tickets an improvement answers (same category, branches, period)."""
    from core.db import transaction
    from models import Improvement
    from services.improvements import link_tickets, propose_tickets

    cfg = get_config(ctx)
    runtime = _runtime(cfg)
    with transaction(runtime.sessions) as session:
        improvement = session.get(Improvement, improvement_id)
        if improvement is None:
            fail(f"找不到改进措施 #{improvement_id}")
            return
        tickets = propose_tickets(session, category=improvement.category, branch_ids=improvement.branch_ids,
                                  period_start=_parse_moment(start, runtime.tz),
                                  period_end=_parse_moment(end, runtime.tz), exclude_improvement_id=improvement_id)
        for ticket in tickets:
            click.echo(f"{ticket.id:>8} {ticket.number or '-':<16} {ticket.text[:40]}")
        if link and tickets:
            added = link_tickets(session, improvement_id=improvement_id, ticket_ids=[t.id for t in tickets],
                                 actor=_actor(), now=runtime.clock.now())
            click.echo(f"已关联 {added} 件工单")
        elif not tickets:
            click.echo("没有找到符合条件的工单")


@improvements.command("publish")
@click.argument("improvement_id", type=int)
@click.option("--include-category-feedback", is_flag=True,
              help="Also tell everyone who gave feedback in this category at these branches in the period.")
@click.option("--from", "start", default=None, help="Period start (with --include-category-feedback).")
@click.option("--to", "end", default=None, help="Period end, exclusive.")
@click.pass_context
@friendly_errors
def improvements_publish(ctx: click.Context, improvement_id: int, include_category_feedback: bool,
                         start: str | None, end: str | None) -> None:
    """Publish: queue the notice for every recipient (the dispatch_notices job sends them)."""
    from core.db import transaction
    from services.improvements import ImprovementError, publish_improvement

    runtime = _runtime(get_config(ctx))
    try:
        with transaction(runtime.sessions) as session:
            result = publish_improvement(
                session, improvement_id=improvement_id, include_category_feedback=include_category_feedback,
                period_start=_parse_moment(start, runtime.tz) if start else None,
                period_end=_parse_moment(end, runtime.tz) if end else None,
                now=runtime.clock.now(), actor=_actor(),
            )
    except ImprovementError as exc:
        fail(str(exc))
        return
    click.echo(f"已发布改进措施 #{result.improvement_id}：新增收件人 {result.added_for_tickets + result.added_for_category} "
               f"（关联工单 {result.added_for_tickets}，同类反馈 {result.added_for_category}），共 {result.total_recipients} 人")


COMMANDS = (scheduler_command, jobs, notices, improvements)

