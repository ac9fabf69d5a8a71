"""Every menu action also works by typing its words; 网点查询 lists and searches branches."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Ticket
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
