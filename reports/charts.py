"""Report charts with matplotlib (Agg backend), in a CJK font so Chinese labels print.

Font: the files in config kpi.report.fonts, else the first installed family of CJK_FAMILIES
(Debian: apt-get install fonts-noto-cjk, or fonts-wqy-microhei). Without any, the charts still
render, with English titles and codes instead of Chinese names, and the report says so.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.kpi import KPI_BY_CODE
from services.reports import QuarterlyReport

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)

_lock = threading.Lock()


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    path: Path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def find_cjk_font(extra_files: Sequence[str] = ()) -> str | None:
    """The family name of a font with Chinese glyphs, registering `extra_files` first; None if none."""
    from matplotlib import font_manager

    for path in extra_files:
        if Path(path).is_file():
            font_manager.fontManager.addfont(str(path))
            return font_manager.FontProperties(fname=str(path)).get_name()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in installed), None)


class _Text:
    """Chinese when a CJK font exists, else the English fallback (no missing-glyph boxes)."""

    def __init__(self, cjk: bool) -> None:
        self.cjk = cjk

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.cjk else en


def render_charts(report: QuarterlyReport, out_dir: Path, *, cfg: Any) -> tuple[list[Chart], str | None]:
    """Write the report's charts as PNG files; returns them and a note when no CJK font was found."""
    out_dir.mkdir(parents=True, exist_ok=True)
    font = find_cjk_font(cfg.section("kpi").get("report", {}).get("fonts") or [])
    text = _Text(font is not None)
    with _lock:  # pyplot's state is global
        plt = _pyplot()
        rc = {"font.family": "sans-serif", "axes.unicode_minus": False, "font.size": 10,
              "axes.spines.top": False, "axes.spines.right": False}
        if font:
            rc["font.sans-serif"] = [font, "DejaVu Sans"]
        with plt.rc_context(rc):
            charts = [
                _trend(plt, report, out_dir, text),
                _categories(plt, report, out_dir, text),
                _scorecard(plt, report, out_dir, text),
                _monthly(plt, report, out_dir, text),
            ]
    note = None if font else "未找到中文字体，图表使用英文标注（请安装 fonts-noto-cjk 或 fonts-wqy-microhei）"
    return charts, note


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def _empty(ax: Any, text: _Text) -> None:
    ax.text(0.5, 0.5, text("本期无数据", "no data"), ha="center", va="center", transform=ax.transAxes, color="#888")
    ax.set_xticks([])
    ax.set_yticks([])


def _trend(plt: Any, report: QuarterlyReport, out_dir: Path, text: _Text) -> Chart:
    codes = [("satisfaction", "CSAT"), ("complaint_rate", "Complaint rate"), ("reply_24h_rate", "24h reply rate"),
             ("revisit_rate", "Revisit rate")]
    fig, axes = plt.subplots(2, 2, figsize=(9, 5.6))
    labels = [q.label for q, _ in report.trend]
    cfg_targets = {line.definition.code: line.target for line in report.kpi_lines}
    for ax, (code, en) in zip(axes.flat, codes, strict=True):
        values = [v.get(code) for _, v in report.trend]
        points = [(i, v * 100) for i, v in enumerate(values) if v is not None]
        ax.set_title(text(KPI_BY_CODE[code].name, en))
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", color="#1f5fa8")
            for x, y in points:
                ax.annotate(f"{y:.1f}%", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        else:
            ax.text(0.5, 0.5, text("无数据", "no data"), ha="center", va="center", transform=ax.transAxes,
                    color="#888")
        target = cfg_targets.get(code)
        if target is not None:
            ax.axhline(target * 100, color="#c0392b", linestyle="--", linewidth=1,
                       label=text("目标", "target") + f" {target * 100:.0f}%")
            ax.legend(fontsize=8, loc="best")
        ax.set_ylabel("%")
        ax.set_xlim(-0.5, len(labels) - 0.5)
    path = out_dir / "trend.png"
    _save(plt, fig, path)
    return Chart("trend", text("核心指标季度趋势", "KPI trend by quarter"), path)


def _categories(plt: Any, report: QuarterlyReport, out_dir: Path, text: _Text) -> Chart:
    table = report.tables["categories"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(table.rows), 4) + 1.2))
    if table.rows:
        rows = list(reversed(table.rows))
        names = [r[1] if text.cjk else (r[0] or "(none)") for r in rows]
        ys = range(len(rows))
        ax.barh([y + 0.2 for y in ys], [r[2] for r in rows], height=0.4, color="#1f5fa8",
                label=text("本季度", "this quarter"))
        ax.barh([y - 0.2 for y in ys], [r[3] or 0 for r in rows], height=0.4, color="#a9c4e4",
                label=text("上季度", "previous quarter"))
        ax.set_yticks(list(ys), names)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_xlabel(text("投诉量（件）", "complaints"))
    else:
        _empty(ax, text)
    ax.set_title(text("各类别投诉量：本季度与上季度", "Complaints by category"))
    path = out_dir / "categories.png"
    _save(plt, fig, path)
    return Chart("categories", text("投诉类别对比", "Complaints by category"), path)


def _scorecard(plt: Any, report: QuarterlyReport, out_dir: Path, text: _Text) -> Chart:
    rows = [r for r in report.scorecard if r.score is not None]
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(rows), 4) + 1.2))
    if rows:
        rows = list(reversed(rows))
        short = {row[0]: row[1] for row in report.tables["branches"].rows}  # code -> short name
        names = [short.get(r.branch_code, r.branch_name) if text.cjk else r.branch_code for r in rows]
        bars = ax.barh(range(len(rows)), [r.score for r in rows], color="#2e8b57")
        ax.set_yticks(range(len(rows)), names)
        ax.set_xlim(0, 105)
        for bar, r in zip(bars, rows, strict=True):
            ax.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, f"{r.score:.1f}", va="center", fontsize=8)
        ax.set_xlabel(text("综合得分（0–100）", "score (0-100)"))
    else:
        _empty(ax, text)
    ax.set_title(text("网点综合考核得分", "Branch scorecard"))
    path = out_dir / "scorecard.png"
    _save(plt, fig, path)
    return Chart("scorecard", text("网点综合考核排名", "Branch scorecard"), path)


def _monthly(plt: Any, report: QuarterlyReport, out_dir: Path, text: _Text) -> Chart:
    table = report.tables["month"]
    fig, ax = plt.subplots(figsize=(9, 4))
    rows = [r for r in table.rows if r[0] != "未指定"]
    if rows and any(r[1] for r in rows):
        months = [r[0] for r in rows]
        complaints = [r[2] for r in rows]
        others = [r[1] - r[2] for r in rows]
        ax.bar(months, complaints, color="#c0392b", label=text("投诉", "complaints"))
        ax.bar(months, others, bottom=complaints, color="#95a5a6", label=text("其他反馈", "other feedback"))
        ax.set_ylabel(text("工单数", "tickets"))
        ax.legend(fontsize=8)
    else:
        _empty(ax, text)
    ax.set_title(text("各月反馈量", "Feedback by month"))
    path = out_dir / "monthly.png"
    _save(plt, fig, path)
    return Chart("monthly", text("各月反馈量", "Feedback by month"), path)
