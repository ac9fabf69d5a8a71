"""Complaint rate: complaints ÷ visits, visits from imported daily counts and check-ins, and the import."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from models import AuditLog
from models.kpi import VisitCount
from services import kpi
from services.kpi_imports import KpiImportError, import_visit_counts
from services.kpi_periods import Period
from tests.kpi.conftest import SH, sh

Q3 = Period.parse("2026Q3", SH)


@pytest.fixture
def bank(rows: Any) -> dict[str, Any]:
    return {"RMR": rows.branch("RMR"), "CDB": rows.branch("CDB"), "HCZ": rows.branch("HCZ", "self_service")}


def test_imported_counts_and_checkins_make_the_denominator(session: Any, rows: Any, bank: Any) -> None:
    rmr, cdb, hcz = bank["RMR"], bank["CDB"], bank["HCZ"]
    alice, bob = rows.customer(), rows.customer()
    imported = [(rmr, date(2026, 7, 1), 120), (rmr, date(2026, 9, 30), 80), (cdb, date(2026, 8, 15), 50),
                (rmr, date(2026, 10, 1), 999)]  # the last one is Q4
    for branch, day, count in imported:
        rows.visit_count(branch, day, count)
    checkins = [
        (hcz, alice, sh(2026, 8, 1, 9)), (hcz, alice, sh(2026, 8, 1, 17)),  # same customer, branch, day: one visit
        (hcz, bob, sh(2026, 8, 1, 10)),
        (hcz, alice, sh(2026, 9, 30, 23, 30)),  # last evening of Q3 (still Sep 30 in UTC too)
        (hcz, alice, sh(2026, 10, 1, 0, 30)),  # Q4 although Sep 30 in UTC
        (rmr, bob, sh(2026, 9, 30, 23, 30)),  # RMR imported a count for Sep 30: already in it
        (rmr, bob, sh(2026, 7, 2, 0, 30)),  # Jul 2 in Shanghai (Jul 1 in UTC): RMR has no count that day
    ]
    for branch, customer, at in checkins:
        rows.checkin(branch, customer, at)
    tickets = [(sh(2026, 7, 3), rmr, "complaint"), (sh(2026, 8, 4), hcz, "complaint"),
               (sh(2026, 9, 30, 23, 59), cdb, "complaint"), (sh(2026, 8, 5), rmr, "suggestion"),
               (sh(2026, 10, 1, 0, 1), cdb, "complaint")]
    for at, branch, kind in tickets:
        rows.ticket(at, branch=branch, type=kind)
    complaints = len([t for t in tickets if t[2] == "complaint" and t[0].date() < date(2026, 10, 1)])

    q3_imports = sum(c for _, d, c in imported if date(2026, 7, 1) <= d < date(2026, 10, 1))
    counted = {(b.code, c.id, at.date()) for b, c, at in checkins
               if date(2026, 7, 1) <= at.date() < date(2026, 10, 1)
               and (b.code, at.date()) not in {(br.code, d) for br, d, _ in imported}}
    rate = kpi.complaint_rate(session, scope=kpi.Scope(Q3)).total
    assert rate.visits.imported == q3_imports
    assert rate.visits.checkins == len(counted)
    assert rate.complaints == complaints
    assert rate.value == pytest.approx(complaints / (q3_imports + len(counted)))
    assert (rate.denominator_source, rate.denominator_label) == ("mixed", "导入客流+网点签到")

    by_branch = kpi.complaint_rate(session, scope=kpi.Scope(Q3), by="branch").groups
    assert by_branch["HCZ"].denominator_source == "checkins"
    assert by_branch["HCZ"].visits.total == len([k for k in counted if k[0] == "HCZ"])
    assert by_branch["CDB"].denominator_source == "imported" and by_branch["CDB"].value == pytest.approx(1 / 50)
    assert by_branch["RMR"].visits.checkins == len([k for k in counted if k[0] == "RMR"])

    by_month = kpi.complaint_rate(session, scope=kpi.Scope(Q3), by="month").groups
    assert sum(g.visits.total for g in by_month.values()) == rate.visits.total
    assert by_month["2026-08"].visits.imported == 50

    # Visits have no category: by category every group shares the whole denominator.
    by_cat = kpi.complaint_rate(session, scope=kpi.Scope(Q3), by="category").groups
    assert by_cat["wait_time"].visits.total == rate.visits.total

    only_cdb = kpi.complaint_rate(session, scope=kpi.Scope(Q3, branch_ids=(bank["CDB"].id,))).total
    assert (only_cdb.complaints, only_cdb.visits.total, only_cdb.denominator_source) == (1, 50, "imported")


def test_no_visits_means_no_rate(session: Any, rows: Any, bank: Any) -> None:
    rows.ticket(sh(2026, 8, 1), branch=bank["RMR"])
    rate = kpi.complaint_rate(session, scope=kpi.Scope(Q3)).total
    assert (rate.complaints, rate.value, rate.denominator_label) == (1, None, "无客流数据")


def _csv(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_reimporting_a_day_replaces_its_count(session: Any, bank: Any, tmp_path: Path) -> None:
    first = _csv(tmp_path, "july.csv", "branch,day,count\nRMR,2026-07-01,100\nCDB,2026-07-01,40\n")
    r1 = import_visit_counts(session, path=first, now=sh(2026, 7, 2), actor="cli:test")
    assert (r1.rows, r1.inserted, r1.replaced) == (2, 2, 0)
    # Chinese headings, Excel's GB18030, one day again and one new day.
    second = _csv(tmp_path, "july-fix.csv", "网点代码,日期,到访人数\nRMR,2026/07/01,130\nRMR,2026-07-02,90\n",
                  encoding="gb18030")
    r2 = import_visit_counts(session, path=second, now=sh(2026, 7, 3), actor="cli:test")
    assert (r2.rows, r2.inserted, r2.replaced) == (2, 1, 1)
    stored = dict(session.execute(select(VisitCount.day, VisitCount.count)
                                  .where(VisitCount.branch_id == bank["RMR"].id)).all())
    assert stored == {date(2026, 7, 1): 130, date(2026, 7, 2): 90}
    assert kpi.visit_totals(session, scope=kpi.Scope(Q3)).total.imported == 130 + 90 + 40
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "kpi.visits_import")) == 2


def test_a_bad_file_writes_nothing(session: Any, bank: Any, tmp_path: Path) -> None:
    bad = _csv(tmp_path, "bad.csv", "branch,day,count\nRMR,2026-07-01,100\nXXX,2026-07-01,5\nRMR,2026-13-01,5\n"
                                    "CDB,2026-07-01,-3\nRMR,2026-07-01,7\n")
    with pytest.raises(KpiImportError) as info:
        import_visit_counts(session, path=bad, now=sh(2026, 7, 2), actor="cli:test")
    text = "\n".join(info.value.problems)
    for expected in ("第3行：未知的网点代码“XXX”", "第4行：日期", "第5行：到访人数", "第6行与第2行重复"):
        assert expected in text
    assert session.scalar(select(func.count()).select_from(VisitCount)) == 0
    missing = _csv(tmp_path, "cols.csv", "branch,count\nRMR,3\n")
    with pytest.raises(KpiImportError, match="缺少列"):
        import_visit_counts(session, path=missing, now=sh(2026, 7, 2), actor="cli:test")
