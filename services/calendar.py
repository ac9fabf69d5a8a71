"""Business calendar: working hours, public holidays and make-up working days (调休).

Deadlines for teams with working-hour SLAs are computed by walking the calendar's
working periods, never by adding wall-clock hours: with 09:00–17:00 working hours,
Friday 16:30 + 1 working hour is Monday 09:30; a 调休 Saturday counts as a working
day and a holiday Monday does not.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# A run of non-working days longer than this means the calendar is misconfigured
# (no working day at all), not a long holiday.
_MAX_IDLE_DAYS = 366


def _parse_time(text: str) -> time:
    hours, _, minutes = text.strip().partition(":")
    try:
        return time(int(hours), int(minutes or 0))
    except ValueError:
        raise ValueError(f"时间 {text.strip()!r} 格式应为 09:00") from None


def _parse_period(spec: Any) -> tuple[time, time]:
    """'09:00-12:00' or ['09:00', '12:00'] -> (09:00, 12:00)."""
    if isinstance(spec, str):
        start, sep, end = spec.partition("-")
        if not sep:
            raise ValueError(f"工作时段 {spec!r} 格式应为 09:00-17:00")
    else:
        start, end = spec
    first, last = _parse_time(str(start)), _parse_time(str(end))
    if not first < last:
        raise ValueError(f"工作时段 {spec!r} 的结束时间须晚于开始时间")
    return first, last


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"日期 {str(value).strip()!r} 格式应为 2026-10-01") from None


@dataclass(frozen=True)
class BusinessCalendar:
    """Working periods of a working day, in the bank's time zone."""

    tz: ZoneInfo
    periods: tuple[tuple[time, time], ...]
    weekdays: frozenset[int]  # ISO weekdays that are normally working days (1 = Monday)
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # 调休: normally a day off, working this time

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("工作日历至少需要一个工作时段（sla.calendar.working_hours）")
        ordered = sorted(self.periods)
        for (_, end), (start, _) in itertools.pairwise(ordered):
            if start < end:
                raise ValueError("工作时段不能重叠（sla.calendar.working_hours）")
        object.__setattr__(self, "periods", tuple(ordered))

    @classmethod
    def from_config(cls, section: Mapping[str, Any], *, default_tz: str = "Asia/Shanghai") -> BusinessCalendar:
        """Build from config.yaml `sla.calendar`."""
        periods = tuple(_parse_period(p) for p in section.get("working_hours") or ["09:00-17:00"])
        weekdays = frozenset(int(d) for d in section.get("weekdays") or [1, 2, 3, 4, 5])
        if not weekdays <= {1, 2, 3, 4, 5, 6, 7}:
            raise ValueError("sla.calendar.weekdays 须为 1（周一）到 7（周日）之间的数字")
        zone = str(section.get("timezone") or default_tz)
        try:
            tz = ZoneInfo(zone)
        except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"未知的时区 {zone!r}（sla.calendar.timezone，例如 Asia/Shanghai）") from None
        return cls(
            tz=tz,
            periods=periods,
            weekdays=weekdays,
            holidays=frozenset(_parse_date(d) for d in _as_list(section.get("holidays"))),
            workdays=frozenset(_parse_date(d) for d in _as_list(section.get("workdays"))),
        )

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.isoweekday() in self.weekdays

    def _day_periods(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_working_day(day):
            return []
        return [
            (datetime.combine(day, start, self.tz), datetime.combine(day, end, self.tz))
            for start, end in self.periods
        ]

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The moment `amount` of working time after `start` (before it, for a negative amount)."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if amount < timedelta(0):
            return self._subtract(start, -amount)
        local = start.astimezone(self.tz)
        remaining = amount
        day = local.date()
        for _ in range(_MAX_IDLE_DAYS * 2):
            for begin, end in self._day_periods(day):
                if end <= local:
                    continue
                begin = max(begin, local)
                available = end - begin
                # `<=` keeps the deadline inside the period that uses the time up:
                # 16:00 + 1 h with a 17:00 close is 17:00 today, not 09:00 tomorrow.
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
            day += timedelta(days=1)
        raise ValueError("工作日历中没有任何工作时间，请检查 sla.calendar")

    def _subtract(self, start: datetime, amount: timedelta) -> datetime:
        local = start.astimezone(self.tz)
        remaining = amount
        day = local.date()
        for _ in range(_MAX_IDLE_DAYS * 2):
            for begin, end in reversed(self._day_periods(day)):
                if begin >= local:
                    continue
                end = min(end, local)
                available = end - begin
                if remaining <= available:
                    return (end - remaining).astimezone(start.tzinfo)
                remaining -= available
            day -= timedelta(days=1)
        raise ValueError("工作日历中没有任何工作时间，请检查 sla.calendar")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end` (zero if end is not after start)."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        first, last = start.astimezone(self.tz), end.astimezone(self.tz)
        day = first.date()
        while day <= last.date():
            for begin, close in self._day_periods(day):
                lo, hi = max(begin, first), min(close, last)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total


def _as_list(value: Any) -> Iterable[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return value
    # An environment override arrives as text: "2026-10-01,2026-10-02".
    return [part for part in str(value).split(",") if part.strip()]


def business_hours_teams(sla: Mapping[str, Any]) -> list[str]:
    """The teams of sla.business_hours_teams (a list, or "a,b" from an environment override)."""
    return [str(t).strip() for t in _as_list(sla.get("business_hours_teams")) if str(t).strip()]


def business_calendar(sla: Mapping[str, Any]) -> BusinessCalendar | None:
    """The one business calendar (sla.calendar) that every team in sla.business_hours_teams counts in;
    None when no team counts working hours. Raises ValueError when the calendar cannot be read."""
    return _shared_calendar(sla) if business_hours_teams(sla) else None


def calendar_for_team(sla: Mapping[str, Any], team: str | None) -> BusinessCalendar | None:
    """The business calendar when `team` counts working hours (sla.business_hours_teams), else None."""
    if not team or team not in business_hours_teams(sla):
        return None
    return _shared_calendar(sla)


def _shared_calendar(sla: Mapping[str, Any]) -> BusinessCalendar:
    section = sla.get("calendar") or {}
    # Parsing holidays for every ticket would be wasteful; a config's calendar never changes.
    key = json.dumps(section, sort_keys=True, default=str)
    calendar = _CACHE.get(key)
    if calendar is None:
        calendar = _CACHE[key] = BusinessCalendar.from_config(section)
    return calendar


_CACHE: dict[str, BusinessCalendar] = {}
