"""Chroma entropy of music against audio with no pitch: where ``tonality.NO_PITCH_ENTROPY`` is read
(bench/RESULTS.md, "Audio with no pitch").

    PYTHONPATH=lib .venv/bin/python scripts/build_acoustic_corpus.py        # once
    PYTHONPATH=lib .venv/bin/python bench/no_pitch_entropy.py [--split train] [--n 10]

Prints, per kind of clip, the range of ``tonality.chroma_entropy`` of the chroma
``estimate_key`` reads, and how many clips get a decided mode: the corpus' clips
of one split, the planted models' audio (seeds 100 on), and white, pink and brown
noise and drum-only patterns (``synth_audio.drum_pattern``) at 132 and 72 BPM.
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from emoprobe import tonality  # noqa: E402

SR = 32000
PITCHLESS = ("white", "pink", "brown", "drums_132", "drums_72")


def measure(audio: np.ndarray, sample_rate: int) -> tuple[float, str]:
    audio = np.asarray(audio, dtype=np.float32)
    chroma = tonality._chromas(audio, sample_rate)[0]
    return tonality.chroma_entropy(chroma), tonality.estimate_key(audio, sample_rate).mode


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


def _pitchless_item(args):
    kind, seed = args
    return (kind, *measure(pitchless_clip(kind, seed), SR))


def _planted_item(args):
    from emoprobe.truth.known_truth import EMOTION_ACOUSTICS
    from emoprobe.truth.synth_audio import synthesise_emotion_audio

    emotion, seed = args
    t = EMOTION_ACOUSTICS[emotion]
    y = synthesise_emotion_audio(t["tempo_bpm"], t["mode"], t["brightness_hz"], t["rms"], 10.0, SR, seed=seed,
                                 tonic=seed % 12)
    return ("planted", *measure(y, SR))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=".cache/acoustic_corpus")
    ap.add_argument("--split", default="train", choices=["train", "test"])
    ap.add_argument("--batches", default="1,2", help="corpus batches to read")
    ap.add_argument("--n", type=int, default=10, help="clips per kind of pitchless audio")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    from emoprobe.truth.known_truth import EMOTION_ACOUSTICS

    corpus = Path(args.corpus)
    batches = set(args.batches.split(","))
    manifest = [m for m in json.loads((corpus / "manifest.json").read_text())
                if m["split"] == args.split and str(m.get("batch", 1)) in batches]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(_corpus_item, [str(corpus / m["wav"]) for m in manifest]))
        rows += list(pool.map(_planted_item, [(e, 100 + i) for e in EMOTION_ACOUSTICS for i in range(12)]))
        rows += list(pool.map(_pitchless_item, [(k, s) for k in PITCHLESS for s in range(args.n)]))
    print(f"NO_PITCH_ENTROPY = {tonality.NO_PITCH_ENTROPY}")
    for kind in ("corpus", "planted") + PITCHLESS:
        ent = np.array([e for k, e, _ in rows if k == kind])
        decided = sum(mode != "uncertain" for k, _, mode in rows if k == kind)
        print(f"{kind:10s} n={ent.size:3d} entropy {ent.min():.3f} to {ent.max():.3f} (median {np.median(ent):.3f}); "
              f"mode decided on {decided}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
