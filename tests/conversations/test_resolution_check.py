"""After a ticket is resolved the customer is asked to score the handling; "not satisfied" reopens it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from models import SurveyResponse, Ticket, TicketStatus
from services.surveys import request_resolution_check
from services.tickets import transition
from tests.conversations.conftest import TEMPLATE_ID, Bank, ticket_number


def resolve(bank: Bank, number: str) -> SurveyResponse | None:
    """The console's resolve action: the transition, then the check, in one transaction."""

    def work(s):  # type: ignore[no-untyped-def]
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        if ticket.status != TicketStatus.RESOLVED.value:
            transition(s, ticket=ticket, to=TicketStatus.RESOLVED, now=bank.clock.now(), actor="agent")
        return request_resolution_check(s, runtime=bank.runtime, ticket=ticket, now=bank.clock.now())

    return bank.run(work)


def test_not_satisfied_reopens_the_ticket_with_a_new_deadline(bank: Bank) -> None:
    chat = bank.chat()
    number = ticket_number(chat.say("开发区支行的存折补登机坏了好几天了"))
    bank.later(hours=20)
    assert resolve(bank, number) is not None
    [question] = chat.inbox()
    assert number in question and "1-5" in question
    assert resolve(bank, number) is None  # one check per ticket
    assert len(chat.inbox()) == 1
    bank.later(hours=1)
    reply = chat.say("2")
    assert "重新打开" in reply and number in reply
    ticket = bank.ticket(number)
    assert ticket.status == TicketStatus.OPEN.value and ticket.reopen_count == 1
    assert ticket.first_reply_due_at == bank.clock.now() + timedelta(hours=24)
    with bank.db() as s:
        check = s.scalars(select(SurveyResponse)).one()
        assert (check.kind, check.overall, check.ticket_id) == ("resolution_check", 2, ticket.id)
    # The score is taken once: a later digit is an ordinary message again.
    assert "重新打开" not in chat.say("2")


def test_outside_the_48_hour_window_the_question_goes_as_a_template_and_a_good_score_keeps_it_resolved(
        bank: Bank) -> None:
    chat = bank.chat()
    number = ticket_number(chat.say("火车站自助银行的门禁刷卡进不去"))
    bank.later(days=3)
    resolve(bank, number)
    [template] = bank.fake.template_messages(chat.openid)
    assert template["template_id"] == TEMPLATE_ID and template["data"]["keyword1"]["value"] == number
    assert bank.fake.custom_messages(chat.openid) == []
    bank.later(hours=5)
    assert "感谢您的评价" in chat.say("5")
    assert bank.ticket(number).status == TicketStatus.RESOLVED.value
    assert bank.run(lambda s: s.scalar(select(func.count()).select_from(Ticket))) == 1
