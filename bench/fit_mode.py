"""Refit the mode weights of ``emoprobe.tonality`` (major against its relative minor).

    PYTHONPATH=lib .venv/bin/python scripts/build_acoustic_corpus.py        # once
    PYTHONPATH=lib .venv/bin/python bench/fit_mode.py [--corpus .cache/acoustic_corpus] [--C 1.0] \
        [--planted 12] [--score test]

The training set is the corpus' ``train`` split plus ``--planted`` clips per
emotion of the planted models' audio (``synth_audio.synthesise_emotion_audio``
at ``known_truth.EMOTION_ACOUSTICS``, seeds 100 onwards, tonic = seed mod 12),
without which the weights read the planted "calm" clips (70 BPM, dark, major)
as minor.  Each clip's evidence (``tonality.mode_evidence``) is measured
within its *true* relative pair, so the label is the mode and nothing else;
the key-pair step is scored separately by ``bench_corpus``.  The fit is
scikit-learn's LogisticRegression on standardised evidence, mapped back to raw
units in ``_MODE_WEIGHTS``' layout (intercept first, positive favours minor).

Printed: the weights beside the ones in ``tonality``, 5-fold cross-validated
accuracy for several C, and the in-sample confidences of the wrong answers,
which is what ``UNCERTAIN_BELOW`` is read from.  ``--score test`` also prints
the test split's mode accuracy under the new weights at the true pair (for a
report only: never tune on it).
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import SR, planted_clip, planted_items, read_manifest  # noqa: E402
from emoprobe import tonality  # noqa: E402
from emoprobe.tonality import PITCH_CLASSES  # noqa: E402

# The weights in tonality were fitted on these batches' train clips (acoustics-1.9).
FIT_BATCHES = "1,2,3"


def evidence_at_pair(audio: np.ndarray, sample_rate: int, tonic: str, mode: str) -> list[float]:
    pc = PITCH_CLASSES.index(tonic)
    major_tonic = pc if mode == "major" else (pc + 3) % 12
    return list(tonality.mode_evidence(audio, sample_rate, major_tonic).values())


def _corpus_item(args):
    path, tonic, mode = args
    y, sr = sf.read(path, dtype="float32", always_2d=False)
    return evidence_at_pair(y, sr, tonic, mode)


def _estimated_pair_item(path):
    y, sr = sf.read(path, dtype="float32", always_2d=False)
    return list(tonality.estimate_key(y, sr).evidence.values())


def estimated_pair_set(corpus: Path, split: str, batches: set[str], jobs: int):
    """Evidence as the extractor measures it: within the relative pair it estimates (which may be wrong)."""
    manifest = read_manifest(corpus, split, batches)
    with ProcessPoolExecutor(jobs) as pool:
        X = list(pool.map(_estimated_pair_item, [str(corpus / m["wav"]) for m in manifest]))
    return np.array(X), np.array([m["mode"] == "minor" for m in manifest], dtype=int)


def strict_accuracy(weights: np.ndarray, X: np.ndarray, y: np.ndarray, uncertain_below: float) -> tuple[float, int]:
    """(share right, with "uncertain" counted wrong; number uncertain)."""
    p = p_minor(weights, X)
    decided = np.maximum(p, 1 - p) >= uncertain_below
    return float(np.mean(decided & ((p >= 0.5) == y))), int(np.sum(~decided))


def _planted_item(args):
    y, tonic, mode = planted_clip(*args)
    return evidence_at_pair(y, SR, tonic, mode)


def corpus_set(corpus: Path, split: str, batches: set[str], jobs: int):
    manifest = read_manifest(corpus, split, batches)
    with ProcessPoolExecutor(jobs) as pool:
        X = list(pool.map(_corpus_item, [(str(corpus / m["wav"]), m["tonic"], m["mode"]) for m in manifest]))
    return np.array(X), np.array([m["mode"] == "minor" for m in manifest], dtype=int), [m["name"] for m in manifest]


def planted_set(per_emotion: int, jobs: int):
    items = planted_items(per_emotion)
    with ProcessPoolExecutor(jobs) as pool:
        X = list(pool.map(_planted_item, items))
    y = [planted_clip(e, s)[2] == "minor" for e, s in items]
    return np.array(X), np.array(y, dtype=int), [f"planted_{e}_{s}" for e, s in items]


def fit(X: np.ndarray, y: np.ndarray, C: float) -> np.ndarray:
    """Raw-unit weights (intercept first) of a logistic regression on standardised X."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-12
    model = LogisticRegression(C=C).fit((X - mean) / scale, y)
    w = model.coef_[0] / scale
    return np.concatenate([[model.intercept_[0] - float(np.dot(w, mean))], w])


