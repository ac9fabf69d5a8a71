"""Reporting periods: parsing, bank-local bounds as UTC instants, neighbours."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.kpi_periods import DayRange, Period, PeriodError
from tests.kpi.conftest import SH, sh


def test_quarter_bounds_are_bank_local_midnights() -> None:
    q = Period.parse("2026Q3", SH)
    assert (q.kind, q.year, q.number, q.label, q.title) == ("quarter", 2026, 3, "2026Q3", "2026年第三季度")
    assert q.first_day == date(2026, 7, 1) and q.end_day == date(2026, 10, 1)
    # Shanghai is UTC+8: the quarter starts at 16:00 UTC the day before.
    assert q.start == datetime(2026, 6, 30, 16, tzinfo=UTC)
    assert q.end == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert q.start <= sh(2026, 9, 30, 23, 30) < q.end
    assert not q.start <= sh(2026, 10, 1, 0, 30) < q.end


@pytest.mark.parametrize("text", ["2026Q3", "2026q3", "2026-Q3", " 2026 Q3 "])
def test_quarter_spellings(text: str) -> None:
    assert Period.parse(text, SH).label == "2026Q3"


def test_month_and_neighbours() -> None:
    m = Period.parse("2026-12", SH)
    assert (m.kind, m.label, m.title, m.end_day) == ("month", "2026-12", "2026年12月", date(2027, 1, 1))
    assert m.shift(1).label == "2027-01" and m.shift(-12).label == "2025-12"
    q = Period.parse("2026Q1", SH)
    assert [p.label for p in q.previous(4)] == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    assert [p.label for p in q.months()] == ["2026-01", "2026-02", "2026-03"]
    assert Period.containing(sh(2026, 9, 30, 23, 30), "quarter", SH).label == "2026Q3"
    assert Period.containing(sh(2026, 10, 1, 0, 30), "quarter", SH).label == "2026Q4"


@pytest.mark.parametrize("text", ["", "2026Q5", "2026Q0", "Q3 2026", "2026-13", "26Q3", "2026-07-01"])
def test_bad_period_strings_are_refused_in_chinese(text: str) -> None:
    with pytest.raises(PeriodError, match="无法识别"):
        Period.parse(text, SH)


def test_quarter_only_refuses_a_month() -> None:
    with pytest.raises(PeriodError, match="不是季度"):
        Period.quarter("2026-07", SH)


def test_day_range_bounds() -> None:
    r = DayRange(date(2026, 8, 1), date(2026, 8, 11), SH)
    assert r.start == datetime(2026, 7, 31, 16, tzinfo=UTC) and r.end == datetime(2026, 8, 10, 16, tzinfo=UTC)
    with pytest.raises(PeriodError):
        r.months()
