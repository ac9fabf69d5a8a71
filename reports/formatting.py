"""How report cells read: the KPI units of services.kpi, dates in the bank's zone, "—" for no data."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.kpi import DASH, format_value


def cell(value: Any, unit: str, tz: ZoneInfo) -> str:
    """A table cell as shown in the HTML report."""
    if value is None or value == "":
        return DASH if unit != "text" or value is None else ""
    if unit == "datetime" and isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if unit == "points":
        return f"{float(value):.1f}"
    if unit in ("percent", "hours", "count", "score", "nps"):
        return format_value(float(value), unit)
    return str(value)


def plain(value: Any, unit: str, tz: ZoneInfo) -> Any:
    """A cell for CSV: numbers stay numbers (percent in percentage points), times in the bank's zone."""
    if value is None:
        return ""
    if unit == "datetime" and isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    if unit == "percent":
        return round(float(value) * 100, 2)
    if unit in ("hours", "score", "points", "nps"):
        return round(float(value), 2)
    return value


def heading(title: str, unit: str) -> str:
    """Column headings in the exports name the unit the numbers are in."""
    suffix = {"percent": "（%）", "hours": "（小时）", "score": "（分）", "points": "（分）"}.get(unit, "")
    return title + suffix
