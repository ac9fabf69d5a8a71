"""Satisfaction (CSAT, response rate, NPS, aspects), resolution checks, revisit rate and escalations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services import kpi
from services.kpi_periods import Period
from tests.kpi.conftest import SH, sh

Q3 = Period.parse("2026Q3", SH)

# (overall, nps, aspects, completed) — the last two are outside Q3 / unfinished.
ANSWERS = [
    (5, 10, {"wait_time": 4, "staff_attitude": 5}, sh(2026, 7, 10)),
    (4, 9, {"wait_time": 3, "staff_attitude": 4}, sh(2026, 8, 1)),
    (3, 7, {"wait_time": 2}, sh(2026, 8, 2)),
    (2, 3, {"wait_time": 1, "staff_attitude": 2}, sh(2026, 9, 30, 23, 30)),
    (5, None, {}, sh(2026, 9, 1)),  # skipped the NPS question
    (1, 0, {"wait_time": 1}, sh(2026, 10, 1, 0, 30)),  # Q4
    (None, None, {}, None),  # started, never finished
]


def test_csat_nps_aspects_and_response_rate(session: Any, rows: Any, config: Any) -> None:
    rmr, cdb = rows.branch("RMR"), rows.branch("CDB")
    customers = [rows.customer(rmr if i % 2 else cdb) for i in range(len(ANSWERS))]
    round_ = rows.survey_round()
    invited = [sh(2026, 7, 5), sh(2026, 7, 5), sh(2026, 9, 29), sh(2026, 6, 30, 10)]
    for customer, at in zip(customers, invited, strict=False):
        rows.invitation(round_, customer, at)
    rows.invitation(round_, customers[5], sh(2026, 7, 6), status="failed")  # not sent: not an invitation
    rows.checkin(rmr, customers[6], sh(2026, 8, 8), survey="sent")  # a check-in survey was sent
    rows.checkin(rmr, customers[6], sh(2026, 8, 9), survey="skipped")
    for customer, (overall, nps, aspects, done) in zip(customers, ANSWERS, strict=True):
        branch = rmr if customer.branch_id == rmr.id else cdb
        rows.response(customer, done, overall=overall, nps=nps, aspects=aspects, branch=branch)

    done_q3 = [a for a in ANSWERS if a[3] is not None and a[3].date() < sh(2026, 10, 1).date()
               and a[3] >= sh(2026, 7, 1, 0, 0) and a[0] is not None]
    sat = kpi.satisfaction_stats(session, cfg=config, scope=kpi.Scope(Q3)).total
    assert sat.responses == len(done_q3)
    assert sat.satisfied == len([a for a in done_q3 if (a[0] or 0) >= 4])
    assert sat.value == pytest.approx(sat.satisfied / sat.responses)
    n_invites = len([at for at in invited if at >= sh(2026, 7, 1, 0, 0)]) + 1  # + the check-in survey
    assert sat.invitations == n_invites
    assert sat.response_rate == pytest.approx(len(done_q3) / n_invites)
    scores = [a[1] for a in done_q3 if a[1] is not None]
    promoters, detractors = len([x for x in scores if x >= 9]), len([x for x in scores if x <= 6])
    assert (sat.nps_responses, sat.promoters, sat.detractors) == (len(scores), promoters, detractors)
    assert sat.nps == pytest.approx(100 * (promoters - detractors) / len(scores))
    wait = [a[2]["wait_time"] for a in done_q3 if "wait_time" in a[2]]
    assert sat.aspects["wait_time"] == pytest.approx(sum(wait) / len(wait))
    assert sat.aspects["professionalism"] is None

    by_branch = kpi.satisfaction_stats(session, cfg=config, scope=kpi.Scope(Q3), by="branch").groups
    assert sum(g.responses for g in by_branch.values()) == sat.responses
    assert sum(g.invitations for g in by_branch.values()) == sat.invitations


def test_empty_quarter_has_no_satisfaction(session: Any, config: Any) -> None:
    sat = kpi.satisfaction_stats(session, cfg=config, scope=kpi.Scope(Q3)).total
    assert (sat.responses, sat.value, sat.response_rate, sat.nps) == (0, None, None, None)


def test_revisit_rate_counts_complainants(session: Any, rows: Any, config: Any) -> None:
    rmr = rows.branch("RMR")
    staff = rows.staff()
    a, b, c, d = (rows.customer(rmr) for _ in range(4))
    t_a1 = rows.ticket(sh(2026, 7, 2), branch=rmr, customer=a)
    rows.ticket(sh(2026, 8, 2), branch=rmr, customer=a)  # a second complaint of the same customer
    t_b = rows.ticket(sh(2026, 8, 3), branch=rmr, customer=b, resolved=timedelta(hours=5))
    rows.ticket(sh(2026, 8, 4), branch=rmr, customer=c)
    rows.ticket(sh(2026, 8, 5), branch=rmr, customer=d, type="suggestion")  # not a complainant
    paper = rows.ticket(sh(2026, 8, 6), branch=rmr, customer=None, channel="offline")  # complainant on paper
    rows.revisit(t_a1, staff, sh(2026, 10, 3))  # after the quarter: still counts for its ticket
    rows.response(b, sh(2026, 8, 4), overall=4, ticket=t_b, kind="resolution_check")
    rows.revisit(paper, staff, sh(2026, 8, 7))
    complainants = {"a", "b", "c", "paper"}
    revisited = {"a", "b", "paper"}
    r = kpi.revisit_stats(session, scope=kpi.Scope(Q3)).total
    assert (r.complainants, r.revisited) == (len(complainants), len(revisited))
    assert r.value == pytest.approx(len(revisited) / len(complainants))
    # The resolution check also feeds the "处理满意度" figures.
    check = kpi.satisfaction_stats(session, cfg=config, scope=kpi.Scope(Q3), kind="resolution_check").total
    assert (check.responses, check.satisfied, check.invitations) == (1, 1, 0)


def test_escalations_per_level(session: Any, rows: Any) -> None:
    rmr, cdb = rows.branch("RMR"), rows.branch("CDB")
    t1 = rows.ticket(sh(2026, 7, 1), branch=rmr)
    t2 = rows.ticket(sh(2026, 9, 29), branch=cdb, category="fees")
    fired = [(t1, "first_reply_breach", sh(2026, 7, 2)), (t1, "first_reply_breach_2", sh(2026, 7, 3)),
             (t2, "first_reply_breach", sh(2026, 9, 30, 23, 30)), (t2, "resolution_breach", sh(2026, 10, 2))]
    for ticket, level, at in fired:
        rows.escalation(ticket, level, at)
    in_q3 = [(t, lv) for t, lv, at in fired if at.date() < sh(2026, 10, 1).date()]
    e = kpi.escalation_stats(session, scope=kpi.Scope(Q3))
    assert e.total.by_level == {lv: len([x for x in in_q3 if x[1] == lv]) for _, lv in in_q3}
    assert e.total.total == len(in_q3)
    by_branch = kpi.escalation_stats(session, scope=kpi.Scope(Q3), by="branch").groups
    assert by_branch["CDB"].by_level == {"first_reply_breach": 1}
    by_month = kpi.escalation_stats(session, scope=kpi.Scope(Q3), by="month").groups
    assert set(by_month) == {"2026-07", "2026-09"}
