"""`qianjia visits|inspections|training import FILE.csv`: KPI inputs from the branches' spreadsheets."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.common import fail, friendly_errors, get_config


def _run_import(ctx: click.Context, what: str, path: Path, do_import: Callable[..., Any]) -> None:
    from cli.report import _runtime
    from services.kpi_imports import KpiImportError

    cfg = get_config(ctx)
    runtime = _runtime(cfg)
    actor = f"cli:{getpass.getuser()}"
    session = runtime.sessions()
    try:
        result = do_import(session, cfg=cfg, path=path, now=runtime.clock.now(), actor=actor)
        session.commit()
    except KpiImportError as exc:
        session.rollback()
        click.echo(f"错误：{path.name} 未导入（没有写入任何数据）：", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(2) from None
    finally:
        session.close()
    click.echo(f"{what}已导入 {result.rows} 行：新增 {result.inserted}，覆盖 {result.replaced}")


def _existing(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        fail(f"找不到文件：{path}")
    return p


@click.group()
def visits() -> None:
    """Customer visit counts per branch and day (the complaint rate's denominator)."""


@visits.command("import")
@click.argument("file", metavar="FILE.csv")
@click.pass_context
@friendly_errors
def visits_import(ctx: click.Context, file: str) -> None:
    """Import daily visit counts: columns branch,day,count (网点代码,日期,到访人数). A day imported again
    replaces its count."""
    from services.kpi_imports import import_visit_counts

    _run_import(ctx, "客流数据", _existing(file),
                lambda s, cfg, **kw: import_visit_counts(s, **kw))


@click.group()
def inspections() -> None:
    """Monthly service-quality inspections of the branches."""


@inspections.command("import")
@click.argument("file", metavar="FILE.csv")
@click.pass_context
@friendly_errors
def inspections_import(ctx: click.Context, file: str) -> None:
    """Import inspections: branch,month,inspector, one column per checklist item code (config
    kpi.inspection.items), note. A branch's month imported again replaces it."""
    from services.kpi_imports import import_inspections

    _run_import(ctx, "服务检查", _existing(file), import_inspections)


@click.group()
def training() -> None:
    """Staff training assessments."""


@training.command("import")
@click.argument("file", metavar="FILE.csv")
@click.pass_context
@friendly_errors
def training_import(ctx: click.Context, file: str) -> None:
    """Import assessments: branch,session,title,held_on,participants,passed (one row per branch and
    session; imported again, it replaces)."""
    from services.kpi_imports import import_training

    _run_import(ctx, "培训考核", _existing(file), lambda s, cfg, **kw: import_training(s, **kw))
