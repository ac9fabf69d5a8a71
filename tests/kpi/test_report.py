"""The quarterly report: empty and full quarters, its key numbers, exports, first-page screenshot, CLI errors."""

from __future__ import annotations

import csv
import os
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from core.config import ROOT
from reports.pdf import find_browser, screenshot
from reports.quarterly import write_quarterly_report
from services import kpi
from services.kpi_text import analyse_categories
from services.reports import build_quarterly_report
from tests.kpi.conftest import SH, sh

ARTIFACTS = ROOT / "test-artifacts" / "kpi"
NOW = sh(2026, 10, 15)


def _kpi_cell(html: str, code: str) -> str:
    m = re.search(rf'data-kpi="{code}">([^<]*)<', html)
    assert m, code
    return m.group(1)


@pytest.fixture
def quiet_cfg(config: Any) -> Any:
    return config.with_overrides({"kpi.report.pdf": "none"})


def test_empty_quarter_renders_with_dashes(session: Any, quiet_cfg: Any, tmp_path: Path) -> None:
    report = build_quarterly_report(session, cfg=quiet_cfg, quarter="2026Q3", now=NOW)
    assert report.is_empty
    written = write_quarterly_report(report, tmp_path, cfg=quiet_cfg)
    html = written.html.read_text(encoding="utf-8")
    assert "千佳银行客户反馈分析报告（2026年第三季度）" in html
    assert "本季度没有工单、调查或客流数据" in html
    for code in ("satisfaction", "complaint_rate", "reply_24h_rate", "revisit_rate", "training_pass_rate"):
        assert _kpi_cell(html, code) == "—"
    assert _kpi_cell(html, "complaints") == "0"
    assert written.pdf is None and written.xlsx.is_file() and all(p.is_file() for p in written.charts)


@pytest.fixture
def full_quarter(session: Any, rows: Any, config: Any) -> dict[str, Any]:
    rmr, cdb = rows.branch("RMR"), rows.branch("CDB")
    staff = rows.staff()
    customers = [rows.customer(rmr) for _ in range(6)]
    texts = {
        "wait_time": ["人民路支行叫号机坏了，排队排了一个小时", "叫号机一直不叫号，窗口只开一个",
                      "叫号机出号太慢了，大堂经理也不管"],
        "fees": ["年费莫名其妙被扣了，客服电话13812345678打不通", "年费收取没有提前通知"],
    }
    tickets = []
    for i, (category, items) in enumerate(texts.items()):
        for j, text in enumerate(items):
            t = rows.ticket(sh(2026, 7 + j, 10 + i), category=category, branch=rmr if i == 0 else cdb,
                            customer=customers[j], text=text, replied=timedelta(hours=3 + 10 * j),
                            resolved=timedelta(hours=40))
            tickets.append(t)
    rows.ticket(sh(2026, 9, 30, 23, 30), category="wait_time", branch=rmr, customer=customers[5],
                text="晚上十一点半还在排队等叫号机", replied=timedelta(hours=30))  # late reply, last evening of Q3
    rows.ticket(sh(2026, 5, 3), category="fees", branch=cdb, text="上季度的年费投诉")  # Q2: the trend
    rows.revisit(tickets[0], staff, sh(2026, 7, 20))
    rows.visit_count(rmr, date(2026, 7, 1), 60)
    rows.visit_count(cdb, date(2026, 8, 1), 40)
    round_ = rows.survey_round()
    for c, score in zip(customers[:4], (5, 4, 2, 5), strict=True):
        rows.invitation(round_, c, sh(2026, 8, 1))
        rows.response(c, sh(2026, 8, 2), overall=score, nps=score * 2, branch=rmr)
    rows.escalation(tickets[-1], "first_reply_breach", sh(2026, 9, 1))
    rows.inspection(rmr, date(2026, 8, 1), {}, 91.5)
    rows.training(rmr, "T1", date(2026, 8, 3), 10, 9)
    session.flush()
    return {"complaints": len(tickets) + 1, "visits": 100, "csat": (3, 4), "revisited": 1,
            "complainants": len({c.id for c in customers[:3]} | {customers[5].id})}


