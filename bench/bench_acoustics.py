"""Benchmark: acoustic features for 80 clips of 10 s at 32 kHz on 2 cores.

Target (issue 4): all 80 in under a minute, computed once and loaded from the
cache afterwards.  The clips are made by ``synthesise_emotion_audio`` (20 per
emotion-like setting), written as WAV to a temporary directory; clip synthesis
is not timed.  The first pass includes worker start-up and numba compilation,
as a real first run would.

    PYTHONPATH=lib .venv/bin/python bench/bench_acoustics.py [--jobs 2] [--accuracy]

``--accuracy`` also re-measures the numbers behind the extractor's choices:
tempo accuracy per estimator on held-out click/drum clips at 60-180 BPM, and
mode/key accuracy per essentia key profile on major/minor progressions.
The headline figure (seconds for the first pass over 80 clips) is printed last.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from emoprobe import acoustics as ac  # noqa: E402
from emoprobe.essentia_run import quiet_essentia  # noqa: E402
from emoprobe.truth import synth_audio as sa  # noqa: E402
from emoprobe.store import SampleStore  # noqa: E402

SR = 32000
DUR = 10.0
N_CLIPS = 80
# (tempo, mode, brightness, rms) centres for four emotion-like settings.
SETTINGS = {"happy": (128, "major", 2200, 0.08), "sad": (68, "minor", 700, 0.03),
            "calm": (76, "major", 900, 0.02), "energetic": (150, "minor", 3000, 0.09)}


def _make_clip(args):
    i, out_dir = args
    name = list(SETTINGS)[i % len(SETTINGS)]
    tempo, mode, bright, rms = SETTINGS[name]
    rng = np.random.default_rng(i)
    y = sa.synthesise_emotion_audio(tempo * rng.uniform(0.9, 1.1), mode, bright * rng.uniform(0.8, 1.2),
                                    rms * rng.uniform(0.8, 1.2), DUR, SR, seed=i)
    path = Path(out_dir) / f"{name}_{i:03d}.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    return path


def bench_timing(jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        with ProcessPoolExecutor(jobs) as pool:
            paths = list(pool.map(_make_clip, [(i, tmp) for i in range(N_CLIPS)]))
        store = SampleStore(Path(tmp) / "store")  # features are kept as the store's derived data

        t0 = time.perf_counter()
        first = ac.load_or_extract_many(paths, store, SR, n_jobs=jobs)
        t_first = time.perf_counter() - t0

        t0 = time.perf_counter()
        second = ac.load_or_extract_many(paths, store, SR, n_jobs=1)
        t_second = time.perf_counter() - t0
        assert first == second, "cached features differ from computed ones"

        by_emotion = {}
        for p, f in zip(paths, first):
            by_emotion.setdefault(p.stem.split("_")[0], []).append(f)
        table = {("happy", "sad"): {"tempo_bpm": "higher", "rms": "higher",
                                    "centroid_mean_hz": "higher", "mode": ("major", "minor")},
                 ("energetic", "calm"): {"tempo_bpm": "higher", "rms": "higher",
                                         "centroid_mean_hz": "higher"}}
        records = ac.validate_contrasts(by_emotion, table, threshold=0.8, min_decided=0.5,
                                        n_bootstrap=500)
        flagged = sum(bool(f.flags) for f in first)

    print(f"clips: {N_CLIPS} x {DUR:.0f} s at {SR} Hz, workers: {jobs}")
    print(f"first pass (extract + write cache): {t_first:.1f} s total, "
          f"{t_first / N_CLIPS * 1000:.0f} ms/clip wall, {t_first * jobs / N_CLIPS * 1000:.0f} ms/clip/core")
    print(f"second pass (loaded from cache):    {t_second:.2f} s total, "
          f"{t_second / N_CLIPS * 1000:.1f} ms/clip")
    print(f"clips with any flag: {flagged}/{N_CLIPS}")
    print("contrast checks on the synthetic emotion clips (threshold 0.80):")
    for r in records:
        who = f"[{r.emotion}]" if r.emotion else ""
        print(f"  {r.contrast[0]:>9} vs {r.contrast[1]:<5} {r.feature:17}{who:12} rate {r.agreement_rate:.2f} "
              f"CI [{r.ci_low:.2f}, {r.ci_high:.2f}] p {r.pvalue:.2g} {'PASS' if r.passed else 'FAIL'}")
    return t_first


def _tempo_case(args):
    kind, bpm, offset, seed = args
    if kind == "click_accented":
        y = sa.click_track(bpm, DUR, SR, offset_s=offset)
    elif kind == "click_plain":
        y = sa.click_track(bpm, DUR, SR, accent_every=0, offset_s=offset)
    else:
        y = sa.drum_pattern(bpm, DUR, SR, pattern=kind, seed=seed, swing_jitter_ms=8.0)
    return kind, bpm, ac.estimate_tempo(y, SR).estimates


def bench_accuracy(jobs: int) -> None:
    rng = np.random.default_rng(12345)
    bpms = np.exp(np.linspace(math.log(60), math.log(180), 25)) + rng.uniform(-1, 1, 25)
    cases = []
    for i, bpm in enumerate(np.clip(bpms, 60, 180)):
        offset = float(rng.uniform(0, 0.5))
        for kind in ("click_accented", "click_plain", *sa.DRUM_PATTERNS):
            cases.append((kind, float(bpm), offset, 1000 + i))
    with ProcessPoolExecutor(jobs) as pool:
        results = list(pool.map(_tempo_case, cases))
    tol = math.log2(1.04)
    kinds = list(dict.fromkeys(r[0] for r in results))
    print(f"\ntempo: {len(results)} held-out clips, 60-180 BPM; share within 4% / octave errors / other")
    print(f"{'estimator':20} {'within':>6} {'octave':>6} {'other':>6} | " + " ".join(f"{k[:10]:>10}" for k in kinds))
    for name in results[0][2]:
        err = np.array([abs(math.log2(r[2][name] / r[1])) for r in results])
        ok, octv = err <= tol, np.abs(err - 1) <= tol
        per_kind = " ".join(f"{ok[[r[0] == k for r in results]].mean():10.2f}" for k in kinds)
        print(f"{name:20} {ok.mean():6.3f} {octv.mean():6.3f} {1 - ok.mean() - octv.mean():6.3f} | {per_kind}")

    import essentia.standard as es
    profiles = ["bgate", "edma", "krumhansl", "temperley", "temperley2005", "shaath", "noland", "diatonic"]
    flat = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb"}
    clips = []
    rng = np.random.default_rng(1)
    for tonic in range(12):
        for mode, progs in sa.PROGRESSIONS.items():
            for prog in progs:
                bpm = float(rng.uniform(60, 180))
                y = sa.chord_progression(tonic, mode, DUR, SR, progression=prog, bpm=bpm)
                clips.append((tonic, mode, y))
                clips.append((tonic, mode, y + 0.6 * sa.drum_pattern(bpm, DUR, SR, pattern="rock", seed=tonic)))
    print(f"\nkey profiles: {len(clips)} progressions (12 keys x 6 progressions, with/without drums)")
    for prof in profiles:
        ke = es.KeyExtractor(profileType=prof, sampleRate=SR)
        out = [ke(y.astype(np.float32)) for _, _, y in clips]
        mode_ok = np.mean([o[1] == c[1] for o, c in zip(out, clips)])
        key_ok = np.mean([o[1] == c[1] and sa.PITCH_CLASSES.index(flat.get(o[0], o[0])) == c[0]
                          for o, c in zip(out, clips)])
        print(f"  {prof:14} mode {mode_ok:.3f}  key {key_ok:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--accuracy", action="store_true", help="also re-measure estimator accuracy")
    args = ap.parse_args()
    quiet_essentia()
    if args.accuracy:
        bench_accuracy(args.jobs)
        print()
    t_first = bench_timing(args.jobs)
    print(f"first pass, {N_CLIPS} clips of {DUR:.0f} s on {args.jobs} workers: {t_first:.1f} s (target < 60 s)")


if __name__ == "__main__":
    main()
