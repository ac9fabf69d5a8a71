"""Write the quarterly report: HTML (+ PDF where a converter exists), chart images, CSV and XLSX."""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from reports.charts import render_charts
from reports.formatting import cell, heading, plain
from reports.pdf import html_to_pdf
from services.kpi import KPI_DEFINITIONS, bank_tz, format_value
from services.reports import QuarterlyReport, Table

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class WrittenReport:
    html: Path
    xlsx: Path
    csv_files: list[Path]
    charts: list[Path]
    pdf: Path | None
    notes: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [self.html, self.xlsx, *self.csv_files, *self.charts, *([self.pdf] if self.pdf else [])]


def table_html(table: Table, tz: ZoneInfo) -> str:
    """A report table as HTML; numbers right-aligned, no data as "—"."""
    numeric = {"count", "percent", "hours", "score", "nps", "points"}
    # Hours and scores carry their unit in the heading, so the cells of wide tables stay narrow.
    compact = {"hours", "score"}
    head = "".join(f"<th>{html.escape(heading(c.title, c.unit) if c.unit in compact else c.title)}</th>"
                   for c in table.columns)
    body = []
    for row in table.rows:
        cells = []
        for col, value in zip(table.columns, row, strict=True):
            css = ' class="num"' if col.unit in numeric else ""
            if col.key == "meets" and value:
                css = ' class="ok"' if value == "达标" else ' class="miss"'
            text = cell(value, "points" if col.unit in compact else col.unit, tz)
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(table.columns)}" class="note">本期无数据</td></tr>')
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (f'<h3>{html.escape(table.title)}</h3><table data-table="{table.name}"><tr>{head}</tr>'
            + "".join(body) + "</table>" + note)


def render_html(report: QuarterlyReport, *, cfg: Any, chart_paths: dict[str, str], notes: list[str]) -> str:
    tz = bank_tz(cfg)
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
    kpi_rows = []
    for line in report.kpi_lines:
        unit = line.definition.unit
        css = "" if line.meets is None else ("ok" if line.meets else "miss")
        status = "" if line.meets is None else ("达标" if line.meets else "未达标")
        target = ""
        if line.target is not None:
            target = ("≤ " if line.definition.lower_is_better else "≥ ") + format_value(line.target, unit)
        kpi_rows.append({"code": line.definition.code, "name": line.definition.name,
                         "value": format_value(line.value, unit), "previous": format_value(line.previous, unit),
                         "target": target, "css": css, "status": status, "detail": line.detail})
    labels_cat = dict(cfg.section("labels").get("categories", {}))
    sat = report.summary.satisfaction.total
    aspects = [{"name": labels_cat.get(code, code), "value": "—" if v is None else f"{v:.2f}"}
               for code, v in sat.aspects.items()]
    category_text = [{"name": labels_cat.get(c.category or "", c.category or "未指定"), "texts": c.texts,
                      "keywords": [w for w, _ in c.keywords], "verbatims": c.verbatims}
                     for c in report.category_text[: int(cfg.get("kpi.report.verbatim_categories", 6))]]
    scope_text = "全行" if not report.branch_names else "、".join(report.branch_names)
    return env.get_template("quarterly.html").render(
        title=f"千佳银行客户反馈分析报告（{report.quarter.title}）",
        report=report,
        last_day=report.quarter.end_day - timedelta(days=1),
        tz_name="北京时间" if tz.key in ("Asia/Shanghai", "Asia/Chongqing", "PRC") else tz.key,
        scope_text=scope_text,
        generated=report.generated_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        notes=notes,
        kpi_rows=kpi_rows,
        aspects=aspects if any(a["value"] != "—" for a in aspects) else [],
        charts=chart_paths,
        tables={name: table_html(t, tz) for name, t in report.tables.items()},
        category_text=category_text,
        trend_quarters=[q.label for q, _ in report.trend],
        trend_rows=[{"name": d.name, "cells": [format_value(v[d.code], d.unit) for _, v in report.trend]}
                    for d in KPI_DEFINITIONS],
        improvements_empty=not report.improvements,
        definitions=KPI_DEFINITIONS,
        denominator=report.summary.complaint_rate.total.denominator_label,
    )


def write_csv(table: Table, path: Path, tz: ZoneInfo) -> None:
    # UTF-8 with BOM: Excel on Chinese Windows opens it without garbling.
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([heading(c.title, c.unit) for c in table.columns])
        for row in table.rows:
            writer.writerow([plain(v, c.unit, tz) for c, v in zip(table.columns, row, strict=True)])


def write_xlsx(tables: list[Table], path: Path, tz: ZoneInfo) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    formats = {"percent": "0.0%", "hours": "0.0", "score": "0.0", "points": "0.0", "nps": "+0;-0;0",
               "count": "#,##0", "datetime": "yyyy-mm-dd hh:mm"}
    wb = Workbook()
    wb.remove(wb.active)
    for table in tables:
        ws = wb.create_sheet(title=table.title[:31])
        ws.append([c.title for c in table.columns])
        for c in ws[1]:
            c.font = Font(bold=True)
            c.fill = PatternFill("solid", fgColor="EAF0F7")
        for row in table.rows:
            values = []
            for col, v in zip(table.columns, row, strict=True):
                if col.unit == "datetime" and v is not None:
                    v = v.astimezone(tz).replace(tzinfo=None)  # Excel has no time zones: bank-local time
                values.append(v)
            ws.append(values)
        for idx, col in enumerate(table.columns, start=1):
            letter = get_column_letter(idx)
            if col.unit in formats:
                for (c,) in ws.iter_rows(min_row=2, min_col=idx, max_col=idx):
                    c.number_format = formats[col.unit]
            width = max([len(col.title) * 2] + [len(str(r[idx - 1] or "")) for r in table.rows[:200]])
            ws.column_dimensions[letter].width = min(max(width + 2, 8), 60)
        ws.freeze_panes = "A2"
    wb.save(path)


def write_quarterly_report(report: QuarterlyReport, out_dir: Path, *, cfg: Any) -> WrittenReport:
    """Write every file of the report into out_dir (created if missing)."""
    tz = bank_tz(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"quarterly-{report.quarter.label}"
    notes: list[str] = []
    charts, font_note = render_charts(report, out_dir / "charts", cfg=cfg)
    if font_note:
        notes.append(font_note)
    chart_paths = {c.name: f"charts/{c.path.name}" for c in charts}
    html_path = out_dir / f"{stem}.html"
    html_path.write_text(render_html(report, cfg=cfg, chart_paths=chart_paths, notes=notes), encoding="utf-8")
    csv_dir = out_dir / "csv"
    csv_dir.mkdir(exist_ok=True)
    csv_files = []
    for table in report.tables.values():
        path = csv_dir / f"{table.name}.csv"
        write_csv(table, path, tz)
        csv_files.append(path)
    xlsx_path = out_dir / f"{stem}.xlsx"
    write_xlsx(list(report.tables.values()), xlsx_path, tz)
    pdf_path, pdf_note = html_to_pdf(html_path, out_dir / f"{stem}.pdf",
                                     converter=str(cfg.get("kpi.report.pdf", "auto")))
    if pdf_note:
        notes.append(pdf_note)
    return WrittenReport(html_path, xlsx_path, csv_files, [c.path for c in charts], pdf_path, notes)
