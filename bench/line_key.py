"""Score the melodic line's key (``tonality.line_reading``) against the two steps alone on the
corpus clips with no bass.

    PYTHONPATH=lib .venv/bin/python scripts/build_acoustic_corpus.py        # once
    PYTHONPATH=lib .venv/bin/python bench/line_key.py [--batches 1,...,9] [--split train]

Each clip of ``--split`` and ``--batches`` whose bass share is under
``tonality.LINE_BASS_SHARE_BELOW`` is read by ``estimate_key`` twice: as it is, where the line
names the tonic when its mode is the two steps' guess, and with the line switched off (the
two steps alone).  Printed per batch: key exact (tonic and mode) for both, the line's own
best key exact, how often the line's mode is the two steps' guess, and the clips whose mode
or confidence differs between the two readings (none: the mode is always the two steps').
Nothing is fitted; the bass cut and the profiles were chosen on the train halves.
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


def _read(path: str):
    y, sr = sf.read(path, dtype="float32", always_2d=False)
    chroma, _, bass_share = tonality._chromas(y, sr)
    if bass_share >= LINE_CUT:
        return None
    tonality.LINE_BASS_SHARE_BELOW = LINE_CUT
    with_line = tonality.estimate_key(y, sr)
    tonality.LINE_BASS_SHARE_BELOW = 0.0          # the two steps alone
    alone = tonality.estimate_key(y, sr)
    tonic, mode = tonality.line_reading(chroma)
    return with_line, alone, (PITCH_CLASSES[tonic], mode)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser, batches=ALL_BATCHES)
    args = parser.parse_args(argv)
    records = corpus_records(args)
    with ProcessPoolExecutor(args.jobs) as pool:
        reads = list(pool.map(_read, [str(Path(args.corpus) / m["wav"]) for m in records]))
    line = [(m, r) for m, r in zip(records, reads) if r is not None]
    print(f"{len(line)} of {len(records)} clips under bass share {LINE_CUT}")
    totals = collections.Counter()
    for b in sorted({str(m.get("batch", 1)) for m, _ in line}):
        counts = collections.Counter()
        for m, (with_line, alone, own) in (x for x in line if str(x[0].get("batch", 1)) == b):
            truth = (m["tonic"], m["mode"])
            counts["key exact, line names the tonic"] += (with_line.tonic, with_line.best_mode) == truth
            counts["key exact, two steps alone"] += (alone.tonic, alone.best_mode) == truth
            counts["key exact, the line's own key"] += own == truth
            counts["line's mode = two steps' guess"] += with_line.reading == "line"
            counts["mode or confidence differs"] += (with_line.mode, with_line.confidence) != (alone.mode,
                                                                                                 alone.confidence)
            counts["n"] += 1
        totals.update(counts)
        print(f"batch {b}: {dict(counts)}")
    print(f"all: {dict(totals)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
