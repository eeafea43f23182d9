"""Tempo, fifth attempt (issue 15, not adopted): with 202 train clips (batches 1-3),
is there an octave rule that carries over from one batch to another?  Scored on a
dump of every estimator's tempo per clip (``bench/tempo_candidates.py``); nothing
here is in ``lib/``.

    PYTHONPATH=lib .venv/bin/python bench/tempo_candidates.py --split train --out .cache/tempo_cand_train_all.pkl
    PYTHONPATH=lib .venv/bin/python bench/tempo_fifth_attempt.py .cache/tempo_cand_train_all.pkl

1. An octave model: the final tempo E, E/2 or 2E, whichever a logistic score
   (scikit-learn, on log tempo and its square, onsets per beat in the full and low
   band, and the onset autocorrelations at the candidate, half it and twice it)
   ranks first; fitted on two batches' train clips, scored on the third's.
2. A double-time rule: where the low band has a pulse (no consensus was taken) and
   the trackers' consensus is twice the final tempo under ``--below`` BPM, take it.

Printed: Acc1 before and after, per held-out batch and per kind of clip (rendered
chorales, synthetic progressions), and how many clips each change fixed and broke.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from emoprobe.tempo import consensus_tempo  # noqa: E402

TOL = 0.04
OCTAVES = (0.5, 1.0, 2.0)
KINDS = ("chorale", "synth")


def right(bpm: float, rec: dict) -> bool:
    return abs(bpm / rec["bpm"] - 1) <= TOL


def _acf_at(acf: np.ndarray, fps: float, bpm: float) -> float:
    return float(np.interp(60 * fps / bpm, np.arange(acf.size), acf, right=0.0))


def candidate_features(rec: dict, bpm: float) -> list[float]:
    fps, log_tempo = rec["fps"], np.log2(bpm / 110)
    per_beat_full = np.log2(max(rec["onset_rate_full"], 1e-3) * 60 / bpm)
    per_beat_low = np.log2(max(rec["onset_rate_low"], 1e-3) * 60 / bpm)
    return [log_tempo, log_tempo ** 2, per_beat_full, per_beat_full ** 2, per_beat_low,
            _acf_at(rec["acf_full"], fps, bpm), _acf_at(rec["acf_low"], fps, bpm),
            _acf_at(rec["acf_full"], fps, bpm / 2), _acf_at(rec["acf_full"], fps, 2 * bpm)]


def octave_model(train: list[dict], C: float = 1.0):
    from sklearn.linear_model import LogisticRegression

    X = np.array([candidate_features(r, r["primary"] * k) for r in train for k in OCTAVES])
    y = np.array([right(r["primary"] * k, r) for r in train for k in OCTAVES])
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-9
    model = LogisticRegression(C=C, max_iter=2000).fit((X - mean) / scale, y)

    def choose(rec: dict) -> float:
        F = np.array([candidate_features(rec, rec["primary"] * k) for k in OCTAVES])
        return rec["primary"] * OCTAVES[int(np.argmax(model.decision_function((F - mean) / scale)))]
    return choose


def double_time(rec: dict, below: float) -> float:
    if "metrical" in rec["estimates"]:
        return rec["primary"]
    trackers = [rec["multifeature"], rec["degara"], rec["estimates"]["essentia_percival"]]
    consensus = consensus_tempo(trackers, TOL)
    return consensus if rec["primary"] < below and abs(consensus / (2 * rec["primary"]) - 1) <= TOL else rec["primary"]


def summary(label: str, recs: list[dict], after: list[float]) -> str:
    before = [right(r["primary"], r) for r in recs]
    now = [right(t, r) for t, r in zip(after, recs)]
    kinds = " ".join(f"{k} {np.mean([b for b, r in zip(before, recs) if r['name'].startswith(k)]):.3f}->"
                     f"{np.mean([n for n, r in zip(now, recs) if r['name'].startswith(k)]):.3f}" for k in KINDS)
    fixed = sum(n and not b for b, n in zip(before, now))
    broke = sum(b and not n for b, n in zip(before, now))
    return f"{label:28s} n={len(recs):3d} Acc1 {np.mean(before):.3f} -> {np.mean(now):.3f} ({kinds}; fixed {fixed}, broke {broke})"


def main(path: str) -> int:
    recs = pickle.load(open(path, "rb"))
    batches = sorted({r["batch"] for r in recs})
    print("1. octave model, fitted on the other batches' train clips")
    pooled, pooled_after = [], []
    for held in batches:
        test = [r for r in recs if r["batch"] == held]
        choose = octave_model([r for r in recs if r["batch"] != held])
        after = [choose(r) for r in test]
        print("  " + summary(f"held-out batch {held}", test, after))
        pooled, pooled_after = pooled + test, pooled_after + after
    print("  " + summary("all held-out", pooled, pooled_after))
    print("2. double-time rule")
    for below in (70, 80, 90, 100):
        print("  " + summary(f"under {below} BPM", recs, [double_time(r, below) for r in recs]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
