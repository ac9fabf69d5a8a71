"""Does an intake round help on the ORIGINAL training distribution? Paired CV on the training split only.

Folds are drawn over the training rows that existed at ``--base-ref`` (a git revision of data/corpus). In each
fold the model is trained twice, on the fold's old training rows alone and on them plus every row the intake
added since the base, and both are scored on the same old test rows. The added rows are never test rows, so
the comparison is not flattered by messages written like the additions. The held-out split is never read.

    .venv/bin/python bench/nlp/cv_additions.py --base-ref HEAD --seeds 7 8 9
    .venv/bin/python bench/nlp/cv_additions.py --base-ref HEAD --test-ref d37be62 --seeds 12 13

With ``--test-ref`` the folds are drawn over the rows at that (earlier) revision instead, the distribution the
held-out set was drawn from; rows added between it and ``--base-ref`` train in both variants, and only the rows
added since ``--base-ref`` make the difference.

Features and classifier are the production ones (cv_search.PRODUCTION blocks, LinearSVC C = 10/20 with sigmoid
calibration as in nlp.model.DEFAULT_CONFIG).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT, ROOT / "bench" / "nlp"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import cv_search as cs  # noqa: E402

from nlp.model import HEADS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-ref", default="HEAD", help="git revision of data/corpus before the intake")
    parser.add_argument("--test-ref", default=None,
                        help="draw the test folds over the rows at this earlier revision (default: --base-ref)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[7, 8, 9])
    parser.add_argument("--old-weights", type=float, nargs="*", default=None,
                        help="instead of base vs. additions: train on old + added rows with the old training rows "
                             "weighted by each factor (the first is the reference), all scored on old test rows")
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # noqa: BLE001
        pass
    from sklearn.metrics import f1_score

    results: dict[str, list[tuple[float, ...]]] = {head: [] for head in HEADS}
    variants: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    terms = None
    is_old = np.zeros(0, dtype=bool)
    test_ref = args.test_ref or args.base_ref
    for seed in args.seeds:
        # cv_search's reference folds: test rows are drawn over the rows at test_ref (first in the order); every
        # later row is on each fold's training side. The row order is the same for every seed.
        norms, labels, folds = cs.load_train(seed, test_ref)
        if terms is None:
            base_norms = {e.normalized for e in cs.corpus_at(args.base_ref)} if args.test_ref else None
            is_old = np.array([i < cs.REF_ROWS or (base_norms is not None and norm in base_norms)
                               for i, norm in enumerate(norms)])
            extra = np.flatnonzero(~is_old)
            added_categories = Counter(labels["category"][extra].tolist())
            print(f"training split only: {int(is_old.sum())} rows at {args.base_ref}, {len(extra)} added since; "
                  f"test rows: the {cs.REF_ROWS} rows at {test_ref}; seeds {args.seeds}")
            print("added per category:", dict(sorted(added_categories.items())))
            terms = cs.Terms(norms)
        for both, test_idx in folds:
            train_idx = both[is_old[both]]  # the fold's old training rows
            if args.old_weights:
                variants = {f"old x{w:g}": (both, np.where(is_old[both], w, 1.0)) for w in args.old_weights}
            else:
                variants = {"base": (train_idx, None), "with additions": (both, None)}
            scores = {}
            matrices = {}
            for name, (idx, weights) in variants.items():
                if id(idx) not in matrices:  # weight variants share one feature fit
                    matrices[id(idx)] = cs.fold_matrices(terms, cs.PRODUCTION, idx, test_idx)
                x_tr, x_te = matrices[id(idx)]
                for head in HEADS:
                    clf = cs.svc()()
                    clf.fit(x_tr, labels[head][idx], sample_weight=weights)
                    pred = clf.predict(x_te)
                    scores[(name, head)] = f1_score(labels[head][test_idx], pred, average="macro")
            for head in HEADS:
                results[head].append(tuple(scores[(name, head)] for name in variants))
        print(f"seed {seed} done", flush=True)
    names = list(variants)
    print(f"{'head':<10}{'variant':<16}{'macro-F1':>10}{'diff':>10}{'worst fold':>12}")
    for head in HEADS:
        arr = np.array(results[head])
        for col, name in enumerate(names):
            diff = arr[:, col] - arr[:, 0]
            print(f"{head:<10}{name:<16}{arr[:, col].mean():>10.4f}{diff.mean():>+10.4f}{diff.min():>+12.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