def p_minor(weights: np.ndarray, X: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(weights[0] + X @ weights[1:])))


def cv_accuracy(X: np.ndarray, y: np.ndarray, C: float, folds: int = 5, seed: int = 0) -> float:
    from sklearn.model_selection import StratifiedKFold

    right = 0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        right += int(np.sum((p_minor(fit(X[train], y[train], C), X[test]) >= 0.5) == y[test]))
    return right / len(y)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=".cache/acoustic_corpus")
    ap.add_argument("--batches", default=FIT_BATCHES, help="corpus batches whose train clips are fitted on")
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--planted", type=int, default=12, help="planted-audio clips per emotion")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--score", choices=["test"], help="also score this split (report only)")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    batches = set(args.batches.split(","))
    Xc, yc, names_c = corpus_set(corpus, "train", batches, args.jobs)
    Xp, yp, names_p = planted_set(args.planted, args.jobs) if args.planted else (np.zeros((0, Xc.shape[1])), np.zeros(0, int), [])
    X, y, names = np.vstack([Xc, Xp]), np.concatenate([yc, yp]), names_c + names_p
    print(f"training clips: {len(yc)} corpus train ({int(yc.sum())} minor) + {len(yp)} planted ({int(yp.sum())} minor)")
    for C in (0.3, 1.0, 3.0):
        print(f"C={C}: 5-fold CV accuracy {cv_accuracy(X, y, C):.3f}")
    w = fit(X, y, args.C)
    np.set_printoptions(precision=3, suppress=True)
    print(f"weights (C={args.C}): {np.round(w, 3).tolist()}")
    print(f"in tonality now:      {tonality._MODE_WEIGHTS.tolist()}")
    for label, weights in (("new", w), ("now", tonality._MODE_WEIGHTS)):
        p = p_minor(weights, X)
        conf = np.maximum(p, 1 - p)
        wrong = (p >= 0.5) != y
        print(f"{label}: in-sample right {int(np.sum(~wrong))}/{len(y)}; wrong answers' confidence "
              f"{sorted(np.round(conf[wrong], 2).tolist())}; right answers under 0.75 "
              f"{sorted(np.round(conf[~wrong & (conf < 0.75)], 2).tolist())}")
        print(f"     wrong: {[n for n, bad in zip(names, wrong) if bad]}")
    Xe, ye = estimated_pair_set(corpus, "train", batches, args.jobs)
    for label, weights in (("new", w), ("now", tonality._MODE_WEIGHTS)):
        cuts = "; ".join(f"{cut:.2f}: {acc:.3f} ({n} uncertain)" for cut in (0.5, 0.6, 0.65, 0.7, 0.75, 0.8)
                         for acc, n in [strict_accuracy(weights, Xe, ye, cut)])
        print(f"train at the estimated pair, {label}, strict mode accuracy by uncertain cut: {cuts}")
    if args.score:
        Xt, yt, _ = corpus_set(corpus, args.score, batches, args.jobs)
        for label, weights in (("new", w), ("now", tonality._MODE_WEIGHTS)):
            p = p_minor(weights, Xt)
            conf = np.maximum(p, 1 - p)
            right = (p >= 0.5) == yt
            decided = conf >= tonality.UNCERTAIN_BELOW
            print(f"{args.score} at the true pair, {label}: best guess {right.mean():.3f}; "
                  f"decided {int(decided.sum())}/{len(yt)}, right {int((right & decided).sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
