"""Labelled corpus loading, deterministic held-out split, hashing and near-duplicate measurement."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from .pii import redact
from .text import LEXICON_DIR, normalize

__all__ = [
    "DEFAULT_CORPUS_DIR",
    "TYPES",
    "CATEGORIES",
    "HELDOUT_PERCENT",
    "Example",
    "Corpus",
    "load_corpus",
    "is_heldout",
    "split_key",
    "corpus_hash",
    "NearDupReport",
    "near_duplicates",
]

DEFAULT_CORPUS_DIR = Path(__file__).resolve().parent.parent / "data" / "corpus"
TYPES: tuple[str, ...] = ("complaint", "suggestion", "praise", "inquiry")
CATEGORIES: tuple[str, ...] = (
    "wait_time", "staff_attitude", "professionalism", "process_efficiency", "fees", "self_service",
    "product_sales", "account_card", "digital_channels", "environment", "security_privacy", "other",
)
HELDOUT_PERCENT = 20
_SPLIT_SALT = b"qianjia-heldout-v1:"


@dataclass(frozen=True)
class Example:
    """One labelled message: redacted text, its normalised form and both labels."""

    text: str
    normalized: str
    type: str
    category: str
    source: str = ""


@dataclass
class Corpus:
    """The loaded corpus split into training and held-out parts, with loading statistics."""

    train: list[Example]
    heldout: list[Example]
    categories: tuple[str, ...]
    types: tuple[str, ...]
    hash: str
    rows_read: int = 0
    skipped: list[str] = field(default_factory=list)
    exact_duplicates: int = 0
    label_conflicts: int = 0

    @property
    def all(self) -> list[Example]:
        """Return training + held-out examples."""
        return self.train + self.heldout


def split_key(normalized: str) -> int:
    """Return the stable 0-999 bucket of a normalised text (SHA-256 based, salted)."""
    digest = hashlib.sha256(_SPLIT_SALT + normalized.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 1000


def is_heldout(normalized: str) -> bool:
    """Return True if the normalised text belongs to the held-out split (~20%, stable per text)."""
    return split_key(normalized) < HELDOUT_PERCENT * 10


def _corpus_files(corpus_dir: Path) -> list[Path]:
    """Return the category TSV files in a stable order."""
    return sorted(p for p in corpus_dir.glob("*.tsv") if p.is_file())


def corpus_hash(corpus_dir: str | Path | None = None, extra: Iterable[bytes] = ()) -> str:
    """Hash corpus files, lexicon files and extra byte strings into one hex digest."""
    directory = Path(corpus_dir) if corpus_dir is not None else DEFAULT_CORPUS_DIR
    h = hashlib.sha256()
    for path in _corpus_files(directory) + sorted(LEXICON_DIR.glob("*.txt")):
        h.update(path.name.encode("utf-8") + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    for chunk in extra:
        h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def load_corpus(corpus_dir: str | Path | None = None) -> Corpus:
    """Load data/corpus/<category>.tsv files (header 'type<TAB>text'), redact, dedupe and split."""
    directory = Path(corpus_dir) if corpus_dir is not None else DEFAULT_CORPUS_DIR
    files = _corpus_files(directory)
    seen: dict[str, Example] = {}
    skipped: list[str] = []
    rows = duplicates = conflicts = 0
    for path in files:
        category = path.stem
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip():
                    continue
                kind, sep, text = line.partition("\t")
                kind = kind.strip().lower()
                if lineno == 1 and kind == "type":
                    continue
                rows += 1
                if not sep or kind not in TYPES or not text.strip():
                    skipped.append(f"{path.name}:{lineno}")
                    continue
                clean = redact(text.strip())
                norm = normalize(clean)
                if not norm:
                    skipped.append(f"{path.name}:{lineno}")
                    continue
                previous = seen.get(norm)
                if previous is not None:
                    duplicates += 1
                    if (previous.type, previous.category) != (kind, category):
                        conflicts += 1
                    continue
                seen[norm] = Example(clean, norm, kind, category, f"{path.name}:{lineno}")
    examples = list(seen.values())
    present = {e.category for e in examples}
    categories = tuple(c for c in CATEGORIES if c in present) + tuple(sorted(present - set(CATEGORIES)))
    train = [e for e in examples if not is_heldout(e.normalized)]
    heldout = [e for e in examples if is_heldout(e.normalized)]
    return Corpus(
        train=train,
        heldout=heldout,
        categories=categories,
        types=TYPES,
        hash=corpus_hash(directory),
        rows_read=rows,
        skipped=skipped,
        exact_duplicates=duplicates,
        label_conflicts=conflicts,
    )


@dataclass(frozen=True)
class NearDupReport:
    """Near-duplicate statistics (char 3-gram Jaccard >= threshold between two messages)."""

    threshold: float
    messages: int
    pairs: int
    messages_with_near_dup: int
    rate: float
    heldout_with_train_near_dup: int
    heldout_messages: int
    heldout_leak_rate: float
    cross_category_pairs: int
    examples: tuple[tuple[str, str, float], ...]


def _shingles(text: str, n: int = 3) -> set[str]:
    """Return the set of character n-grams of text with spaces removed (whole text if shorter)."""
    compact = text.replace(" ", "")
    if len(compact) <= n:
        return {compact} if compact else set()
    return {compact[i : i + n] for i in range(len(compact) - n + 1)}


def near_duplicates(
    examples: Sequence[Example], heldout: Sequence[Example] = (), *, threshold: float = 0.8, n: int = 3
) -> NearDupReport:
    """Measure pairwise near-duplicates over examples+heldout with a sparse char n-gram Jaccard."""
    import numpy as np
    from scipy import sparse

    items = list(examples) + list(heldout)
    n_train = len(examples)
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for i, ex in enumerate(items):
        for g in _shingles(ex.normalized, n):
            rows.append(i)
            cols.append(vocab.setdefault(g, len(vocab)))
    m = len(items)
    if m < 2:
        return NearDupReport(threshold, m, 0, 0, 0.0, 0, len(heldout), 0.0, 0, ())
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(m, max(len(vocab), 1)))
    sizes = np.asarray(x.sum(axis=1)).ravel()
    inter = sparse.triu(x @ x.T, k=1).tocoo()
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    jac = np.divide(inter.data, union, out=np.zeros_like(inter.data), where=union > 0)
    hit = jac >= threshold
    a, b, j = inter.row[hit], inter.col[hit], jac[hit]
    involved = set(a.tolist()) | set(b.tolist())
    leaked = set()
    cross = 0
    for i1, i2 in zip(a.tolist(), b.tolist()):
        if (i1 < n_train) != (i2 < n_train):
            leaked.add(max(i1, i2))
        if items[i1].category != items[i2].category:
            cross += 1
    order = np.argsort(-j, kind="stable")[:5]
    samples = tuple((items[a[k]].text, items[b[k]].text, round(float(j[k]), 3)) for k in order)
    n_held = len(heldout)
    return NearDupReport(
        threshold=threshold,
        messages=m,
        pairs=int(hit.sum()),
        messages_with_near_dup=len(involved),
        rate=len(involved) / m,
        heldout_with_train_near_dup=len(leaked),
        heldout_messages=n_held,
        heldout_leak_rate=(len(leaked) / n_held) if n_held else 0.0,
        cross_category_pairs=cross,
        examples=samples,
    )
