"""PII redaction tests, including hypothesis property-based tests."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from nlp import find_pii, redact
from nlp.pii import id_check_char, luhn_valid, valid_resident_id

CJK = st.text(alphabet="我的卡号是请帮查一下谢谢转账金额元身份证手机邮箱，。：", min_size=1, max_size=12)
DIGITS = "0123456789"


def luhn_complete(prefix: str) -> str:
    """Append the Luhn check digit to a digit prefix."""
    for d in DIGITS:
        if luhn_valid(prefix + d):
            return prefix + d
    raise AssertionError("unreachable")


@st.composite
def cards(draw: st.DrawFn) -> str:
    """Luhn-valid 16-19 digit card numbers starting with a typical IIN."""
    length = draw(st.integers(16, 19))
    iin = draw(st.sampled_from(["6222", "6217", "6228", "4367", "5218", "6259", "6212"]))
    body = draw(st.text(alphabet=DIGITS, min_size=length - 5, max_size=length - 5))
    return luhn_complete(iin + body)


@st.composite
def spaced(draw: st.DrawFn, digits: str) -> str:
    """Render digits in groups of four separated by spaces or dashes."""
    sep = draw(st.sampled_from([" ", "-", ""]))
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    """Valid GB 11643 resident ID numbers (region, birth date, check character)."""
    region = draw(st.sampled_from(["110101", "310104", "440305", "510107", "330106", "370202", "650102"]))
    birth = draw(st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2010, 12, 31)))
    seq = draw(st.text(alphabet=DIGITS, min_size=3, max_size=3))
    first17 = f"{region}{birth:%Y%m%d}{seq}"
    return first17 + id_check_char(first17)


@st.composite
def mobiles(draw: st.DrawFn) -> tuple[str, str]:
    """(rendered mobile number, its 11 plain digits) with optional +86/86 prefix and separators."""
    digits = "1" + draw(st.sampled_from("3456789")) + draw(st.text(alphabet=DIGITS, min_size=9, max_size=9))
    style = draw(st.sampled_from(["plain", "space", "dash"]))
    body = {"plain": digits, "space": f"{digits[:3]} {digits[3:7]} {digits[7:]}",
            "dash": f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"}[style]
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "86", "86 ", "+86-"]))
    if prefix == "86" and style != "plain":
        prefix = "86 "
    return prefix + body, digits


def test_examples() -> None:
    assert redact("卡号6222021234567890128丢了") == "卡号6222 **** **** 0128丢了"
    assert redact("身份证110101199003071233") == "身份证110101********1233"
    assert redact("手机13800138000") == "手机138****8000"
    assert redact("+86 138-0013-8000") == "138****8000"
    assert redact("邮箱zhangsan@example.com谢谢") == "邮箱z***@example.com谢谢"
    assert redact("") == ""


def test_non_pii_untouched() -> None:
    text = "工单QJ261128-000123，金额1234.56元，日期2026-03-05，编号1234567890123456，验证码123456"
    assert not luhn_valid("1234567890123456")
    assert redact(text) == text
    assert find_pii(text) == []


def test_id_validation() -> None:
    assert valid_resident_id("110101199003071233")
    assert not valid_resident_id("110101199003071234")  # wrong check digit
    assert not valid_resident_id("110101199013071231")  # month 13
    first17 = "11010130000101123"  # birth year 3000 is implausible
    assert not valid_resident_id(first17 + id_check_char(first17))


@given(prefix=CJK, suffix=CJK, card=cards(), data=st.data())
@settings(max_examples=200, deadline=None)
def test_cards_masked(prefix: str, suffix: str, card: str, data: st.DataObject) -> None:
    rendered = data.draw(spaced(card))
    out = redact(prefix + rendered + suffix)
    assert rendered not in out
    assert card not in out.replace(" ", "").replace("-", "")
    assert f"{card[:4]} **** **** {card[-4:]}" in out
    assert out.startswith(prefix) and out.endswith(suffix)


@given(prefix=CJK, suffix=CJK, rid=resident_ids(), lower_x=st.booleans())
@settings(max_examples=200, deadline=None)
def test_resident_ids_masked(prefix: str, suffix: str, rid: str, lower_x: bool) -> None:
    rendered = rid.lower() if lower_x else rid
    out = redact(prefix + rendered + suffix)
    assert rendered not in out
    assert rid[6:14] not in out  # the birth date is gone
    assert f"{rid[:6]}********{rid[-4:]}" in out


@given(prefix=CJK, suffix=CJK, mobile=mobiles())
@settings(max_examples=200, deadline=None)
def test_mobiles_masked(prefix: str, suffix: str, mobile: tuple[str, str]) -> None:
    rendered, digits = mobile
    out = redact(prefix + rendered + suffix)
    assert digits not in out.replace(" ", "").replace("-", "")
    assert f"{digits[:3]}****{digits[-4:]}" in out


@given(
    local=st.from_regex(r"[a-z][a-z0-9._]{0,10}", fullmatch=True),
    domain=st.sampled_from(["example.com", "qq.com", "163.com", "bank.com.cn"]),
    prefix=CJK,
    suffix=CJK,
)
@settings(max_examples=100, deadline=None)
def test_emails_masked(local: str, domain: str, prefix: str, suffix: str) -> None:
    out = redact(f"{prefix}{local}@{domain}{suffix}")
    assert f"{local}@" not in out or len(local) == 1 and False
    assert f"{local[0]}***@{domain}" in out


@given(prefix=CJK, card=cards(), rid=resident_ids(), mobile=mobiles())
@settings(max_examples=100, deadline=None)
def test_all_kinds_in_one_message(prefix: str, card: str, rid: str, mobile: tuple[str, str]) -> None:
    text = f"{prefix}卡号{card}，身份证{rid}，电话{mobile[0]}"
    out = redact(text)
    kinds = sorted(span.kind for span in find_pii(text))
    assert kinds == ["card", "mobile", "resident_id"]
    for secret in (card, rid, mobile[1]):
        assert secret not in out


@st.composite
def non_pii_runs(draw: st.DrawFn) -> str:
    """Digit runs that must stay intact: amounts, dates, 16-digit non-Luhn numbers, ticket numbers."""
    kind = draw(st.sampled_from(["amount", "date", "non_luhn16", "ticket", "short"]))
    if kind == "amount":
        return f"{draw(st.integers(0, 10**7))}.{draw(st.integers(0, 99)):02d}"
    if kind == "date":
        d = draw(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)))
        return d.strftime(draw(st.sampled_from(["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d"])))
    if kind == "non_luhn16":
        body = draw(st.text(alphabet=DIGITS, min_size=15, max_size=15))
        for d in DIGITS:
            if not luhn_valid(body + d):
                return body + d
    if kind == "ticket":
        return f"QJ{draw(st.integers(0, 999999)):06d}-{draw(st.integers(0, 999999)):06d}"
    return str(draw(st.integers(0, 10**9)))


@given(prefix=CJK, suffix=CJK, run=non_pii_runs())
@settings(max_examples=300, deadline=None)
def test_non_pii_digit_runs_untouched(prefix: str, suffix: str, run: str) -> None:
    text = prefix + run + suffix
    assert redact(text) == text


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_redact_never_raises(text: str) -> None:
    out = redact(text)
    assert isinstance(out, str)
    assert redact(out) == out  # idempotent: masks contain no PII
