"""The console in a real browser: an agent signs in, takes a ticket from the queue, replies (the
reply reaches the fake WeChat server), resolves; a manager cannot open another branch's ticket by
URL; a POST without the CSRF token is refused; the simulator talks to the real webhook."""

from __future__ import annotations

import re
from typing import Any

from tests.console.conftest import PASSWORD, Bank
from tests.e2e.conftest import screenshot


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/queue.*"))


def test_agent_takes_replies_and_resolves(page: Any, live_console: Any, bank: Bank, fake_wechat: Any) -> None:
    openid = "oBrowserCustomer0000000000001"
    number = bank.ticket(openid=openid, text="人民路支行只开了一个窗口，排队一个多小时")
    bank.ticket(branch="CDB", text="城东营业部的叫号机坏了")
    base = live_console.url
    sign_in(page, base, "agent")

    row = page.locator(f'tr[data-number="{number}"]')
    assert row.is_visible()
    assert "人民路支行只开了一个窗口" in row.inner_text()
    screenshot(page, "queue")

    row.get_by_role("button", name="领取").click()
    page.wait_for_url(f"{base}/console/tickets/{number}")
    assert "已领取工单" in page.content()
    assert "Agent" in page.locator("#assignee").inner_text()

    page.select_option("#canned", label="致歉并跟进")
    assert "非常抱歉" in page.input_value("#reply-text")
    page.fill("#reply-text", "您好，网点已增开窗口，给您带来不便非常抱歉。")
    page.get_by_role("button", name="发送回复").click()
    page.wait_for_load_state()
    assert "回复结果：已通过客服消息送达" in page.locator(".flash-ok").inner_text()
    sent = fake_wechat.custom_messages(openid)
    assert [m["text"]["content"] for m in sent] == ["您好，网点已增开窗口，给您带来不便非常抱歉。"]
    assert "网点已增开窗口" in page.locator("#timeline").inner_text()
    assert page.locator("#ticket-status").inner_text() == "处理中"
    screenshot(page, "ticket")

    page.click("#resolve")
    page.wait_for_load_state()
    assert page.locator("#ticket-status").inner_text() == "已解决"
    assert bank.get(number).status == "resolved"

    page.goto(f"{base}/console/dashboard")
    assert page.locator("#open-count").inner_text() == "1"  # the CDB ticket (branch_ops) is still open
    screenshot(page, "dashboard")


def test_manager_cannot_open_another_branchs_ticket_by_url(page: Any, live_console: Any, bank: Bank) -> None:
    theirs = bank.ticket(branch="CDB", text="城东营业部柜员态度差")
    mine = bank.ticket(branch="RMR", team="card_center", text="人民路支行补卡太慢")
    base = live_console.url
    sign_in(page, base, "manager")
    assert page.locator(f'tr[data-number="{mine}"]').is_visible()
    assert page.locator(f'tr[data-number="{theirs}"]').count() == 0
    response = page.goto(f"{base}/console/tickets/{theirs}")
    assert response.status == 404
    assert "找不到工单" in page.content() and "城东营业部柜员态度差" not in page.content()
    page.goto(f"{base}/console/queue?q={theirs}")  # searching its number does not reveal it either
    assert page.locator(f'tr[data-number="{theirs}"]').count() == 0
    assert "没有符合条件的工单" in page.content()


def test_post_without_csrf_token_is_refused(page: Any, live_console: Any, bank: Bank) -> None:
    number = bank.ticket()
    base = live_console.url
    sign_in(page, base, "agent")
    before = bank.history()
    # The browser's own cookies, but no token: what a forged cross-site form would send at best.
    response = page.request.post(f"{base}/console/tickets/{number}/resolve", form={"x": "1"})
    assert response.status == 400 and "CSRF" in response.text()
    response = page.request.post(f"{base}/console/tickets/{number}/note",
                                 form={"text": "伪造", "csrf_token": "not-the-token"})
    assert response.status == 400
    assert bank.history() == before and bank.get(number).status == "new"


def test_simulator_chat_reaches_the_webhook_and_shows_staff_replies(page: Any, live_console: Any, bank: Bank,
                                                                   fake_wechat: Any) -> None:
    base = live_console.url
    sign_in(page, base, "agent")
    openid = "oSimBrowser000000000000000001"
    page.goto(f"{base}/console/simulator?openid={openid}")
    page.fill("#sim-text", "人民路支行的大堂经理态度很差，爱理不理")
    page.click("#sim-form button[type=submit]")
    bank_bubble = page.locator(".bubble.bank", has_text="工单号")
    bank_bubble.wait_for()
    number = re.search(r"QJ\d{6}-\d{6}", bank_bubble.inner_text()).group(0)
    screenshot(page, "simulator")
    # The staff reply arrives in the simulated phone as a customer-service message.
    from services import ticket_actions as actions

    with bank.session() as s:
        actions.reply(s, runtime=bank.runtime, staff=bank.staff(s, "admin"), number=number,
                      text="您好，我们已联系网点核实。", now=bank.runtime.clock.now())
    page.locator(".bubble.bank", has_text="您好，我们已联系网点核实。").wait_for()
    assert fake_wechat.custom_messages(openid)
