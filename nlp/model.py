"""Two-head (type, category) text classifier: training, evaluation, persistence and caching."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import pickle
import platform
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .compiled import (
    FALLBACK_CATEGORY,
    FALLBACK_TYPE,
    CompiledModel,
    Prediction,
    first_clause_chars,
    has_content,
    last_clause_chars,
    word_uni_bigrams,
    word_unigrams,
)
from .corpus import CATEGORIES, TYPES, Corpus, Example, corpus_hash, is_heldout, load_corpus
from .pii import redact
from .text import normalize, normalize_many, warm_up

__all__ = [
    "HEADS",
    "CANDIDATES",
    "FALLBACK_TYPE",
    "FALLBACK_CATEGORY",
    "ModelConfig",
    "DEFAULT_CONFIG",
    "Prediction",
    "Model",
    "ClassScore",
    "HeadReport",
    "EvalReport",
    "train",
    "evaluate",
    "cross_validate",
    "save_model",
    "load_model",
    "load_or_train",
    "library_versions",
]

HEADS: tuple[str, ...] = ("type", "category")
CANDIDATES: tuple[str, ...] = ("logreg", "linear_svc_calibrated", "sgd_calibrated", "complement_nb_calibrated")
FORMAT_VERSION = 5  # 3: word uni+bigrams; 4: first/last-clause char blocks; 5: jieba without HMM
MAX_CLASSIFY_CHARS = 4000
RANDOM_STATE = 20240601
MODEL_FILE = "model.joblib"  # scikit-learn objects (loaded lazily, only for pipeline()/research)
COMPILED_FILE = "compiled.pkl"  # numpy/builtins only: what serving loads
META_FILE = "metadata.json"


@dataclass(frozen=True)
class ModelConfig:
    """Feature and classifier settings; part of the artefact hash so a change retrains."""

    # Chosen by 5-fold CV on the training part only (bench/nlp/cv_search.py; table in data/README.md).
    type_classifier: str = "linear_svc_calibrated"
    category_classifier: str = "linear_svc_calibrated"
    C: float = 10.0  # LogisticRegression C; LinearSVC uses C / 20
    class_weight: str | None = "balanced"
    char_ngram_min: int = 1
    char_ngram_max: int = 2
    word_bigrams: bool = True  # adjacent jieba-token pairs: CV +0.005 type, +0.007 category (4 fold seeds)
    # Char 1-2-grams of the first and the last clause as blocks of their own, scaled by clause_weight after
    # their l2 normalisation: CV +0.0067 type, +0.0012 category on fresh fold seeds (cv_search.py --round r6).
    clause_blocks: tuple[str, ...] = ("last", "first")
    clause_weight: float = 0.5
    min_df: int = 1

    def classifier_for(self, head: str) -> str:
        """Return the classifier name used for a head."""
        return self.type_classifier if head == "type" else self.category_classifier


DEFAULT_CONFIG = ModelConfig()


# --------------------------------------------------------------------------- features


def build_features(config: ModelConfig = DEFAULT_CONFIG):  # type: ignore[no-untyped-def]
    """Build the unfitted feature pipeline: normalise -> FeatureUnion(word, char and clause-char TF-IDF)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer

    words = TfidfVectorizer(
        analyzer=word_uni_bigrams if config.word_bigrams else word_unigrams,
        lowercase=False,
        sublinear_tf=True,
        min_df=config.min_df,
    )
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(config.char_ngram_min, config.char_ngram_max),
        lowercase=False,
        sublinear_tf=True,
        min_df=config.min_df,
    )
    blocks: list[tuple[str, Any]] = [("words", words), ("chars", chars)]
    weights: dict[str, float] = {}
    clause_analyzers = {"last": last_clause_chars, "first": first_clause_chars}
    for which in config.clause_blocks:
        name = f"{which}_clause"
        blocks.append((name, TfidfVectorizer(analyzer=clause_analyzers[which], lowercase=False, sublinear_tf=True,
                                             min_df=config.min_df)))
        weights[name] = config.clause_weight
    return Pipeline(
        [
            ("normalize", FunctionTransformer(normalize_many, validate=False)),
            ("union", FeatureUnion(blocks, transformer_weights=weights or None, n_jobs=None)),
        ]
    )


