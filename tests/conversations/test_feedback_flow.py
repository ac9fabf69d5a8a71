"""Complaints and suggestions as the customer types them: branch by check-in, by name, or by asking."""

from __future__ import annotations

from sqlalchemy import func, select

from models import Branch, Message, Ticket, TicketStatus, Visit
from tests.conversations.conftest import Bank, ticket_number


def count_tickets(bank: Bank) -> int:
    return bank.run(lambda s: s.scalar(select(func.count()).select_from(Ticket)) or 0)


def test_checkin_then_complaint_from_the_menu_is_filed_under_that_branch(bank: Bank) -> None:
    chat = bank.chat()
    assert "欢迎光临千佳银行人民路支行营业部" in chat.scan("RMR")
    assert "请直接描述您遇到的问题" in chat.tap("MENU_COMPLAINT")
    reply = chat.say("柜台只开了一个窗口，我等了一个多小时才办完")
    number = ticket_number(reply)
    assert "哪个网点" not in reply
    ticket = bank.ticket(number)
    with bank.db() as s:
        visit = s.scalars(select(Visit)).one()
        assert (visit.branch_id, visit.source, visit.visited_at) == (ticket.branch_id, "scan", bank.clock.now())
    assert ticket.type == "complaint" and ticket.branch_id == visit.branch_id
    # The flow is over: the next message is a follow-up, not another question.
    assert "补充" in chat.say("而且叫号机也坏了") and count_tickets(bank) == 1


def test_punctuation_alone_files_nothing_and_asks_for_the_problem(bank: Bank) -> None:
    chat = bank.chat()
    for text in ("？？？", "。。。", "!!", "……～～"):
        assert "请直接输入文字描述您遇到的问题" in chat.say(text), text
    assert "请直接描述您遇到的问题" in chat.tap("MENU_COMPLAINT")
    assert "请直接输入文字描述您遇到的问题" in chat.say("。。")
    assert count_tickets(bank) == 0
    with bank.db() as s:  # logged all the same: nothing the customer sent is lost
        assert s.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) == 6
    # The complaint flow is still waiting for the problem; a real one files as usual.
    number = ticket_number(chat.say("柜台只开了一个窗口，我等了一个多小时才办完"))
    assert bank.ticket(number).type == "complaint"
    assert number in chat.say("跳过")  # the branch question
    # Once a ticket is open, "？？？" is the customer asking about it: it joins the ticket.
    assert "补充" in chat.say("？？？") and count_tickets(bank) == 1
    with bank.db() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.content == "？？？",
                                                                        Message.ticket_id.is_not(None))) == 1


def test_a_complaint_naming_a_branch_needs_no_question(bank: Bank) -> None:
    chat = bank.chat()
    reply = chat.say("城东营业部的大堂经理态度很差，问什么都不耐烦")
    ticket = bank.ticket(ticket_number(reply))
    assert "哪个网点" not in reply
    with bank.db() as s:
        assert s.scalar(select(Ticket.branch_id)) == ticket.branch_id
        assert ticket.branch_id is not None
        assert s.scalars(select(Branch.code).where(Branch.id == ticket.branch_id)).one() == "CDB"


def test_unknown_branch_is_asked_with_nearest_matches_and_answered(bank: Bank) -> None:
    chat = bank.chat()
    reply = chat.say("办个挂失要跑三趟，手续太繁琐了")
    number = ticket_number(reply)
    assert "哪个网点" in reply
    assert bank.ticket(number).branch_id is None  # stored before asking
    # A name the bot cannot place is asked again; nothing changes.
    assert "没有找到" in chat.say("银河分行")
    assert bank.ticket(number).branch_id is None
    # A partial name gets the nearest matches, numbered; the customer picks one.
    options = chat.say("解放")
    assert "1. 千佳银行解放路支行营业部" in options
    assert "已记录为千佳银行解放路支行营业部" in chat.say("1")
    with bank.db() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.branch is not None and ticket.branch.code == "JFL"
        # Every answer is part of the ticket's conversation.
        inbound = s.scalars(select(Message.ticket_id).where(Message.direction == "in")).all()
        assert set(inbound) == {ticket.id} and len(inbound) == 4


