"""The portable SQL helpers give the textbook answers on SQLite and PostgreSQL alike."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from models import Ticket
from services.kpi_periods import Period
from services.kpi_sql import dialect_name, duration_seconds, local_date, percentiles
from tests.kpi.conftest import SH, sh


def _linear(values: list[float], p: int) -> float:
    """Textbook linear-interpolation percentile (rank 1 + p(n-1))."""
    ordered = sorted(values)
    pos = p / 100 * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def test_grouped_percentiles_match_the_definition(session: Any, rows: Any) -> None:
    rng = random.Random(4)
    start = sh(2026, 8, 1)
    expected: dict[str, list[float]] = {"wait_time": [], "fees": [], "other": []}
    for category, values in expected.items():
        for _ in range({"wait_time": 37, "fees": 2, "other": 1}[category]):
            seconds = round(rng.uniform(1, 200_000), 3)
            values.append(seconds)
            rows.ticket(start, category=category, replied=timedelta(seconds=seconds))
    seconds_col = duration_seconds(dialect_name(session), Ticket.created_at, Ticket.first_replied_at)
    source = select(Ticket.category.label("grp"), seconds_col.label("value"))
    got = percentiles(session, source, (10, 25, 50, 75, 90, 99))
    for category, values in expected.items():
        for p in (10, 25, 50, 75, 90, 99):
            assert got[category][p] == pytest.approx(_linear(values, p), abs=1e-3), (category, p)
        assert got[category][50] == pytest.approx(statistics.median(values), abs=1e-3)
    everything = [v for vs in expected.values() for v in vs]
    total = percentiles(session, select(Ticket.category.label("grp"), seconds_col.label("value")), (50, 90),
                        grouped=False)[None]
    assert total[50] == pytest.approx(statistics.median(everything), abs=1e-3)
    assert total[90] == pytest.approx(statistics.quantiles(everything, n=10, method="inclusive")[-1], abs=1e-3)
    if dialect_name(session) == "postgresql":
        # Same numbers as PostgreSQL's own ordered-set aggregate.
        native = session.execute(select(
            func.percentile_cont(0.5).within_group(seconds_col), func.percentile_cont(0.9).within_group(seconds_col)
        )).one()
        assert (total[50], total[90]) == (pytest.approx(float(native[0]), abs=1e-3),
                                          pytest.approx(float(native[1]), abs=1e-3))


def test_no_values_give_none(session: Any) -> None:
    seconds_col = duration_seconds(dialect_name(session), Ticket.created_at, Ticket.first_replied_at)
    got = percentiles(session, select(Ticket.category.label("grp"), seconds_col.label("value")), (50,), grouped=False)
    assert got == {None: {50: None}}


def test_durations_are_exact_to_the_millisecond(session: Any, rows: Any) -> None:
    rows.ticket(sh(2026, 8, 1), replied=timedelta(hours=24))
    rows.ticket(sh(2026, 8, 1), replied=timedelta(hours=24, milliseconds=1))
    got = session.scalars(select(duration_seconds(dialect_name(session), Ticket.created_at, Ticket.first_replied_at))
                          .order_by(Ticket.id)).all()
    assert [float(x) for x in got] == [86400.0, 86400.001]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/New_York"])
def test_local_date_follows_the_zone_across_dst(session: Any, rows: Any, zone: str) -> None:
    tz = ZoneInfo(zone)
    period = Period.parse("2026Q1", tz)
    instants = [period.start, period.start - timedelta(seconds=1) + timedelta(hours=1)]
    # Around the spring DST change in Europe and the US, and each midnight of a few days.
    base = datetime(2026, 3, 7, 0, tzinfo=UTC)
    instants += [base + timedelta(minutes=30 * k) for k in range(0, 24 * 2 * 24, 7)]
    for at in instants:
        rows.ticket(at)
    expr = local_date(dialect_name(session), Ticket.created_at, tz=tz, start=period.start, end=period.end)
    got = session.execute(select(Ticket.created_at, expr)).all()
    assert len(got) == len(instants)
    for created, day in got:
        assert str(day) == created.astimezone(tz).date().isoformat(), created
    assert SH  # the bank's zone is the first case
