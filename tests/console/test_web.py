"""The console over HTTP (Flask test client): sign-in, cookies, CSRF, 404 for out-of-scope
tickets, admin-only pages, and the ticket actions as forms."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models import (
    AuditLog,
    CategoryCorrection,
    LoginAttempt,
    Message,
    Revisit,
    StaffSession,
    Ticket,
    TicketEvent,
)
from services.escalation import end_expired_waits
from tests.console.conftest import PASSWORD, Bank, StaffClient


def test_pages_need_a_signed_in_staff_member(bank: Bank, staff_client: Any) -> None:
    anonymous = staff_client()
    resp = anonymous.get("/queue")
    assert resp.status_code == 302 and "/console/login" in resp.location
    number = bank.ticket()
    assert anonymous.get(f"/tickets/{number}").status_code == 302
    anonymous.get("/login")
    resp = anonymous.post(f"/tickets/{number}/note", {"text": "x"})
    assert resp.status_code == 401
    assert bank.count(AuditLog, AuditLog.action == "ticket.note") == 0


def test_login_sets_a_hardened_cookie_and_logout_kills_the_session(bank: Bank, staff_client: Any, app: Any) -> None:
    user = staff_client()
    resp = user.login("agent")
    assert resp.status_code == 302
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert user.get("/queue").status_code == 200
    stolen = user.client.get_cookie("qianjia_console", path="/console")
    assert bank.count(StaffSession) == 1

    assert user.post("/logout").status_code == 302
    assert bank.count(StaffSession) == 0
    # Replaying the old cookie after logout gets nowhere: the server-side session is gone.
    replay = app.test_client()
    replay.set_cookie(stolen.key, stolen.value, path="/console")
    assert replay.get("/console/queue").status_code == 302
    assert bank.count(AuditLog, AuditLog.action == "staff.logout") == 1


def test_secure_cookie_flag_follows_the_config(bank: Bank, db_url: str, model_dir: Any, fake_wechat: Any) -> None:
    from bot.app import create_app
    from tests.console.conftest import console_config

    app = create_app(console_config(db_url, model_dir, fake_wechat, **{"console.cookie_secure": True}))
    user = StaffClient(app.test_client())
    user.get("/login")
    resp = user.post("/login", {"username": "agent", "password": PASSWORD})
    assert "Secure" in resp.headers["Set-Cookie"]


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(bank: Bank, staff_client: Any) -> None:
    user = staff_client()
    wrong_password = user.login("agent", "not the password").get_data(as_text=True)
    user2 = staff_client()
    unknown_user = user2.login("nobody", "not the password").get_data(as_text=True)
    assert "用户名或密码错误" in wrong_password and "用户名或密码错误" in unknown_user
    assert user.get("/queue").status_code == 302


def test_post_without_csrf_token_is_refused_and_changes_nothing(bank: Bank, staff_client: Any) -> None:
    number = bank.ticket()
    user = staff_client("agent")
    before = bank.history()
    for path, form in ((f"/tickets/{number}/note", {"text": "无令牌"}), (f"/tickets/{number}/resolve", {}),
                       ("/logout", {})):
        assert user.post(path, form, csrf=False).status_code == 400
        assert user.post(path, {**form, "csrf_token": "forged"}).status_code == 400
    assert bank.history() == before
    assert bank.get(number).status == "new"
    assert user.get("/queue").status_code == 200  # still signed in: the logout was refused too


def test_login_form_needs_csrf_too(bank: Bank, staff_client: Any) -> None:
    user = staff_client()
    user.get("/login")
    resp = user.post("/login", {"username": "agent", "password": PASSWORD}, csrf=False)
    assert resp.status_code == 400
    assert bank.count(StaffSession) == 0


def test_out_of_scope_ticket_by_url_is_404_like_a_missing_one(bank: Bank, staff_client: Any) -> None:
    other_branch = bank.ticket(branch="CDB", team="branch_ops")
    manager = staff_client("manager")
    assert manager.get(f"/tickets/{other_branch}").status_code == 404
    assert manager.get("/tickets/QJ000000-000999").status_code == 404
    before = bank.history()
    assert manager.post(f"/tickets/{other_branch}/note", {"text": "越权"}).status_code == 404
    assert manager.post(f"/tickets/{other_branch}/resolve").status_code == 404
    assert bank.history() == before
    assert bank.get(other_branch).status == "new"


def test_admin_pages_are_for_admins(bank: Bank, staff_client: Any) -> None:
    agent = staff_client("agent")
    for path in ("/admin/staff", "/admin/branches", "/admin/config", "/admin/audit"):
        assert agent.get(path).status_code == 403, path
    assert agent.post("/admin/staff", {"username": "mallory", "password": "x" * 12, "role": "admin"}).status_code \
        == 403
    admin = staff_client("admin")
    page = admin.get("/admin/config").get_data(as_text=True)
    assert "***" in page and "test-console-secret" not in page and "test-app-secret" not in page
    resp = admin.post("/admin/staff", {"username": "newagent", "password": "long-enough-pw", "role": "agent",
                                       "team": "digital", "display_name": "新坐席"})
    assert resp.status_code == 302
    assert "newagent" in admin.get("/admin/staff").get_data(as_text=True)


def test_queue_lists_breached_first_with_sla_colours(bank: Bank, staff_client: Any) -> None:
    from datetime import timedelta

    late = bank.ticket(created_at=bank.now - timedelta(hours=30), text="上周投诉至今没人理")
    fresh = bank.ticket(text="今天排队很久")
    page = staff_client("agent").get("/queue").get_data(as_text=True)
    rows = re.findall(r'<tr class="sla-(\w+)" data-number="([^"]+)"', page)
    assert rows[:2] == [("breached", late), ("ok", fresh)]
    assert "已超时" in page and "剩余" in page


def test_unknown_filter_value_is_a_clear_400(bank: Bank, staff_client: Any) -> None:
    resp = staff_client("agent").get("/queue?category=nonsense")
    assert resp.status_code == 400 and "未知的类别" in resp.get_data(as_text=True)
    resp = staff_client("agent").get("/queue?cursor=%%%garbage")
    assert resp.status_code == 400


def test_search_by_number_opens_the_ticket(bank: Bank, staff_client: Any) -> None:
    number = bank.ticket()
    resp = staff_client("agent").get(f"/queue?q={number.lower()}")
    assert resp.status_code == 302 and resp.location.endswith(f"/console/tickets/{number}")


def test_ticket_page_shows_the_conversation_with_masked_openid(bank: Bank, staff_client: Any) -> None:
    openid = "oQianjiaCustomerABCDEFGH12345"
    number = bank.ticket(openid=openid, text="柜员态度很差，卡号6222****1234")
    page = staff_client("agent").get(f"/tickets/{number}").get_data(as_text=True)
    assert "柜员态度很差" in page
    assert openid not in page and "oQia****2345" in page
    assert "置信度 90%" in page


def test_forms_reply_note_category_priority_revisit(bank: Bank, staff_client: Any, fake_wechat: Any) -> None:
    openid = "oReplyCustomer0000000000000001"
    number = bank.ticket(openid=openid)
    user = staff_client("agent")
    user.get(f"/tickets/{number}")
    resp = user.post(f"/tickets/{number}/reply", {"text": "您好，我们已安排增开窗口。"})
    assert resp.status_code == 302
    page = user.get(f"/tickets/{number}").get_data(as_text=True)
    assert "回复结果：已通过客服消息送达" in page
    assert [m["text"]["content"] for m in fake_wechat.custom_messages(openid)] == ["您好，我们已安排增开窗口。"]
    user.post(f"/tickets/{number}/note", {"text": "已联系网点主任"})
    user.post(f"/tickets/{number}/priority", {"priority": "urgent"})
    user.post(f"/tickets/{number}/revisit", {"method": "phone", "satisfaction": "4", "outcome": "客户认可"})
    user.post(f"/tickets/{number}/category", {"category": "process_efficiency"})
    ticket = bank.get(number)
    assert ticket.status == "open" and ticket.priority == "urgent" and ticket.category == "process_efficiency"
    assert bank.count(Revisit, Revisit.ticket_id == ticket.id) == 1
    assert bank.count(CategoryCorrection, CategoryCorrection.ticket_id == ticket.id) == 1
    actions_logged = {a for (a,) in _audit(bank)}
    assert {"ticket.reply", "ticket.note", "ticket.priority", "ticket.revisit", "ticket.category"} <= actions_logged


def test_bad_form_input_shows_the_reason_and_changes_nothing(bank: Bank, staff_client: Any) -> None:
    number = bank.ticket()
    user = staff_client("agent")
    user.get(f"/tickets/{number}")
    before = bank.history()
    resp = user.post(f"/tickets/{number}/revisit", {"method": "phone", "satisfaction": "9", "outcome": "好"})
    assert resp.status_code == 302
    assert "满意度须为 1–5 分" in user.get(f"/tickets/{number}").get_data(as_text=True)
    user.post(f"/tickets/{number}/note", {"text": "   "})
    user.post(f"/tickets/{number}/merge", {"into": number})
    assert bank.history() == before


def test_take_from_the_queue(bank: Bank, staff_client: Any) -> None:
    number = bank.ticket()
    user = staff_client("agent")
    user.get("/queue")
    resp = user.post(f"/tickets/{number}/take", {"next": f"/console/tickets/{number}"})
    assert resp.status_code == 302 and resp.location.endswith(f"/console/tickets/{number}")
    assert bank.get(number).assignee_id == bank.staff_ids["agent"]
    assert "指派给我" in user.get("/queue?mine=1").get_data(as_text=True)


def test_take_ignores_an_offsite_next(bank: Bank, staff_client: Any) -> None:
    number = bank.ticket()
    user = staff_client("agent")
    user.get("/queue")
    resp = user.post(f"/tickets/{number}/take", {"next": "https://evil.example/"})
    assert "evil.example" not in resp.location


def test_dashboard_counts_only_what_the_staff_member_may_see(bank: Bank, staff_client: Any) -> None:
    bank.ticket(branch="RMR", team="card_center")
    bank.ticket(branch="CDB", team="branch_ops")
    bank.ticket(branch="CDB", team="branch_ops")
    count = re.compile(r'id="open-count">(\d+)<')
    assert count.search(staff_client("manager").get("/dashboard").get_data(as_text=True)).group(1) == "1"
    assert count.search(staff_client("agent").get("/dashboard").get_data(as_text=True)).group(1) == "2"
    assert count.search(staff_client("admin").get("/dashboard").get_data(as_text=True)).group(1) == "3"


def test_offline_entry_form(bank: Bank, staff_client: Any, warm_analyzer: Any) -> None:
    user = staff_client("admin")
    user.get("/offline")
    today = bank.now.astimezone(bank.runtime.tz).date().isoformat()
    resp = user.post("/offline", {"source": "box", "branch": "CDB", "received_on": today,
                                  "text": "大堂太冷了，空调能不能调高一点", "contact_phone": "13800138000"})
    assert resp.status_code == 302
    with bank.runtime.sessions() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.channel == "offline")).one()
        assert ticket.customer_id is None and ticket.branch.code == "CDB"
    page = user.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "138****8000" in page and "13800138000" not in page
    revealed = user.post(f"/tickets/{ticket.number}/contact").get_data(as_text=True)
    assert "13800138000" in revealed
    assert bank.count(AuditLog, AuditLog.action == "ticket.contact_reveal") == 1


def test_offline_entry_with_bad_input_writes_nothing(bank: Bank, staff_client: Any) -> None:
    user = staff_client("manager")
    user.get("/offline")
    resp = user.post("/offline", {"source": "box", "branch": "CDB", "received_on": "2020-01-01", "text": "x"})
    assert resp.status_code == 400
    resp = user.post("/offline", {"source": "box", "branch": "CDB", "received_on": "bad", "text": "x"})
    assert resp.status_code == 400 and "收到日期" in resp.get_data(as_text=True)
    assert bank.count(Ticket) == 0


def test_simulator_talks_to_the_real_webhook(bank: Bank, staff_client: Any, fake_wechat: Any,
                                            warm_analyzer: Any) -> None:
    user = staff_client("agent")
    user.get("/simulator")
    openid = "oSimTest000000000000000000001"
    resp = user.client.post("/console/simulator/send", json={"openid": openid, "action": "text",
                                                             "value": "人民路支行ATM吞卡了"},
                            headers={"X-CSRF-Token": user.csrf})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert "工单号" in resp.get_json()["reply"]
    with bank.runtime.sessions() as s:
        assert s.scalars(select(Message).where(Message.direction == "in")).first() is not None
    refused = user.client.post("/console/simulator/send", json={"openid": openid, "action": "text", "value": "x"})
    assert refused.status_code == 400  # no CSRF header
    inbox = user.client.get(f"/console/simulator/inbox?openid={openid}").get_json()
    assert inbox["connected"] is True


def _audit(bank: Bank) -> list[Any]:
    with bank.runtime.sessions() as s:
        return list(s.execute(select(AuditLog.action)))


@pytest.mark.parametrize("path", ["/queue", "/dashboard", "/offline", "/simulator"])
def test_console_pages_send_security_headers(bank: Bank, staff_client: Any, path: str) -> None:
    resp = staff_client("admin").get(path)
    assert resp.status_code == 200
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Cache-Control"] == "no-store"


def test_dashboard_shows_the_kpis_of_the_managers_branches(bank: Bank, staff_client: Any) -> None:
    from datetime import timedelta

    from services import ticket_actions as actions

    created = bank.now - timedelta(hours=30)
    answered = bank.ticket(created_at=created, openid="oKpiCustomer00000000000000001")
    bank.ticket(created_at=created)  # never answered: past its 24 hours
    bank.ticket(created_at=created, branch="CDB")  # another branch: not the manager's
    with bank.session() as s:
        actions.reply(s, runtime=bank.runtime, staff=bank.staff(s, "manager"), number=answered, text="已处理",
                      now=created + timedelta(hours=2))
    month = created.astimezone(bank.runtime.tz).strftime("%Y-%m")
    page = staff_client("manager").get(f"/dashboard?period={month}").get_data(as_text=True)
    tile = re.search(r'data-kpi="reply_24h_rate">(.*?)</div>\s*</div>', page, re.DOTALL)
    assert tile and "50.0%" in tile.group(1) and "未达标" in tile.group(1)
    complaints = re.search(r'data-kpi="complaints">(.*?)</div>\s*</div>', page, re.DOTALL)
    assert complaints and re.search(r'tile-value">2<', complaints.group(1))
    assert "所辖网点：RMR" in page
    assert staff_client("manager").get("/dashboard?period=2026-13").status_code == 400


def test_simulator_menu_and_branch_qr_reach_the_webhook(bank: Bank, staff_client: Any, warm_analyzer: Any) -> None:
    from models import Visit

    user = staff_client("agent")
    page = user.get("/simulator").get_data(as_text=True)
    assert 'data-value="MENU_MY_FEEDBACK"' in page  # the configured menu
    openid = "oSimMenu00000000000000000001"
    for action, value in (("subscribe", ""), ("menu", "MENU_MY_FEEDBACK"), ("scan", "RMR")):
        resp = user.client.post("/console/simulator/send", json={"openid": openid, "action": action, "value": value},
                                headers={"X-CSRF-Token": user.csrf})
        assert resp.status_code == 200 and resp.get_json()["status"] == 200, resp.get_data(as_text=True)
    with bank.runtime.sessions() as s:
        events = list(s.scalars(select(Message.content).where(Message.msg_type == "event")))
        assert any("MENU_MY_FEEDBACK" in e for e in events)
        assert s.scalars(select(Visit)).one().branch_id is not None
    bad = user.client.post("/console/simulator/send", json={"openid": "bad id!", "action": "text", "value": "x"},
                           headers={"X-CSRF-Token": user.csrf})
    assert bad.status_code == 400


def test_waiting_for_the_customer_pauses_the_deadline_until_they_write(bank: Bank, staff_client: Any,
                                                                       warm_analyzer: Any) -> None:
    """等待客户回复 stops the resolution clock; the customer's next WeChat message (through the real
    webhook) ends the wait, and the deadline moves on by exactly the time the clock was stopped."""
    openid = "oWaitingCustomer00000000000001"
    number = bank.ticket(openid=openid, created_at=bank.now - timedelta(hours=10))
    reply_due, due = bank.get(number).first_reply_due_at, bank.get(number).resolution_due_at
    user = staff_client("agent")
    assert "等待客户回复" in user.get(f"/tickets/{number}").get_data(as_text=True)
    assert user.post(f"/tickets/{number}/pending").status_code == 302
    waiting = bank.get(number)
    assert waiting.status == "pending" and waiting.sla_paused_at is not None
    page = user.get(f"/tickets/{number}").get_data(as_text=True)
    assert "期限计时已暂停" in page and "起暂停计时" in page and "恢复处理" in page
    queue = user.get("/queue").get_data(as_text=True)  # still listed, with its status instead of a countdown
    row = queue[queue.index(f'data-number="{number}"'):]
    assert 'class="badge sla-none">待客户回复<' in row[:row.index("</tr>")]

    before = bank.history()
    user.post(f"/tickets/{number}/pending")  # already waiting: refused, nothing written
    assert "只有待处理或处理中的工单可以设为等待客户回复" in user.get(f"/tickets/{number}").get_data(as_text=True)
    assert bank.history() == before

    resp = user.client.post("/console/simulator/send", json={"openid": openid, "action": "text",
                                                             "value": "我补充一下，是上周六下午的事"},
                            headers={"X-CSRF-Token": user.csrf})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    resumed = bank.get(number)
    with bank.runtime.sessions() as s:
        reopened_at = s.scalars(select(TicketEvent.created_at).where(
            TicketEvent.ticket_id == resumed.id, TicketEvent.kind == "status").order_by(TicketEvent.id.desc())).first()
    assert resumed.status == "open" and resumed.sla_paused_at is None
    paused_for = reopened_at - waiting.sla_paused_at
    assert resumed.resolution_due_at == due + paused_for and resumed.first_reply_due_at == reply_due + paused_for
    assert resumed.escalation_at == resumed.first_reply_due_at  # the reply is still owed, and due first
    assert {"ticket.pending"} <= {a for (a,) in _audit(bank)}


def test_resume_without_the_customer(bank: Bank, staff_client: Any) -> None:
    number = bank.ticket()
    user = staff_client("agent")
    user.get(f"/tickets/{number}")
    before = bank.history()
    user.post(f"/tickets/{number}/resume")  # not waiting: refused
    assert "只有等待客户回复的工单可以恢复处理" in user.get(f"/tickets/{number}").get_data(as_text=True)
    assert bank.history() == before
    user.post(f"/tickets/{number}/pending")
    user.post(f"/tickets/{number}/resume")
    ticket = bank.get(number)
    assert ticket.status == "open" and ticket.sla_paused_at is None and ticket.escalation_at is not None
    assert {"ticket.pending", "ticket.resume"} <= {a for (a,) in _audit(bank)}


def test_a_wait_older_than_the_answer_window_does_not_take_new_messages(bank: Bank, staff_client: Any,
                                                                          warm_analyzer: Any) -> None:
    openid = "oOldWaitCustomer00000000000001"
    number = bank.ticket(openid=openid, created_at=bank.now - timedelta(hours=2))  # outside the 30-minute follow-up
    user = staff_client("agent")
    user.get(f"/tickets/{number}")
    user.post(f"/tickets/{number}/pending")
    hours = bank.runtime.cfg.get("conversations.pending_answer_hours")
    with bank.session() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        ticket.sla_paused_at = bank.now - timedelta(hours=hours, minutes=1)
    resp = user.client.post("/console/simulator/send", json={"openid": openid, "action": "text",
                                                             "value": "人民路支行的ATM又吞卡了"},
                            headers={"X-CSRF-Token": user.csrf})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert bank.get(number).status == "pending"  # the old wait is not answered by it
    assert bank.count(Ticket) == 2  # the message is new feedback
    # The scheduler's sweep ends the expired wait; the team sees why on the ticket page.
    assert end_expired_waits(sessions=bank.runtime.sessions, cfg=bank.runtime.cfg, now=bank.now) == 1
    assert bank.get(number).status == "open"
    assert f"等待客户回复已超过 {hours} 小时，工单自动恢复处理" in user.get(f"/tickets/{number}").get_data(as_text=True)


@pytest.mark.parametrize(("proxies", "recorded"), [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_the_client_address_comes_from_the_proxy_only_when_it_is_trusted(
        bank: Bank, db_url: str, model_dir: Any, fake_wechat: Any, proxies: int, recorded: str) -> None:
    """Behind deploy/nginx (server.trusted_proxies = 1) the sign-in throttle and audit see the customer's
    address; without a trusted proxy a forged X-Forwarded-For is ignored."""
    from bot.app import create_app
    from tests.console.conftest import console_config

    app = create_app(console_config(db_url, model_dir, fake_wechat, **{"server.trusted_proxies": proxies}))
    user = StaffClient(app.test_client())
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    user.get("/login", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    user.post("/login", {"username": "agent", "password": "not the password"}, headers=headers,
              environ_base={"REMOTE_ADDR": "127.0.0.1"})
    with bank.runtime.sessions() as s:
        assert list(s.scalars(select(LoginAttempt.remote_addr))) == [recorded]


@pytest.mark.parametrize("value", ["-1", "two"])
def test_a_bad_trusted_proxies_value_is_refused_at_start(db_url: str, model_dir: Any, fake_wechat: Any,
                                                         value: str) -> None:
    from bot.app import create_app
    from core.config import ConfigError
    from tests.console.conftest import console_config

    with pytest.raises(ConfigError, match="QIANJIA_SERVER__TRUSTED_PROXIES"):
        create_app(console_config(db_url, model_dir, fake_wechat, **{"server.trusted_proxies": value}))