def build_classifier(name: str, config: ModelConfig = DEFAULT_CONFIG):  # type: ignore[no-untyped-def]
    """Build an unfitted linear classifier with probability outputs by candidate name."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.model_selection import StratifiedKFold
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
    if name == "logreg":
        return LogisticRegression(
            C=config.C, class_weight=config.class_weight, max_iter=3000, random_state=RANDOM_STATE
        )
    if name == "linear_svc_calibrated":
        base = LinearSVC(C=max(config.C / 20.0, 0.05), class_weight=config.class_weight, random_state=RANDOM_STATE)
        return CalibratedClassifierCV(base, method="sigmoid", cv=cv, ensemble=False)
    if name == "sgd_calibrated":
        base = SGDClassifier(
            loss="modified_huber", alpha=1e-4, class_weight=config.class_weight, max_iter=50, tol=None,
            random_state=RANDOM_STATE,
        )
        return CalibratedClassifierCV(base, method="sigmoid", cv=cv, ensemble=False)
    if name == "complement_nb_calibrated":
        return CalibratedClassifierCV(ComplementNB(alpha=0.3), method="sigmoid", cv=cv, ensemble=False)
    raise ValueError(f"unknown classifier {name!r}; expected one of {CANDIDATES}")


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class ClassScore:
    """Precision/recall/F1/support for one label."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class HeadReport:
    """Evaluation of one head: per-class scores, macro-F1, accuracy, confusion matrix, weakest pairs."""

    head: str
    labels: tuple[str, ...]
    per_class: tuple[ClassScore, ...]
    macro_f1: float
    accuracy: float
    confusion: tuple[tuple[int, ...], ...]
    weakest_pairs: tuple[tuple[str, str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "HeadReport":
        """Rebuild a report from to_dict() output."""
        return cls(
            head=data["head"],
            labels=tuple(data["labels"]),
            per_class=tuple(ClassScore(**c) for c in data["per_class"]),
            macro_f1=float(data["macro_f1"]),
            accuracy=float(data["accuracy"]),
            confusion=tuple(tuple(int(v) for v in row) for row in data["confusion"]),
            weakest_pairs=tuple((a, b, int(n)) for a, b, n in data["weakest_pairs"]),
        )

    def format(self) -> str:
        """Render per-class scores and the confusion matrix as plain text."""
        width = max(len(label) for label in self.labels)
        lines = [f"[{self.head}] macro-F1 {self.macro_f1:.4f}  accuracy {self.accuracy:.4f}"]
        lines.append(f"  {'label':<{width}}  prec   rec    f1     n")
        for c in self.per_class:
            lines.append(f"  {c.label:<{width}}  {c.precision:.3f}  {c.recall:.3f}  {c.f1:.3f}  {c.support:4d}")
        short = [label[:6] for label in self.labels]
        lines.append("  confusion (rows = true, cols = predicted):")
        lines.append("  " + " " * width + "  " + " ".join(f"{s:>6}" for s in short))
        for label, row in zip(self.labels, self.confusion):
            lines.append(f"  {label:<{width}}  " + " ".join(f"{v:>6d}" for v in row))
        pairs = ", ".join(f"{a}<->{b} ({n})" for a, b, n in self.weakest_pairs) or "none"
        lines.append(f"  weakest pairs: {pairs}")
        return "\n".join(lines)


@dataclass(frozen=True)
class EvalReport:
    """Evaluation of both heads on a set of examples."""

    n: int
    type: HeadReport
    category: HeadReport

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {"n": self.n, "type": self.type.to_dict(), "category": self.category.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EvalReport":
        """Rebuild a report from to_dict() output."""
        return cls(int(data["n"]), HeadReport.from_dict(data["type"]), HeadReport.from_dict(data["category"]))

    def format(self) -> str:
        """Render both heads as plain text."""
        return f"n = {self.n}\n{self.category.format()}\n{self.type.format()}"


def head_report(head: str, labels: Sequence[str], y_true: Sequence[str], y_pred: Sequence[str]) -> HeadReport:
    """Compute a HeadReport from true and predicted labels."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(labels)
    if not y_true:
        zero = tuple(ClassScore(lab, 0.0, 0.0, 0.0, 0) for lab in labels)
        empty = tuple(tuple(0 for _ in labels) for _ in labels)
        return HeadReport(head, tuple(labels), zero, 0.0, 0.0, empty, ())
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    present = [i for i, lab in enumerate(labels) if s[i] > 0 or lab in set(y_pred)]
    macro = float(np.mean([f[i] for i in present])) if present else 0.0
    pairs: list[tuple[str, str, int]] = []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            n = int(cm[i, j] + cm[j, i])
            if n:
                pairs.append((labels[i], labels[j], n))
    pairs.sort(key=lambda t: (-t[2], t[0], t[1]))
    return HeadReport(
        head=head,
        labels=tuple(labels),
        per_class=tuple(
            ClassScore(lab, round(float(p[i]), 4), round(float(r[i]), 4), round(float(f[i]), 4), int(s[i]))
            for i, lab in enumerate(labels)
        ),
        macro_f1=round(macro, 4),
        accuracy=round(float(accuracy_score(y_true, y_pred)), 4),
        confusion=tuple(tuple(int(v) for v in row) for row in cm),
        weakest_pairs=tuple(pairs[:3]),
    )


# --------------------------------------------------------------------------- model


class Model:
    """A trained two-head classifier: compiled serving form plus (lazily loaded) scikit-learn objects."""

    def __init__(
        self,
        features: Any = None,
        heads: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        compiled: CompiledModel | None = None,
        sklearn_path: str | Path | None = None,
    ) -> None:
        """Wrap fitted objects and/or a compiled model; sklearn objects may be loaded from a path on demand."""
        self._features = features
        self._heads = dict(heads) if heads is not None else None
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._sklearn_path = Path(sklearn_path) if sklearn_path is not None else None
        self._compiled: CompiledModel | None | bool = compiled
        if compiled is None and features is None and self._sklearn_path is None:
            raise ValueError("Model needs fitted objects, a compiled model or an artefact path")

    def _load_sklearn(self) -> None:
        """Load the scikit-learn pipeline objects from the artefact file on first use."""
        if self._features is None:
            import joblib

            if self._sklearn_path is None:
                raise RuntimeError("this model has no scikit-learn objects")
            payload = joblib.load(self._sklearn_path)
            self._features, self._heads = payload["features"], dict(payload["heads"])

    @property
    def features(self) -> Any:
        """Return the fitted feature pipeline (normalise -> FeatureUnion)."""
        self._load_sklearn()
        return self._features

    @property
    def heads(self) -> dict[str, Any]:
        """Return the fitted classifiers by head name."""
        self._load_sklearn()
        assert self._heads is not None
        return self._heads

    def compiled(self) -> CompiledModel | None:
        """Return the scikit-learn-free serving form, compiling it on first use (None if unsupported)."""
        if self._compiled is None:
            try:
                self._compiled = CompiledModel.from_sklearn(self.features, self.heads)
            except (TypeError, AttributeError, KeyError):
                self._compiled = False
        return self._compiled or None

    @property
    def labels(self) -> dict[str, tuple[str, ...]]:
        """Return the label order of each head."""
        compiled = self.compiled()
        if compiled is not None:
            return compiled.labels
        return {head: tuple(str(c) for c in clf.classes_) for head, clf in self.heads.items()}

    @property
    def heldout_report(self) -> EvalReport | None:
        """Return the held-out evaluation recorded at training time, if any."""
        data = self.metadata.get("heldout")
        return EvalReport.from_dict(data) if data else None

    def pipeline(self, head: str):  # type: ignore[no-untyped-def]
        """Return a scikit-learn Pipeline (features -> classifier) for one head."""
        from sklearn.pipeline import Pipeline

        return Pipeline([("features", self.features), ("clf", self.heads[head])])

    @staticmethod
    def _clip(texts: Sequence[str]) -> list[str]:
        """Coerce to str and cut texts to MAX_CLASSIFY_CHARS."""
        return [(t if isinstance(t, str) else "" if t is None else str(t))[:MAX_CLASSIFY_CHARS] for t in texts]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Classify raw (preferably redacted) texts in one batch; texts without known features -> fallback."""
        if not texts:
            return []
        compiled = self.compiled()
        if compiled is not None:
            return compiled.predict_many(self._clip(texts))
        return self.predict_with_pipeline(texts)

    def predict_normalized(self, normalized: Sequence[str]) -> list[Prediction]:
        """Like predict() for texts already cut to MAX_CLASSIFY_CHARS and passed through nlp.normalize.

        Saves the second normalisation when the caller needs the normalised text too (the Analyzer's rules).
        normalize() is idempotent, so the reference pipeline may normalise them again.
        """
        if not normalized:
            return []
        compiled = self.compiled()
        if compiled is not None:
            return compiled.predict_many(list(normalized), normalized=True)
        return self.predict_with_pipeline(normalized)

    def predict_with_pipeline(self, texts: Sequence[str]) -> list[Prediction]:
        """Classify through the scikit-learn objects (reference path; same results as predict())."""
        if not texts:
            return []
        clipped = self._clip(texts)
        x = self.features.transform(clipped)
        nnz = np.diff(x.indptr)
        outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for head, clf in self.heads.items():
            proba = clf.predict_proba(x)
            best = proba.argmax(axis=1)
            outputs[head] = (np.asarray(clf.classes_)[best], proba[np.arange(len(best)), best])
        results: list[Prediction] = []
        for i in range(x.shape[0]):
            if nnz[i] == 0 or not has_content(clipped[i]):
                results.append(Prediction(FALLBACK_TYPE, 0.0, FALLBACK_CATEGORY, 0.0))
                continue
            results.append(
                Prediction(
                    str(outputs["type"][0][i]),
                    float(outputs["type"][1][i]),
                    str(outputs["category"][0][i]),
                    float(outputs["category"][1][i]),
                )
            )
        return results

    def predict_one(self, text: str) -> Prediction:
        """Classify a single text."""
        compiled = self.compiled()
        if compiled is None:
            return self.predict_with_pipeline([text])[0]
        return compiled.predict_one(self._clip([text])[0])


def library_versions() -> dict[str, str]:
    """Return versions of the libraries that shape the artefact."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("scikit-learn", "numpy", "scipy", "joblib", "jieba", "opencc-purepy"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "missing"
    return out


def _sklearn_version() -> str:
    """Return the installed scikit-learn version (from package metadata: no sklearn import)."""
    import importlib.metadata as md

    try:
        return md.version("scikit-learn")
    except md.PackageNotFoundError:
        return "missing"


def _prepare_extras(extra_examples: Sequence[tuple[str, str, str]], categories: Sequence[str]) -> list[Example]:
    """Validate, redact and normalise correction examples (text, type, category)."""
    out: list[Example] = []
    allowed = set(categories) | set(CATEGORIES)
    for i, item in enumerate(extra_examples):
        text, kind, category = item
        if kind not in TYPES:
            raise ValueError(f"extra example {i}: unknown type {kind!r}")
        if category not in allowed:
            raise ValueError(f"extra example {i}: unknown category {category!r}")
        clean = redact(str(text))
        norm = normalize(clean)
        if norm:
            out.append(Example(clean, norm, kind, category, f"extra:{i}"))
    return out


def _extras_digest(extra_examples: Sequence[tuple[str, str, str]]) -> bytes:
    """Return a stable digest of the correction examples (redacted) for the artefact hash."""
    payload = json.dumps([[redact(str(t)), k, c] for t, k, c in extra_examples], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).digest()


def _config_digest(config: ModelConfig) -> bytes:
    """Return a digest of the model config and format version."""
    payload = json.dumps({"format": FORMAT_VERSION, **asdict(config)}, sort_keys=True)
    return payload.encode("utf-8")


def data_hash(
    corpus_dir: str | Path | None = None,
    extra_examples: Sequence[tuple[str, str, str]] = (),
    config: ModelConfig = DEFAULT_CONFIG,
) -> str:
    """Return the hash identifying an artefact: corpus + lexicon + corrections + config."""
    return corpus_hash(corpus_dir, (_config_digest(config), _extras_digest(extra_examples)))


def evaluate(model: Model, examples: Sequence[Example]) -> EvalReport:
    """Evaluate a model on labelled examples (pure: no training, no I/O)."""
    preds = model.predict([e.text for e in examples])
    labels = model.labels
    return EvalReport(
        n=len(examples),
        type=head_report("type", labels["type"], [e.type for e in examples], [p.type for p in preds]),
        category=head_report(
            "category", labels["category"], [e.category for e in examples], [p.category for p in preds]
        ),
    )


def fit_model(examples: Sequence[Example], config: ModelConfig = DEFAULT_CONFIG) -> Model:
    """Fit the shared features and both heads on examples (deterministic)."""
    if not examples:
        raise ValueError("no training examples")
    texts = [e.text for e in examples]
    features = build_features(config)
    x = features.fit_transform(texts)
    heads: dict[str, Any] = {}
    for head in HEADS:
        y = [getattr(e, head) for e in examples]
        clf = build_classifier(config.classifier_for(head), config)
        clf.fit(x, y)
        heads[head] = clf
    return Model(features=features, heads=heads)


def train(
    corpus_dir: str | Path | None = None,
    *,
    extra_examples: Sequence[tuple[str, str, str]] = (),
    config: ModelConfig = DEFAULT_CONFIG,
    corpus: Corpus | None = None,
) -> Model:
    """Train on the training split (+ corrections, training only) and record held-out scores in metadata."""
    started = time.perf_counter()
    artefact_hash = data_hash(corpus_dir, extra_examples, config)
    corpus = corpus if corpus is not None else load_corpus(corpus_dir)
    extras = _prepare_extras(extra_examples, corpus.categories)
    model = fit_model(corpus.train + extras, config)
    report = evaluate(model, corpus.heldout)
    elapsed = time.perf_counter() - started
    model.metadata = {
        "format_version": FORMAT_VERSION,
        "labels": {head: list(labels) for head, labels in model.labels.items()},
        "corpus_hash": artefact_hash,
        "corpus_files_hash": corpus.hash,
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "training_seconds": round(elapsed, 3),
        "n_train": len(corpus.train),
        "n_extra": len(extras),
        "n_extra_matching_heldout": sum(1 for e in extras if is_heldout(e.normalized)),
        "n_heldout": len(corpus.heldout),
        "config": asdict(config),
        "versions": library_versions(),
        "heldout_macro_f1": {"type": report.type.macro_f1, "category": report.category.macro_f1},
        "heldout": report.to_dict(),
    }
    return model


def cross_validate(
    examples: Sequence[Example],
    candidates: Sequence[str] = CANDIDATES,
    *,
    config: ModelConfig = DEFAULT_CONFIG,
    folds: int = 5,
) -> dict[str, dict[str, float]]:
    """Return mean macro-F1 per candidate and head from stratified k-fold CV on the given (training) examples."""
    from dataclasses import replace

    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    texts = np.array([e.text for e in examples], dtype=object)
    strata = np.array([f"{e.category}|{e.type}" for e in examples])
    # Rare category|type strata fall back to the category so that every stratum has >= folds members.
    counts = {s: int((strata == s).sum()) for s in set(strata.tolist())}
    strata = np.array([s if counts[s] >= folds else s.split("|")[0] for s in strata.tolist()])
    labels = {head: np.array([getattr(e, head) for e in examples]) for head in HEADS}
    scores: dict[str, dict[str, list[float]]] = {c: {h: [] for h in HEADS} for c in candidates}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    for train_idx, test_idx in splitter.split(texts, strata):
        features = build_features(config)
        x_train = features.fit_transform(list(texts[train_idx]))
        x_test = features.transform(list(texts[test_idx]))
        for name in candidates:
            for head in HEADS:
                clf = build_classifier(name, replace(config, type_classifier=name, category_classifier=name))
                clf.fit(x_train, labels[head][train_idx])
                pred = clf.predict(x_test)
                scores[name][head].append(float(f1_score(labels[head][test_idx], pred, average="macro")))
    return {name: {head: round(float(np.mean(v)), 4) for head, v in heads.items()} for name, heads in scores.items()}


# --------------------------------------------------------------------------- persistence


def save_model(model: Model, cache_dir: str | Path) -> Path:
    """Atomically write model.joblib, compiled.pkl and metadata.json (last) into cache_dir."""
    import joblib

    directory = Path(cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    payloads: list[tuple[str, Any]] = [(MODEL_FILE, "sklearn")]
    compiled = model.compiled()
    if compiled is not None:
        payloads.append((COMPILED_FILE, "compiled"))
    payloads.append((META_FILE, "meta"))
    if compiled is None:
        (directory / COMPILED_FILE).unlink(missing_ok=True)
    for name, kind in payloads:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".tmp", dir=directory)
        os.close(fd)
        try:
            if kind == "sklearn":
                joblib.dump({"features": model.features, "heads": model.heads}, tmp, compress=3)
            elif kind == "compiled":
                assert compiled is not None
                with open(tmp, "wb") as fh:
                    pickle.dump(compiled.state(), fh, protocol=pickle.HIGHEST_PROTOCOL)
            else:
                Path(tmp).write_text(json.dumps(model.metadata, ensure_ascii=False, indent=2), encoding="utf-8")
            os.replace(tmp, directory / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return directory


def read_metadata(cache_dir: str | Path) -> dict[str, Any] | None:
    """Return the metadata JSON of a cached artefact, or None if absent/unreadable."""
    path = Path(cache_dir) / META_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_model(cache_dir: str | Path) -> Model:
    """Load a saved artefact (a trusted local cache: files are unpickled) and warm up the tokenizer."""
    directory = Path(cache_dir)
    metadata = read_metadata(directory)
    if metadata is None:
        raise FileNotFoundError(f"no model metadata in {directory}")
    compiled_path = directory / COMPILED_FILE
    if compiled_path.exists():
        # Serving path: numpy + builtins only, scikit-learn is imported lazily if ever needed.
        with compiled_path.open("rb") as fh:
            compiled = CompiledModel.from_state(pickle.load(fh))
        model = Model(metadata=metadata, compiled=compiled, sklearn_path=directory / MODEL_FILE)
    else:
        import joblib

        payload = joblib.load(directory / MODEL_FILE)
        model = Model(payload["features"], payload["heads"], metadata)
    warm_up()
    return model


_cache_lock = threading.Lock()
_loaded: dict[Path, Model] = {}


def load_or_train(
    cache_dir: str | Path = "var/model",
    *,
    corpus_dir: str | Path | None = None,
    extra_examples: Sequence[tuple[str, str, str]] = (),
    config: ModelConfig = DEFAULT_CONFIG,
) -> Model:
    """Return the model for cache_dir: in-process cache, else disk if hash+sklearn match, else train and save."""
    directory = Path(cache_dir).resolve()
    expected = data_hash(corpus_dir, extra_examples, config)
    with _cache_lock:
        cached = _loaded.get(directory)
        if cached is not None and cached.metadata.get("corpus_hash") == expected:
            return cached
        meta = read_metadata(directory)
        model: Model | None = None
        if (
            meta is not None
            and meta.get("format_version") == FORMAT_VERSION
            and meta.get("corpus_hash") == expected
            and meta.get("versions", {}).get("scikit-learn") == _sklearn_version()
        ):
            try:
                model = load_model(directory)
            except Exception:  # noqa: BLE001 - a corrupt cache is rebuilt
                model = None
        if model is None:
            model = train(corpus_dir, extra_examples=extra_examples, config=config)
            save_model(model, directory)
            warm_up()
        _loaded[directory] = model
        return model
