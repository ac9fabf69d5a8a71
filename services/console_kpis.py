"""The dashboard's KPI tiles: issue 7's KPIs (services/kpi) for the staff member's part of the bank.

Managers see their branches; agents the categories routed to their team; admins the whole bank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models import Role, Staff
from services import kpi
from services.access import InputError
from services.kpi_periods import Period

DASHBOARD_KPIS = ("reply_24h_rate", "satisfaction", "revisit_rate", "complaint_rate", "complaints",
                  "first_reply_median", "resolution_rate", "reopen_rate", "survey_response_rate", "nps",
                  "escalations", "training_pass_rate")


@dataclass(frozen=True)
class KpiTile:
    code: str
    label: str
    unit: str
    value: float | None
    value_text: str
    target: float | None
    target_text: str
    met: bool | None
    note: str = ""

    @property
    def gauge(self) -> bool:
        """Percentages with a target get a bar: value and target on one 0–100 % scale."""
        return self.unit == "percent" and self.value is not None and self.target is not None

    @property
    def fraction(self) -> float:
        return max(0.0, min(1.0, self.value or 0.0))

    @property
    def target_fraction(self) -> float:
        return max(0.0, min(1.0, self.target or 0.0))


@dataclass(frozen=True)
class TrendPoint:
    label: str
    value: float | None


@dataclass(frozen=True)
class KpiPanel:
    period_label: str
    scope_label: str
    items: list[KpiTile]
    reply_trend: list[TrendPoint]  # the 24-hour reply rate over the last months


def _scope(session: Session, *, staff: Staff, cfg: Any, period: Period) -> tuple[kpi.Scope, str]:
    role = Role(staff.role)
    if role is Role.MANAGER:
        codes = [b.code for b in staff.branches]
        return kpi.resolve_scope(session, cfg=cfg, period=period, branch_codes=codes), "所辖网点：" + "、".join(codes)
    if role is Role.AGENT and staff.team:
        routing = cfg.section("routing").get("categories", {})
        mine = [c for c, team in routing.items() if team == staff.team]
        if mine:
            names = cfg.section("labels").get("categories", {})
            label = "本组类别：" + "、".join(names.get(c, c) for c in mine)
            return kpi.resolve_scope(session, cfg=cfg, period=period, categories=mine), label
    return kpi.resolve_scope(session, cfg=cfg, period=period), "全行"


def kpi_panel(session: Session, *, staff: Staff, cfg: Any, now: datetime, period: str | None = None,
              trend_months: int = 6) -> KpiPanel:
    """The headline KPIs against their targets for the month (or the given period, e.g. 2026-11 or 2026Q4)."""
    tz = kpi.bank_tz(cfg)
    try:
        chosen = Period.parse(period, tz) if period else Period.containing(now, "month", tz)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    scope, scope_label = _scope(session, staff=staff, cfg=cfg, period=chosen)
    values = kpi.headline_values(kpi.kpi_summary(session, cfg=cfg, scope=scope, now=now))
    items = []
    for code in DASHBOARD_KPIS:
        definition = kpi.KPI_BY_CODE[code]
        value, target = values.get(code), definition.target(cfg)
        items.append(KpiTile(
            code=code, label=definition.name, unit=definition.unit, value=value,
            value_text=kpi.format_value(value, definition.unit), target=target,
            target_text=("≤ " if definition.lower_is_better else "≥ ") + kpi.format_value(target, definition.unit)
            if target is not None else "—",
            met=definition.meets_target(value, cfg)))
    trend = []
    months = [*chosen.previous(trend_months - 1), chosen] if chosen.kind == "month" else chosen.months()
    for month in months:
        month_scope, _ = _scope(session, staff=staff, cfg=cfg, period=month)
        stats = kpi.first_reply_stats(session, cfg=cfg, scope=month_scope, now=now)
        trend.append(TrendPoint(label=month.label, value=stats.total.value))
    return KpiPanel(period_label=chosen.title, scope_label=scope_label, items=items, reply_trend=trend)
