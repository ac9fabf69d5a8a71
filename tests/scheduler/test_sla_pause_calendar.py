"""A wait for the customer on a working-hours team counts in working time: the working hours left when
the wait began are the working hours left when it ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from models import Ticket, TicketStatus
from services.sla import apply_deadlines, pause_deadlines, record_staff_reply, resume_deadlines

BJ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ)


def sla() -> dict[str, Any]:
    shipped = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))["sla"]
    return {**shipped, "business_hours_teams": ["branch_ops"]}


def test_the_working_hours_left_survive_a_wait_over_the_weekend() -> None:
    policy = sla()
    ticket = Ticket(team="branch_ops", priority="normal", status=TicketStatus.OPEN.value)
    apply_deadlines(ticket, sla=policy, start=bj(2026, 11, 23, 9, 0))  # Monday 09:00, 72 working hours
    assert ticket.resolution_due_at == bj(2026, 12, 3, 17, 0)  # nine 8-hour days later
    record_staff_reply(ticket, now=bj(2026, 11, 23, 10, 0))
    ticket.status = TicketStatus.PENDING.value
    pause_deadlines(ticket, now=bj(2026, 11, 27, 16, 0))  # Friday 16:00: 39 used, 33 working hours left
    ticket.status = TicketStatus.OPEN.value
    resume_deadlines(ticket, now=bj(2026, 12, 1, 10, 0), sla=policy)  # the next Tuesday 10:00
    # 33 working hours from Tuesday 10:00: 7 that day, 8 each Wednesday to Friday, 2 more -> Monday 11:00.
    assert ticket.resolution_due_at == bj(2026, 12, 7, 11, 0)
    assert ticket.sla_paused_at is None and ticket.escalation_at == ticket.resolution_due_at


def test_a_wall_clock_team_moves_on_by_the_wall_clock_pause() -> None:
    policy = sla()
    ticket = Ticket(team="card_center", priority="urgent", status=TicketStatus.OPEN.value)
    apply_deadlines(ticket, sla=policy, start=bj(2026, 11, 27, 16, 0))
    due = ticket.resolution_due_at
    ticket.status = TicketStatus.PENDING.value
    pause_deadlines(ticket, now=bj(2026, 11, 27, 17, 0))
    ticket.status = TicketStatus.OPEN.value
    resume_deadlines(ticket, now=bj(2026, 11, 29, 17, 30), sla=policy)
    assert ticket.resolution_due_at == due + timedelta(days=2, minutes=30)
