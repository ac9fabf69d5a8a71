"""Intake of newly written training messages into data/corpus (see data/README.md, "Training-only additions").

    .venv/bin/python data/intake.py --category fees new_fees.tsv [--dry-run]

The input is a TSV with header ``type<TAB>text`` (one category per file). A row is accepted only if:

* its type is valid and its text is not empty after redaction and normalisation;
* it carries no PII (``nlp.redact`` leaves it unchanged: the corpus holds no card, ID or phone numbers);
* it is not an exact duplicate (after ``nlp.normalize``) of any corpus row or earlier accepted row;
* its character 3-gram Jaccard is below 0.6 against every corpus row and every earlier accepted row
  (the corpus's near-duplicate rule), and below 0.4 against every HELD-OUT row (a stricter leakage guard);
* it hashes into the TRAINING side of the split (``nlp.corpus.is_heldout`` is false).

The last rule keeps the held-out set exactly as it was, so scores before and after an intake are a
paired comparison on the same held-out messages. Rows that hash into the held-out side are set
aside (counted, not added). Accepted rows are appended to ``corpus/<category>.tsv`` and logged in
``RELABEL_LOG.tsv`` with action ``add``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nlp import load_corpus  # noqa: E402
from nlp.corpus import CATEGORIES, DEFAULT_CORPUS_DIR, TYPES, _shingles, is_heldout  # noqa: E402
from nlp.pii import redact  # noqa: E402
from nlp.text import normalize  # noqa: E402

NEAR_DUP = 0.6
HELDOUT_GUARD = 0.4
LOG = ROOT / "data" / "RELABEL_LOG.tsv"


class ShingleIndex:
    """Character 3-gram sets of known texts, queried for the highest Jaccard of a new text."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.rows: list[np.ndarray] = []
        self.sizes: list[int] = []
        self._matrix: sparse.csr_matrix | None = None

    def _ids(self, shingles: set[str], grow: bool) -> np.ndarray:
        ids = []
        for g in shingles:
            if g in self.vocab:
                ids.append(self.vocab[g])
            elif grow:
                ids.append(self.vocab.setdefault(g, len(self.vocab)))
        return np.array(sorted(ids), dtype=np.int64)

    def add(self, text: str) -> None:
        shingles = _shingles(text)
        self.rows.append(self._ids(shingles, grow=True))
        self.sizes.append(len(shingles))
        self._matrix = None

    def matrix(self) -> sparse.csr_matrix:
        if self._matrix is None:
            indptr = np.cumsum([0] + [len(r) for r in self.rows])
            data = np.ones(int(indptr[-1]), dtype=np.float32)
            indices = np.concatenate(self.rows) if self.rows else np.array([], dtype=np.int64)
            self._matrix = sparse.csr_matrix((data, indices, indptr), shape=(len(self.rows), max(len(self.vocab), 1)))
        return self._matrix

    def max_jaccard(self, text: str) -> float:
        if not self.rows:
            return 0.0
        shingles = _shingles(text)
        if not shingles:
            return 0.0
        ids = self._ids(shingles, grow=False)
        size = len(shingles)
        if len(ids) == 0:
            return 0.0
        inter = np.asarray(self.matrix()[:, ids].sum(axis=1)).ravel()
        union = np.array(self.sizes) + size - inter
        return float(np.max(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", required=True, choices=CATEGORIES)
    parser.add_argument("file", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="report only; change nothing")
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS_DIR)
    parser.add_argument("--log", type=Path, default=LOG, help="the change log to append to")
    args = parser.parse_args(argv)

    corpus = load_corpus(args.corpus_dir)
    known = {e.normalized for e in corpus.all}
    everything, heldout = ShingleIndex(), ShingleIndex()
    for e in corpus.all:
        everything.add(e.normalized)
    for e in corpus.heldout:
        heldout.add(e.normalized)

    outcome: Counter[str] = Counter()
    accepted: list[tuple[str, str]] = []
    lines = args.file.read_text(encoding="utf-8-sig").splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or (lineno == 1 and line.lower().startswith("type\t")):
            continue
        kind, sep, text = line.partition("\t")
        kind, text = kind.strip().lower(), text.strip()
        if not sep or kind not in TYPES or not text or "\t" in text:
            outcome["malformed"] += 1
            continue
        if redact(text) != text:
            outcome["contains PII"] += 1
            continue
        norm = normalize(text)
        if not norm:
            outcome["empty after normalisation"] += 1
        elif norm in known:
            outcome["exact duplicate"] += 1
        elif everything.max_jaccard(norm) >= NEAR_DUP:
            outcome[f"near-duplicate (Jaccard >= {NEAR_DUP})"] += 1
        elif heldout.max_jaccard(norm) >= HELDOUT_GUARD:
            outcome[f"close to a held-out row (Jaccard >= {HELDOUT_GUARD})"] += 1
        elif is_heldout(norm):
            outcome["hashes into the held-out side (set aside)"] += 1
        else:
            outcome["accepted"] += 1
            accepted.append((kind, text))
            known.add(norm)
            everything.add(norm)

    for reason, count in sorted(outcome.items(), key=lambda kv: -kv[1]):
        print(f"{count:6d}  {reason}")
    print("accepted by type:", dict(Counter(k for k, _ in accepted)))
    if args.dry_run or not accepted:
        return 0
    target = args.corpus_dir / f"{args.category}.tsv"
    with target.open("a", encoding="utf-8") as fh:
        for kind, text in accepted:
            fh.write(f"{kind}\t{text}\n")
    with args.log.open("a", encoding="utf-8") as fh:
        for kind, text in accepted:
            fh.write(f"\t{args.category}\t\t{kind}\tadd\t\t{text}\n")
    print(f"appended {len(accepted)} rows to {target} and {args.log}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
