"""The queue: deadline order, every filter, search, and keyset pages that never skip or repeat."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from models import Channel
from services import ticket_actions as actions
from services.access import InputError
from services.queue import QueueFilters, queue_page
from tests.console.conftest import Bank


def _walk(bank: Bank, username: str, filters: QueueFilters, size: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    with bank.runtime.sessions() as s:
        me = bank.staff(s, username)
        for _ in range(100):
            page = queue_page(s, staff=me, cfg=bank.runtime.cfg, filters=filters, now=bank.now, cursor=cursor,
                              page_size=size)
            seen += [i.ticket.number for i in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return seen
    raise AssertionError("pagination did not end")


def test_keyset_pages_cover_every_ticket_once_in_deadline_order(bank: Bank) -> None:
    rng = random.Random(7)
    # Several tickets share a creation time (equal deadlines): the id breaks the tie.
    stamps = [bank.now - timedelta(hours=rng.choice([0, 3, 3, 30, 80, 100])) for _ in range(23)]
    numbers = [bank.ticket(created_at=at, priority=rng.choice(["normal", "urgent"])) for at in stamps]
    walked = _walk(bank, "agent", QueueFilters(), size=4)
    assert sorted(walked) == sorted(numbers) and len(walked) == len(set(walked))
    tickets = [bank.get(n) for n in walked]
    keys = [(t.escalation_at, t.id) for t in tickets]
    assert keys == sorted(keys)
    assert tickets[0].escalation_at < bank.now  # breached first


def test_newest_first_pages_for_all_statuses(bank: Bank) -> None:
    numbers = [bank.ticket(created_at=bank.now - timedelta(minutes=i)) for i in range(9)]
    with bank.session() as s:
        actions.resolve(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=numbers[3], now=bank.now)
    walked = _walk(bank, "agent", QueueFilters(status="all"), size=2)
    assert walked == sorted(numbers, key=lambda n: bank.get(n).id, reverse=True)
    assert _walk(bank, "agent", QueueFilters(status="resolved"), size=2) == [numbers[3]]
    assert numbers[3] not in _walk(bank, "agent", QueueFilters(), size=50)


@pytest.mark.parametrize("filters,expected", [
    (QueueFilters(branch="CDB"), {"cdb"}),
    (QueueFilters(category="fees"), {"fees"}),
    (QueueFilters(priority="urgent"), {"urgent"}),
    (QueueFilters(channel="offline"), {"offline"}),
    (QueueFilters(status="new"), {"cdb", "fees", "urgent", "offline", "mine"}),
    (QueueFilters(mine=True), {"mine"}),
    (QueueFilters(q="空调"), {"fees"}),
    (QueueFilters(branch="CDB", priority="urgent"), set()),
])
def test_each_filter_narrows_the_queue(bank: Bank, filters: QueueFilters, expected: set[str]) -> None:
    made = {
        "cdb": bank.ticket(branch="CDB"),
        "fees": bank.ticket(category="fees", text="空调收费？"),
        "urgent": bank.ticket(priority="urgent"),
        "offline": bank.ticket(channel=Channel.OFFLINE),
        "mine": bank.ticket(),
    }
    with bank.session() as s:
        actions.take(s, runtime=bank.runtime, staff=bank.staff(s, "admin"), number=made["mine"], now=bank.now)
    got = set(_walk(bank, "admin", filters, size=3))
    assert got == {made[k] for k in expected}


def test_triage_filter(bank: Bank) -> None:
    low = bank.ticket(needs_triage=True)
    bank.ticket()
    assert _walk(bank, "admin", QueueFilters(triage=True), size=5) == [low]


def test_search_treats_like_wildcards_literally(bank: Bank) -> None:
    literal = bank.ticket(text="手续费收了100%_的溢价")
    bank.ticket(text="手续费收了1000元")
    assert _walk(bank, "agent", QueueFilters(q="100%_"), size=5) == [literal]
    assert _walk(bank, "agent", QueueFilters(q=literal.lower()), size=5) == [literal]


def test_count_is_capped(bank: Bank) -> None:
    for _ in range(4):
        bank.ticket()
    cfg = bank.runtime.cfg.with_overrides({"console.count_limit": 3})
    with bank.runtime.sessions() as s:
        page = queue_page(s, staff=bank.staff(s, "agent"), cfg=cfg, filters=QueueFilters(), now=bank.now)
    assert (page.total, page.total_capped) == (3, True)


@pytest.mark.parametrize("args,message", [
    ({"category": "nope"}, "类别"), ({"type": "rant"}, "类型"), ({"priority": "p0"}, "优先级"),
    ({"status": "lost"}, "状态"), ({"channel": "fax"}, "渠道"),
])
def test_unknown_filter_values_are_errors(bank: Bank, args: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        QueueFilters.from_args(args, bank.runtime.cfg)


@pytest.mark.parametrize("cursor", ["!!!", "bm90LWEtY3Vyc29y", "fA"])
def test_bad_cursors_are_errors(bank: Bank, cursor: str) -> None:
    bank.ticket()
    with pytest.raises(InputError), bank.runtime.sessions() as s:
        queue_page(s, staff=bank.staff(s, "agent"), cfg=bank.runtime.cfg, filters=QueueFilters(), now=bank.now,
                   cursor=cursor)


def test_unknown_branch_filter_is_an_error(bank: Bank) -> None:
    with pytest.raises(InputError), bank.runtime.sessions() as s:
        queue_page(s, staff=bank.staff(s, "agent"), cfg=bank.runtime.cfg, filters=QueueFilters(branch="ZZZ"),
                   now=bank.now)
