"""High-level message analysis: redaction, classification, urgency, branch and routing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .branches import BranchRef, detect_branch
from .model import MAX_CLASSIFY_CHARS, Model, Prediction
from .pii import redact
from .text import normalize
from .urgency import UrgencyRules

__all__ = ["Analysis", "Analyzer"]


@dataclass(frozen=True)
class Analysis:
    """Everything the bot needs to store and route one feedback message."""

    text: str  # redacted, as stored
    type: str
    type_confidence: float
    category: str
    category_confidence: float
    confidence: float  # min of the two
    urgent: bool
    urgent_reasons: tuple[str, ...]
    priority: str  # "urgent" | "normal"
    branch: str | None  # branch code detected in the text
    team: str | None  # from category_teams mapping; None when needs_triage
    needs_triage: bool  # confidence below threshold


class Analyzer:
    """Analyse messages with a loaded Model and caller-supplied routing/urgency settings."""

    def __init__(
        self,
        model: Model,
        *,
        category_teams: Mapping[str, str],
        triage_threshold: float = 0.5,
        urgency_rules: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Keep the model, copy the routing map and compile the urgency rules once."""
        self.model = model
        self.category_teams: dict[str, str] = dict(category_teams)
        self.triage_threshold = float(triage_threshold)
        self.urgency = UrgencyRules(urgency_rules)

    def _build(self, redacted: str, normalized: str, pred: Prediction, branches: Sequence[BranchRef]) -> Analysis:
        """Combine a prediction with rule-based urgency, branch and routing for one redacted text."""
        urgency = self.urgency.match_normalized(normalized)
        confidence = min(pred.type_confidence, pred.category_confidence)
        needs_triage = confidence < self.triage_threshold
        team = None if needs_triage else self.category_teams.get(pred.category)
        try:
            branch = detect_branch(redacted, branches) if branches else None
        except Exception:  # noqa: BLE001 - a bad branch entry must not lose the message
            branch = None
        return Analysis(
            text=redacted,
            type=pred.type,
            type_confidence=round(pred.type_confidence, 4),
            category=pred.category,
            category_confidence=round(pred.category_confidence, 4),
            confidence=round(confidence, 4),
            urgent=urgency.urgent,
            urgent_reasons=urgency.reasons,
            priority="urgent" if urgency.urgent else "normal",
            branch=branch,
            team=team,
            needs_triage=needs_triage,
        )

    def analyze(self, text: str, branches: Sequence[BranchRef] = ()) -> Analysis:
        """Analyse one message (the returned text is redacted; the original is not kept)."""
        return self.analyze_many([text], branches)[0]

    def analyze_many(self, texts: Sequence[str], branches: Sequence[BranchRef] = ()) -> list[Analysis]:
        """Analyse many messages with one batched model prediction."""
        redacted = [redact(t if isinstance(t, str) else "" if t is None else str(t)) for t in texts]
        normalized = [normalize(r) for r in redacted]  # once, for the model and the rules
        for_model = [n if len(r) <= MAX_CLASSIFY_CHARS else normalize(r[:MAX_CLASSIFY_CHARS])
                     for r, n in zip(redacted, normalized)]
        preds = self.model.predict_normalized(for_model)
        return [self._build(r, n, p, branches) for r, n, p in zip(redacted, normalized, preds)]
