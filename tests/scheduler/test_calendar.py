"""The business calendar: working hours, weekends, public holidays and make-up working days (调休)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import load_config
from services.calendar import BusinessCalendar, calendar_for_team
from services.sla import deadline_after
from tests.scheduler.conftest import new_ticket

BJ = ZoneInfo("Asia/Shanghai")


def bj(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BJ)


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    """The calendar shipped in config.yaml (09:00-17:00, Mon-Fri, 2026 holidays and 调休)."""
    sla = load_config(environ={}).section("sla")
    return BusinessCalendar.from_config(sla["calendar"])


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def test_friday_afternoon_plus_one_working_hour_is_monday_morning(calendar: BusinessCalendar) -> None:
    # 2026-11-27 is a Friday.
    assert calendar.add_working_time(bj(2026, 11, 27, 16, 30), hours(1)) == bj(2026, 11, 30, 9, 30)


def test_the_deadline_stays_in_the_period_that_uses_the_time_up(calendar: BusinessCalendar) -> None:
    assert calendar.add_working_time(bj(2026, 11, 27, 16, 0), hours(1)) == bj(2026, 11, 27, 17, 0)
    # Received at night: the clock starts at 09:00.
    assert calendar.add_working_time(bj(2026, 11, 26, 22, 15), hours(2)) == bj(2026, 11, 27, 11, 0)
    # 24 working hours = three working days.
    assert calendar.add_working_time(bj(2026, 11, 25, 10, 0), hours(24)) == bj(2026, 11, 30, 10, 0)


def test_national_day_week_and_its_make_up_saturday(calendar: BusinessCalendar) -> None:
    # 2026-09-30 (Wed) 16:00 + 2 h: one hour that day, then 1-7 October are holidays,
    # 8-9 October (Thu, Fri) are working days.
    assert calendar.add_working_time(bj(2026, 9, 30, 16, 0), hours(2)) == bj(2026, 10, 8, 10, 0)
    # Friday 9 October 16:00 + 2 h: Saturday 10 October is a 调休 working day.
    assert calendar.add_working_time(bj(2026, 10, 9, 16, 0), hours(2)) == bj(2026, 10, 10, 10, 0)
    # Sunday 20 September is a make-up day too; an ordinary Sunday is not.
    assert calendar.is_working_day(bj(2026, 9, 20, 0, 0).date())
    assert not calendar.is_working_day(bj(2026, 9, 13, 0, 0).date())


def test_spring_festival(calendar: BusinessCalendar) -> None:
    # Friday 13 Feb 16:00 + 2 h: Saturday 14 Feb is a make-up working day, then 15-23 Feb off.
    assert calendar.add_working_time(bj(2026, 2, 13, 16, 0), hours(2)) == bj(2026, 2, 14, 10, 0)
    assert calendar.add_working_time(bj(2026, 2, 14, 16, 0), hours(2)) == bj(2026, 2, 24, 10, 0)


def test_several_periods_a_day_and_subtraction() -> None:
    cal = BusinessCalendar.from_config({"working_hours": ["09:00-12:00", "13:30-17:30"], "weekdays": [1, 2, 3, 4, 5],
                                        "holidays": "2026-12-31", "workdays": []})
    assert cal.add_working_time(bj(2026, 12, 1, 11, 30), hours(1)) == bj(2026, 12, 1, 14, 0)
    assert cal.add_working_time(bj(2026, 12, 1, 14, 0), hours(-1)) == bj(2026, 12, 1, 11, 30)
    assert cal.add_working_time(bj(2026, 12, 30, 17, 0), hours(1)) == bj(2027, 1, 1, 9, 30)  # 31 Dec off
    assert cal.working_time_between(bj(2026, 12, 1, 8, 0), bj(2026, 12, 1, 20, 0)) == hours(7)


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(ValueError, match="09:00-17:00"):
        BusinessCalendar.from_config({"working_hours": ["nine to five"]})
    with pytest.raises(ValueError, match="不能重叠"):
        BusinessCalendar.from_config({"working_hours": ["09:00-13:00", "12:00-17:00"]})
    never = BusinessCalendar(BJ, ((bj(2026, 1, 1, 9, 0).time(), bj(2026, 1, 1, 17, 0).time()),), frozenset())
    with pytest.raises(ValueError, match="没有任何工作时间"):
        never.add_working_time(bj(2026, 1, 1, 9, 0), hours(1))
    with pytest.raises(ValueError, match="结束时间须晚于开始时间"):
        BusinessCalendar.from_config({"working_hours": ["17:00-09:00"]})
    with pytest.raises(ValueError, match="'9点' 格式应为 09:00"):
        BusinessCalendar.from_config({"working_hours": ["9点-17:00"]})
    with pytest.raises(ValueError, match="'2026-13-01' 格式应为 2026-10-01"):
        BusinessCalendar.from_config({"holidays": ["2026-13-01"]})
    with pytest.raises(ValueError, match="未知的时区 'Asia/Beijing'"):
        BusinessCalendar.from_config({"timezone": "Asia/Beijing"})


@settings(max_examples=100, deadline=None)
@given(start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 20), timezones=st.just(UTC)),
       minutes=st.integers(min_value=0, max_value=60 * 40))
def test_adding_then_measuring_gives_the_same_working_time(calendar: BusinessCalendar, start: datetime,
                                                           minutes: int) -> None:
    cal = calendar
    end = cal.add_working_time(start, timedelta(minutes=minutes))
    assert cal.working_time_between(start, end) == timedelta(minutes=minutes)
    back = cal.add_working_time(end, -timedelta(minutes=minutes))
    assert back <= end and cal.working_time_between(back, end) == timedelta(minutes=minutes)


def test_only_business_hours_teams_use_the_calendar(rt: Any, sched_config: Any) -> None:
    from services.runtime import build_runtime

    sla = sched_config.section("sla")
    assert calendar_for_team(sla, "branch_ops") is None
    start = bj(2026, 11, 27, 16, 30)
    assert deadline_after(start, hours=24, sla=sla, team="branch_ops") == start + hours(24)

    cfg = sched_config.with_overrides({"sla.business_hours_teams": ["branch_ops"]})
    calendar_rt = build_runtime(cfg, clock=rt.clock)
    rt.clock.set(start)
    from models import Ticket

    ticket_id = new_ticket(calendar_rt, now=start, team="branch_ops")
    other_id = new_ticket(calendar_rt, now=start, team="digital")
    with calendar_rt.sessions() as s:
        ticket, other = s.get_one(Ticket, ticket_id), s.get_one(Ticket, other_id)
        # 0.5 h on Friday, 8 h on Monday and on Tuesday, the last 7.5 h on Wednesday.
        assert ticket.first_reply_due_at == bj(2026, 12, 2, 16, 30)
        assert other.first_reply_due_at == start + hours(24)


def test_escalation_offsets_count_working_hours_for_a_business_hours_team(rt: Any, sched_config: Any) -> None:
    """A -4 h warning before a Monday 10:00 deadline fires on Friday 14:00, while somebody is at work to act
    on it, not at Monday 06:00; the +24 h second breach is 24 working hours later. Wall-clock teams keep
    wall-clock offsets."""
    from sqlalchemy import select

    from models import Escalation
    from scheduler.jobs import escalate_overdue_tickets
    from services.runtime import build_runtime

    cfg = sched_config.with_overrides({"sla.business_hours_teams": ["branch_ops"]})
    calendar_rt = build_runtime(cfg, clock=rt.clock)

    def sweep(at: datetime) -> None:
        rt.clock.set(at)
        escalate_overdue_tickets(calendar_rt, at)

    def fired(ticket_id: int) -> list[str]:
        with calendar_rt.sessions() as s:
            return list(s.scalars(select(Escalation.level).where(Escalation.ticket_id == ticket_id)
                                  .order_by(Escalation.id)))

    # Wednesday 10:00 + 24 working hours (7 + 8 + 8 + 1) = Monday 10:00.
    branch = new_ticket(calendar_rt, now=bj(2026, 11, 25, 10, 0), team="branch_ops")
    # Wednesday 12:00: due Monday 12:00, so warned on Friday 16:00.
    caught_up = new_ticket(calendar_rt, now=bj(2026, 11, 25, 12, 0), team="branch_ops")
    digital = new_ticket(calendar_rt, now=bj(2026, 11, 26, 18, 0), team="digital")  # due Friday 18:00

    sweep(bj(2026, 11, 27, 13, 59))
    assert fired(branch) == [] and fired(digital) == []
    sweep(bj(2026, 11, 27, 14, 0))
    assert fired(branch) == ["first_reply_warning"]
    assert fired(digital) == ["first_reply_warning"]  # 18:00 - 4 wall-clock hours
    assert fired(caught_up) == []
    # No sweep ran at Friday 16:00: Saturday's sweep must still reach Monday's deadlines.
    sweep(bj(2026, 11, 28, 10, 0))
    assert fired(caught_up) == ["first_reply_warning"]
    assert fired(branch) == ["first_reply_warning"]

    sweep(bj(2026, 11, 30, 9, 59))
    assert fired(branch) == ["first_reply_warning"]
    sweep(bj(2026, 11, 30, 10, 0))  # the deadline itself, not moved to a working moment
    assert fired(branch) == ["first_reply_warning", "first_reply_breach"]
    # +24 working hours from Monday 10:00: 7 + 8 + 8 + 1 -> Thursday 10:00 (wall clock: Tuesday 10:00).
    sweep(bj(2026, 12, 3, 9, 59))
    assert fired(branch) == ["first_reply_warning", "first_reply_breach"]
    sweep(bj(2026, 12, 3, 10, 0))
    assert fired(branch) == ["first_reply_warning", "first_reply_breach", "first_reply_breach_2"]
