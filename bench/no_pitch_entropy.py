"""Chroma entropy, tonic-and-third share and chroma stability of music against audio with no pitch or no third:
where ``tonality.NO_PITCH_ENTROPY``, ``NO_THIRD_BELOW`` and ``NO_HARMONY_STABILITY`` are read (bench/RESULTS.md,
"Audio with no pitch").

    PYTHONPATH=lib .venv/bin/python scripts/build_acoustic_corpus.py        # once
    PYTHONPATH=lib .venv/bin/python bench/no_pitch_entropy.py [--split train] [--n 10]

Prints, per kind of clip, the range of ``tonality.chroma_entropy`` and of
``tonality.tonic_and_third_share`` (at the tonic ``estimate_key`` names) of the
chroma ``estimate_key`` reads, and how many clips get a decided mode: the
corpus' clips of one split, the planted models' audio (seeds 100 on), white,
pink and brown noise, drum-only patterns (``synth_audio.drum_pattern``) at 132
and 72 BPM, and audio with no third: single sines, sawtooth drones, open fifths,
and octaves in noise at 5 dB SNR, on each of the 12 pitch classes; and each drum
pattern of ``synth_audio.DRUM_PATTERNS`` at 60-170 BPM, with the
``tonality.chroma_stability`` of every kind (``NO_HARMONY_STABILITY``).
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

PITCHLESS = ("white", "pink", "brown", "drums_132", "drums_72")
DRUM_KINDS = ("four_on_floor", "rock", "backbeat_quarter_hats", "syncopated")
THIRDLESS = ("sine", "drone", "fifth", "octave_in_noise")


def measure(audio: np.ndarray, sample_rate: int) -> tuple[float, float, float, str]:
    audio = np.asarray(audio, dtype=np.float32)
    chroma = tonality._chromas(audio, sample_rate)[0]
    key = tonality.estimate_key(audio, sample_rate)
    return (tonality.chroma_entropy(chroma),
            tonality.tonic_and_third_share(chroma, tonality.PITCH_CLASSES.index(key.tonic)),
            tonality.chroma_stability(chroma), key.mode)


def _corpus_item(path: str):
    y, sr = sf.read(path, dtype="float32")
    return ("corpus", *measure(y, sr))


def pitchless_clip(kind: str, seed: int) -> np.ndarray:
    from emoprobe.truth.synth_audio import drum_pattern

    rng = np.random.default_rng(7000 + seed)
    x = rng.standard_normal(10 * SR)
    if kind.startswith("drums"):
        return drum_pattern(float(kind.split("_")[1]) * rng.uniform(0.95, 1.05), 10.0, SR, seed=7000 + seed)
    if kind == "pink":
        f = np.fft.rfft(x)
        f[1:] /= np.sqrt(np.arange(1, f.size))
        x = np.fft.irfft(f, x.size)
    elif kind == "brown":
        x = np.cumsum(x)
        x -= x.mean()
    return 0.05 * x / x.std()


def _drum_item(args):
    from emoprobe.truth.synth_audio import drum_pattern

    pattern, i = args
    x = drum_pattern(60.0 + 10 * i, 10.0, SR, pattern=pattern, seed=i)
    return (pattern, *measure(0.05 * x / x.std(), SR))


def _pitchless_item(args):
    kind, seed = args
    return (kind, *measure(pitchless_clip(kind, seed), SR))


def thirdless_clip(kind: str, pitch_class: int) -> np.ndarray:
    t = np.arange(int(10 * SR)) / SR
    f0 = 110.0 * 2 ** (pitch_class / 12)

    def saw(f, n):
        return sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, n))

    if kind == "sine":
        return 0.1 * np.sin(2 * np.pi * 2 * f0 * t)
    if kind == "drone":
        return 0.05 * saw(f0, 20)
    if kind == "fifth":
        return 0.03 * (saw(f0, 12) + saw(f0 * 1.4983, 12))
    y = 0.03 * (saw(f0, 12) + saw(2 * f0, 12))
    noise = np.random.default_rng(pitch_class).standard_normal(y.size)
    return y + noise / noise.std() * y.std() / 10 ** (5 / 20)


def _thirdless_item(args):
    kind, pitch_class = args
    return (kind, *measure(thirdless_clip(kind, pitch_class), SR))


def _planted_item(args):
    return ("planted", *measure(planted_clip(*args)[0], SR))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=".cache/acoustic_corpus")
    ap.add_argument("--split", default="train", choices=["train", "test"])
    ap.add_argument("--batches", default="1,2", help="corpus batches to read")
    ap.add_argument("--n", type=int, default=10, help="clips per kind of pitchless audio")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)

    corpus = Path(args.corpus)
    manifest = read_manifest(corpus, args.split, set(args.batches.split(",")))
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(_corpus_item, [str(corpus / m["wav"]) for m in manifest]))
        rows += list(pool.map(_planted_item, planted_items(12)))
        rows += list(pool.map(_pitchless_item, [(k, s) for k in PITCHLESS for s in range(args.n)]))
        rows += list(pool.map(_thirdless_item, [(k, pc) for k in THIRDLESS for pc in range(12)]))
        rows += list(pool.map(_drum_item, [(k, i) for k in DRUM_KINDS for i in range(12)]))
    print(f"NO_PITCH_ENTROPY = {tonality.NO_PITCH_ENTROPY}, NO_THIRD_BELOW = {tonality.NO_THIRD_BELOW}, "
          f"NO_HARMONY_STABILITY = {tonality.NO_HARMONY_STABILITY}")
    for kind in ("corpus", "planted") + PITCHLESS + THIRDLESS + DRUM_KINDS:
        values = np.array([r[1:4] for r in rows if r[0] == kind])
        decided = sum(r[4] != "uncertain" for r in rows if r[0] == kind)
        ranges = "; ".join(f"{name} {v.min():.3f} to {v.max():.3f}"
                           for name, v in zip(("entropy", "tonic-and-third share", "stability"), values.T))
        print(f"{kind:22s} n={len(values):3d} {ranges}; mode decided on {decided}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
