"""Urgency rule tests."""

from __future__ import annotations

from nlp import DEFAULT_URGENCY_RULES, UrgencyRules, check_urgency


def test_default_reasons() -> None:
    cases = {
        "再不处理我就打12378投诉": ("regulator",),
        "我要去金融监管总局投诉你们": ("regulator",),
        "我要找记者曝光你们": ("media",),
        "已经请了律师准备起诉": ("legal",),
        "卡被盗刷了，我已经报警": ("police", "fraud"),
        "我接到电话被骗了三万": ("fraud",),
        "我妈是残疾人，坐轮椅进不去网点": ("vulnerable",),
    }
    for text, reasons in cases.items():
        result = check_urgency(text)
        assert result.urgent, text
        assert result.reasons == reasons, (text, result.reasons)


def test_not_urgent() -> None:
    result = check_urgency("排队等了半个小时，希望多开几个窗口")
    assert not result.urgent
    assert result.reasons == ()
    assert not check_urgency("").urgent


def test_traditional_and_fullwidth_keywords_match() -> None:
    assert check_urgency("我要向銀保監投訴").reasons == ("regulator",)
    assert check_urgency("打１２３７８").reasons == ("regulator",)


def test_caller_rules_override_defaults() -> None:
    rules = UrgencyRules({"media": [], "vip": ["私人银行客户"]})
    assert rules.match("我要找记者曝光").reasons == ()
    assert rules.match("我是私人银行客户").reasons == ("vip",)
    assert rules.match("我被骗了").reasons == ("fraud",)
    assert "regulator" in DEFAULT_URGENCY_RULES


def test_reason_order_follows_rules() -> None:
    result = check_urgency("老人被骗了，已经报警，还要找媒体曝光")
    assert result.reasons == tuple(r for r in DEFAULT_URGENCY_RULES if r in result.reasons)
    assert set(result.reasons) == {"media", "police", "fraud", "vulnerable"}
