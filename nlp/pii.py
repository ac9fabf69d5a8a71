"""PII detection and redaction: bank cards, resident IDs, mainland mobiles, e-mail addresses."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Literal

from .text import to_halfwidth

__all__ = [
    "PiiKind",
    "PiiSpan",
    "find_pii",
    "redact",
    "luhn_valid",
    "id_check_char",
    "valid_resident_id",
]

PiiKind = Literal["card", "resident_id", "mobile", "email"]

# GB 11643-1999 weights and check characters (ISO 7064 MOD 11-2).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of mainland/HK/MO/TW administrative division codes.
_ID_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
)

# A run of digit groups separated by at most three spaces/dashes, optionally ending in X (resident IDs).
# Not preceded by a digit (a run starts at its first digit); an optional "+" is looked at separately.
_RUN_RE = re.compile(r"(?<![0-9])[0-9]+(?:[ \-]{1,3}[0-9]+)*[Xx]?(?![0-9])")
_GROUP_RE = re.compile(r"[0-9]+")
_CANDIDATE_WIDTHS = frozenset({11, 13, 16, 17, 18, 19})  # mobile, 86+mobile, cards, ID (17 digits + X)
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z])"
)


@dataclass(frozen=True)
class PiiSpan:
    """One detected PII occurrence: [start, end) offsets in the original text and its kind."""

    start: int
    end: int
    kind: PiiKind
    replacement: str


def luhn_valid(digits: str) -> bool:
    """Return True if the digit string passes the Luhn checksum."""
    if not digits or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def id_check_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits of a resident ID."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def valid_resident_id(value: str, *, today: _dt.date | None = None) -> bool:
    """Return True for an 18-char resident ID with valid region, birth date and check character."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    if value[17] not in "0123456789Xx":
        return False
    if int(value[:2]) not in _ID_PROVINCES:
        return False
    try:
        birth = _dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    today = today or _dt.date.today()
    if birth.year < 1900 or birth > today:
        return False
    return id_check_char(value[:17]) == value[17].upper()


def _mask_card(digits: str) -> str:
    """Mask a card number keeping the first and last four digits."""
    return f"{digits[:4]} **** **** {digits[-4:]}"


def _mask_id(value: str) -> str:
    """Mask a resident ID keeping the first six and last four characters."""
    return f"{value[:6]}{'*' * 8}{value[-4:].upper()}"


def _mask_mobile(digits: str) -> str:
    """Mask an 11-digit mobile number keeping the first three and last four digits."""
    return f"{digits[:3]}****{digits[-4:]}"


def _mask_email(value: str) -> str:
    """Mask an e-mail address keeping the first character of the local part and the domain."""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def _is_mobile(digits: str) -> bool:
    """Return True for an 11-digit mainland mobile number (1[3-9]x)."""
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"


def _classify_window(digits: str, has_x: bool, sizes: tuple[int, ...]) -> tuple[PiiKind, str] | None:
    """Classify a digit window (group sizes given) as resident ID, card or mobile, returning kind and mask."""
    single = len(sizes) == 1
    if len(digits) == 18 and (single or min(sizes) >= 3) and valid_resident_id(digits):
        return "resident_id", _mask_id(digits)
    if has_x:
        return None
    # Spaced/dashed cards are written in groups of 3-6 digits (4-4-4-4, 4-4-4-4-3, 6-6-6 ...).
    grouped = min(sizes[:-1], default=0) >= 3 and max(sizes) <= 6  # the last group may be short
    if 16 <= len(digits) <= 19 and (single or grouped) and luhn_valid(digits):
        return "card", _mask_card(digits)
    if _is_mobile(digits) and (single or min(sizes) >= 3):
        return "mobile", _mask_mobile(digits)
    if (
        len(digits) == 13
        and digits.startswith("86")
        and _is_mobile(digits[2:])
        and (single or min(sizes[1:]) >= 3)
    ):
        return "mobile", _mask_mobile(digits[2:])
    return None


def _scan_run(view: str, start: int, end: int) -> list[PiiSpan]:
    """Find PII windows made of whole digit groups inside one digit run, greedy left to right."""
    run = view[start:end]
    trailing_x = run[-1] in "Xx"
    groups = [(m.start() + start, m.end() + start) for m in _GROUP_RE.finditer(run)]
    spans: list[PiiSpan] = []
    n = len(groups)
    i = 0
    while i < n:
        found = None
        total = 0
        ends: list[int] = []
        for j in range(i, n):
            total += groups[j][1] - groups[j][0]
            if total > 19:
                break
            ends.append(j)
        for j in reversed(ends):  # longest window first
            width = sum(b - a for a, b in groups[i : j + 1])
            if width not in _CANDIDATE_WIDTHS:
                continue
            digits = "".join(view[a:b] for a, b in groups[i : j + 1])
            sizes = tuple(b - a for a, b in groups[i : j + 1])
            with_x = trailing_x and j == n - 1
            kind_mask = None
            if with_x and len(digits) == 17:
                kind_mask = _classify_window(digits + view[end - 1], True, sizes)
                span_end = end
            if kind_mask is None:
                kind_mask = _classify_window(digits, False, sizes)
                span_end = groups[j][1]
            if kind_mask is not None:
                span_start = groups[i][0]
                if kind_mask[0] == "mobile" and span_start > 0 and view[span_start - 1] == "+":
                    span_start -= 1
                found = (PiiSpan(span_start, span_end, kind_mask[0], kind_mask[1]), j)
                break
        if found is None:
            i += 1
            continue
        spans.append(found[0])
        i = found[1] + 1
    return spans


def find_pii(text: str) -> list[PiiSpan]:
    """Return non-overlapping PII spans in text (offsets into the original string), in order."""
    if not text:
        return []
    view = to_halfwidth(text)  # 1:1 length, so offsets are valid in the original text
    spans: list[PiiSpan] = []
    taken: list[tuple[int, int]] = []
    for m in _EMAIL_RE.finditer(view):
        spans.append(PiiSpan(m.start(), m.end(), "email", _mask_email(m.group())))
        taken.append((m.start(), m.end()))
    for m in _RUN_RE.finditer(view):
        if any(a < m.end() and m.start() < b for a, b in taken):
            continue
        spans.extend(_scan_run(view, m.start(), m.end()))
    spans.sort(key=lambda s: s.start)
    return spans


def redact(text: str) -> str:
    """Return text with bank cards, resident IDs, mobiles and e-mails masked; everything else intact."""
    if not text:
        return "" if text is None else text
    if not isinstance(text, str):
        text = str(text)
    spans = find_pii(text)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for span in spans:
        out.append(text[pos : span.start])
        out.append(span.replacement)
        pos = span.end
    out.append(text[pos:])
    return "".join(out)
