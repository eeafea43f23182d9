"""Key-pair rules of ``emoprobe.tonality`` on the corpus' train split and the planted audio
(issue 15; the table "The key pair by three essentia profiles" in bench/RESULTS.md).

    PYTHONPATH=lib .venv/bin/python scripts/build_acoustic_corpus.py        # once
    PYTHONPATH=lib .venv/bin/python bench/key_pair_rules.py [--split train] [--planted 12]

Per clip it measures once what ``tonality.estimate_key`` reads the pair from (the
profile-ensemble pair scores and essentia's KeyExtractor key under several
profiles), then scores rules on those measurements: the ensemble with no bonus,
each essentia profile's own pair, and the ensemble plus a bonus for the pair of
each voting profile.  A pair is the relative major/minor couple; a clip's pair is
right when it holds the true key.
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
from _corpus import SR, add_corpus_arguments, corpus_records, planted_clip, planted_items  # noqa: E402
from emoprobe import tonality  # noqa: E402
from emoprobe.tonality import PITCH_CLASSES  # noqa: E402

PROFILES = ("edma", "krumhansl", "shaath", "bgate", "temperley", "braw")
RULES = {                    # label: bonus per voting profile
    "profile ensemble, no bonus": {},
    "+ edma 0.2 (acoustics-1.5)": {"edma": 0.2},
    "+ edma, krumhansl, shaath, 0.1 each": {"edma": 0.1, "krumhansl": 0.1, "shaath": 0.1},
    "+ edma, krumhansl, shaath, 0.2 each": {"edma": 0.2, "krumhansl": 0.2, "shaath": 0.2},
    "+ edma, krumhansl, shaath, 0.3 each": {"edma": 0.3, "krumhansl": 0.3, "shaath": 0.3},
    "+ edma 0.2 and krumhansl 0.3": {"edma": 0.2, "krumhansl": 0.3},
}


def measure(audio: np.ndarray, sample_rate: int) -> dict:
    corr = tonality._measurements(audio, sample_rate)[2]
    return {"pair": corr[0] + np.roll(corr[1], -9),
            "keys": {p: tonality._essentia_key(audio, sample_rate, p) for p in PROFILES}}


def _corpus_item(args):
    path, tonic, mode, group = args
    y, sr = sf.read(path, dtype="float32")
    return {"group": group, "tonic": tonic, "mode": mode, **measure(y, sr)}


def _planted_item(args):
    y, tonic, mode = planted_clip(*args)
    return {"group": "planted", "tonic": tonic, "mode": mode, **measure(y, SR)}


def true_pair(clip: dict) -> int:
    pc = PITCH_CLASSES.index(clip["tonic"])
    return pc if clip["mode"] == "major" else (pc + 3) % 12


def rule_pair(clip: dict, bonuses: dict[str, float]) -> int:
    scores = clip["pair"].copy()
    for profile, bonus in bonuses.items():
        scores[tonality._pair_of(clip["keys"][profile])] += bonus
    return int(np.argmax(scores))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arguments(ap, batches="1,2", batches_help="corpus batches (the rule was chosen on 1 and 2)")
    ap.add_argument("--planted", type=int, default=12, help="planted-audio clips per emotion")
    args = ap.parse_args(argv)

    corpus = Path(args.corpus)
    manifest = corpus_records(args)
    with ProcessPoolExecutor(args.jobs) as pool:
        clips = list(pool.map(_corpus_item, [(str(corpus / m["wav"]), m["tonic"], m["mode"],
                                              f"batch {m.get('batch', 1)}") for m in manifest]))
        clips += list(pool.map(_planted_item, planted_items(args.planted)))
    groups = {"corpus": [c for c in clips if c["group"] != "planted"]}
    for name in sorted({c["group"] for c in clips}):
        groups[name] = [c for c in clips if c["group"] == name]
    print(f"pair accuracy, {args.split} split | " + " | ".join(f"{g} ({len(cs)})" for g, cs in groups.items()))
    for profile in PROFILES:
        print(f"essentia {profile} alone".ljust(40) + " | ".join(
            f"{np.mean([tonality._pair_of(c['keys'][profile]) == true_pair(c) for c in cs]):.3f}"
            for cs in groups.values()))
    for label, bonuses in RULES.items():
        print(label.ljust(40) + " | ".join(f"{np.mean([rule_pair(c, bonuses) == true_pair(c) for c in cs]):.3f}"
                                           for cs in groups.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
