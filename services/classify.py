"""Classify a customer's text with the NLP library, in the terms the ticket needs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.metrics import CLASSIFICATION_DURATION
from models import Branch
from services.runtime import Runtime
from services.tickets import Classification


def branch_refs(session: Session) -> list:
    """Active branches as the NLP library's BranchRef values."""
    from nlp import BranchRef

    rows = session.execute(select(Branch.code, Branch.name, Branch.aliases).where(Branch.active.is_(True))).all()
    return [BranchRef(code=code, name=name, aliases=tuple(aliases or ())) for code, name, aliases in rows]


@CLASSIFICATION_DURATION.time()
def classify(session: Session, *, runtime: Runtime, text: str) -> Classification:
    """Redact, classify, detect urgency and branch; the result carries only redacted text."""
    analysis = runtime.analyzer.analyze(text, branch_refs(session))
    return Classification(
        text=analysis.text,
        type=analysis.type,
        type_confidence=analysis.type_confidence,
        category=analysis.category,
        category_confidence=analysis.category_confidence,
        priority=analysis.priority,
        urgent_reasons=tuple(analysis.urgent_reasons),
        team=analysis.team,
        needs_triage=analysis.needs_triage,
        branch_code=analysis.branch,
    )
