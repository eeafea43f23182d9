"""Tempo, sixth look (issue 15, nothing adopted): on the train halves of all nine corpus
batches (546 clips), is any rule left that moves the octave the right way?  Scored on a
dump of every estimator's tempo per clip (``bench/tempo_candidates.py``); nothing here is
in ``lib/``.

    OPENBLAS_CORETYPE=Haswell PYTHONPATH=lib .venv/bin/python bench/tempo_candidates.py \
        --split train --batches 1,2,3,4,5,6,7,8,9 --out .cache/tempo_cand_train_9.pkl
    PYTHONPATH=lib .venv/bin/python bench/tempo_sixth_look.py .cache/tempo_cand_train_9.pkl

Printed, each against the extractor's tempo on the same clips:

1. Each estimator alone, by range of the true tempo; the best of the extractor and
   RhythmExtractor2013 multifeature per clip (an oracle); the misses by ratio to the truth.
2. How many misses and right answers each agreement flag would fire on.
3. Where the extractor and multifeature sit an octave apart, take the one inside
   [a, 2a) (a prior over tempi, the issue's "agreement between onset-based and
   beat-tracking estimates").
4. Where all three trackers (multifeature, degara, Percival) agree on a tempo an
   octave from the extractor's, take theirs.
5. ``tempo.choose_tempo``'s prior and switch margin refitted on a grid, each batch held
   out in turn (the settings were last searched on batch 1's 52 train clips).

McNemar's exact p (``scipy.stats.binomtest``) on the clips a rule fixed and broke.
"""
from __future__ import annotations

import argparse
import itertools
import math
import pickle
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from emoprobe import tempo as tp  # noqa: E402

TOL = 0.04
RANGES = ((50, 70), (70, 90), (90, 150), (150, 170), (170, 191))
KINDS = ("chorale", "folk", "synth")
LOG_TOL = math.log2(1 + TOL)


def right(bpm: float, rec: dict) -> bool:
    return abs(bpm / rec["bpm"] - 1) <= TOL


def octave_apart(a: float, b: float) -> bool:
    return a > 0 and b > 0 and abs(abs(math.log2(a / b)) - 1) <= LOG_TOL


def trackers(rec: dict) -> list[float]:
    return [rec["multifeature"], rec["degara"], rec["estimates"]["essentia_percival"]]


@contextmanager
def choose_tempo_settings(centre: float, std: float, weight: float, margin: float):
    saved = tp.PRIOR_CENTRE_BPM, tp.PRIOR_STD_OCTAVES, tp.PRIOR_WEIGHT, tp.SWITCH_MARGIN
    tp.PRIOR_CENTRE_BPM, tp.PRIOR_STD_OCTAVES, tp.PRIOR_WEIGHT, tp.SWITCH_MARGIN = centre, std, weight, margin
    try:
        yield
    finally:
        tp.PRIOR_CENTRE_BPM, tp.PRIOR_STD_OCTAVES, tp.PRIOR_WEIGHT, tp.SWITCH_MARGIN = saved


def extractor_tempo(rec: dict) -> float:
    """``acoustics.estimate_tempo``'s decision replayed from the dump with ``tempo``'s
    settings of the moment: the metrical check, then the trackers' consensus where the
    low band has no pulse.  ``main`` checks it reproduces the dumped tempo of every clip."""
    acfs, fps = [rec["acf_low"], rec["acf_full"]], rec["fps"]
    bpm = tp.choose_tempo_from_acfs(acfs, fps, rec["estimates"]["lowband_acf"]).bpm
    low_at_beat = float(np.interp(60 * fps / bpm, np.arange(rec["acf_low"].size), rec["acf_low"], right=0.0))
    if low_at_beat <= tp.NO_PULSE_BELOW and any(t > 0 for t in trackers(rec)):
        bpm = tp.consensus_tempo(trackers(rec), TOL)
    return bpm


