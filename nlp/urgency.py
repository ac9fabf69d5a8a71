"""Keyword-based urgency rules: reason code -> keyword list, matched on normalised text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from .text import normalize

__all__ = ["DEFAULT_URGENCY_RULES", "UrgencyResult", "UrgencyRules", "check_urgency"]

DEFAULT_URGENCY_RULES: Mapping[str, tuple[str, ...]] = {
    "regulator": (
        "银保监", "银监会", "银监局", "投诉到银监", "12378", "金融监管总局", "国家金融监督管理总局",
        "监管局", "监管部门", "人民银行投诉", "人行投诉", "12363", "金融消费者权益保护",
    ),
    "media": (
        "媒体", "曝光", "记者", "微博", "抖音曝光", "发抖音", "上热搜", "发朋友圈曝光", "电视台",
        "报社", "黑猫投诉", "小红书曝光", "网上曝光",
    ),
    "legal": ("律师", "起诉", "法院", "诉讼", "打官司", "仲裁", "律师函", "法律途径", "告你们"),
    "police": ("报警", "公安", "警察", "派出所", "110报案", "立案"),
    "fraud": (
        "诈骗", "盗刷", "被骗", "骗子", "冒充", "钓鱼网站", "资金被转走", "钱被转走", "不是我本人操作",
        "不是我操作", "账户被盗", "被盗", "异常扣款", "莫名其妙扣",
    ),
    "vulnerable": (
        "老人", "老年人", "老大爷", "老太太", "老奶奶", "老爷爷", "残疾", "残障", "轮椅", "盲人",
        "聋哑", "孕妇", "怀孕", "病人", "生病", "住院", "重病", "癌症", "手术", "抱着孩子", "婴儿",
    ),
    "distress": ("不想活", "活不下去", "跳楼", "自杀", "寻死", "同归于尽"),
}


@dataclass(frozen=True)
class UrgencyResult:
    """Outcome of the urgency rules: flag plus the matched reason codes in rule order."""

    urgent: bool
    reasons: tuple[str, ...]


class UrgencyRules:
    """Compiled urgency rules; build once, call match() per message."""

    def __init__(self, rules: Mapping[str, Sequence[str]] | None = None) -> None:
        """Compile DEFAULT_URGENCY_RULES overridden per reason by `rules` (an empty list disables a reason)."""
        source: dict[str, Sequence[str]] = dict(DEFAULT_URGENCY_RULES)
        if rules is not None:
            source.update(rules)
        self.rules: dict[str, tuple[str, ...]] = {}
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for reason, keywords in source.items():
            if isinstance(keywords, str):
                keywords = (keywords,)
            words = tuple(dict.fromkeys(w for w in (normalize(str(k)) for k in keywords) if w))
            self.rules[str(reason)] = words
            if words:
                alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
                self._patterns.append((str(reason), re.compile(alternation)))

    def match_normalized(self, normalized_text: str) -> UrgencyResult:
        """Match already-normalised text against the rules."""
        if not normalized_text:
            return UrgencyResult(False, ())
        reasons = tuple(reason for reason, pattern in self._patterns if pattern.search(normalized_text))
        return UrgencyResult(bool(reasons), reasons)

    def match(self, text: str) -> UrgencyResult:
        """Normalise text and match it against the rules."""
        return self.match_normalized(normalize(text))


def check_urgency(text: str, rules: Mapping[str, Sequence[str]] | None = None) -> UrgencyResult:
    """One-shot urgency check (compiles the rules each call; prefer UrgencyRules for repeated use)."""
    return UrgencyRules(rules).match(text)
