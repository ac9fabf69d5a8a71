"""Every permission rule, at the service level: agent / manager / admin × view / act × in / out of scope.

Out of scope must look exactly like "does not exist" (TicketNotFound), and a refused action
must leave no trace: no ticket change, no event, no audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services import staff as staff_service
from services import ticket_actions as actions
from services.access import NotAllowed, TicketNotFound, get_ticket
from services.console_admin import audit_entries, config_view, save_branch
from services.queue import QueueFilters, queue_page, ticket_view
from tests.console.conftest import Bank

# Who sees what (team / branch of the ticket):
#   agent    team branch_ops        manager  branch RMR        admin  everything
IN_SCOPE = {
    "agent": {"team": "branch_ops", "branch": "CDB"},  # the branch does not matter to an agent
    "manager": {"team": "card_center", "branch": "RMR"},  # the team does not matter to a manager
    "admin": {"team": "risk", "branch": "KFQ"},
}
OUT_OF_SCOPE = {
    "agent": {"team": "card_center", "branch": "RMR"},
    "manager": {"team": "branch_ops", "branch": "CDB"},
}


def _act(name: str) -> Callable[..., Any]:
    """One staff action on ticket `number`, as the console would call it."""
    def run(s: Any, bank: Bank, staff: Any, number: str) -> Any:
        rt, now = bank.runtime, bank.now
        if name == "note":
            return actions.add_note(s, runtime=rt, staff=staff, number=number, text="已致电网点核实", now=now)
        if name == "take":
            return actions.take(s, runtime=rt, staff=staff, number=number, now=now)
        if name == "transfer":
            return actions.transfer(s, runtime=rt, staff=staff, number=number, team="digital", now=now)
        if name == "category":
            return actions.change_category(s, runtime=rt, staff=staff, number=number, category="fees", now=now)
        if name == "priority":
            return actions.change_priority(s, runtime=rt, staff=staff, number=number, priority="urgent", now=now)
        if name == "resolve":
            return actions.resolve(s, runtime=rt, staff=staff, number=number, now=now)
        if name == "revisit":
            return actions.record_revisit(s, runtime=rt, staff=staff, number=number, method="phone",
                                          outcome="客户表示满意", satisfaction=5, now=now)
        if name == "reply":
            return actions.reply(s, runtime=rt, staff=staff, number=number, text="您好，已处理", now=now)
        raise AssertionError(name)

    return run


ACTIONS = ["note", "take", "transfer", "category", "priority", "resolve", "revisit", "reply"]


@pytest.mark.parametrize("role", ["agent", "manager", "admin"])
def test_view_in_scope(bank: Bank, role: str) -> None:
    number = bank.ticket(**IN_SCOPE[role])
    with bank.session() as s:
        me = bank.staff(s, role)
        assert get_ticket(s, staff=me, cfg=bank.runtime.cfg, number=number).number == number
        assert ticket_view(s, staff=me, cfg=bank.runtime.cfg, number=number, now=bank.now).ticket.number == number
        page = queue_page(s, staff=me, cfg=bank.runtime.cfg, filters=QueueFilters(), now=bank.now)
        assert number in [i.ticket.number for i in page.items]


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_view_out_of_scope_is_not_found(bank: Bank, role: str) -> None:
    number = bank.ticket(**OUT_OF_SCOPE[role])
    with bank.session() as s:
        me = bank.staff(s, role)
        with pytest.raises(TicketNotFound):
            get_ticket(s, staff=me, cfg=bank.runtime.cfg, number=number)
        with pytest.raises(TicketNotFound):
            ticket_view(s, staff=me, cfg=bank.runtime.cfg, number=number, now=bank.now)
        # Neither the list nor a search by its number reveals it.
        for filters in (QueueFilters(), QueueFilters(q=number), QueueFilters(status="all")):
            page = queue_page(s, staff=me, cfg=bank.runtime.cfg, filters=filters, now=bank.now)
            assert number not in [i.ticket.number for i in page.items]
            assert page.total == 0


def test_an_existing_out_of_scope_ticket_and_a_missing_one_fail_the_same_way(bank: Bank) -> None:
    number = bank.ticket(**OUT_OF_SCOPE["agent"])
    with bank.session() as s:
        me = bank.staff(s, "agent")
        errors = []
        for ref in (number, "QJ000000-999999"):
            with pytest.raises(TicketNotFound) as info:
                get_ticket(s, staff=me, cfg=bank.runtime.cfg, number=ref)
            errors.append(type(info.value))
        assert errors[0] is errors[1]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ["agent", "manager", "admin"])
def test_act_in_scope(bank: Bank, role: str, action: str) -> None:
    number = bank.ticket(**IN_SCOPE[role])
    before = bank.history()
    with bank.session() as s:
        _act(action)(s, bank, bank.staff(s, role), number)
    events, audits = bank.history()
    assert events > before[0] and audits > before[1]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ["agent", "manager"])
def test_act_out_of_scope_changes_nothing(bank: Bank, role: str, action: str, fake_wechat: Any) -> None:
    number = bank.ticket(**OUT_OF_SCOPE[role])
    before, ticket_before = bank.history(), bank.get(number)
    with pytest.raises(TicketNotFound), bank.session() as s:
        _act(action)(s, bank, bank.staff(s, role), number)
    assert bank.history() == before
    after = bank.get(number)
    assert (after.status, after.team, after.category, after.priority, after.assignee_id) == (
        ticket_before.status, ticket_before.team, ticket_before.category, ticket_before.priority,
        ticket_before.assignee_id)
    assert fake_wechat.custom_messages() == [] and fake_wechat.template_messages() == []


def test_merge_needs_both_tickets_in_scope(bank: Bank) -> None:
    mine = bank.ticket(team="branch_ops")
    theirs = bank.ticket(team="card_center")
    before = bank.history()
    for source, target in ((mine, theirs), (theirs, mine)):
        with pytest.raises(TicketNotFound), bank.session() as s:
            actions.merge(s, runtime=bank.runtime, staff=bank.staff(s, "agent"), number=source, into=target,
                          now=bank.now)
    assert bank.history() == before
    assert bank.get(mine).status == "new" and bank.get(theirs).status == "new"


def test_triage_team_sees_low_confidence_tickets_and_other_agents_do_not(bank: Bank) -> None:
    number = bank.ticket(needs_triage=True, branch="CDB")
    with bank.session() as s:
        assert get_ticket(s, staff=bank.staff(s, "triager"), cfg=bank.runtime.cfg, number=number)
        page = queue_page(s, staff=bank.staff(s, "triager"), cfg=bank.runtime.cfg,
                          filters=QueueFilters(triage=True), now=bank.now)
        assert [i.ticket.number for i in page.items] == [number]
        with pytest.raises(TicketNotFound):
            get_ticket(s, staff=bank.staff(s, "agent"), cfg=bank.runtime.cfg, number=number)


def test_deactivated_staff_see_nothing(bank: Bank) -> None:
    number = bank.ticket(team="branch_ops")
    with bank.session() as s:
        staff_service.set_active(s, staff=bank.staff(s, "agent"), active=False, now=bank.now, actor="test")
    with bank.session() as s, pytest.raises(TicketNotFound):
        get_ticket(s, staff=bank.staff(s, "agent"), cfg=bank.runtime.cfg, number=number)


def test_assignee_must_be_able_to_see_the_ticket(bank: Bank) -> None:
    number = bank.ticket(team="branch_ops", branch="CDB")
    with bank.session() as s:
        from services.access import InputError

        with pytest.raises(InputError):
            actions.assign(s, runtime=bank.runtime, staff=bank.staff(s, "admin"), number=number,
                           assignee="manager", now=bank.now)  # manager of RMR, ticket at CDB
        eligible = actions.eligible_assignees(s, runtime=bank.runtime, staff=bank.staff(s, "admin"), number=number)
        assert {p.username for p in eligible} == {"agent", "admin"}


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_admin_functions_are_refused_to_other_roles(bank: Bank, role: str) -> None:
    before = bank.history()
    with bank.session() as s:
        me = bank.staff(s, role)
        with pytest.raises(NotAllowed):
            staff_service.list_staff(s, admin=me)
        with pytest.raises(NotAllowed):
            staff_service.admin_create_staff(s, cfg=bank.runtime.cfg, admin=me, now=bank.now, username="mallory",
                                             password="x" * 12, role="admin")
        with pytest.raises(NotAllowed):
            save_branch(s, admin=me, code="EVIL", name="假网点", kind="business_hall", aliases="", address="",
                        active=True, now=bank.now)
        with pytest.raises(NotAllowed):
            config_view(admin=me, cfg=bank.runtime.cfg)
        with pytest.raises(NotAllowed):
            audit_entries(s, admin=me)
    assert bank.history() == before
    assert bank.count(staff_service.Staff, staff_service.Staff.username == "mallory") == 0


def test_admin_functions_work_for_admins_and_are_audited(bank: Bank) -> None:
    with bank.session() as s:
        me = bank.staff(s, "admin")
        created = staff_service.admin_create_staff(s, cfg=bank.runtime.cfg, admin=me, now=bank.now,
                                                   username="newbie", password="a-long-password", role="agent",
                                                   team="digital")
        assert created.team == "digital"
        save_branch(s, admin=me, code="XHS", name="新华书店自助服务区", kind="self_service", aliases="新华书店, 书店",
                    address="", active=True, now=bank.now)
        masked = config_view(admin=me, cfg=bank.runtime.cfg)
        assert masked["console"]["secret_key"] == "***" and masked["wechat"]["app_secret"] == "***"
        assert "test-app-secret" not in repr(masked)
    with bank.session() as s:
        actions_logged = [r.action for r in audit_entries(s, admin=bank.staff(s, "admin"))]
    assert "staff.create" in actions_logged and "branch.create" in actions_logged
