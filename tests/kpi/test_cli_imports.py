"""`qianjia visits|inspections|training import` and `qianjia report kpis` from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from models.kpi import VisitCount


def _run(db_url: str, *args: str) -> Any:
    from cli.main import cli

    return CliRunner().invoke(cli, list(args), env={"DATABASE_URL": db_url})


def test_visits_import_replaces_and_reports_errors(db_url: str, rows: Any, session: Any, tmp_path: Path) -> None:
    rows.branch("RMR")
    session.commit()
    good = tmp_path / "visits.csv"
    good.write_text("branch,day,count\nRMR,2026-07-01,120\nRMR,2026-07-02,80\n", encoding="utf-8")
    first = _run(db_url, "visits", "import", str(good))
    assert first.exit_code == 0, first.output
    assert "新增 2，覆盖 0" in first.output
    good.write_text("branch,day,count\nRMR,2026-07-02,95\n", encoding="utf-8")
    again = _run(db_url, "visits", "import", str(good))
    assert again.exit_code == 0 and "新增 0，覆盖 1" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text("branch,day,count\nRMR,2026-07-03,10\nZZZ,2026-07-03,1\n", encoding="utf-8")
    failed = _run(db_url, "visits", "import", str(bad))
    assert failed.exit_code == 2
    assert "未导入" in failed.output and "第3行：未知的网点代码“ZZZ”" in failed.output
    session.expire_all()
    assert session.scalar(select(func.sum(VisitCount.count))) == 120 + 95
    missing = _run(db_url, "visits", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "找不到文件" in missing.output


def test_training_and_inspection_imports(db_url: str, rows: Any, session: Any, config: Any, tmp_path: Path) -> None:
    from services.kpi import inspection_items

    rows.branch("RMR")
    session.commit()
    training = tmp_path / "training.csv"
    training.write_text("branch,session,held_on,participants,passed\nRMR,S1,2026-07-10,10,9\n", encoding="utf-8")
    assert _run(db_url, "training", "import", str(training)).exit_code == 0
    items = inspection_items(config)
    inspections = tmp_path / "inspections.csv"
    inspections.write_text("branch,month," + ",".join(i["code"] for i in items) + "\n"
                           + "RMR,2026-07," + ",".join(str(i["max_points"]) for i in items) + "\n", encoding="utf-8")
    result = _run(db_url, "inspections", "import", str(inspections))
    assert result.exit_code == 0, result.output
    kpis = _run(db_url, "report", "kpis", "--period", "2026Q3", "--by", "branch")
    assert kpis.exit_code == 0, kpis.output
    assert "网点服务检查平均分：100.0 分" in kpis.output and "培训考核通过率：90.0%" in kpis.output
    assert _run(db_url, "report", "kpis", "--period", "2026Q7").exit_code == 2
