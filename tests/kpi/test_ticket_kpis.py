"""Ticket KPIs against a hand-made quarter: every expected number is counted from the fixture specs."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from services import kpi
from services.kpi_periods import Period
from tests.kpi.conftest import SH, sh

Q3 = Period.parse("2026Q3", SH)
NOW = sh(2026, 10, 20)  # the report is run after the quarter


@dataclass(frozen=True)
class Spec:
    created: datetime
    type: str | None = "complaint"
    category: str | None = "wait_time"
    branch: str | None = "RMR"
    channel: str = "wechat"
    team: str | None = "branch_ops"
    reply_h: float | None = None
    resolve_h: float | None = None
    reopened: int = 0
    status: str | None = None

    @property
    def in_q3(self) -> bool:
        return date(2026, 7, 1) <= self.created.date() < date(2026, 10, 1) and self.status != "merged"


SPECS = [
    # The boundary: 23:30 Shanghai time on the quarter's last day is Q3; 00:30 the next day is Q4;
    # 00:10 on its first day is Q3 although it is still June 30 in UTC.
    Spec(sh(2026, 9, 30, 23, 30), reply_h=2, resolve_h=20),
    Spec(sh(2026, 10, 1, 0, 30), reply_h=1, resolve_h=5),
    Spec(sh(2026, 7, 1, 0, 10), reply_h=30, resolve_h=80, reopened=1),
    Spec(sh(2026, 6, 30, 23, 50), reply_h=3),
    Spec(sh(2026, 7, 5), category="fees", team="retail_products", branch="CDB", reply_h=5, resolve_h=48),
    Spec(sh(2026, 7, 9), type="suggestion", category="environment", reply_h=10, resolve_h=30, channel="app"),
    Spec(sh(2026, 8, 2), type="praise", category="staff_attitude", team="service_quality", branch="HCZ",
         reply_h=24, resolve_h=24, channel="app"),  # exactly 24 h: within the promise
    Spec(sh(2026, 8, 3), category="fees", team="retail_products", branch="HCZ", reply_h=24.01),  # just late
    Spec(sh(2026, 8, 20), branch=None, reply_h=0.5, resolve_h=3, reopened=2, channel="offline"),
    Spec(sh(2026, 9, 1), type="inquiry", category=None, team=None, branch="CDB"),  # never answered
    Spec(sh(2026, 9, 2), type=None, category=None, team=None, branch="CDB", reply_h=7),  # awaiting triage
    Spec(sh(2026, 9, 3), reply_h=6, resolve_h=6, status="merged"),  # folded into another: not counted
    Spec(sh(2026, 9, 15), category="fees", team="retail_products", reply_h=12.5, resolve_h=100, reopened=1,
         status="open"),  # reopened and not resolved again yet
]

BRANCH_KINDS = {"RMR": "business_hall", "CDB": "business_hall", "HCZ": "self_service"}


@pytest.fixture
def quarter(rows: Any, session: Any) -> dict[str, Any]:
    branches = {code: rows.branch(code, kind) for code, kind in BRANCH_KINDS.items()}
    customer = rows.customer()
    for s in SPECS:
        rows.ticket(s.created, type=s.type, category=s.category, branch=branches.get(s.branch) if s.branch else None,
                    customer=customer, channel=s.channel, team=s.team,
                    replied=timedelta(hours=s.reply_h) if s.reply_h is not None else None,
                    resolved=timedelta(hours=s.resolve_h) if s.resolve_h is not None and s.status != "open" else None,
                    reopened=s.reopened, status=s.status)
    session.flush()
    return branches


def q3(pred: Any = lambda s: True) -> list[Spec]:
    return [s for s in SPECS if s.in_q3 and pred(s)]


def scope(**kw: Any) -> kpi.Scope:
    return kpi.Scope(Q3, **kw)


def test_volume_counts_by_type_and_the_quarter_boundary(session: Any, quarter: Any) -> None:
    v = kpi.ticket_volume(session, scope=scope()).total
    assert v.tickets == len(q3())
    assert v.complaints == len(q3(lambda s: s.type == "complaint"))
    assert v.suggestions == len(q3(lambda s: s.type == "suggestion"))
    assert v.praise == len(q3(lambda s: s.type == "praise"))
    assert v.inquiries == len(q3(lambda s: s.type == "inquiry"))
    assert v.unclassified == len(q3(lambda s: s.type is None))
    q4 = kpi.ticket_volume(session, scope=kpi.Scope(Q3.shift(1))).total
    assert q4.tickets == len([s for s in SPECS if s.created.date() >= date(2026, 10, 1)]) == 1


def test_first_reply_rate_median_and_p90(session: Any, quarter: Any, config: Any) -> None:
    r = kpi.first_reply_stats(session, cfg=config, scope=scope(), now=NOW).total
    replied = [s.reply_h for s in q3() if s.reply_h is not None]
    assert r.tickets == len(q3())
    assert r.replied == len(replied)
    # By NOW every Q3 ticket is older than 24 h, so all are owed a reply.
    assert r.due == len(q3())
    assert r.within_limit == len([h for h in replied if h <= 24])
    assert r.value == pytest.approx(r.within_limit / r.due)
    assert r.median_hours == pytest.approx(statistics.median(replied), abs=1e-3)
    # p90 with linear interpolation (numpy's default) = statistics' "inclusive" method.
    assert r.p90_hours == pytest.approx(statistics.quantiles(replied, n=10, method="inclusive")[-1], abs=1e-3)
    assert r.mean_hours == pytest.approx(statistics.mean(replied), abs=1e-3)


def test_reply_rate_does_not_count_tickets_still_inside_their_24_hours(session: Any, rows: Any,
                                                                        config: Any) -> None:
    rows.ticket(sh(2026, 9, 30, 20))  # no reply yet, 4 hours old at `now`
    rows.ticket(sh(2026, 9, 29, 12))  # no reply, 36 hours old: late
    rows.ticket(sh(2026, 9, 30, 21), replied=timedelta(hours=1))
    r = kpi.first_reply_stats(session, cfg=config, scope=scope(), now=sh(2026, 10, 1, 0)).total
    assert (r.tickets, r.due, r.within_limit) == (3, 2, 1)


def test_resolution_and_reopen_rates(session: Any, quarter: Any) -> None:
    resolved = [s.resolve_h for s in q3() if s.resolve_h is not None and s.status != "open"]
    r = kpi.resolution_stats(session, scope=scope()).total
    assert (r.tickets, r.resolved) == (len(q3()), len(resolved))
    assert r.median_hours == pytest.approx(statistics.median(resolved), abs=1e-3)
    assert r.resolved_on_time == len([h for h in resolved if h <= 72])  # fixture deadline: 72 h
    ro = kpi.reopen_stats(session, scope=scope()).total
    ever_resolved = [s for s in q3() if s.resolve_h is not None]  # the reopened-and-open one counts too
    assert ro.resolved_once == len(ever_resolved)
    assert ro.reopened == len([s for s in ever_resolved if s.reopened])
    assert ro.value == pytest.approx(ro.reopened / ro.resolved_once)


@pytest.mark.parametrize("by,key_of", [
    ("branch", lambda s: s.branch),
    ("branch_kind", lambda s: BRANCH_KINDS.get(s.branch) if s.branch else None),
    ("team", lambda s: s.team),
    ("category", lambda s: s.category),
    ("channel", lambda s: s.channel),
    ("month", lambda s: f"{s.created:%Y-%m}"),
])
def test_breakdowns_add_up_per_group(session: Any, quarter: Any, config: Any, by: str, key_of: Any) -> None:
    vol = kpi.ticket_volume(session, scope=scope(), by=by)
    reply = kpi.first_reply_stats(session, cfg=config, scope=scope(), now=NOW, by=by)
    expected_keys = {key_of(s) for s in q3()}
    assert set(vol.groups) == expected_keys
    for key in expected_keys:
        group = q3(lambda s, k=key: key_of(s) == k)
        assert vol.groups[key].tickets == len(group)
        assert vol.groups[key].complaints == len([s for s in group if s.type == "complaint"])
        hours = [s.reply_h for s in group if s.reply_h is not None]
        assert reply.groups[key].replied == len(hours)
        assert reply.groups[key].median_hours == (
            pytest.approx(statistics.median(hours), abs=1e-3) if hours else None)
    assert vol.total.tickets == sum(g.tickets for g in vol.groups.values())
    assert list(vol.groups)[-1] is None or None not in vol.groups  # the group without a key comes last


def test_branch_and_category_filters(session: Any, quarter: Any) -> None:
    only = kpi.Scope(Q3, branch_ids=(quarter["CDB"].id, quarter["HCZ"].id))
    assert kpi.ticket_volume(session, scope=only).total.tickets == len(q3(lambda s: s.branch in ("CDB", "HCZ")))
    fees = kpi.Scope(Q3, categories=("fees",))
    assert kpi.ticket_volume(session, scope=fees).total.complaints == len(
        q3(lambda s: s.category == "fees" and s.type == "complaint"))


def test_an_empty_period_gives_none_not_a_division_by_zero(session: Any, quarter: Any, config: Any) -> None:
    empty = kpi.Scope(Period.parse("2025Q1", SH))
    summary = kpi.kpi_summary(session, cfg=config, scope=empty, now=NOW)
    values = kpi.headline_values(summary)
    for code in ("satisfaction", "survey_response_rate", "nps", "complaint_rate", "reply_24h_rate",
                 "first_reply_median", "first_reply_p90", "resolution_median", "resolution_rate", "reopen_rate",
                 "revisit_rate", "inspection_score", "training_pass_rate"):
        assert values[code] is None, code
        assert kpi.format_value(values[code], kpi.KPI_BY_CODE[code].unit) == "—"
    assert values["complaints"] == 0 and values["escalations"] == 0
    assert summary.complaint_rate.total.denominator_source is None


def test_scope_resolution_errors(session: Any, quarter: Any, config: Any) -> None:
    with pytest.raises(kpi.ScopeError, match="未知的网点代码：NOPE"):
        kpi.resolve_scope(session, cfg=config, period="2026Q3", branch_codes=["RMR", "NOPE"])
    with pytest.raises(kpi.ScopeError, match="无法识别"):
        kpi.resolve_scope(session, cfg=config, period="2026Q9")
    with pytest.raises(kpi.ScopeError, match="分组维度"):
        kpi.ticket_volume(session, scope=scope(), by="weather")
    s = kpi.resolve_scope(session, cfg=config, period="2026-08", branch_codes=["HCZ"])
    assert s.branch_ids == (quarter["HCZ"].id,) and s.window.label == "2026-08"


def test_summary_work_mem_setting_is_validated(session: Any, quarter: Any, config: Any) -> None:
    from services.kpi_sql import dialect_name

    bad = config.with_overrides({"kpi.postgres_work_mem": "64MB'; DROP TABLE tickets; --"})
    if dialect_name(session) == "postgresql":
        with pytest.raises(kpi.ScopeError, match="postgres_work_mem"):
            kpi.kpi_summary(session, cfg=bad, scope=scope(), now=NOW)
    else:  # SQLite has no work_mem: the setting is not used
        assert kpi.kpi_summary(session, cfg=bad, scope=scope(), now=NOW).volume.total.tickets == len(q3())
    # The summary's shared scan gives the same numbers as the single-KPI functions.
    summary = kpi.kpi_summary(session, cfg=config, scope=scope(), now=NOW, by="branch")
    assert summary.first_reply == kpi.first_reply_stats(session, cfg=config, scope=scope(), now=NOW, by="branch")
    assert summary.revisit == kpi.revisit_stats(session, scope=scope(), by="branch")
    assert summary.reopen == kpi.reopen_stats(session, scope=scope(), by="branch")
