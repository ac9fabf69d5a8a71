"""我的反馈: a customer sees their own tickets (number, status, category, time, the team's latest reply),
and never anyone else's."""

from __future__ import annotations

from sqlalchemy import select

from models import Customer, Ticket
from services.outbound import send_to_customer
from services.tickets import add_event
from tests.conversations.conftest import Bank, ticket_number


def staff_reply(bank: Bank, number: str, text: str) -> None:
    """What the console's reply action records: the message sent, and a `reply` event pointing at it."""

    def reply(s):  # type: ignore[no-untyped-def]
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        customer = s.get(Customer, ticket.customer_id)
        delivery = send_to_customer(s, messenger=bank.runtime.wechat_api, cfg=bank.cfg, customer=customer,
                                    text=text, now=bank.clock.now(), tz=bank.runtime.tz, ticket=ticket)
        add_event(s, ticket=ticket, kind="reply", now=bank.clock.now(), actor="agent",
                  data={"status": delivery.status, "message_id": delivery.message_id})

    bank.run(reply)


def test_two_customers_never_see_each_others_tickets(bank: Bank) -> None:
    alice, bob = bank.chat(), bank.chat()
    mine = ticket_number(alice.say("城东营业部排队太久了，等了一个半小时"))
    theirs = ticket_number(bob.say("解放路支行柜员说话很冲，问两句就不耐烦"))
    bank.later(minutes=5)
    staff_reply(bank, mine, "您好，我们已安排城东营业部在高峰期增开窗口，感谢您的反馈。")

    listing = alice.tap("MENU_MY_FEEDBACK")
    assert mine in listing and theirs not in listing
    assert "已受理" in listing and "排队等候" in listing and "2026-11-30 10:00" in listing
    assert "增开窗口" in listing
    assert listing == alice.say("我的反馈")

    refused = alice.say(f"查询 {theirs}")
    assert "未找到" in refused and "柜员" not in refused and "解放路" not in refused
    detail = alice.say(f"查询{mine.lower()}")
    assert mine in detail and "一个半小时" in detail and "增开窗口" in detail
    assert "未找到" in bob.say(mine)
    bob_listing = bob.tap("MENU_MY_FEEDBACK")
    assert theirs in bob_listing and mine not in bob_listing and "暂无" in bob_listing
    assert "不耐烦" in bob.say(f"查询 {theirs}")


def test_a_customer_without_feedback_is_told_how_to_give_some(bank: Bank) -> None:
    assert "还没有反馈记录" in bank.chat().tap("MENU_MY_FEEDBACK")
