"""Improvement measures from the console: who may write and publish, scoped proposals, notices
delivered through the fake WeChat server and their progress."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from models import NoticeOutbox
from services import console_improvements as improvements
from services.access import InputError, NotAllowed, TicketNotFound
from tests.console.conftest import Bank


def _create(bank: Bank, who: str, branches: tuple[str, ...] = ("RMR",), category: str = "wait_time") -> int:
    with bank.session() as s:
        made = improvements.create(s, staff=bank.staff(s, who), cfg=bank.runtime.cfg, title="午间增开窗口",
                                   body="人民路支行自12月起午间增开两个窗口。", category=category,
                                   branch_codes=branches, effective_date=None, now=bank.now)
        return made.id


def test_who_may_write_a_measure(bank: Bank) -> None:
    assert _create(bank, "manager")
    assert _create(bank, "admin", ("RMR", "CDB"))
    with pytest.raises(InputError):
        _create(bank, "manager", ("CDB",))  # not their branch
    with pytest.raises(InputError):
        _create(bank, "manager", ())  # a manager's measure names their branches
    with pytest.raises(NotAllowed):
        _create(bank, "agent")


def test_proposals_stay_in_scope_and_publishing_notifies_the_customers(bank: Bank, fake_wechat: Any) -> None:
    from services.notices import dispatch_notices

    mine = [bank.ticket(branch="RMR", openid=f"oImprove{i:021d}", created_at=bank.now - timedelta(days=i + 1))
            for i in range(2)]
    bank.ticket(branch="RMR", category="fees")  # another category: not proposed
    improvement_id = _create(bank, "manager")
    with bank.session() as s:
        view = improvements.view(s, staff=bank.staff(s, "manager"), cfg=bank.runtime.cfg,
                                 improvement_id=improvement_id, now=bank.now)
        assert sorted(t.number for t in view.proposed) == sorted(mine)
        assert view.can_edit
    with bank.session() as s:
        assert improvements.link(s, staff=bank.staff(s, "manager"), cfg=bank.runtime.cfg,
                                 improvement_id=improvement_id, numbers=mine, now=bank.now) == 2
    with pytest.raises(NotAllowed), bank.session() as s:
        improvements.publish(s, staff=bank.staff(s, "agent"), improvement_id=improvement_id,
                             include_category_feedback=False, period_days=90, now=bank.now)
    with bank.session() as s:
        result = improvements.publish(s, staff=bank.staff(s, "manager"), improvement_id=improvement_id,
                                      include_category_feedback=False, period_days=90, now=bank.now)
    assert result.total_recipients == 2 and bank.count(NoticeOutbox) == 2
    dispatch_notices(runtime=bank.runtime, sleep=lambda _: None)
    # One customer wrote yesterday (customer-service message), the other two days ago (template message).
    assert [m["touser"] for m in fake_wechat.custom_messages()] == ["oImprove000000000000000000000"]
    assert [m["touser"] for m in fake_wechat.template_messages()] == ["oImprove000000000000000000001"]
    with bank.session() as s:
        view = improvements.view(s, staff=bank.staff(s, "manager"), cfg=bank.runtime.cfg,
                                 improvement_id=improvement_id, now=bank.now)
    assert view.progress is not None and view.progress.counts.get("sent") == 2 and view.progress.waiting == 0


def test_linking_an_out_of_scope_ticket_is_not_found(bank: Bank) -> None:
    theirs = bank.ticket(branch="CDB")
    improvement_id = _create(bank, "manager")
    with pytest.raises(TicketNotFound), bank.session() as s:
        improvements.link(s, staff=bank.staff(s, "manager"), cfg=bank.runtime.cfg, improvement_id=improvement_id,
                          numbers=[theirs], now=bank.now)


def test_improvement_pages(bank: Bank, staff_client: Any) -> None:
    number = bank.ticket(branch="RMR", openid="oImprovePage00000000000000001")
    user = staff_client("manager")
    user.get("/improvements")
    resp = user.post("/improvements", {"title": "叫号机已更换", "body": "人民路支行叫号机已更换为新设备。",
                                       "category": "wait_time", "branch": "RMR"})
    assert resp.status_code == 302
    page = user.get("/improvements").get_data(as_text=True)
    improvement_id = int(re.search(r"/console/improvements/(\d+)", page).group(1))
    detail = user.get(f"/improvements/{improvement_id}").get_data(as_text=True)
    assert number in detail
    user.post(f"/improvements/{improvement_id}/link", {"ticket": number})
    user.post(f"/improvements/{improvement_id}/publish", {"period_days": "90"})
    detail = user.get(f"/improvements/{improvement_id}").get_data(as_text=True)
    assert "已发布：共 1 位客户" in detail and 'id="progress"' in detail
    agent = staff_client("agent")
    assert agent.get(f"/improvements/{improvement_id}").status_code == 200
    # The agent (branch_ops) may see this wait_time ticket; a card_center agent sees it only as a count.
    other = staff_client("carder").get(f"/improvements/{improvement_id}").get_data(as_text=True)
    assert "另有 1 张不在您的范围内" in other and number not in other
    assert agent.post(f"/improvements/{improvement_id}/publish", {"period_days": "90"}).status_code == 403
