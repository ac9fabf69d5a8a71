"""Following and unfollowing: welcome, check-in by QR code on subscribe, silence after unfollowing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from models import ConversationState, Customer, Message, Ticket, Visit
from scheduler.survey_jobs import checkin_surveys, invite_survey_rounds
from services.surveys import launch_survey_round, request_resolution_check
from services.tickets import transition
from tests.conversations.conftest import START, Bank, ticket_number


def test_subscribe_welcomes_and_a_qr_subscribe_checks_in(bank: Bank) -> None:
    plain = bank.chat()
    welcome = plain.follow()
    assert "欢迎关注千佳银行" in welcome and "我要投诉" in welcome and "网点查询" in welcome
    scanned = bank.chat()
    reply = scanned.follow(scene="BHL")
    assert "欢迎关注千佳银行" in reply and "欢迎光临千佳银行滨湖路支行营业部" in reply
    with bank.db() as s:
        visit = s.scalars(select(Visit)).one()
        customer = s.scalars(select(Customer).where(Customer.openid == scanned.openid)).one()
        assert visit.source == "subscribe" and visit.customer_id == customer.id
        assert customer.branch_id == visit.branch_id and customer.subscribed and customer.subscribed_at == START


def test_unsubscribe_stops_notices_and_surveys_but_keeps_the_data(bank: Bank) -> None:
    from models import TicketStatus

    chat = bank.chat()
    chat.scan("RMR")
    number = ticket_number(chat.say("人民路支行的叫号机坏了一上午也没人修"))
    chat.tap("MENU_SURVEY")
    chat.unfollow()
    with bank.db() as s:
        customer = s.scalars(select(Customer).where(Customer.openid == chat.openid)).one()
        assert (customer.subscribed, customer.unsubscribed_at) == (False, START)
        assert s.scalar(select(func.count()).select_from(ConversationState)) == 0
        # Their feedback stays, for the team and the statistics.
        assert s.scalars(select(Ticket.number)).all() == [number]
        assert s.scalar(select(func.count()).select_from(Message).where(Message.customer_id == customer.id,
                                                                        Message.direction == "in")) == 4
    bank.run(lambda s: launch_survey_round(s, name="季度调查", branch_codes=[], audience="both", starts_at=START,
                                           ends_at=START + timedelta(days=30), created_by="tester", now=START))
    bank.later(hours=2)
    assert invite_survey_rounds(bank.runtime, bank.clock.now())["sent"] == 0
    assert checkin_surveys(bank.runtime, bank.clock.now())["sent"] == 0

    def resolve(s):  # type: ignore[no-untyped-def]
        ticket = s.scalars(select(Ticket)).one()
        transition(s, ticket=ticket, to=TicketStatus.RESOLVED, now=bank.clock.now(), actor="agent")
        return request_resolution_check(s, runtime=bank.runtime, ticket=ticket, now=bank.clock.now())

    assert bank.run(resolve) is None
    assert chat.inbox() == [] and bank.fake.received("/cgi-bin/message/custom/send") == []
