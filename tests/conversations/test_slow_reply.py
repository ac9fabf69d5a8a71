"""When the reply would be late (the classifier is still loading), the ticket is stored, WeChat gets
`success`, and the answer follows as a customer-service message. Retries change nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.pipeline import wait_for_followups
from models import InboundDedup, Ticket
from tests.conversations.conftest import Bank, ticket_number


def test_slow_reply_is_stored_first_and_followed_up(make_bank) -> None:  # type: ignore[no-untyped-def]
    # A fresh runtime has not loaded its classifier; a zero budget means it is never waited for.
    bank: Bank = make_bank(**{"conversations.passive_reply_budget_seconds": 0})
    chat = bank.chat()
    first = chat.user.send_text("城东营业部的ATM吞了我的卡，急用钱", msg_id="5550001")
    assert first.status == 200 and first.body == "success"
    with bank.db() as s:
        ticket = s.scalars(select(Ticket)).one()  # stored before WeChat was answered
        assert ticket.number and ticket.branch is not None and ticket.branch.code == "CDB"
    retry = chat.user.send_text("城东营业部的ATM吞了我的卡，急用钱", msg_id="5550001")
    assert retry.body == "success"
    assert wait_for_followups(timeout=60)
    [follow_up] = chat.inbox()
    assert ticket_number(follow_up) == ticket.number and "24小时" in follow_up
    classified = bank.ticket(ticket.number)
    assert classified.type is not None and classified.category is not None
    with bank.db() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
        assert s.scalar(select(func.count()).select_from(InboundDedup)) == 1
    # The classifier is loaded now: the next message is answered in the passive reply.
    assert ticket_number(bank.chat().say("解放路支行的大堂经理很热情，点赞"))
