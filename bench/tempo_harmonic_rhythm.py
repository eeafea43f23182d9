"""Does harmonic rhythm tell the notated beat from its octaves?  (issue 15, tempo; not adopted)

    PYTHONPATH=lib .venv/bin/python bench/tempo_harmonic_rhythm.py [--split train] [--batches 1]

For each clip: the extractor's tempo T, and the autocorrelation of two chroma-change
envelopes (chroma flux, and a windowed chroma novelty) at the beat periods of T/2,
T and 2T (best within 4%).  In chorales the chords change on the beat, so where T
is an octave off, the envelope should be more periodic at the true level.  Prints
one row per clip with the truth's relation to T ("ok", "x2": the truth is 2T,
"x1/2": the truth is T/2), then how often the best of the three levels is the true
one among the octave misses and among the right clips.
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
from _corpus import read_manifest  # noqa: E402
from emoprobe import acoustics as ac  # noqa: E402
from emoprobe.compiled_kernels import import_librosa  # noqa: E402

HOP = 512
RATIOS = (0.5, 1.0, 2.0)


def _acf_at(envelope: np.ndarray, fps: float, bpm: float) -> float:
    e = envelope - envelope.mean()
    acf = np.correlate(e, e, "full")[e.size - 1:]
    acf = acf / (acf[0] + 1e-12)
    lag = 60.0 * fps / bpm
    lo, hi = int(np.floor(lag * 0.96)), int(np.ceil(lag * 1.04))
    return float(acf[lo:hi + 1].max()) if hi < acf.size else float("nan")


def measure(path: str) -> dict:
    librosa = import_librosa()
    y, sr = sf.read(path, dtype="float32")
    tempo = ac.estimate_tempo(y, sr).tempo_bpm
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, hop_length=HOP, n_fft=4096)
    fps = sr / HOP
    smooth = np.apply_along_axis(lambda r: np.convolve(r, np.ones(3) / 3, mode="same"), 1, chroma)
    norm = smooth / (smooth.sum(axis=0, keepdims=True) + 1e-9)
    flux = np.r_[0.0, np.maximum(0.0, np.diff(norm, axis=1)).sum(axis=0)]
    w = int(0.12 * fps)
    novelty = np.zeros(norm.shape[1])
    for t in range(w, norm.shape[1] - w):
        a, b = norm[:, t - w:t].mean(axis=1), norm[:, t:t + w].mean(axis=1)
        novelty[t] = 1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
    return {"tempo": tempo, **{name: [_acf_at(env, fps, tempo * r) for r in RATIOS]
                               for name, env in (("flux", flux), ("novelty", novelty))}}


def relation(truth: float, tempo: float) -> str:
    for label, r in (("ok", 1.0), ("x2", 2.0), ("x1/2", 0.5)):
        if abs(truth / (tempo * r) - 1.0) <= 0.04:
            return label
    return "other"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=".cache/acoustic_corpus")
    ap.add_argument("--split", default="train", choices=["train", "test"])
    ap.add_argument("--batches", default="1")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    manifest = read_manifest(corpus, args.split, set(args.batches.split(",")))
    with ProcessPoolExecutor(args.jobs, initializer=ac._single_threaded_worker) as pool:
        rows = list(pool.map(measure, [str(corpus / m["wav"]) for m in manifest]))
    picks = {"flux": {"miss": [0, 0], "ok": [0, 0]}, "novelty": {"miss": [0, 0], "ok": [0, 0]}}
    for m, r in zip(manifest, rows):
        rel = relation(m["bpm"], r["tempo"])
        print(f"{m['name'][:30]:30s} truth {m['bpm']:6.1f} T {r['tempo']:6.1f} {rel:5s} "
              + " ".join(f"{n} " + ",".join(f"{v:.2f}" for v in r[n]) for n in ("flux", "novelty")))
        if rel == "other":
            continue
        want = {"ok": 1, "x2": 2, "x1/2": 0}[rel]
        for n in picks:
            best = int(np.nanargmax(r[n]))
            group = picks[n]["ok" if rel == "ok" else "miss"]
            group[0] += best == want
            group[1] += 1
    for n, p in picks.items():
        print(f"{n}: the most periodic level is the true one on {p['miss'][0]}/{p['miss'][1]} octave misses "
              f"and {p['ok'][0]}/{p['ok'][1]} right clips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
