"""The gates of ``tonality.estimate_key`` that leave a clip's mode "uncertain" when it has
no key to read: music against audio with no pitch, no third, no moving harmony or no key
shape.  Where ``NO_PITCH_ENTROPY``, ``NO_THIRD_BELOW``, ``NO_MOVEMENT_BELOW`` and
``NO_KEY_CLARITY_BELOW`` and the percussive pair are read (bench/RESULTS.md, "Audio with
no pitch", "No third, no mode", "acoustics-1.9").

    PYTHONPATH=lib .venv/bin/python scripts/build_acoustic_corpus.py        # once
    PYTHONPATH=lib .venv/bin/python bench/keyless_gates.py [--split train] [--batches 1,2,3] [--n 10]

Prints, per kind of clip, the range of each gate's measure on the chroma
``estimate_key`` reads (``chroma_entropy``; ``tonic_and_third_share`` at the tonic it
names; ``harmonic_movement``; ``key_clarity``; ``chroma_stability``) and how many clips
get a decided mode.

* Music, which must keep its mode: the corpus' clips of one split and batches, the
  planted models' audio (seeds 100 on), and figures the corpus lacks (review 28):
  broken chords at 8, 12 and 16 notes a second (16 without a bass), a one-voice scale
  melody, a pad under a 6 Hz on/off tremolo, a progression under rock drums twice its level.
* Audio with no key: white, pink and brown noise; each drum pattern of
  ``synth_audio.DRUM_PATTERNS`` alone; single sines, sawtooth drones, open fifths and
  octaves in noise on each of the 12 pitch classes; and review 28's (its
  ``review/attack_keyless_audio.py``): comb-filtered ("pitched") noise, band noise at
  400-500 Hz, formant-filtered noise, a glide over a minor third, one square or
  sawtooth note, a random chromatic walk.
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

DUR = 10.0
N = int(DUR * SR)
MEASURES = ("entropy", "tonic-and-third share", "movement", "key clarity", "stability")
MUSIC = ("arpeggio_8", "arpeggio_12", "arpeggio_16_no_bass", "melody", "tremolo_pad", "loud_drums")


def measure(audio: np.ndarray, sample_rate: int) -> tuple:
    audio = np.asarray(audio, dtype=np.float32)
    chroma = tonality._chromas(audio, sample_rate)[0]
    key = tonality.estimate_key(audio, sample_rate)
    return (tonality.chroma_entropy(chroma),
            tonality.tonic_and_third_share(chroma, tonality.PITCH_CLASSES.index(key.tonic)),
            tonality.harmonic_movement(chroma, sample_rate / tonality._HOP),
            tonality.key_clarity(chroma), tonality.chroma_stability(chroma), key.mode)


def _norm(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    return 0.05 * x / (x.std() + 1e-12)


def music_clip(kind: str, tonic: int, mode: str) -> np.ndarray:
    from emoprobe.truth import synth_audio as sa

    if kind.startswith("arpeggio"):
        return _norm(sa.broken_chords(tonic, mode, int(kind.split("_")[1]), DUR, SR, bass="no_bass" not in kind))
    if kind == "melody":                          # one voice on the scale, starting and ending on the tonic
        scale = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10)
        rng, degree, step, out = np.random.default_rng(tonic), 0, SR // 4, np.zeros(N)
        starts = list(range(0, N, step))
        for i, s in enumerate(starts):
            degree = 0 if i in (0, len(starts) - 1) else int(np.clip(degree + rng.integers(-2, 3), -3, 9))
            n = min(step, N - s)
            out[s:s + n] += sa._decaying_note(sa._note_hz(60 + tonic + 12 * (degree // 7) + scale[degree % 7]), n,
                                              SR, 4.0)
        return _norm(out)
    if kind == "tremolo_pad":
        y = sa.sustained_piece(tonic, mode, 90, DUR, SR, seed=tonic).astype(np.float64)
        return _norm(y * (np.sin(2 * np.pi * 6.0 * np.arange(y.size) / SR) > 0))
    chords_audio = sa.chord_progression(tonic, mode, DUR, SR, bpm=110, n_harmonics=None).astype(np.float64)
    drums = sa.drum_pattern(110, DUR, SR, pattern="rock", seed=tonic).astype(np.float64)
    return _norm(chords_audio / chords_audio.std() + 2.0 * drums / drums.std())     # loud_drums


def _item(args):
    group, kind, a, b = args
    if group == "corpus":
        y, sr = sf.read(a, dtype="float32")
        return ("corpus", *measure(y, sr))
    if group == "planted":
        return ("planted", *measure(planted_clip(a, b)[0], SR))
    if group == "music":
        return (kind, *measure(music_clip(kind, a, b), SR))
    if group == "drums":
        from emoprobe.truth.synth_audio import drum_pattern

        return ("drums_" + kind, *measure(_norm(drum_pattern(60.0 + 10 * a, DUR, SR, pattern=kind, seed=a)), SR))
    if group == "thirdless":
        from emoprobe.truth.synth_audio import thirdless_audio

        return (kind, *measure(thirdless_audio(kind, a, DUR, SR), SR))
    from emoprobe.truth.synth_audio import keyless_audio

    return (kind, *measure(keyless_audio(kind, DUR, SR, seed=7000 + a), SR))


def main(argv=None) -> int:
    from emoprobe.truth.synth_audio import DRUM_PATTERNS, KEYLESS_KINDS, THIRDLESS_KINDS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arguments(ap, batches="1,2,3")
    ap.add_argument("--n", type=int, default=10, help="clips per kind of keyless audio")
    args = ap.parse_args(argv)

    jobs = [("corpus", None, str(Path(args.corpus) / m["wav"]), None) for m in corpus_records(args)]
    jobs += [("planted", None, e, s) for e, s in planted_items(12)]
    jobs += [("music", k, tonic, mode) for k in MUSIC for tonic in (0, 3, 7, 10) for mode in ("major", "minor")]
    jobs += [("keyless", k, s, None) for k in KEYLESS_KINDS for s in range(args.n)]
    jobs += [("drums", k, i, None) for k in DRUM_PATTERNS for i in range(12)]
    jobs += [("thirdless", k, pc, None) for k in THIRDLESS_KINDS for pc in range(12)]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(_item, jobs))
    print(f"NO_PITCH_ENTROPY = {tonality.NO_PITCH_ENTROPY}, NO_THIRD_BELOW = {tonality.NO_THIRD_BELOW}, "
          f"NO_MOVEMENT_BELOW = {tonality.NO_MOVEMENT_BELOW}, NO_KEY_CLARITY_BELOW = {tonality.NO_KEY_CLARITY_BELOW}, "
          f"PERCUSSIVE_STABILITY_BELOW = {tonality.PERCUSSIVE_STABILITY_BELOW} with "
          f"PERCUSSIVE_ENTROPY = {tonality.PERCUSSIVE_ENTROPY}")
    kinds = list(dict.fromkeys(r[0] for r in rows))
    for kind in kinds:
        values = np.array([r[1:6] for r in rows if r[0] == kind])
        decided = sum(r[6] != "uncertain" for r in rows if r[0] == kind)
        ranges = "; ".join(f"{name} {v.min():.3f} to {v.max():.3f}" for name, v in zip(MEASURES, values.T))
        print(f"{kind:22s} n={len(values):3d} {ranges}; mode decided on {decided}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
