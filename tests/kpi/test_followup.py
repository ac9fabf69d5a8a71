"""Improvement measures before/after, and the overdue or escalated cases of a quarter."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from services import kpi
from services.kpi_followup import improvement_effects, overdue_cases
from services.kpi_periods import Period
from tests.kpi.conftest import SH, sh

Q3 = Period.parse("2026Q3", SH)


def test_improvement_compares_its_category_and_branches_before_and_after(session: Any, rows: Any,
                                                                         config: Any) -> None:
    from models.improvements import Improvement

    rmr, cdb = rows.branch("RMR"), rows.branch("CDB")
    days = 10
    cfg = config.with_overrides({"kpi.report.improvement_window_days": days})
    pivot = date(2026, 8, 15)
    # wait_time complaints at RMR: 4 in the 10 days before, 1 in the 10 days after; other rows must not count.
    before_days, after_days = (1, 3, 5, 9), (1,)
    for d in before_days:
        rows.ticket(sh(2026, 8, 15 - d), branch=rmr, category="wait_time")
    for d in after_days:
        rows.ticket(sh(2026, 8, 15 + d), branch=rmr, category="wait_time")
    rows.ticket(sh(2026, 8, 16), branch=rmr, category="fees")  # another category
    rows.ticket(sh(2026, 8, 16), branch=cdb, category="wait_time")  # another branch
    rows.ticket(sh(2026, 8, 2), branch=rmr, category="wait_time")  # before the before-window
    for offset in range(-days, days):
        rows.visit_count(rmr, pivot + timedelta(days=offset), 10)
    rows.visit_count(cdb, pivot, 1000)
    session.add(Improvement(title="高峰时段增开弹性窗口", body="…", category="wait_time", branch_ids=[rmr.id],
                            effective_date=pivot, created_by="t", created_at=sh(2026, 8, 10),
                            published_at=sh(2026, 8, 14), published_by="t"))
    session.add(Improvement(title="草稿", body="…", category="fees", branch_ids=[], created_by="t",
                            created_at=sh(2026, 8, 10)))  # never published: not in the report
    session.flush()
    [effect] = improvement_effects(session, cfg=cfg, scope=kpi.Scope(Q3), now=sh(2026, 10, 1))
    assert (effect.title, effect.category, effect.branch_codes) == ("高峰时段增开弹性窗口", "wait_time", ("RMR",))
    assert (effect.before.complaints, effect.before.visits.total) == (len(before_days), days * 10)
    assert (effect.after.complaints, effect.after.visits.total) == (len(after_days), days * 10)
    assert effect.change == pytest.approx((len(after_days) - len(before_days)) / (days * 10))
    assert effect.after_complete
    # A report for CDB only: the measure was for RMR, so it is not shown.
    assert improvement_effects(session, cfg=cfg, scope=kpi.Scope(Q3, branch_ids=(cdb.id,)),
                               now=sh(2026, 10, 1)) == []


def test_overdue_and_escalated_cases(session: Any, rows: Any) -> None:
    rmr = rows.branch("RMR")
    now = sh(2026, 10, 5)
    late_open = rows.ticket(sh(2026, 9, 1), branch=rmr)  # never answered
    late_open.escalation_at = late_open.first_reply_due_at
    answered = rows.ticket(sh(2026, 9, 2), branch=rmr, replied=timedelta(hours=2), resolved=timedelta(hours=5))
    escalated = rows.ticket(sh(2026, 8, 1), branch=rmr, replied=timedelta(hours=30), resolved=timedelta(hours=40))
    rows.escalation(escalated, "first_reply_breach", sh(2026, 8, 2))
    rows.escalation(escalated, "first_reply_breach_2", sh(2026, 8, 3))
    not_yet_due = rows.ticket(sh(2026, 9, 30, 23, 0), branch=rmr)
    not_yet_due.escalation_at = now + timedelta(hours=1)
    session.flush()
    cases = overdue_cases(session, scope=kpi.Scope(Q3), now=now)
    assert (cases.overdue_open, cases.escalated) == (1, 1)
    assert [c.number for c in cases.cases] == [late_open.number, escalated.number]  # still overdue first
    assert cases.cases[1].escalation_levels == ("first_reply_breach", "first_reply_breach_2")
    assert cases.cases[0].overdue and not cases.cases[1].overdue
    assert answered.number not in {c.number for c in cases.cases}
    assert overdue_cases(session, scope=kpi.Scope(Q3), now=now, limit=1).cases[0].number == late_open.number
