"""What customers wrote: top keywords per category (jieba + TF-IDF) and representative verbatims."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Ticket
from services.kpi import COMPLAINT, Scope, ticket_conditions


@dataclass(frozen=True)
class CategoryText:
    category: str | None
    texts: int  # texts analysed (at most the sample size, the latest first)
    keywords: list[tuple[str, float]]  # (word, TF-IDF weight), best first
    verbatims: list[str]  # PII-masked quotes, most typical first


def _keep(token: str) -> bool:
    # Single characters and anything with digits or masking stars say little across a quarter.
    return len(token) >= 2 and not any(ch.isdigit() or ch == "*" for ch in token)


def category_texts(session: Session, *, scope: Scope, sample: int) -> dict[str | None, list[str]]:
    """The latest complaint texts per category (at most `sample` each), newest first."""
    rn = func.row_number().over(partition_by=Ticket.category, order_by=(Ticket.created_at.desc(), Ticket.id.desc()))
    inner = select(Ticket.category.label("category"), Ticket.text.label("text"), rn.label("rn")).where(
        *ticket_conditions(scope), Ticket.type == COMPLAINT, Ticket.text != "").subquery()
    rows = session.execute(select(inner.c.category, inner.c.text).where(inner.c.rn <= sample)
                           .order_by(inner.c.category, inner.c.rn)).all()
    out: dict[str | None, list[str]] = {}
    for category, text in rows:
        out.setdefault(category, []).append(text)
    return out


def analyse_categories(session: Session, *, scope: Scope, top: int = 8, sample: int = 2000,
                       verbatims: int = 2) -> list[CategoryText]:
    """Keywords by TF-IDF over jieba tokens (nlp.tokenize, with the bank's user dictionary) and, as
    verbatims, the texts closest to their category's keyword profile."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from nlp import redact, tokenize

    texts = category_texts(session, scope=scope, sample=sample)
    if not texts:
        return []
    cats = list(texts)
    tokens = {cat: [[t for t in tokenize(x) if _keep(t)] for x in texts[cat]] for cat in cats}
    # One document per category: a word every category uses (银行, 工作人员) weighs little.
    vec = TfidfVectorizer(analyzer=lambda doc: doc, sublinear_tf=True)
    try:
        matrix = vec.fit_transform([[t for doc in tokens[cat] for t in doc] for cat in cats]).tocsr()
    except ValueError:  # no word left at all (texts of digits and punctuation only)
        return [CategoryText(cat, len(texts[cat]), [], []) for cat in cats]
    vocab = vec.get_feature_names_out()
    result = []
    for i, cat in enumerate(cats):
        row = matrix.getrow(i)
        weights = {str(vocab[j]): float(v) for j, v in zip(row.indices, row.data, strict=True)}
        best = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        scored = []
        for text, doc in zip(texts[cat], tokens[cat], strict=True):
            if not doc or not 8 <= len(text) <= 160:
                continue
            score = sum(weights.get(t, 0.0) for t in set(doc)) / math.sqrt(len(set(doc)))
            scored.append((score, text))
        scored.sort(key=lambda st: -st[0])
        quotes: list[str] = []
        for _, text in scored:
            quote = redact(text).strip()  # stored redacted already; masked again in case the rules grew
            if quote not in quotes:
                quotes.append(quote)
            if len(quotes) >= verbatims:
                break
        result.append(CategoryText(cat, len(texts[cat]), [(w, round(v, 4)) for w, v in best], quotes))
    result.sort(key=lambda c: (-c.texts, str(c.category)))
    return result
