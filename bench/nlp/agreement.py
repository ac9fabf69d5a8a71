"""Inter-annotator agreement: a second, blind annotation of the 4,540 pre-intake messages vs the corpus labels.

    .venv/bin/python bench/nlp/agreement.py [--cv-clean]

data/agreement/second_annotator.tsv holds an independent annotator's labels (type, category, optional
`ambiguous` flag) for every message that was in the corpus before the training-only intake. The annotator
saw only the texts, shuffled across categories, and the labelling guide; not the corpus labels, the model or
any score. The second annotator's macro-F1 against the corpus labels is the ceiling a model can be expected
to reach on the held-out set: the remaining disagreements are what the guide leaves to judgement.

--cv-clean also answers "is it label noise?": 5-fold CV on the training split where the training folds drop
the messages the two annotators disagree on (test folds keep every message and the corpus labels).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nlp import load_corpus  # noqa: E402
from nlp.pii import redact  # noqa: E402
from nlp.text import normalize  # noqa: E402

SECOND = ROOT / "data" / "agreement" / "second_annotator.tsv"


def second_labels() -> dict[str, tuple[str, str, str]]:
    """Normalised text -> (type, category, flag) of the second annotator."""
    out: dict[str, tuple[str, str, str]] = {}
    for i, line in enumerate(SECOND.read_text(encoding="utf-8").splitlines()):
        if i == 0 or not line.strip():
            continue
        kind, category, flag, text = line.split("\t", 3)
        out[normalize(redact(text.strip()))] = (kind, category, flag)
    return out


def main() -> int:
    from sklearn.metrics import cohen_kappa_score, f1_score

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cv-clean", action="store_true")
    args = parser.parse_args()
    second = second_labels()
    corpus = load_corpus()
    parts = {"held-out": corpus.heldout, "training (pre-intake rows)": [e for e in corpus.train if e.normalized in second]}
    print(f"second annotation: {len(second)} messages, {sum(1 for v in second.values() if v[2])} flagged ambiguous")
    for name, examples in parts.items():
        missing = [e for e in examples if e.normalized not in second]
        if missing:
            print(f"  {name}: {len(missing)} messages without a second label")
        examples = [e for e in examples if e.normalized in second]
        for head, col in (("type", 0), ("category", 1)):
            ref = [getattr(e, head) for e in examples]
            got = [second[e.normalized][col] for e in examples]
            agree = sum(a == b for a, b in zip(ref, got)) / len(ref)
            print(f"{name:<28} n={len(ref):5d} {head:<9} agreement {agree:.3f}  macro-F1 {f1_score(ref, got, average='macro'):.3f}"
                  f"  kappa {cohen_kappa_score(ref, got):.3f}")
        pairs = Counter(tuple(sorted((e.category, second[e.normalized][1]))) for e in examples
                        if e.category != second[e.normalized][1])
        print("  most frequent category disagreements: "
              + ", ".join(f"{a}/{b} {n}" for (a, b), n in pairs.most_common(5)))
    if args.cv_clean:
        cv_clean(corpus, second)
    return 0


def cv_clean(corpus, second) -> None:  # type: ignore[no-untyped-def]
    """CV on the pre-intake training rows: all training rows vs training folds without the disagreements."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from nlp.model import DEFAULT_CONFIG, HEADS, RANDOM_STATE, build_classifier, build_features

    examples = [e for e in corpus.train if e.normalized in second]
    texts = [e.text for e in examples]
    strata = [e.category for e in examples]
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE).split(texts, strata))
    for head, col in zip(HEADS, (0, 1)):
        y = np.array([getattr(e, head) for e in examples])
        disagree = np.array([getattr(e, head) != second[e.normalized][col] for e in examples])
        scores: dict[str, list[float]] = {"all": [], "clean": []}
        for tr, te in folds:
            for mode in scores:
                keep = tr if mode == "all" else tr[~disagree[tr]]
                features = build_features(DEFAULT_CONFIG)
                x = features.fit_transform([texts[i] for i in keep])
                clf = build_classifier(DEFAULT_CONFIG.classifier_for(head), DEFAULT_CONFIG)
                clf.fit(x, y[keep])
                pred = clf.predict(features.transform([texts[i] for i in te]))
                scores[mode].append(f1_score(y[te], pred, average="macro"))
        print(f"CV {head}: all training rows {np.mean(scores['all']):.4f}; without the {int(disagree.sum())} "
              f"disagreements {np.mean(scores['clean']):.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
