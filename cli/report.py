"""`qianjia report …`: the quarterly feedback-analysis report and a KPI table in the terminal."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import fail, friendly_errors, get_config
from core.config import Config


def _runtime(cfg: Config):  # type: ignore[no-untyped-def]
    """The runtime on a database already at the latest schema (else a clear error, exit 2)."""
    from core.db import get_engine, migration_status
    from services.runtime import build_runtime

    try:
        current, head = migration_status(get_engine(cfg.database_url))
    except Exception as exc:  # noqa: BLE001 - any connection problem becomes one readable line
        fail(f"无法连接数据库：{exc}")
    if current != head:
        fail(f"数据库结构不是最新（当前 {current or '空'}，最新 {head}）：请先运行 qianjia db upgrade")
    return build_runtime(cfg)


@click.group()
def report() -> None:
    """KPI reports."""


@report.command("quarterly")
@click.option("--quarter", required=True, help="The quarter, e.g. 2026Q3.")
@click.option("--branch", "branches", multiple=True, help="Only these branches (code; repeatable). Default: all.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for the HTML/PDF, charts, CSV and XLSX files (created if missing).")
@click.pass_context
@friendly_errors
def quarterly(ctx: click.Context, quarter: str, branches: tuple[str, ...], out_dir: Path) -> None:
    """Write the quarterly feedback-analysis report (Chinese HTML, PDF if possible, charts, CSV, XLSX)."""
    from reports.quarterly import write_quarterly_report
    from services.kpi import ScopeError, bank_tz
    from services.kpi_periods import Period, PeriodError
    from services.reports import build_quarterly_report

    cfg = get_config(ctx)
    try:
        period = Period.quarter(quarter, bank_tz(cfg))
    except PeriodError as exc:
        fail(str(exc))
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"输出位置 {out_dir} 已存在且不是目录")
    runtime = _runtime(cfg)
    with runtime.sessions() as session:
        try:
            data = build_quarterly_report(session, cfg=cfg, quarter=period, branch_codes=branches,
                                          now=runtime.clock.now())
        except ScopeError as exc:
            fail(str(exc))
    written = write_quarterly_report(data, out_dir, cfg=cfg)
    click.echo(f"{period.title}报告已生成：")
    for path in [written.html, *([written.pdf] if written.pdf else []), written.xlsx]:
        click.echo(f"  {path}")
    click.echo(f"  {out_dir / 'charts'}（{len(written.charts)} 张图表）、{out_dir / 'csv'}（{len(written.csv_files)} 个表格）")
    for note in written.notes:
        click.echo(f"注意：{note}")


@report.command("kpis")
@click.option("--period", "period_text", required=True, help="A month (2026-07) or a quarter (2026Q3).")
@click.option("--by", type=click.Choice(["branch", "branch_kind", "team", "category", "channel", "month"]),
              default=None, help="Break the KPIs down by this dimension.")
@click.option("--branch", "branches", multiple=True, help="Only these branches (code; repeatable).")
@click.pass_context
@friendly_errors
def kpis(ctx: click.Context, period_text: str, by: str | None, branches: tuple[str, ...]) -> None:
    """Print the KPIs of a month or quarter (the same numbers as the dashboard and the report)."""
    from services.kpi import (
        KPI_DEFINITIONS,
        ScopeError,
        format_value,
        headline_values,
        kpi_summary,
        resolve_scope,
    )
    from services.reports import Labels

    cfg = get_config(ctx)
    runtime = _runtime(cfg)
    with runtime.sessions() as session:
        try:
            scope = resolve_scope(session, cfg=cfg, period=period_text, branch_codes=branches)
        except ScopeError as exc:
            fail(str(exc))
        now = runtime.clock.now()
        total = kpi_summary(session, cfg=cfg, scope=scope, now=now)
        click.echo(f"{scope.window.title}（{'、'.join(branches) or '全行'}）")
        values = headline_values(total)
        for d in KPI_DEFINITIONS:
            target = d.target(cfg)
            mark = {True: "✓", False: "✗", None: " "}[d.meets_target(values[d.code], cfg)]
            goal = "" if target is None else f"（目标 {'≤' if d.lower_is_better else '≥'} {format_value(target, d.unit)}）"
            click.echo(f"  {mark} {d.name}：{format_value(values[d.code], d.unit)}{goal}")
        if by:
            labels = Labels(session, cfg)
            grouped = kpi_summary(session, cfg=cfg, scope=scope, now=now, by=by)
            click.echo(f"\n按{by}：投诉量 / 投诉率 / 24小时答复率 / 满意度 / 回访率")
            for key, vol in grouped.volume.groups.items():
                cr = grouped.complaint_rate.groups.get(key)
                fr = grouped.first_reply.groups.get(key)
                sat = grouped.satisfaction.groups.get(key)
                rv = grouped.revisit.groups.get(key)
                click.echo(f"  {labels.group(by, key)}：{vol.complaints} / "
                           f"{format_value(cr.value if cr else None, 'percent')} / "
                           f"{format_value(fr.value if fr else None, 'percent')} / "
                           f"{format_value(sat.value if sat else None, 'percent')} / "
                           f"{format_value(rv.value if rv else None, 'percent')}")
