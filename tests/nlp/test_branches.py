"""Branch detection and suggestion tests."""

from __future__ import annotations

from nlp import BranchRef, detect_branch, suggest_branches


def test_exact_name_and_alias(branches: list[BranchRef]) -> None:
    assert detect_branch("千佳银行人民路支行的柜员很好", branches) == "B001"
    assert detect_branch("人民路排队太久", branches) == "B001"
    assert detect_branch("科技园网点的叫号机坏了", branches) == "B005"
    assert detect_branch("千佳銀行解放路支行", branches) == "B002"


def test_fuzzy_short_forms(branches: list[BranchRef]) -> None:
    assert detect_branch("人民路那个网点态度很差", branches) == "B001"
    assert detect_branch("我在人民路支行办的卡", branches) == "B001"
    assert detect_branch("解放路那个网点空调坏了", branches) == "B002"
    assert detect_branch("解放路支行", branches) == "B002"
    assert detect_branch("人民广场那家排队太久", branches) == "B003"
    assert detect_branch("东门那个网点", branches) == "B004"
    assert detect_branch("解放支行的大堂经理", branches) == "B002"


def test_no_branch(branches: list[BranchRef]) -> None:
    assert detect_branch("今天天气不错", branches) is None
    assert detect_branch("去银行办事排队太久", branches) is None
    assert detect_branch("东门口吃饭", branches) is None
    assert detect_branch("", branches) is None
    assert detect_branch("人民路支行", []) is None


def test_longest_match_wins(branches: list[BranchRef]) -> None:
    assert detect_branch("人民广场营业部", branches) == "B003"


def test_suggest_branches(branches: list[BranchRef]) -> None:
    assert [b.code for b in suggest_branches("解放", branches)] == ["B002"]
    assert suggest_branches("人民", branches)[0].code in {"B001", "B003"}
    assert {b.code for b in suggest_branches("人民", branches, limit=2)} == {"B001", "B003"}
    assert suggest_branches("人民路支行", branches, limit=1)[0].code == "B001"
    assert suggest_branches("高新区", branches)[0].code == "B005"
    assert len(suggest_branches("人民", branches, limit=1)) == 1
    assert suggest_branches("", branches) == []
    assert suggest_branches("完全无关的内容xyz", branches) == []
