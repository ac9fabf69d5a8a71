"""Branch mention detection: exact name/alias match plus fuzzy short forms, and suggestions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Sequence

from .text import normalize

__all__ = ["BranchRef", "detect_branch", "suggest_branches", "branch_core"]


@dataclass(frozen=True)
class BranchRef:
    """A branch the bot knows about: code, official name and extra aliases."""

    code: str
    name: str
    aliases: tuple[str, ...] = ()


# Bank-name prefixes and branch-type suffixes stripped to get the short "core" ("人民路").
_PREFIXES = ("千佳银行股份有限公司", "千佳银行", "千佳", "银行")
_SUFFIXES = (
    "营业部", "分理处", "营业厅", "营业所", "储蓄所", "支行", "分行", "网点", "社区银行", "银行", "分部", "行",
)
# Words that, right after a short form, mark it as a branch mention ("人民路那个网点", "人民路这家").
_MARKERS = (
    "支行", "分行", "网点", "营业部", "营业厅", "分理处", "储蓄所", "那个网点", "那家", "这家", "那个行",
    "那边", "那里", "那儿", "这边", "的银行", "银行", "店",
)
_MARKER_RE = re.compile("|".join(re.escape(m) for m in sorted(_MARKERS, key=len, reverse=True)))
_SPACE_RE = re.compile(r"\s+")
_MIN_FUZZY = 0.8
_MAX_MARKER_GAP = 4


def _norm(text: str) -> str:
    """Normalise text for matching and drop all spaces."""
    return _SPACE_RE.sub("", normalize(text))


def branch_core(name: str) -> str:
    """Strip bank prefix and branch-type suffix from a branch name ("千佳银行人民路支行" -> "人民路")."""
    core = _norm(name)
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if core.startswith(prefix) and len(core) > len(prefix):
                core = core[len(prefix) :]
                changed = True
        for suffix in _SUFFIXES:
            if core.endswith(suffix) and len(core) > len(suffix):
                core = core[: -len(suffix)]
                changed = True
    return core


def _keys(branch: BranchRef) -> tuple[list[str], list[str]]:
    """Return (exact keys: name+aliases, short cores) for a branch, normalised, longest first."""
    exact = {k for k in (_norm(branch.name), *(_norm(a) for a in branch.aliases)) if k}
    cores = {c for c in (branch_core(k) for k in exact) if c and c not in exact}
    return sorted(exact, key=len, reverse=True), sorted(cores, key=len, reverse=True)


def _core_followed_by_marker(text: str, core: str) -> bool:
    """Return True if core occurs in text with a branch marker within a few characters after it."""
    start = text.find(core)
    while start >= 0:
        tail = text[start + len(core) : start + len(core) + _MAX_MARKER_GAP + 4]
        m = _MARKER_RE.search(tail)
        if m is not None and m.start() <= _MAX_MARKER_GAP:
            return True
        start = text.find(core, start + 1)
    return False


def _mentions(text: str) -> list[str]:
    """Return candidate short-form mentions: 2-8 chars right before each branch marker."""
    out: list[str] = []
    for m in _MARKER_RE.finditer(text):
        head = text[max(0, m.start() - 8) : m.start()]
        for size in range(2, len(head) + 1):
            out.append(head[-size:])
    return out


def _best(scores: dict[str, float]) -> str | None:
    """Return the unique top-scoring code, or None on an empty dict or a tie."""
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def detect_branch(text: str, branches: Sequence[BranchRef]) -> str | None:
    """Return the code of the branch mentioned in text (exact, short form or close fuzzy form), else None."""
    if not text or not branches:
        return None
    norm = _norm(text)
    if not norm:
        return None
    exact: dict[str, float] = {}
    short: dict[str, float] = {}
    fuzzy: dict[str, float] = {}
    mentions: list[str] | None = None
    for branch in branches:
        keys, cores = _keys(branch)
        for key in keys:
            if key in norm:
                exact[branch.code] = max(exact.get(branch.code, 0.0), float(len(key)))
        if branch.code in exact:
            continue
        for core in cores:
            if len(core) >= 2 and _core_followed_by_marker(norm, core):
                short[branch.code] = max(short.get(branch.code, 0.0), float(len(core)))
        if branch.code in short:
            continue
        if mentions is None:
            mentions = _mentions(norm)
        for core in cores + keys:
            if len(core) < 2:
                continue
            for mention in mentions:
                ratio = SequenceMatcher(None, mention, core, autojunk=False).ratio()
                if ratio >= _MIN_FUZZY:
                    fuzzy[branch.code] = max(fuzzy.get(branch.code, 0.0), ratio)
    for scores in (exact, short, fuzzy):
        if scores:
            return _best(scores)
    return None


def _similarity(query: str, key: str) -> float:
    """Score how well a query matches a branch key: containment beats partial character overlap."""
    if not query or not key:
        return 0.0
    if key in query:
        return 1.0 + len(key) / 100.0
    if query in key:
        return 0.9 + len(query) / (100.0 * len(key))
    matcher = SequenceMatcher(None, query, key, autojunk=False)
    block = max((b.size for b in matcher.get_matching_blocks()), default=0)
    # Best of overall ratio and share of the key covered by its longest common run.
    return max(matcher.ratio(), block / len(key) * 0.85 if block >= 2 else 0.0)


def suggest_branches(query: str, branches: Sequence[BranchRef], limit: int = 3) -> list[BranchRef]:
    """Return up to `limit` branches nearest to the query, best first (for "did you mean ...")."""
    if limit <= 0 or not branches:
        return []
    norm = _norm(query or "")
    if not norm:
        return []
    stripped = branch_core(norm) or norm
    scored: list[tuple[float, int, BranchRef]] = []
    for index, branch in enumerate(branches):
        keys, cores = _keys(branch)
        score = max(
            (max(_similarity(norm, k), _similarity(stripped, k)) for k in keys + cores),
            default=0.0,
        )
        if score >= 0.4:
            scored.append((score, index, branch))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [branch for _, _, branch in scored[:limit]]
