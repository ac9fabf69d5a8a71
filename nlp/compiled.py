"""scikit-learn-free serving form of a fitted model: vocabularies, idf and linear head weights."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .text import normalize, tokenize_normalized

__all__ = [
    "Prediction", "CompiledModel", "char_wb_ngrams", "word_unigrams", "word_uni_bigrams", "clauses",
    "last_clause_chars", "first_clause_chars",
]

FALLBACK_TYPE = "inquiry"
FALLBACK_CATEGORY = "other"
STATE_VERSION = 1
_WHITE_SPACES = re.compile(r"\s\s+")
# Clause boundaries in normalised text (CJK punctuation is already folded to ASCII): commas, full stops,
# semicolons, colons, tildes and spaces; a clause keeps its closing ? or !.
_CLAUSE_SPLIT = re.compile(r"[,.;:~\s]+|(?<=[?!])")


@dataclass(frozen=True)
class Prediction:
    """Both head outputs for one message."""

    type: str
    type_confidence: float
    category: str
    category_confidence: float


def word_unigrams(normalized: str) -> list[str]:
    """Analyzer: jieba word tokens of normalised text."""
    return tokenize_normalized(normalized)


def word_uni_bigrams(normalized: str) -> list[str]:
    """Analyzer: jieba word tokens plus adjacent-token bigrams."""
    tokens = tokenize_normalized(normalized)
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


def char_wb_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    """Character n-grams inside space-padded words (identical to scikit-learn's 'char_wb' analyzer)."""
    text = _WHITE_SPACES.sub(" ", text)
    ngrams: list[str] = []
    append = ngrams.append
    for w in text.split():
        w = " " + w + " "
        w_len = len(w)
        for n in range(min_n, max_n + 1):
            offset = 0
            append(w[offset : offset + n])
            while offset + n < w_len:
                offset += 1
                append(w[offset : offset + n])
            if offset == 0:  # a short word is counted once
                break
    return ngrams


def clauses(normalized: str) -> list[str]:
    """Split normalised text into its non-empty clauses."""
    return [p for p in _CLAUSE_SPLIT.split(normalized) if p.strip()]


def last_clause_chars(normalized: str) -> list[str]:
    """Analyzer: char 1-2-grams of the last clause, marked 'l|' (where a message usually lands its point)."""
    parts = clauses(normalized)
    return ["l|" + g for g in char_wb_ngrams(parts[-1], 1, 2)] if parts else []


def first_clause_chars(normalized: str) -> list[str]:
    """Analyzer: char 1-2-grams of the first clause, marked 'f|'."""
    parts = clauses(normalized)
    return ["f|" + g for g in char_wb_ngrams(parts[0], 1, 2)] if parts else []


_WORD_ANALYZERS: dict[str, Callable[[str], list[str]]] = {
    "word_unigrams": word_unigrams,
    "word_uni_bigrams": word_uni_bigrams,
    "last_clause_chars": last_clause_chars,
    "first_clause_chars": first_clause_chars,
}


class _Block:
    """One TF-IDF block of the feature union: analyzer, vocabulary, idf weights, column offset and weight."""

    def __init__(self, analyzer: str, ngram_range: tuple[int, int], vocabulary: Sequence[str], idf: np.ndarray,
                 sublinear: bool, offset: int, weight: float = 1.0) -> None:
        """Store the block settings and build the term -> column map."""
        if analyzer not in _WORD_ANALYZERS and analyzer != "char_wb":
            raise TypeError(f"unsupported analyzer {analyzer!r}")
        self.analyzer = analyzer
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.vocabulary = list(vocabulary)
        self.vocab = {term: j for j, term in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.sublinear = bool(sublinear)
        self.offset = int(offset)
        self.weight = float(weight)

    def terms(self, normalized: str) -> list[str]:
        """Return the analyzer output for normalised text."""
        if self.analyzer == "char_wb":
            return char_wb_ngrams(normalized, *self.ngram_range)
        return _WORD_ANALYZERS[self.analyzer](normalized)

    def row(self, normalized: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Return (global column indices, l2-normalised tf-idf values) or None when nothing is known."""
        counts: dict[int, int] = {}
        vocab = self.vocab
        for term in self.terms(normalized):
            j = vocab.get(term)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return None
        idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self.sublinear:
            tf = np.log(tf) + 1.0
        val = tf * self.idf[idx]
        norm2 = float(np.sqrt(val @ val))
        if norm2 > 0:
            val = val * (self.weight / norm2)
        return idx + self.offset, val

    def state(self) -> dict[str, Any]:
        """Return a plain-type state for pickling."""
        return {"analyzer": self.analyzer, "ngram_range": list(self.ngram_range), "vocabulary": self.vocabulary,
                "idf": self.idf, "sublinear": self.sublinear, "offset": self.offset, "weight": self.weight}


class _Head:
    """A linear head: softmax (LogisticRegression) or sigmoid-calibrated one-vs-rest scores."""

    def __init__(self, classes: Sequence[str], coef_t: np.ndarray, intercept: np.ndarray,
                 calibrators: Sequence[tuple[float, float]] | None) -> None:
        """Store class labels, (n_features, k) weights, intercepts and optional (a, b) sigmoid calibrators."""
        self.classes = np.asarray([str(c) for c in classes], dtype=object)
        self.coef_t = np.ascontiguousarray(np.asarray(coef_t, dtype=np.float64))
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.calibrators = None if calibrators is None else np.asarray(calibrators, dtype=np.float64)

    def proba(self, scores: np.ndarray) -> np.ndarray:
        """Turn (n, k) decision scores into (n, n_classes) probabilities like predict_proba."""
        if self.calibrators is not None:
            a, b = self.calibrators[:, 0], self.calibrators[:, 1]
            p = 1.0 / (1.0 + np.exp(scores * a + b))
            total = p.sum(axis=1, keepdims=True)
            uniform = np.full_like(p, 1.0 / p.shape[1])
            p = np.divide(p, total, out=uniform, where=total != 0)
            p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
            return p
        if scores.shape[1] == 1:  # binary LogisticRegression
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        shifted = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)

    def state(self) -> dict[str, Any]:
        """Return a plain-type state for pickling."""
        return {"classes": [str(c) for c in self.classes], "coef_t": self.coef_t, "intercept": self.intercept,
                "calibrators": None if self.calibrators is None else self.calibrators.tolist()}

    @classmethod
    def from_sklearn(cls, clf: Any) -> "_Head":
        """Extract weights from LogisticRegression or sigmoid CalibratedClassifierCV(ensemble=False)."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression

        classes = [str(c) for c in clf.classes_]
        if isinstance(clf, LogisticRegression):
            return cls(classes, np.asarray(clf.coef_).T, clf.intercept_, None)
        if (
            isinstance(clf, CalibratedClassifierCV)
            and clf.method == "sigmoid"
            and len(clf.calibrated_classifiers_) == 1
            and len(classes) > 2
        ):
            cal = clf.calibrated_classifiers_[0]
            est = cal.estimator
            if not hasattr(est, "coef_") or [str(c) for c in est.classes_] != classes:
                raise TypeError("unsupported calibrated estimator")
            calibrators = [(float(c.a_), float(c.b_)) for c in cal.calibrators]
            return cls(classes, np.asarray(est.coef_).T, est.intercept_, calibrators)
        raise TypeError(f"no compiled form for {type(clf).__name__}")


class CompiledModel:
    """Feature extraction and linear heads in plain numpy, equivalent to the fitted scikit-learn objects."""

    def __init__(self, blocks: Sequence[_Block], heads: Mapping[str, _Head]) -> None:
        """Store blocks (in feature-union order) and heads."""
        self.blocks = list(blocks)
        self.heads = dict(heads)
        self.n_features = sum(len(b.vocabulary) for b in self.blocks)

    @property
    def labels(self) -> dict[str, tuple[str, ...]]:
        """Return the label order of each head."""
        return {head: tuple(h.classes.tolist()) for head, h in self.heads.items()}

    @classmethod
    def from_sklearn(cls, features: Any, heads: Mapping[str, Any]) -> "CompiledModel":
        """Compile a fitted features pipeline (normalize -> FeatureUnion of TF-IDF) and heads."""
        steps = dict(features.named_steps)
        if getattr(steps["normalize"], "func", None) is None or steps["normalize"].func.__name__ != "normalize_many":
            raise TypeError("unexpected normalisation step")
        union = steps["union"]
        weights = dict(union.transformer_weights or {})
        blocks: list[_Block] = []
        offset = 0
        for block_name, vec in union.transformer_list:
            if vec.norm != "l2" or not vec.use_idf or vec.binary or vec.lowercase or vec.preprocessor is not None \
                    or vec.strip_accents or vec.stop_words is not None:
                raise TypeError("unsupported vectorizer settings")
            if callable(vec.analyzer):
                name = vec.analyzer.__name__
            elif vec.analyzer == "char_wb":
                name = "char_wb"
            else:
                raise TypeError(f"unsupported analyzer {vec.analyzer!r}")
            vocabulary = [""] * len(vec.vocabulary_)
            for term, j in vec.vocabulary_.items():
                vocabulary[j] = term
            blocks.append(_Block(name, vec.ngram_range, vocabulary, vec.idf_, vec.sublinear_tf, offset,
                                 weights.get(block_name, 1.0)))
            offset += len(vocabulary)
        return cls(blocks, {head: _Head.from_sklearn(clf) for head, clf in heads.items()})

    def state(self) -> dict[str, Any]:
        """Return a plain-type (numpy + builtins) state; unpickling it needs no scikit-learn."""
        return {"version": STATE_VERSION, "blocks": [b.state() for b in self.blocks],
                "heads": {head: h.state() for head, h in self.heads.items()}}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "CompiledModel":
        """Rebuild from state()."""
        if state.get("version") != STATE_VERSION:
            raise ValueError("compiled model state version mismatch")
        blocks = [_Block(b["analyzer"], tuple(b["ngram_range"]), b["vocabulary"], b["idf"], b["sublinear"],
                         b["offset"], b.get("weight", 1.0)) for b in state["blocks"]]
        heads = {head: _Head(h["classes"], h["coef_t"], h["intercept"], h["calibrators"])
                 for head, h in state["heads"].items()}
        return cls(blocks, heads)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (column indices, values) of the feature row of one raw text."""
        norm = normalize(text)
        parts = [r for r in (b.row(norm) for b in self.blocks) if r is not None]
        if not parts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _decide(self, probs: Mapping[str, np.ndarray], empty: Sequence[bool]) -> list[Prediction]:
        """Pick argmax labels/confidences per head; rows without any known feature fall back."""
        best = {head: p.argmax(axis=1) for head, p in probs.items()}
        out: list[Prediction] = []
        for i, is_empty in enumerate(empty):
            if is_empty:
                out.append(Prediction(FALLBACK_TYPE, 0.0, FALLBACK_CATEGORY, 0.0))
                continue
            t, c = int(best["type"][i]), int(best["category"][i])
            out.append(Prediction(str(self.heads["type"].classes[t]), float(probs["type"][i, t]),
                                  str(self.heads["category"].classes[c]), float(probs["category"][i, c])))
        return out

    def predict_one(self, text: str) -> Prediction:
        """Classify one raw text."""
        idx, vals = self.row(text)
        if idx.size == 0:
            return Prediction(FALLBACK_TYPE, 0.0, FALLBACK_CATEGORY, 0.0)
        probs = {head: h.proba((vals @ h.coef_t[idx] + h.intercept)[None, :]) for head, h in self.heads.items()}
        return self._decide(probs, [False])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """Classify raw texts with one sparse matrix product per head."""
        if not texts:
            return []
        from scipy import sparse

        indptr = [0]
        indices: list[np.ndarray] = []
        data: list[np.ndarray] = []
        for text in texts:
            idx, vals = self.row(text)
            indices.append(idx)
            data.append(vals)
            indptr.append(indptr[-1] + idx.size)
        x = sparse.csr_matrix(
            (np.concatenate(data), np.concatenate(indices), np.asarray(indptr)),
            shape=(len(texts), self.n_features),
        )
        probs = {head: h.proba(np.asarray(x @ h.coef_t) + h.intercept) for head, h in self.heads.items()}
        empty = [indptr[i + 1] == indptr[i] for i in range(len(texts))]
        return self._decide(probs, empty)
