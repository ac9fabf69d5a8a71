"""Branch inspections, training assessments and the monthly branch scorecard."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.kpi import BranchInspection, TrainingAssessment
from services import kpi
from services.kpi_imports import KpiImportError, import_inspections, import_training, record_inspection
from services.kpi_periods import Period
from services.kpi_scorecard import branch_scorecard, component_points, rank, weights
from tests.kpi.conftest import SH, sh

Q3 = Period.parse("2026Q3", SH)


def full_marks(config: Any, scale: float = 1.0) -> dict[str, float]:
    return {i["code"]: i["max_points"] * scale for i in kpi.inspection_items(config)}


def test_inspection_score_from_the_checklist_and_correction(session: Any, rows: Any, config: Any) -> None:
    rmr = rows.branch("RMR")
    items = kpi.inspection_items(config)
    assert items, "config.yaml kpi.inspection.items"
    scores = {i["code"]: i["max_points"] for i in items}
    first = items[0]["code"]
    scores[first] = items[0]["max_points"] - 3
    row = record_inspection(session, cfg=config, branch_id=rmr.id, month=date(2026, 8, 17), item_scores=scores,
                            now=sh(2026, 8, 20), actor="staff1", inspector="王经理")
    possible = sum(i["max_points"] for i in items)
    assert row.month == date(2026, 8, 1)
    assert row.score == pytest.approx(round(100 * (possible - 3) / possible, 2))
    # Entered again for the same month: corrected, not a second inspection.
    record_inspection(session, cfg=config, branch_id=rmr.id, month=date(2026, 8, 1), item_scores=full_marks(config),
                      now=sh(2026, 8, 21), actor="staff1")
    assert session.scalars(select(BranchInspection.score)).all() == [100.0]
    with pytest.raises(KpiImportError, match="缺少检查项目"):
        record_inspection(session, cfg=config, branch_id=rmr.id, month=date(2026, 9, 1), item_scores={first: 1},
                          now=sh(2026, 9, 2), actor="staff1")
    too_many = {**full_marks(config), first: items[0]["max_points"] + 1}
    with pytest.raises(KpiImportError, match="超出"):
        record_inspection(session, cfg=config, branch_id=rmr.id, month=date(2026, 9, 1), item_scores=too_many,
                          now=sh(2026, 9, 2), actor="staff1")


def test_inspection_stats_and_import(session: Any, rows: Any, config: Any, tmp_path: Path) -> None:
    rows.branch("RMR")
    rows.branch("CDB")
    codes = [i["code"] for i in kpi.inspection_items(config)]
    maxes = [i["max_points"] for i in kpi.inspection_items(config)]
    lines = ["branch,month,inspector," + ",".join(codes)]
    lines.append("RMR,2026-07,张三," + ",".join(str(m) for m in maxes))
    lines.append("RMR,2026-08,张三," + ",".join(str(m - 1) for m in maxes))
    lines.append("CDB,2026-09,李四," + ",".join(str(m / 2) for m in maxes))
    lines.append("CDB,2026-10,李四," + ",".join(str(m) for m in maxes))  # Q4
    path = tmp_path / "inspections.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_inspections(session, cfg=config, path=path, now=sh(2026, 10, 5), actor="cli:test")
    assert (result.rows, result.inserted) == (4, 4)
    possible = sum(maxes)
    expected = {"RMR": [100.0, 100 * (possible - len(maxes)) / possible], "CDB": [50.0]}
    stats = kpi.inspection_stats(session, cfg=config, scope=kpi.Scope(Q3))
    all_q3 = expected["RMR"] + expected["CDB"]
    assert stats.total.inspections == len(all_q3)
    assert stats.total.mean_score == pytest.approx(sum(all_q3) / len(all_q3), abs=0.01)
    assert stats.total.items[codes[0]] == pytest.approx((maxes[0] + maxes[0] - 1 + maxes[0] / 2) / 3)
    by_branch = kpi.inspection_stats(session, cfg=config, scope=kpi.Scope(Q3), by="branch").groups
    assert by_branch["RMR"].mean_score == pytest.approx(sum(expected["RMR"]) / 2, abs=0.01)
    by_month = kpi.inspection_stats(session, cfg=config, scope=kpi.Scope(Q3), by="month").groups
    assert set(by_month) == {"2026-07", "2026-08", "2026-09"}
    with pytest.raises(kpi.ScopeError):
        kpi.inspection_stats(session, cfg=config, scope=kpi.Scope(Q3), by="category")
    bad = tmp_path / "bad.csv"
    bad.write_text("branch,month," + ",".join(codes) + "\nRMR,2026-07," + ",".join("x" for _ in codes) + "\n",
                   encoding="utf-8")
    with pytest.raises(KpiImportError, match="第2行"):
        import_inspections(session, cfg=config, path=bad, now=sh(2026, 10, 5), actor="cli:test")


def test_training_pass_rate_and_sessions_on_target(session: Any, rows: Any, config: Any, tmp_path: Path) -> None:
    rows.branch("RMR")
    rows.branch("CDB")
    sessions = [("RMR", "T1", "2026-07-10", 10, 9), ("RMR", "T2", "2026-08-10", 30, 27),
                ("CDB", "T1", "2026-09-30", 8, 6), ("CDB", "T9", "2026-10-01", 5, 0)]
    path = tmp_path / "training.csv"
    path.write_text("网点代码,场次编号,培训名称,日期,参考人数,通过人数\n"
                    + "".join(f"{b},{s},礼仪,{d},{n},{p}\n" for b, s, d, n, p in sessions), encoding="utf-8")
    assert import_training(session, path=path, now=sh(2026, 10, 5), actor="cli:test").rows == len(sessions)
    q3 = [s for s in sessions if s[2] < "2026-10-01"]
    t = kpi.training_stats(session, cfg=config, scope=kpi.Scope(Q3)).total
    assert (t.sessions, t.participants, t.passed) == (len(q3), sum(s[3] for s in q3), sum(s[4] for s in q3))
    target = config.get("kpi.targets.training_pass_rate")
    # 9/10 and 27/30 are exactly 90 %: they meet a 90 % target (integer arithmetic, no float rounding).
    assert t.sessions_on_target == len([s for s in q3 if s[4] / s[3] >= target - 1e-12])
    assert kpi.KPI_BY_CODE["training_pass_rate"].meets_target(27 / 30, config) is True
    # Re-importing a session replaces it.
    path.write_text("branch,session,held_on,participants,passed\nCDB,T1,2026-09-30,8,8\n", encoding="utf-8")
    again = import_training(session, path=path, now=sh(2026, 10, 6), actor="cli:test")
    assert (again.inserted, again.replaced) == (0, 1)
    assert session.scalar(select(TrainingAssessment.passed).where(TrainingAssessment.session_code == "T1",
                                                                  TrainingAssessment.participants == 8)) == 8
    path.write_text("branch,session,held_on,participants,passed\nCDB,T1,2026-09-30,8,9\n", encoding="utf-8")
    with pytest.raises(KpiImportError, match="通过人数"):
        import_training(session, path=path, now=sh(2026, 10, 6), actor="cli:test")


def test_component_points(config: Any) -> None:
    target = config.get("kpi.targets.complaint_rate")
    baseline = config.get("kpi.targets.complaint_rate_baseline")
    assert component_points("complaint_rate", target / 2, config) == 100
    assert component_points("complaint_rate", baseline, config) == 0
    assert component_points("complaint_rate", (target + baseline) / 2, config) == pytest.approx(50)
    revisit_target = config.get("kpi.targets.revisit_rate")
    assert component_points("revisit_rate", revisit_target / 2, config) == pytest.approx(50)
    assert component_points("revisit_rate", 0.99, config) == 100
    assert component_points("satisfaction", 0.8, config) == pytest.approx(80)
    assert component_points("inspection", 91.5, config) == 91.5
    assert component_points("satisfaction", None, config) is None


def test_scorecard_weights_missing_data_and_ranking(session: Any, rows: Any, config: Any) -> None:
    rmr, cdb = rows.branch("RMR"), rows.branch("CDB")
    rows.branch("HCZ", "self_service")  # no data at all: listed last, without a rank
    c = rows.customer()
    # RMR: one complaint answered in time, 100 visits, perfect inspection. CDB: late reply. HCZ: nothing.
    rows.ticket(sh(2026, 8, 1), branch=rmr, customer=c, replied=timedelta(hours=2))
    rows.ticket(sh(2026, 8, 1), branch=cdb, customer=c, replied=timedelta(hours=30))
    rows.visit_count(rmr, date(2026, 8, 1), 100)
    rows.visit_count(cdb, date(2026, 8, 1), 10)
    record_inspection(session, cfg=config, branch_id=rmr.id, month=date(2026, 8, 1), item_scores=full_marks(config),
                      now=sh(2026, 8, 2), actor="t")
    card = branch_scorecard(session, cfg=config, scope=kpi.Scope(Period.parse("2026-08", SH)), now=sh(2026, 9, 1))
    by_code = {r.branch_code: r for r in card}
    w = weights(config)
    r = by_code["RMR"]
    have: dict[str, float] = {"complaint_rate": component_points("complaint_rate", 1 / 100, config) or 0.0,
                              "reply_24h_rate": 100.0, "revisit_rate": 0.0, "inspection": 100.0}
    assert r.points == {**{k: None for k in r.points}, **have}
    assert r.score == pytest.approx(sum(have[k] * w[k] for k in have) / sum(w[k] for k in have))
    assert r.weight_covered == pytest.approx(sum(w[k] for k in have) / sum(w.values()))
    assert by_code["CDB"].points["complaint_rate"] == component_points("complaint_rate", 1 / 10, config)
    assert by_code["CDB"].points["reply_24h_rate"] == 0  # its only reply was late
    assert [x.branch_code for x in card] == ["RMR", "CDB", "HCZ"]
    assert (card[0].rank, card[1].rank, card[2].rank, card[2].score) == (1, 2, None, None)


def test_rank_shares_places_on_ties() -> None:
    from services.kpi_scorecard import ScorecardRow

    def row(code: str, score: float | None) -> ScorecardRow:
        return ScorecardRow(code, code, "business_hall", {}, {}, score, 1.0, None)

    ranked = rank([row("A", 80), row("B", 90), row("C", 80), row("D", None), row("E", 70)])
    assert [(r.branch_code, r.rank) for r in ranked] == [("B", 1), ("A", 2), ("C", 2), ("E", 4), ("D", None)]
