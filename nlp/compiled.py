"""scikit-learn-free serving form of a fitted model: vocabularies, idf and linear head weights."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .text import normalize, tokenize_normalized

__all__ = [
    "Prediction", "CompiledModel", "char_wb_ngrams", "word_unigrams", "word_uni_bigrams", "clauses",
    "last_clause_chars", "first_clause_chars", "has_content",
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


def has_content(text: str) -> bool:
    """Whether a text says anything to classify: a letter, digit or CJK character, or an emoji.

    Punctuation, other symbols, spaces and control characters alone ("！！！？？？", "……", "¥¥") fit no category,
    so they get the fallback answer like an empty text, even though their characters are known features.
    """
    return any(ch.isalnum() or unicodedata.category(ch) == "So" for ch in text)


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
    extend = ngrams.extend
    for w in text.split():
        w = " " + w + " "
        w_len = len(w)
        for n in range(min_n, max_n + 1):
            if n >= w_len:  # the whole padded word; a short word is counted once
                append(w)
                break
            if n == 1:
                extend(w)
            else:
                extend([w[i : i + n] for i in range(w_len - n + 1)])
    return ngrams


def clauses(normalized: str) -> list[str]:
    """Split normalised text into its non-empty clauses."""
    return [p for p in _CLAUSE_SPLIT.split(normalized) if p.strip()]


def last_clause_chars(normalized: str) -> list[str]:
    """Analyzer: char 1-2-grams of the last clause (where a message usually lands its point).

    The terms need no marker: every block has a vocabulary (and columns) of its own.
    """
    parts = clauses(normalized)
    return char_wb_ngrams(parts[-1], 1, 2) if parts else []


def first_clause_chars(normalized: str) -> list[str]:
    """Analyzer: char 1-2-grams of the first clause."""
    parts = clauses(normalized)
    return char_wb_ngrams(parts[0], 1, 2) if parts else []


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

    def collect(self, normalized: str, cols: list[int], counts: list[int]) -> int:
        """Append the block-local columns and term counts of the known terms of normalised text; return how many.

        Counter(map(...)) looks up and counts in C; the caller adds the block's column offset for the whole batch.
        """
        found = Counter(map(self.vocab.get, self.terms(normalized)))
        found.pop(None, None)
        cols.extend(found)
        counts.extend(found.values())
        return len(found)

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
        # Per-column idf and per-block settings, so that a whole batch is weighted in a few numpy calls.
        self._idf = np.concatenate([b.idf for b in self.blocks]) if self.blocks else np.empty(0)
        self._block_weight = np.array([b.weight for b in self.blocks], dtype=np.float64)
        self._block_sublinear = np.array([b.sublinear for b in self.blocks], dtype=bool)
        self._block_offset = np.array([b.offset for b in self.blocks], dtype=np.int64)

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

    def _features(self, texts: Sequence[str], normalized: bool = False) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Return (columns, tf-idf values, row pointers) of raw texts, like the fitted FeatureUnion.

        Columns within a row come in block order but not sorted; scipy's CSR product does not need them sorted.

        Python only counts known terms; the weighting (sublinear tf, idf, per-block l2 norm and block weight)
        is done for the whole batch at once. normalized=True: the texts already went through normalize().
        """
        cols: list[int] = []
        counts: list[int] = []
        seg_sizes: list[int] = []  # known terms per (text, block), in order
        indptr = [0]
        for text in texts:
            norm = text if normalized else normalize(text)
            for block in self.blocks:
                seg_sizes.append(block.collect(norm, cols, counts))
            indptr.append(len(cols))
        tf = np.array(counts, dtype=np.float64)
        n_seg = len(seg_sizes)
        seg = np.repeat(np.arange(n_seg), seg_sizes)
        block_of_seg = np.arange(n_seg) % max(len(self.blocks), 1)
        col = np.array(cols, dtype=np.int64) + self._block_offset[block_of_seg][seg]
        if self._block_sublinear.any():
            tf = np.where(self._block_sublinear[block_of_seg][seg], np.log(tf) + 1.0, tf)
        val = tf * self._idf[col]
        norms = np.sqrt(np.bincount(seg, weights=val * val, minlength=n_seg))
        scale = np.divide(self._block_weight[block_of_seg], norms, out=np.zeros(n_seg), where=norms > 0)
        return col, val * scale[seg], indptr

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
        if not has_content(text):
            return Prediction(FALLBACK_TYPE, 0.0, FALLBACK_CATEGORY, 0.0)
        idx, vals, _ = self._features([text])
        if idx.size == 0:
            return Prediction(FALLBACK_TYPE, 0.0, FALLBACK_CATEGORY, 0.0)
        probs = {head: h.proba((vals @ h.coef_t[idx] + h.intercept)[None, :]) for head, h in self.heads.items()}
        return self._decide(probs, [False])[0]

    def predict_many(self, texts: Sequence[str], *, normalized: bool = False) -> list[Prediction]:
        """Classify raw (or, with normalized=True, already normalised) texts with one matrix product per head."""
        if not texts:
            return []
        from scipy import sparse

        col, val, indptr = self._features(texts, normalized)
        x = sparse.csr_matrix((val, col, np.asarray(indptr)), shape=(len(texts), self.n_features))
        probs = {head: h.proba(np.asarray(x @ h.coef_t) + h.intercept) for head, h in self.heads.items()}
        empty = [indptr[i + 1] == indptr[i] or not has_content(texts[i]) for i in range(len(texts))]
        return self._decide(probs, empty)