def summary(name: str, tempi: list[float], recs: list[dict], base: list[float] | None = None) -> None:
    hits = [right(t, r) for t, r in zip(tempi, recs)]
    kinds = " ".join(f"{k} {sum(h for h, r in zip(hits, recs) if r['name'].startswith(k))}/"
                     f"{sum(r['name'].startswith(k) for r in recs)}" for k in KINDS)
    ranges = " ".join(f"{lo}-{hi}: {sum(h for h, r in zip(hits, recs) if lo <= r['bpm'] < hi)}/"
                      f"{sum(lo <= r['bpm'] < hi for r in recs)}" for lo, hi in RANGES)
    line = f"{name:<44} Acc1 {np.mean(hits):.3f}  {kinds}  |  {ranges}"
    if base is not None:
        was = [right(t, r) for t, r in zip(base, recs)]
        fixed = sum(h and not w for h, w in zip(hits, was))
        broke = sum(w and not h for h, w in zip(hits, was))
        p = binomtest(fixed, fixed + broke).pvalue if fixed + broke else 1.0
        per_batch = [sum(h for h, r in zip(hits, recs) if r["batch"] == b)
                     - sum(w for w, r in zip(was, recs) if r["batch"] == b) for b in sorted({r["batch"] for r in recs})]
        line += f"\n{'':<44} fixed {fixed}, broke {broke}, McNemar p {p:.3g}; net per batch {per_batch}"
    print(line)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dump")
    ap.add_argument("--window-low", type=float, nargs="+", default=[80.0, 90.0, 95.0])
    args = ap.parse_args()
    recs = pickle.load(open(args.dump, "rb"))
    replayed = [extractor_tempo(r) for r in recs]
    mismatched = [r["name"] for t, r in zip(replayed, recs) if not math.isclose(t, r["primary"], rel_tol=1e-9)]
    if mismatched:
        raise SystemExit(f"the replay does not reproduce the extractor on {len(mismatched)} clips "
                         f"({mismatched[:3]}...): the dump is from another extractor version")
    base = [r["primary"] for r in recs]
    print(f"{len(recs)} clips; the replay reproduces the extractor's tempo on every one\n")

    print("1. estimators alone")
    summary("emoprobe (the extractor)", base, recs)
    for name, get in (("RhythmExtractor2013 multifeature", lambda r: r["multifeature"]),
                      ("RhythmExtractor2013 degara", lambda r: r["degara"]),
                      ("PercivalBpmEstimator", lambda r: r["estimates"]["essentia_percival"])):
        summary(name, [get(r) for r in recs], recs, base)
    oracle = [r["primary"] if right(r["primary"], r) else r["multifeature"] for r in recs]
    summary("oracle: the extractor or multifeature", oracle, recs, base)
    misses = [r for r in recs if not right(r["primary"], r)]
    ratios = Counter(f"{r['primary'] / r['bpm']:.1f}" for r in misses)
    print(f"{'':<44} the extractor's misses by estimate/truth: {dict(ratios.most_common(6))}\n")

    print("2. flags: fires on misses / on right answers")
    rights = [r for r in recs if right(r["primary"], r)]
    flags = {"the extractor's flag": lambda r: r["flag"],
             "multifeature an octave away": lambda r: octave_apart(r["multifeature"], r["primary"]),
             "multifeature and degara both disagree": lambda r: all(
                 abs(math.log2(t / r["primary"])) > LOG_TOL for t in (r["multifeature"], r["degara"]) if t > 0)}
    for name, fires in flags.items():
        print(f"{name:<44} {sum(map(fires, misses))}/{len(misses)} misses, {sum(map(fires, rights))}/{len(rights)} right")
    print()

    print("3. an octave apart from multifeature: the one in [a, 2a)")
    for a in args.window_low:
        pick = [(r["primary"] if a <= r["primary"] < 2 * a else r["multifeature"])
                if octave_apart(r["primary"], r["multifeature"]) else r["primary"] for r in recs]
        summary(f"a = {a:g}", pick, recs, base)
    print()

    print("4. all three trackers an octave from the extractor: theirs")
    pick = []
    for r in recs:
        ts = [t for t in trackers(r) if t > 0]
        agreed = len(ts) == 3 and all(abs(math.log2(t / ts[0])) <= LOG_TOL for t in ts)
        pick.append(float(np.median(ts)) if agreed and octave_apart(ts[0], r["primary"]) else r["primary"])
    summary("trackers unanimous", pick, recs, base)
    print()

    print("5. choose_tempo's prior and switch margin refitted, each batch held out in turn")
    grid = list(itertools.product((80.0, 90.0, 100.0, 110.0, 120.0), (0.35, 0.5, 0.75, 1.0),
                                  (0.2, 0.4, 0.6, 0.9), (0.0, 0.25, 0.5)))
    hits = np.zeros((len(grid), len(recs)), dtype=bool)
    for i, setting in enumerate(grid):
        with choose_tempo_settings(*setting):
            hits[i] = [right(extractor_tempo(r), r) for r in recs]
    batch = np.array([r["batch"] for r in recs])
    best = int(hits.mean(axis=1).argmax())
    print(f"{'':<44} in-sample best of {len(grid)} (centre, std, weight, margin): {grid[best]}, "
          f"Acc1 {hits[best].mean():.3f}; current {(tp.PRIOR_CENTRE_BPM, tp.PRIOR_STD_OCTAVES, tp.PRIOR_WEIGHT, tp.SWITCH_MARGIN)}")
    held_out, picks = np.zeros(len(recs), dtype=bool), []
    for b in sorted(set(batch)):
        fit = int(hits[:, batch != b].mean(axis=1).argmax())
        picks.append(grid[fit])
        held_out[batch == b] = hits[fit, batch == b]
    # summary() scores tempi: the truth stands for a held-out hit, -1 for a miss.
    summary("refitted, batch held out", [r["bpm"] if h else -1.0 for h, r in zip(held_out, recs)], recs, base)
    print(f"{'':<44} settings picked: {Counter(picks).most_common()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
