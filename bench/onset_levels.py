"""The loudest onset of steady tones against music: where ``acoustics._TEMPO_FLAG_MIN_ONSET_DB`` sits.

    PYTHONPATH=lib .venv/bin/python -W ignore bench/onset_levels.py [--corpus .cache/acoustic_corpus] [--split train]

Prints, for synthetic steady signals and for the corpus split, the 95th
percentile and the maximum of the low-band and full-band onset envelopes
(librosa onset strength on the extractor's mel spectra: mean dB rise over bands).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import add_corpus_arguments, corpus_records  # noqa: E402
from emoprobe import acoustics  # noqa: E402

SR = 32000


def levels(y: np.ndarray, sr: int) -> list[tuple[float, float]]:
    spec = acoustics._spectra(np.asarray(y, np.float32), sr)
    return [(float(np.percentile(env, 95)), float(env.max()))
            for env in (spec.onset_env_lowband, spec.onset_env_fullband)]


def steady_signals() -> dict[str, np.ndarray]:
    t = lambda d: np.arange(int(d * SR)) / SR  # noqa: E731
    return {"sine 40 Hz": 0.3 * np.sin(2 * np.pi * 40 * t(5)), "sine 220 Hz": 0.3 * np.sin(2 * np.pi * 220 * t(5)),
            "chirp 100-300 Hz": 0.3 * np.sin(2 * np.pi * (100 + 50 * t(4)) * t(4)),
            "white noise": 0.1 * np.random.default_rng(0).standard_normal(5 * SR),
            "sustained C major triad": sum(0.1 * np.sin(2 * np.pi * f * t(5)) for f in (130.8, 164.8, 196.0))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arguments(ap, batches="1", batches_help="corpus batches (its RESULTS figure: batch 1, then the only one)",
                         jobs=False)
    args = ap.parse_args(argv)
    for name, y in steady_signals().items():
        (lo95, lomax), (fu95, fumax) = levels(y, SR)
        print(f"{name:24s} low p95 {lo95:.2f} max {lomax:.2f} | full p95 {fu95:.2f} max {fumax:.2f}")
    corpus = Path(args.corpus)
    manifest = corpus_records(args)
    full_max = []
    for m in manifest:
        y, sr = sf.read(str(corpus / m["wav"]), dtype="float32")
        full_max.append(levels(y, sr)[1][1])
    full_max = np.array(full_max)
    print(f"corpus {args.split} ({len(full_max)} clips): loudest full-band onset min {full_max.min():.2f}, "
          f"5th percentile {np.percentile(full_max, 5):.2f}, median {np.median(full_max):.2f}, "
          f"max {full_max.max():.2f}; threshold {acoustics._TEMPO_FLAG_MIN_ONSET_DB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
