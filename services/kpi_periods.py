"""Reporting periods (month, quarter) in the bank's time zone, with their UTC bounds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

PeriodKind = Literal["month", "quarter"]

_QUARTER_RE = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")
_MONTH_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_CHINESE_NUMBERS = {1: "一", 2: "二", 3: "三", 4: "四"}


class PeriodError(ValueError):
    """A period string that is not a month (2026-07) or a quarter (2026Q3); the message is Chinese."""


def _first_of_next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """A calendar month or quarter in the bank's zone; `start`/`end` are the UTC instants [start, end)."""

    kind: PeriodKind
    year: int
    number: int  # month 1-12 or quarter 1-4
    tz: ZoneInfo

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo | str) -> Period:
        """Parse "2026Q3" / "2026-Q3" (quarter) or "2026-07" (month)."""
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        m = _QUARTER_RE.match(text or "")
        if m:
            return cls("quarter", int(m.group(1)), int(m.group(2)), zone)
        m = _MONTH_RE.match(text or "")
        if m and 1 <= int(m.group(2)) <= 12:
            return cls("month", int(m.group(1)), int(m.group(2)), zone)
        raise PeriodError(f"无法识别的期间“{text}”：季度请写成 2026Q3，月份请写成 2026-07")

    @classmethod
    def quarter(cls, text: str, tz: ZoneInfo | str) -> Period:
        """Parse a quarter only ("2026Q3")."""
        period = cls.parse(text, tz)
        if period.kind != "quarter":
            raise PeriodError(f"“{text}”不是季度：请写成 2026Q3 这样的格式")
        return period

    @classmethod
    def containing(cls, moment: datetime, kind: PeriodKind, tz: ZoneInfo | str) -> Period:
        """The month or quarter (bank-local) that contains an instant."""
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        local = moment.astimezone(zone)
        number = local.month if kind == "month" else (local.month - 1) // 3 + 1
        return cls(kind, local.year, number, zone)

    @property
    def label(self) -> str:
        """2026Q3 or 2026-07: the code used on the command line, in files and in exports."""
        return f"{self.year}Q{self.number}" if self.kind == "quarter" else f"{self.year}-{self.number:02d}"

    @property
    def title(self) -> str:
        """The Chinese name shown to managers."""
        if self.kind == "quarter":
            return f"{self.year}年第{_CHINESE_NUMBERS[self.number]}季度"
        return f"{self.year}年{self.number}月"

    @property
    def first_day(self) -> date:
        return date(self.year, self.number if self.kind == "month" else 3 * self.number - 2, 1)

    @property
    def end_day(self) -> date:
        """The first bank-local day after the period (exclusive bound for date columns)."""
        day = self.first_day
        for _ in range(1 if self.kind == "month" else 3):
            day = _first_of_next_month(day)
        return day

    def _utc(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz).astimezone(UTC)

    @property
    def start(self) -> datetime:
        return self._utc(self.first_day)

    @property
    def end(self) -> datetime:
        return self._utc(self.end_day)

    def shift(self, steps: int) -> Period:
        """The period `steps` months/quarters later (negative: earlier)."""
        per_year = 12 if self.kind == "month" else 4
        index = self.year * per_year + (self.number - 1) + steps
        return Period(self.kind, index // per_year, index % per_year + 1, self.tz)

    def previous(self, count: int = 1) -> list[Period]:
        """The `count` periods before this one, oldest first."""
        return [self.shift(-k) for k in range(count, 0, -1)]

    def months(self) -> list[Period]:
        """The months of this period, in order."""
        first = Period("month", self.year, self.first_day.month, self.tz)
        return [first.shift(k) for k in range(1 if self.kind == "month" else 3)]

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class DayRange:
    """Bank-local days [first_day, end_day): the windows around an improvement measure."""

    first_day: date
    end_day: date
    tz: ZoneInfo

    @property
    def label(self) -> str:
        return f"{self.first_day:%Y-%m-%d}~{self.end_day:%Y-%m-%d}"

    @property
    def title(self) -> str:
        first, end = self.first_day, self.end_day
        return f"{first.year}年{first.month}月{first.day}日至{end.year}年{end.month}月{end.day}日（不含）"

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), tzinfo=self.tz).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.end_day, time(0), tzinfo=self.tz).astimezone(UTC)

    def months(self) -> list[Period]:
        raise PeriodError("按月份分组只适用于月度或季度期间")


Window = Period | DayRange
