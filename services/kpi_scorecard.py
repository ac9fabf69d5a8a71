"""The branch scorecard (网点服务考核): each KPI turned into 0-100 points, weighted, ranked.

Points per component (targets from config kpi.targets):
- satisfaction, reply_24h_rate, training: the rate × 100;
- complaint_rate: 100 at or below the target, 0 at or above the baseline, linear in between;
- revisit_rate: rate ÷ target × 100, at most 100 (the target is far below 100 %);
- inspection: the mean inspection score (already 0-100).
A component without data is left out and the remaining weights are scaled up to 100 %; the share
of the weights that had data is shown beside the score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Branch
from services.kpi import (
    Scope,
    complaint_rate,
    first_reply_stats,
    inspection_stats,
    revisit_stats,
    satisfaction_stats,
    training_stats,
)

# component code -> Chinese heading; the order of the scorecard's columns.
COMPONENTS: dict[str, str] = {
    "satisfaction": "客户满意度",
    "complaint_rate": "投诉率",
    "reply_24h_rate": "24小时答复率",
    "revisit_rate": "回访率",
    "inspection": "服务检查",
    "training": "培训通过率",
}

DEFAULT_WEIGHTS = {"satisfaction": 25, "complaint_rate": 25, "reply_24h_rate": 15, "revisit_rate": 10,
                   "inspection": 15, "training": 10}


@dataclass(frozen=True)
class ScorecardRow:
    branch_code: str
    branch_name: str
    branch_kind: str
    values: dict[str, float | None]  # the KPI value per component (rates as fractions)
    points: dict[str, float | None]  # 0-100 per component
    score: float | None  # weighted points, 0-100
    weight_covered: float  # share of the weights that had data, 0-1
    rank: int | None  # 1 = best; ties share a rank; None without a score


def weights(cfg: Any) -> dict[str, float]:
    configured = cfg.section("kpi").get("scorecard", {}).get("weights") or {}
    merged = {k: float(configured.get(k, DEFAULT_WEIGHTS[k])) for k in COMPONENTS}
    return {k: w for k, w in merged.items() if w > 0}


def component_points(code: str, value: float | None, cfg: Any) -> float | None:
    """0-100 points for one component's value (see the module docstring)."""
    if value is None:
        return None
    if code == "complaint_rate":
        target = float(cfg.get("kpi.targets.complaint_rate", 0.05))
        baseline = float(cfg.get("kpi.targets.complaint_rate_baseline", 0.15))
        if value <= target:
            return 100.0
        if value >= baseline or baseline <= target:
            return 0.0
        return 100.0 * (baseline - value) / (baseline - target)
    if code == "revisit_rate":
        target = float(cfg.get("kpi.targets.revisit_rate", 0.3))
        return 100.0 if target <= 0 else min(value / target, 1.0) * 100.0
    if code == "inspection":
        return value
    return value * 100.0


def branch_scorecard(session: Session, *, cfg: Any, scope: Scope, now: datetime) -> list[ScorecardRow]:
    """Every active branch of the scope (or the scope's branches), scored and ranked, best first."""
    stmt = select(Branch.code, Branch.name, Branch.kind).order_by(Branch.code)
    if scope.branch_ids is not None:
        stmt = stmt.where(Branch.id.in_(scope.branch_ids))
    else:
        stmt = stmt.where(Branch.active.is_(True))
    branches = session.execute(stmt).all()
    by = "branch"
    sat = satisfaction_stats(session, cfg=cfg, scope=scope, by=by).groups
    rate = complaint_rate(session, scope=scope, by=by).groups
    reply = first_reply_stats(session, cfg=cfg, scope=scope, now=now, by=by).groups
    revisit = revisit_stats(session, scope=scope, by=by).groups
    inspection = inspection_stats(session, cfg=cfg, scope=scope, by=by).groups
    training = training_stats(session, cfg=cfg, scope=scope, by=by).groups
    w = weights(cfg)
    total_weight = sum(w.values())
    rows = []
    for code, name, kind in branches:
        values = {
            "satisfaction": sat[code].value if code in sat else None,
            "complaint_rate": rate[code].value if code in rate else None,
            "reply_24h_rate": reply[code].value if code in reply else None,
            "revisit_rate": revisit[code].value if code in revisit else None,
            "inspection": inspection[code].mean_score if code in inspection else None,
            "training": training[code].value if code in training else None,
        }
        points = {k: component_points(k, v, cfg) for k, v in values.items()}
        have = {k: (p, w[k]) for k, p in points.items() if p is not None and k in w}
        covered = sum(wk for _, wk in have.values())
        score = sum(p * wk for p, wk in have.values()) / covered if covered else None
        rows.append(ScorecardRow(code, name, kind, values, points, score,
                                 covered / total_weight if total_weight else 0.0, None))
    return rank(rows)


def rank(rows: list[ScorecardRow]) -> list[ScorecardRow]:
    """Best score first; equal scores (to 0.01) share a rank (1, 2, 2, 4); no score last, unranked."""
    scored = sorted((r for r in rows if r.score is not None), key=lambda r: (-round(r.score or 0, 2), r.branch_code))
    out: list[ScorecardRow] = []
    previous: float | None = None
    current = 0
    for position, row in enumerate(scored, start=1):
        key = round(row.score or 0, 2)
        if key != previous:
            current, previous = position, key
        out.append(ScorecardRow(**{**row.__dict__, "rank": current}))
    return out + [r for r in rows if r.score is None]
