"""The daily digest per team: open tickets, due today, breached. Once per team and bank-local day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from models import OPEN_STATUSES, DailyDigest, Ticket
from services import notifications
from services.once import insert_ignore


@dataclass(frozen=True)
class TeamFigures:
    team: str
    open: int
    due_today: int
    breached: int


@dataclass
class DigestResult:
    digest_date: date
    sent: list[str] = field(default_factory=list)  # teams whose digest this run queued
    already: list[str] = field(default_factory=list)  # teams that had today's digest already
    notifications: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"digest_date": self.digest_date.isoformat(), "sent": self.sent, "already": self.already,
                "notifications": self.notifications}


def team_figures(session: Session, *, teams: list[str], now: datetime, day_end: datetime,
                 unassigned_to: str | None) -> list[TeamFigures]:
    """Counts over open tickets; tickets without a team are reported to `unassigned_to` (triage)."""
    team_key = func.coalesce(Ticket.team, "") if unassigned_to else Ticket.team
    running = Ticket.sla_paused_at.is_(None)
    rows = session.execute(
        select(
            team_key,
            func.count(),
            # Pending tickets' clocks are stopped: neither due today nor breached.
            func.sum(case((and_(running, Ticket.escalation_at.between(now, day_end)), 1), else_=0)),
            func.sum(case((and_(running, Ticket.escalation_at < now), 1), else_=0)),
        )
        .where(Ticket.status.in_([s.value for s in OPEN_STATUSES]))
        .group_by(team_key)
    ).all()
    totals: dict[str, list[int]] = {t: [0, 0, 0] for t in teams}
    for team, n_open, n_due, n_breached in rows:
        key = (team or unassigned_to) if unassigned_to else team
        if key in totals:
            bucket = totals[key]
            bucket[0] += int(n_open or 0)
            bucket[1] += int(n_due or 0)
            bucket[2] += int(n_breached or 0)
    return [TeamFigures(t, *totals[t]) for t in teams]


def send_daily_digests(session: Session, *, cfg: Any, now: datetime) -> DigestResult:
    """Queue today's digest for every team that has not had it yet."""
    tz = ZoneInfo(str(cfg.get("timezone", "Asia/Shanghai")))
    local = now.astimezone(tz)
    today = local.date()
    day_end = datetime.combine(today + timedelta(days=1), time(0), tz)
    section = cfg.section("digest")
    teams = [str(t) for t in (section.get("teams") or list(cfg.section("teams")))]
    role = str(section.get("notify", "team"))
    result = DigestResult(digest_date=today)
    names = cfg.section("teams")
    triage = str(cfg.get("console.triage_team", "feedback"))
    for figures in team_figures(session, teams=teams, now=now, day_end=day_end,
                                unassigned_to=triage if triage in teams else None):
        inserted = insert_ignore(session, DailyDigest, [{
            "team": figures.team, "digest_date": today, "open_count": figures.open,
            "due_today_count": figures.due_today, "breached_count": figures.breached, "created_at": now,
        }], returning=[DailyDigest.id])
        if not inserted:
            result.already.append(figures.team)
            continue
        name = names.get(figures.team, figures.team)
        subject = f"【每日工单简报】{name} {today:%m月%d日}"
        body = "\n".join([
            f"{name}截至 {local:%H:%M}：",
            f"未结工单 {figures.open} 件",
            f"今日到期 {figures.due_today} 件",
            f"已超时 {figures.breached} 件",
        ])
        queued = notifications.enqueue(session, cfg=cfg, kind="digest", team=figures.team, role=role,
                                       subject=subject, body=body, now=now, digest_id=inserted[0][0])
        result.sent.append(figures.team)
        result.notifications += len(queued)
    return result
