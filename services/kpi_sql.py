"""Portable SQL pieces for the KPIs: durations, bank-local dates, month buckets and percentiles.

Every helper renders SQL that gives the same numbers on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from services.kpi_periods import Period


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def duration_seconds(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    """end - start in seconds, rounded to the millisecond (so both backends agree to the digit)."""
    if dialect == "postgresql":
        # date_part gives double precision (EXTRACT gives numeric since PostgreSQL 14, much slower to
        # aggregate and sort); rounded to the millisecond like SQLite below.
        return func.round(func.date_part("epoch", end - start) * 1000) / 1000.0
    # SQLite keeps naive UTC text; julianday() parses it (fractions included).
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)


def _offset_segments(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """[(segment start (UTC), UTC offset in seconds)] covering [start, end); one entry unless DST changes."""

    def offset(moment: datetime) -> int:
        delta = moment.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments = [(start, offset(start))]
    cursor = start
    while cursor < end:
        step = min(cursor + timedelta(days=1), end)
        if offset(step) != segments[-1][1]:
            lo, hi = cursor, step  # the change lies in (lo, hi]: bisect to the second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if offset(mid) == segments[-1][1]:
                    lo = mid
                else:
                    hi = mid
            segments.append((hi, offset(hi)))
        cursor = step
    return segments


def local_date(dialect: str, column: Any, *, tz: ZoneInfo, start: datetime, end: datetime) -> ColumnElement[Any]:
    """The bank-local calendar date of a UTC timestamp column, for rows between start and end.

    PostgreSQL converts with the zone itself; SQLite has no zone data, so the zone's UTC offsets over
    [start, end) are computed here and applied (exact for any zone, DST included, within that range).
    """
    if dialect == "postgresql":
        return func.date(func.timezone(tz.key, column))
    segments = _offset_segments(tz, start.astimezone(UTC), end.astimezone(UTC))
    exprs = [func.date(column, f"{off:+d} seconds") for _, off in segments]
    if len(exprs) == 1:
        return exprs[0]
    whens = [(column < seg_start, expr) for (seg_start, _), expr in zip(segments[1:], exprs[:-1], strict=True)]
    return case(*whens, else_=exprs[-1])


def month_bucket(column: Any, period: Period, *, dates: bool = False) -> ColumnElement[Any]:
    """The label of the month ("2026-07") a row falls in, from bounds computed in Python: UTC instants
    for timestamp columns, bank-local days for DATE columns (dates=True). Portable and exact in any zone."""
    months = period.months()
    if len(months) == 1:
        return literal(months[0].label)
    whens = [(column < (m.end_day if dates else m.end), m.label) for m in months[:-1]]
    return case(*whens, else_=months[-1].label)


def to_float(value: Any) -> float | None:
    """Numbers from either backend (PostgreSQL numerics come back as Decimal) as float."""
    return None if value is None else float(value)


def native_percentiles(dialect: str) -> bool:
    """PostgreSQL has percentile_cont, the same interpolation in one aggregate pass."""
    return dialect == "postgresql"


def percentile_cont_columns(value: Any, percents: Sequence[int]) -> list[ColumnElement[Any]]:
    """percentile_cont(p) WITHIN GROUP (ORDER BY value) per percent, labelled p50, p90, … (PostgreSQL)."""
    return [func.percentile_cont(p / 100).within_group(value).label(f"p{p}") for p in percents]


def percentiles(
    session: Session,
    source: Select[Any],
    percents: Sequence[int],
    *,
    grouped: bool = True,
) -> dict[Any, dict[int, float | None]]:
    """Linear-interpolation percentiles of `value` per `grp` (the two columns of `source`).

    Same definition as PostgreSQL's percentile_cont and numpy's default: the value at rank
    1 + p(n-1), interpolated between neighbours. Ranks come from ROW_NUMBER/COUNT windows and
    integer arithmetic, which SQLite and PostgreSQL evaluate identically. Ungrouped: key None.
    """
    sub = source.subquery()
    grp, value = sub.c.grp, sub.c.value
    partition = grp if grouped else None
    ranked = select(
        grp.label("grp"),
        value.label("value"),
        func.row_number().over(partition_by=partition, order_by=value).label("rn"),
        func.count().over(partition_by=partition).label("n"),
    ).where(value.is_not(None)).subquery()
    cols = []
    for p in percents:
        scaled = ranked.c.n * p - p  # p(n-1), exact in integers (p in whole percent)
        lower = scaled // 100 + 1
        frac = (scaled % 100) / 100.0
        cols.append(func.sum(case(
            (ranked.c.rn == lower, ranked.c.value * (1 - frac)),
            (ranked.c.rn == lower + 1, ranked.c.value * frac),
            else_=0,
        )).label(f"p{p}"))
    if not grouped:
        row = session.execute(select(func.count(), *cols).select_from(ranked)).one()
        return {None: {p: (to_float(row[i + 1]) if row[0] else None) for i, p in enumerate(percents)}}
    rows = session.execute(select(ranked.c.grp, *cols).group_by(ranked.c.grp)).all()
    return {row[0]: {p: to_float(row[i + 1]) for i, p in enumerate(percents)} for row in rows}