def test_the_customer_may_skip_the_branch_question(bank: Bank) -> None:
    chat = bank.chat()
    number = ticket_number(chat.say("你们的短信通知费怎么又扣了，我没开通过"))
    assert number in chat.say("跳过")
    assert bank.ticket(number).branch_id is None
    assert "补充" in chat.say("上个月也扣了两块钱")  # no flow left: a follow-up


def test_follow_ups_join_the_open_ticket_until_the_window_closes(bank: Bank) -> None:
    chat = bank.chat()
    number = ticket_number(chat.say("人民路支行的ATM吞卡了，到现在还没退给我"))
    bank.later(minutes=10)
    assert number in chat.say("卡号尾号是1234，麻烦尽快处理")
    bank.later(minutes=25)
    assert number in chat.say("已经过去半个小时了还是没人联系我")
    with bank.db() as s:
        ticket = s.scalars(select(Ticket)).one()
        texts = s.scalars(select(Message.content).where(Message.ticket_id == ticket.id,
                                                        Message.direction == "in").order_by(Message.id)).all()
        assert len(texts) == 3 and "1234" in texts[1]
    # After the window (30 minutes of silence) a message is a new ticket.
    bank.later(minutes=31)
    assert ticket_number(chat.say("另外手机银行转账一直提示系统繁忙")) != number
    assert count_tickets(bank) == 2


def test_follow_up_on_a_ticket_waiting_for_the_customer_reopens_work(bank: Bank) -> None:
    from services.tickets import transition

    chat = bank.chat()
    number = ticket_number(chat.say("开发区支行的理财经理推销保险，说是存款"))

    def wait_for_customer(s):  # type: ignore[no-untyped-def]
        ticket = s.scalars(select(Ticket).where(Ticket.number == number)).one()
        transition(s, ticket=ticket, to=TicketStatus.PENDING, now=bank.clock.now(), actor="agent")

    bank.run(wait_for_customer)
    chat.say("合同我拍照了，产品名称是某某人寿")
    assert bank.ticket(number).status == TicketStatus.OPEN.value


def test_media_attach_to_the_open_ticket_or_start_one(bank: Bank) -> None:
    chat = bank.chat()
    # A voice message with WeChat's transcription is just words.
    number = ticket_number(chat.send("voice", MediaId="m-voice-1", Format="amr",
                                     Recognition="滨湖路支行的自助存取款机吐不出钱"))
    assert bank.ticket(number).branch_id is not None
    assert number in chat.send("image", PicUrl="http://img.example/1.jpg", MediaId="m-image-1")
    with bank.db() as s:
        image = s.scalars(select(Message).where(Message.msg_type == "image")).one()
        assert image.media_id == "m-image-1" and image.ticket_id is not None

    # A picture from a customer with nothing open starts a ticket, and the words that follow classify it.
    other = bank.chat()
    reply = other.send("image", PicUrl="http://img.example/2.jpg", MediaId="m-image-2")
    picture_ticket = ticket_number(reply)
    assert "文字" in reply
    assert bank.ticket(picture_ticket).type is None
    assert picture_ticket in other.say("火车站自助服务区地上很脏，垃圾桶都满了")
    described = bank.ticket(picture_ticket)
    assert described.type is not None and described.category is not None and described.branch_id is not None


def test_suggestion_from_the_menu_is_typed_as_a_suggestion(bank: Bank) -> None:
    chat = bank.chat()
    assert "建议" in chat.say("我要建议")
    number = ticket_number(chat.say("解放路支行能不能周末也开放对公业务"))
    assert bank.ticket(number).type == "suggestion"


def test_cancel_leaves_the_flow_and_changes_nothing(bank: Bank) -> None:
    chat = bank.chat()
    chat.tap("MENU_COMPLAINT")
    assert "已退出反馈登记" in chat.say("取消")
    assert "没有进行中的操作" in chat.say("取消")
    assert count_tickets(bank) == 0


def test_unknown_qr_scene_records_no_visit(bank: Bank) -> None:
    chat = bank.chat()
    assert "未能识别该网点二维码" in chat.scan("NOPE")
    assert bank.run(lambda s: s.scalar(select(func.count()).select_from(Visit))) == 0
