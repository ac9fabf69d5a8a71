"""Staff corrections of the classifier, as training examples for the NLP library."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Ticket


def training_examples(session: Session) -> list[tuple[str, str, str]]:
    """(redacted text, type, corrected category) for every stored correction, oldest first."""
    from models.staff import CategoryCorrection

    rows = session.execute(
        select(CategoryCorrection.text, Ticket.type, CategoryCorrection.new_category)
        .join(Ticket, Ticket.id == CategoryCorrection.ticket_id)
        .order_by(CategoryCorrection.id)
    ).all()
    return [(text, kind or "complaint", category) for text, kind, category in rows if text]
