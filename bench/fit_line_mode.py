"""Fit the mode confidence of a melodic line (``tonality.LINE_MARGIN_WEIGHT``) and score the
line reading against the two steps on the same clips, held out by batch.

    PYTHONPATH=lib .venv/bin/python scripts/build_acoustic_corpus.py        # once
    PYTHONPATH=lib .venv/bin/python bench/fit_line_mode.py [--batches 1,2,3,4,5,6,7,8,9] [--split train]

Each clip of ``--split`` and ``--batches`` whose bass share is under
``tonality.LINE_BASS_SHARE_BELOW`` is read by ``tonality.line_reading``; the label is
whether that reading's mode is the truth's.  The weight is scikit-learn's
LogisticRegression without intercept (a lead of 0 is P = 0.5) and with no penalty to
speak of (C = 1e6) on the lead.  Printed: the weight to put in ``tonality``, then per
batch, with the weight fitted on the other batches (so the weight alone is held out, not
the bass cut or the profiles, which were chosen on the same clips), ``estimate_key``'s
right / uncertain / wrong with the line reading (gates and the agreement with the two
steps included) beside the two steps' alone (the line reading switched off), and key exact.
"""
from __future__ import annotations

import argparse
import collections
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import add_corpus_arguments, corpus_records  # noqa: E402
from emoprobe import tonality  # noqa: E402
from emoprobe.tonality import PITCH_CLASSES  # noqa: E402

ALL_BATCHES = "1,2,3,4,5,6,7,8,9"
LINE_CUT = tonality.LINE_BASS_SHARE_BELOW


def _measure(path: str):
    y, sr = sf.read(path, dtype="float32", always_2d=False)
    chroma, _, bass_share = tonality._chromas(y, sr)
    if bass_share >= LINE_CUT:
        return bass_share, None, None
    # Decided at any confidence: the gates and the agreement with the two steps (the weight is held out).
    tonality.LINE_BASS_SHARE_BELOW = LINE_CUT
    passes = tonality.estimate_key(y, sr, uncertain_below=0.0).mode != "uncertain"
    tonality.LINE_BASS_SHARE_BELOW = 0.0          # the two steps alone
    two_steps = tonality.estimate_key(y, sr)
    return bass_share, (*tonality.line_reading(chroma), passes), (two_steps.tonic, two_steps.mode)


def fit_weight(lead: np.ndarray, right: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression

    return float(LogisticRegression(fit_intercept=False, C=1e6).fit(lead[:, None], right).coef_[0, 0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser, batches=ALL_BATCHES)
    args = parser.parse_args(argv)
    records = corpus_records(args)
    with ProcessPoolExecutor(args.jobs) as pool:
        measured = list(pool.map(_measure, [str(Path(args.corpus) / m["wav"]) for m in records]))
    line = [(m, r, steps) for m, (share, r, steps) in zip(records, measured) if r is not None]
    if not line:
        raise SystemExit("no clip under the bass cut")
    lead = np.array([r[2] for _, r, _ in line])
    right = np.array([r[1] == m["mode"] for m, r, _ in line], dtype=int)
    batch = np.array([str(m.get("batch", 1)) for m, _, _ in line])
    if len(set(batch)) < 2:
        raise SystemExit(f"the clips under the cut come from one batch ({batch[0]}): nothing to hold out")
    sources = collections.Counter(m["name"].split("_")[0] + ("_airds" if "airds" in m["name"] else "")
                                  for m, _, _ in line)
    print(f"{len(line)} of {len(records)} clips under bass share {LINE_CUT}: {dict(sources)}")
    print(f"LINE_MARGIN_WEIGHT = {fit_weight(lead, right):.3f}   (in tonality: {tonality.LINE_MARGIN_WEIGHT})")
    totals = collections.Counter()
    for b in sorted(set(batch)):
        held = batch == b
        w = fit_weight(lead[~held], right[~held]) if (~held).any() and len(set(right[~held])) > 1 else 0.0
        counts = collections.Counter()
        for (m, r, steps), lead_i in zip([x for x, h in zip(line, held) if h], lead[held]):
            p = 1.0 / (1.0 + np.exp(-w * lead_i))        # a lead is >= 0: P(the line's mode is right)
            decided = r[3] and p >= tonality.UNCERTAIN_BELOW
            counts["line right"] += int(decided and r[1] == m["mode"])
            counts["line uncertain"] += int(not decided)
            counts["line wrong"] += int(decided and r[1] != m["mode"])
            counts["line key exact"] += (PITCH_CLASSES[r[0]], r[1]) == (m["tonic"], m["mode"])
            counts["steps right"] += steps[1] == m["mode"]
            counts["steps uncertain"] += steps[1] == "uncertain"
            counts["steps wrong"] += steps[1] not in ("uncertain", m["mode"])
            counts["steps key exact"] += steps == (m["tonic"], m["mode"])
            counts["n"] += 1
        totals.update(counts)
        print(f"batch {b} (w {w:.2f}): {dict(counts)}")
    print(f"all: {dict(totals)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
