"""Mode on single-line music: three candidate evidences against the fitted ones (not adopted).

    PYTHONPATH=lib .venv/bin/python bench/mode_melody_features.py [--batches 1,2,3,6,7] [--split train]

Batch 6's folk tunes (one melodic line, no bass, no chords) were read "uncertain" or as the
relative major far more often than the synthetic progressions.  Measured at each clip's *true*
relative pair (as ``fit_mode.py`` fits), on the train halves only, with the planted audio:

* each evidence's AUC for minor, over all clips and over the folk tunes;
* leave-one-batch-out error counts (wrong; wrong or "uncertain" at ``UNCERTAIN_BELOW``) of the
  logistic model on ``tonality``'s six evidences, then with a candidate added.

Candidates, shares of the mean chroma within the pair (C major / A minor: A, C, G, E):
``tonic_vs_b7`` A - G, ``tonic_share`` A - C, ``dominants`` E - G.
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
import fit_mode  # noqa: E402
from _corpus import SR, planted_clip, planted_items, read_manifest  # noqa: E402
from emoprobe import tonality  # noqa: E402

CANDIDATES = ("tonic_vs_b7", "tonic_share", "dominants")
SOURCES = ("folk", "chorale", "synth", "planted")


def evidence(audio: np.ndarray, sample_rate: int, tonic: str, mode: str) -> dict[str, float]:
    pc = tonality.PITCH_CLASSES.index(tonic)
    major = pc if mode == "major" else (pc + 3) % 12
    minor = (major + 9) % 12
    measure = tonality._measurements(audio, sample_rate)
    mean = measure[0].mean(axis=1)
    total = float(mean.sum()) + 1e-12
    candidates = [(mean[minor] - mean[(major + 7) % 12]) / total, (mean[minor] - mean[major]) / total,
                  (mean[(minor + 7) % 12] - mean[(major + 7) % 12]) / total]
    return {**tonality._evidence_within(measure, major, sample_rate), **dict(zip(CANDIDATES, candidates))}


def _corpus_item(args):
    path, tonic, mode = args
    y, sr = sf.read(path, dtype="float32")
    return evidence(y, sr, tonic, mode)


def _planted_item(args):
    y, tonic, mode = planted_clip(*args)
    return evidence(y, SR, tonic, mode)


def leave_one_batch_out(X, y, batch, source, cut):
    p = np.zeros(len(y))
    for b in np.unique(batch):
        held = batch == b
        p[held] = fit_mode.p_minor(fit_mode.fit(X[~held], y[~held], 1.0), X[held])
    right = (p >= 0.5) == y
    decided = np.maximum(p, 1 - p) >= cut
    return {s: (int(np.sum(~right & (source == s))), int(np.sum(~(right & decided) & (source == s)))) for s in SOURCES}


def main(argv=None) -> int:
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=".cache/acoustic_corpus")
    ap.add_argument("--batches", default="1,2,3,6,7")
    ap.add_argument("--split", default="train")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    manifest = read_manifest(corpus, args.split, set(args.batches.split(",")))
    items = planted_items(12)
    with ProcessPoolExecutor(args.jobs) as pool:
        X = list(pool.map(_corpus_item, [(str(corpus / m["wav"]), m["tonic"], m["mode"]) for m in manifest]))
        X += list(pool.map(_planted_item, items))
    names = list(X[0])
    X = np.array([list(row.values()) for row in X])
    y = np.array([m["mode"] == "minor" for m in manifest] + [planted_clip(e, s)[2] == "minor" for e, s in items], int)
    source = np.array([m["name"].split("_")[0] for m in manifest] + ["planted"] * len(items))
    batch = np.array([m["batch"] for m in manifest] + [0] * len(items))
    print(f"{len(y)} clips: " + ", ".join(f"{s} {int(np.sum(source == s))}" for s in SOURCES))
    folk = source == "folk"
    for i, name in enumerate(names):
        print(f"  {name:13s} AUC all {roc_auc_score(y, X[:, i]):.3f}, folk {roc_auc_score(y[folk], X[folk, i]):.3f}")
    print(f"leave-one-batch-out errors (wrong, wrong or uncertain at {tonality.UNCERTAIN_BELOW}):")
    fitted = list(range(len(names) - len(CANDIDATES)))
    for label, cols in [("fitted six", fitted)] + [(f"+ {c}", fitted + [6 + k]) for k, c in enumerate(CANDIDATES)]:
        print(f"  {label:15s} {leave_one_batch_out(X[:, cols], y, batch, source, tonality.UNCERTAIN_BELOW)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
