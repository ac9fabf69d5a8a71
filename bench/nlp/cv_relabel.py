"""Does a relabelling of training rows help on the reference distribution? Paired CV on the training split only.

The current corpus is compared with the same rows as labelled at ``--base-ref`` (a git revision of data/corpus):
the rows must be the same, only labels may differ. Folds are drawn over the reference rows at ``--test-ref``
(cv_search.load_train); a relabelled row must not be one of them, so both variants are scored on the same test
rows with the same labels, and only the training labels differ. The held-out split is never read.

    .venv/bin/python bench/nlp/cv_relabel.py --base-ref HEAD~1 --test-ref d37be62 --seeds 14 15

Features and classifier are the production ones (cv_search.PRODUCTION blocks, LinearSVC C = 0.5 with sigmoid
calibration as in nlp.model.DEFAULT_CONFIG).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(p) for p in (ROOT, ROOT / "bench" / "nlp") if str(p) not in sys.path]

import cv_search as cs  # first: it pins the BLAS thread pools to one before numpy loads
import numpy as np

from nlp.model import HEADS


def base_labels(norms: list[str], ref: str) -> dict[str, np.ndarray]:
    """Labels per head of the given rows as of a git revision; the row sets must be the same."""
    old = {e.normalized: e for e in cs.corpus_at(ref)}
    missing = [n for n in norms if n not in old]
    if missing or len(old) != len(norms):
        raise SystemExit(f"--base-ref {ref} has other rows than the current corpus ({len(old)} against "
                         f"{len(norms)}, {len(missing)} current rows missing): this script compares labels only")
    return {head: np.array([getattr(old[n], head) for n in norms]) for head in HEADS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-ref", required=True, help="git revision of data/corpus before the relabelling")
    parser.add_argument("--test-ref", default="d37be62", help="draw the test folds over the rows at this revision")
    parser.add_argument("--seeds", type=int, nargs="*", default=[14, 15])
    parser.add_argument("--heads", nargs="*", default=list(HEADS))
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)

    folds_of: dict[int, list] = {}
    for seed in args.seeds:  # the row order is the same for every seed; only the folds differ
        norms, labels, folds_of[seed] = cs.load_train(seed, args.test_ref)
    before = base_labels(norms, args.base_ref)
    for head in args.heads:
        changed = np.flatnonzero(before[head] != labels[head])
        if (changed < cs.REF_ROWS).any():
            raise SystemExit(f"{head}: {int((changed < cs.REF_ROWS).sum())} relabelled rows are reference (test) "
                             "rows; both variants must be scored on the same labels")
        moves = Counter(f"{before[head][i]} -> {labels[head][i]}" for i in changed)
        print(f"{head}: {len(changed)} training rows relabelled since {args.base_ref}: {dict(moves.most_common())}")
    print(f"test rows: the {cs.REF_ROWS} rows at {args.test_ref}; seeds {args.seeds}", flush=True)

    terms = cs.Terms(norms)
    make = cs.svc()
    for head in args.heads:
        diffs = []
        for seed, folds in folds_of.items():
            b, _, _ = cs.score(terms, before[head], folds, cs.PRODUCTION, make)
            a, _, _ = cs.score(terms, labels[head], folds, cs.PRODUCTION, make)
            diffs.append(a - b)
            print(f"{head:<10} seed {seed:>3}: {args.base_ref} labels {b:.4f}, current labels {a:.4f}, "
                  f"d {a - b:+.4f}", flush=True)
        print(f"{head:<10} mean d {np.mean(diffs):+.4f} (worst seed {min(diffs):+.4f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
