"""Qianjia Feedback NLP: pure library for normalisation, redaction, classification and routing hints."""

from __future__ import annotations

from .analyzer import Analysis, Analyzer
from .branches import BranchRef, detect_branch, suggest_branches
from .compiled import has_content
from .corpus import DEFAULT_CORPUS_DIR, Corpus, Example, load_corpus, near_duplicates
from .model import (
    DEFAULT_CONFIG,
    ClassScore,
    EvalReport,
    HeadReport,
    Model,
    ModelConfig,
    Prediction,
    cross_validate,
    evaluate,
    load_model,
    load_or_train,
    save_model,
    train,
)
from .pii import PiiSpan, find_pii, redact
from .text import normalize, tokenize
from .urgency import DEFAULT_URGENCY_RULES, UrgencyResult, UrgencyRules, check_urgency

__all__ = [
    "Analysis",
    "Analyzer",
    "BranchRef",
    "ClassScore",
    "Corpus",
    "DEFAULT_CONFIG",
    "DEFAULT_CORPUS_DIR",
    "DEFAULT_URGENCY_RULES",
    "EvalReport",
    "Example",
    "HeadReport",
    "Model",
    "ModelConfig",
    "PiiSpan",
    "Prediction",
    "UrgencyResult",
    "UrgencyRules",
    "check_urgency",
    "cross_validate",
    "detect_branch",
    "evaluate",
    "find_pii",
    "has_content",
    "load_corpus",
    "load_model",
    "load_or_train",
    "near_duplicates",
    "normalize",
    "redact",
    "save_model",
    "suggest_branches",
    "tokenize",
    "train",
]
