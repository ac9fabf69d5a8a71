"""Every menu action also works by typing its words; 网点查询 lists and searches branches."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Message, Ticket
from tests.conversations.conftest import Bank


@pytest.mark.parametrize("key,words", [
    ("MENU_COMPLAINT", "我要投诉"),
    ("MENU_SUGGESTION", "我要建议"),
    ("MENU_SURVEY", "满意度调查"),
    ("MENU_MY_FEEDBACK", "我的反馈"),
    ("MENU_IMPROVEMENTS", "服务改进公告"),
    ("MENU_BRANCHES", "网点查询"),
])
def test_typing_the_words_is_the_same_as_tapping(bank: Bank, key: str, words: str) -> None:
    tapped, typed = bank.chat().tap(key), bank.chat().say(words)
    assert tapped and tapped == typed
    assert bank.run(lambda s: s.scalar(select(func.count()).select_from(Ticket))) == 0


def test_branch_list_and_search(bank: Bank) -> None:
    chat = bank.chat()
    listing = chat.tap("MENU_BRANCHES")
    assert "千佳银行人民路支行营业部（营业部）" in listing and "人民路88号" in listing
    assert "滨湖路66号" in listing
    found = chat.say("网点 解放")
    assert "解放路201号" in found and "人民路88号" not in found
    assert "没有找到" in chat.say("网点 银河")


def test_two_menu_taps_within_one_second_are_two_events(bank: Bank) -> None:
    user = bank.chat().user
    first = user.send_event("CLICK", "MENU_BRANCHES", create_time=1764468000)
    second = user.send_event("CLICK", "MENU_MY_FEEDBACK", create_time=1764468000)
    retry = user.send_event("CLICK", "MENU_MY_FEEDBACK", create_time=1764468000)
    assert "千佳银行网点" in first.text and "还没有反馈记录" in second.text
    assert retry.text == second.text
    events = bank.run(lambda s: s.scalar(select(func.count()).select_from(Message).where(Message.msg_type == "event")))
    assert events == 2  # the retry was answered from the dedup record
