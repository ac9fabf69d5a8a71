"""Survey rounds from the console: who may launch them, and whose answers each role may read."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models import Branch, SurveyInvitation, SurveyResponse, SurveyRound
from services import console_surveys as surveys
from services.access import InputError, NotAllowed
from services.customers import get_or_create_customer
from tests.console.conftest import Bank


def _launch(bank: Bank, who: str, branches: tuple[str, ...], name: str = "四季度满意度调查") -> SurveyRound:
    today = bank.now.astimezone(bank.runtime.tz).date()
    with bank.session() as s:
        return surveys.launch(s, staff=bank.staff(s, who), cfg=bank.runtime.cfg, name=name, branch_codes=branches,
                              audience="both", starts_on=today, ends_on=today + timedelta(days=14), now=bank.now)


def test_who_may_launch_a_round(bank: Bank) -> None:
    made = _launch(bank, "manager", ("rmr",))
    assert made.branch_codes == ["RMR"]
    local_start = made.starts_at.astimezone(bank.runtime.tz)
    assert (local_start.hour, local_start.minute) == (0, 0)
    assert (made.ends_at - made.starts_at) == timedelta(days=15)
    assert _launch(bank, "admin", (), "全行调查").branch_codes == []
    with pytest.raises(InputError):
        _launch(bank, "manager", ("CDB",), "越权调查")
    with pytest.raises(InputError):
        _launch(bank, "manager", (), "全行越权")
    with pytest.raises(NotAllowed):
        _launch(bank, "agent", ("RMR",), "坐席调查")
    with pytest.raises(InputError):  # the same name twice
        _launch(bank, "admin", (), "全行调查")
    today = bank.now.astimezone(bank.runtime.tz).date()
    with pytest.raises(InputError), bank.session() as s:
        surveys.launch(s, staff=bank.staff(s, "admin"), cfg=bank.runtime.cfg, name="倒序", branch_codes=(),
                       audience="both", starts_on=today, ends_on=today - timedelta(days=1), now=bank.now)
    with bank.runtime.sessions() as s:
        assert sorted(s.scalars(select(SurveyRound.name))) == ["全行调查", "四季度满意度调查"]


def _answers(bank: Bank, round_id: int) -> None:
    with bank.session() as s:
        branches = dict(s.execute(select(Branch.code, Branch.id)).all())
        for i, (code, overall) in enumerate((("RMR", 5), ("RMR", 2), ("CDB", 4))):
            customer = get_or_create_customer(s, openid=f"oSurvey{i:022d}", now=bank.now)
            s.add(SurveyInvitation(round_id=round_id, customer_id=customer.id, invited_at=bank.now,
                                   delivery_status="sent"))
            s.add(SurveyResponse(round_id=round_id, customer_id=customer.id, branch_id=branches[code],
                                 kind="satisfaction", overall=overall, aspects={}, comment=f"{code}的答卷",
                                 started_at=bank.now, completed_at=bank.now))
        extra = get_or_create_customer(s, openid="oSurveyNoAnswer0000000000001", now=bank.now)
        s.add(SurveyInvitation(round_id=round_id, customer_id=extra.id, invited_at=bank.now, delivery_status="sent"))


def test_totals_and_who_reads_which_answers(bank: Bank, staff_client: Any) -> None:
    made = _launch(bank, "admin", ())
    _answers(bank, made.id)
    with bank.runtime.sessions() as s:
        summary = next(r for r in surveys.rounds(s) if r.round.id == made.id)
        assert (summary.invited, summary.completed, summary.rated, summary.satisfied) == (4, 3, 3, 2)
        assert summary.response_rate == 0.75
        readable = {role: sorted(r.comment for r, _ in surveys.responses(s, staff=bank.staff(s, role),
                                                                          round_id=made.id))
                    for role in ("admin", "manager", "agent")}
    assert readable == {"admin": ["CDB的答卷", "RMR的答卷", "RMR的答卷"], "manager": ["RMR的答卷", "RMR的答卷"],
                        "agent": []}
    page = staff_client("manager").get(f"/surveys/{made.id}").get_data(as_text=True)
    assert "RMR的答卷" in page and "CDB的答卷" not in page and "75.0%" in page
    assert "CDB的答卷" not in staff_client("agent").get(f"/surveys/{made.id}").get_data(as_text=True)


def test_launch_form(bank: Bank, staff_client: Any) -> None:
    user = staff_client("manager")
    user.get("/surveys")
    today = bank.now.astimezone(bank.runtime.tz).date()
    resp = user.post("/surveys", {"name": "人民路支行回访调查", "audience": "gave_feedback", "branch": "RMR",
                                  "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=7)).isoformat()})
    assert resp.status_code == 302
    assert "人民路支行回访调查" in user.get("/surveys").get_data(as_text=True)
    user.post("/surveys", {"name": "坏日期", "audience": "both", "branch": "RMR", "starts_on": "x", "ends_on": ""})
    assert "请填写开始日期" in user.get("/surveys").get_data(as_text=True)
    agent = staff_client("agent")
    agent.get("/surveys")
    assert agent.post("/surveys", {"name": "坐席调查", "audience": "both", "starts_on": str(date.today()),
                                   "ends_on": str(date.today())}).status_code == 403