def test_full_quarter_report_shows_the_key_numbers(session: Any, config: Any, full_quarter: Any,
                                                   tmp_path: Path) -> None:
    report = build_quarterly_report(session, cfg=config, quarter="2026Q3", now=NOW)
    assert not report.is_empty
    written = write_quarterly_report(report, tmp_path / "out", cfg=config)
    html = written.html.read_text(encoding="utf-8")
    f = full_quarter
    assert _kpi_cell(html, "complaints") == str(f["complaints"])
    assert _kpi_cell(html, "complaint_rate") == f"{100 * f['complaints'] / f['visits']:.1f}%"
    assert _kpi_cell(html, "satisfaction") == f"{100 * f['csat'][0] / f['csat'][1]:.1f}%"
    assert _kpi_cell(html, "revisit_rate") == f"{100 * f['revisited'] / f['complainants']:.1f}%"
    assert _kpi_cell(html, "inspection_score") == "91.5 分"
    assert _kpi_cell(html, "training_pass_rate") == "90.0%"
    # Red/green against the targets: the complaint rate misses 5 %, the training pass rate meets 90 %.
    assert re.search(r'class="num kpi-value miss" data-kpi="complaint_rate"', html)
    assert re.search(r'class="num kpi-value ok" data-kpi="training_pass_rate"', html)
    assert "叫号机" in html and "138****5678" in html and "13812345678" not in html
    assert "首次答复超时" in html  # the escalation level's name from config
    # Charts are images next to the HTML; exports hold the same tables.
    for name in ("trend", "categories", "scorecard", "monthly"):
        assert f'src="charts/{name}.png"' in html and (written.html.parent / "charts" / f"{name}.png").is_file()
    with open(written.html.parent / "csv" / "categories.csv", encoding="utf-8-sig") as fh:
        cats = {r["类别代码"]: r for r in csv.DictReader(fh)}
    assert int(cats["wait_time"]["本季度投诉"]) == 4 and int(cats["fees"]["上季度投诉"]) == 1
    from openpyxl import load_workbook

    wb = load_workbook(written.xlsx)
    assert {"核心指标", "投诉类别及变化", "网点综合考核排名", "超时及升级工单"} <= set(wb.sheetnames)
    assert wb["核心指标"]["A2"].value == "客户满意度（CSAT）"
    if written.pdf is not None:
        assert written.pdf.read_bytes()[:4] == b"%PDF"
    _first_page_screenshot(written.html)


def _first_page_screenshot(html: Path) -> None:
    if find_browser() is None:
        message = "未安装 Chromium（Debian: apt-get update && apt-get install -y chromium），跳过报告截图"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "；CI=true 时必须生成截图")
        pytest.skip(message)
    target = ARTIFACTS / "quarterly-report-first-page.png"
    target.unlink(missing_ok=True)
    assert screenshot(html, target), "Chromium did not write a screenshot"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keywords_and_masked_verbatims(session: Any, full_quarter: Any) -> None:
    analysis = {c.category: c for c in analyse_categories(session, scope=kpi.Scope(kpi.Period.parse("2026Q3", SH)))}
    assert analysis["wait_time"].keywords[0][0] == "叫号机"  # in every wait_time text, in no fees text
    assert analysis["fees"].keywords[0][0] == "年费"
    assert all("13812345678" not in q for c in analysis.values() for q in c.verbatims)


def test_charts_fall_back_without_a_cjk_font(session: Any, quiet_cfg: Any, full_quarter: Any, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from reports import charts

    monkeypatch.setattr(charts, "find_cjk_font", lambda extra=(): None)
    report = build_quarterly_report(session, cfg=quiet_cfg, quarter="2026Q3", now=NOW)
    # filterwarnings=error: a missing glyph would raise here.
    written = write_quarterly_report(report, tmp_path, cfg=quiet_cfg)
    assert any("未找到中文字体" in n for n in written.notes)
    assert "未找到中文字体" in written.html.read_text(encoding="utf-8")


@pytest.mark.parametrize("args,message", [
    (["--quarter", "2026Q5"], "无法识别的期间"),
    (["--quarter", "2026-07"], "不是季度"),
    (["--quarter", "2026Q3", "--branch", "RMR", "--branch", "NOPE"], "未知的网点代码：NOPE"),
])
def test_cli_bad_arguments_exit_2_and_write_nothing(db_url: str, config: Any, rows: Any, session: Any,
                                                     tmp_path: Path, args: list[str], message: str) -> None:
    from cli.main import cli

    rows.branch("RMR")
    session.commit()
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["report", "quarterly", *args, "--out", str(out)],
                                env={"DATABASE_URL": db_url})
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_cli_writes_the_report(db_url: str, config: Any, full_quarter: Any, session: Any, tmp_path: Path) -> None:
    from cli.main import cli

    session.commit()
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["report", "quarterly", "--quarter", "2026Q3", "--branch", "RMR",
                                      "--out", str(out)], env={"DATABASE_URL": db_url, "QIANJIA_KPI__REPORT__PDF": "none"})
    assert result.exit_code == 0, result.output
    html = (out / "quarterly-2026Q3.html").read_text(encoding="utf-8")
    assert "范围：RMR网点" in html  # the branch's name (without the prefix all branches share)
    assert (out / "quarterly-2026Q3.xlsx").is_file() and (out / "csv" / "kpis.csv").is_file()
