"""Pretrained key/tempo models whose weights ship in a PyPI package (madmom, tempocnn)
against emoprobe's extractor, on the rendered validation corpus (issue 15).

madmom is not a project dependency: it runs in a scratch venv, so this script
has two halves that run under two interpreters.

    # once: the scratch venv (madmom 0.16.1 builds from its sdist with Cython)
    python3 -m venv /work/scratch/mmvenv
    /work/scratch/mmvenv/bin/pip install numpy==2.4.6 scipy==1.17.1 soundfile==0.14.0 cython wheel setuptools
    /work/scratch/mmvenv/bin/pip install --no-build-isolation madmom==0.16.1

    # 1. madmom's estimates per clip (scratch venv; imports no emoprobe)
    /work/scratch/mmvenv/bin/python bench/bench_pretrained.py estimate --corpus /tmp/corpus \
        --split train --out .cache/madmom_train.json
    # 2. score beside emoprobe (project venv; bench_corpus' scorer)
    PYTHONPATH=lib .venv/bin/python bench/bench_pretrained.py score --corpus /tmp/corpus \
        --split train --madmom .cache/madmom_train.json
    # 3. time both on the same 10 s clips, one thread each, in one run
    PYTHONPATH=lib .venv/bin/python bench/bench_pretrained.py timing \
        --madmom-python /work/scratch/mmvenv/bin/python --n 10

    # tempocnn (tempo only) needs its own venv: it pins tensorflow 2.17, hence numpy 1.26
    python3 -m venv /work/scratch/tcvenv && /work/scratch/tcvenv/bin/pip install tempocnn==0.0.8 soundfile
    /work/scratch/tcvenv/bin/python bench/bench_pretrained.py estimate-tempocnn --corpus /tmp/corpus \
        --split train --out .cache/tempocnn_train.json      # then: score ... --tempocnn that file

madmom's estimators:

* key: ``CNNKeyRecognitionProcessor`` (Korzeniowski & Widmer 2018), 24-way softmax;
* tempo ``madmom_comb``: ``RNNBeatProcessor`` (8 BLSTMs) + ``TempoEstimationProcessor``
  (comb filter histogram, defaults 40-250 BPM), its strongest peak;
* tempo ``madmom_dbn``: the same activations + ``DBNBeatTrackingProcessor``
  (Böck et al. 2015, defaults 55-215 BPM), 60 / median inter-beat interval.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
# Its figures in bench/RESULTS.md were measured when the corpus was batch 1 alone.
DEFAULT_BATCHES = "1"


def _records(corpus: Path, split: str, batches: str = DEFAULT_BATCHES) -> list[dict]:
    sys.path.insert(0, str(HERE))
    from _corpus import read_manifest

    return read_manifest(corpus, split, batches if batches == "all" else set(batches.split(",")))


# --- half 1: madmom (scratch venv) -------------------------------------------------------------

def _import_madmom():
    """madmom 0.16.1 on Python 3.11 / numpy 2 needs two aliases that were removed
    upstream (``collections.MutableSequence``; ``np.float``/``np.int``/``np.complex``).
    Set here at run time rather than patching the installed source."""
    import collections
    import collections.abc

    collections.MutableSequence = collections.abc.MutableSequence
    for name, typ in (("float", float), ("int", int), ("complex", complex)):
        if name not in np.__dict__:
            setattr(np, name, typ)
    from madmom.audio.signal import Signal
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    from madmom.features.key import KEY_LABELS, CNNKeyRecognitionProcessor
    from madmom.features.tempo import TempoEstimationProcessor

    return Signal, CNNKeyRecognitionProcessor, RNNBeatProcessor, TempoEstimationProcessor, \
        DBNBeatTrackingProcessor, KEY_LABELS


class MadmomEstimator:
    def __init__(self):
        (self.Signal, key_cls, rnn_cls, tempo_cls, dbn_cls, self.labels) = _import_madmom()
        self.key = key_cls()
        self.rnn = rnn_cls()
        self.tempo = tempo_cls(fps=100)
        self.dbn = dbn_cls(fps=100)

    def __call__(self, y: np.ndarray, sr: int) -> dict:
        from scipy.signal import resample_poly

        if y.ndim > 1:
            y = y.mean(axis=1)
        g = np.gcd(int(sr), 44100)
        y44 = resample_poly(y, 44100 // g, int(sr) // g).astype(np.float32)  # the models' rate
        sig = self.Signal(y44, sample_rate=44100, num_channels=1)
        t0 = time.perf_counter()
        probs = self.key(sig)[0]
        t1 = time.perf_counter()
        act = self.rnn(sig)
        t2 = time.perf_counter()
        peaks = self.tempo(act)
        beats = self.dbn(act)
        best = self.labels[int(np.argmax(probs))].split()
        return {"tonic": best[0], "mode": best[1], "key_probs": [float(p) for p in probs],
                "key_seconds": t1 - t0, "rnn_seconds": t2 - t1, "post_seconds": time.perf_counter() - t2,
                "tempo_comb": float(peaks[0, 0]) if len(peaks) else 0.0,
                "tempo_peaks": [[float(b), float(s)] for b, s in peaks[:5]],
                "tempo_dbn": float(60.0 / np.median(np.diff(beats))) if len(beats) > 2 else 0.0}


def estimate(args) -> int:
    corpus = Path(args.corpus)
    records = _records(corpus, args.split, args.batches) if args.split != "none" else []
    paths = [str(corpus / m["wav"]) for m in records] + list(args.wav or [])
    t0 = time.perf_counter()
    est = MadmomEstimator()
    load_s = time.perf_counter() - t0
    out, secs = [], []
    for p in paths:
        y, sr = sf.read(p, dtype="float32")
        t = time.perf_counter()
        r = est(y, sr)
        secs.append(time.perf_counter() - t)
        out.append({"wav": Path(p).name, **r, "seconds": secs[-1]})
    Path(args.out).write_text(json.dumps({"load_seconds": load_s, "clips": out}))
    print(f"madmom: {len(paths)} clips, models loaded in {load_s:.1f} s, "
          f"{np.mean(secs) if secs else 0:.2f} s per clip")
    return 0


def estimate_tempocnn(args) -> int:
    """tempocnn's tempo per clip (Schreiber & Müller; its venv: tensorflow 2.17,
    numpy 1.26). Its packaged models only; written in the shape ``estimate``
    writes, with no key."""
    from tempocnn.classifier import TempoClassifier
    from tempocnn.feature import read_features

    corpus = Path(args.corpus)
    records = _records(corpus, args.split, args.batches)
    t0 = time.perf_counter()
    models = {name: TempoClassifier(name) for name in args.models.split(",")}
    load_s = time.perf_counter() - t0
    out = []
    for m in records:
        t = time.perf_counter()
        feats = read_features(str(corpus / m["wav"]))
        tempi = {f"tempo_{name}": float(c.estimate_tempo(feats, interpolate=True)) for name, c in models.items()}
        out.append({"wav": m["wav"], **tempi, "seconds": time.perf_counter() - t})
    Path(args.out).write_text(json.dumps({"load_seconds": load_s, "clips": out}))
    print(f"tempocnn: {len(out)} clips, models loaded in {load_s:.1f} s, "
          f"{np.mean([c['seconds'] for c in out]):.2f} s per clip ({len(models)} models)")
    return 0


# --- half 2: scoring beside emoprobe (project venv) --------------------------------------------

def _emoprobe_full(y: np.ndarray, sr: int) -> dict:
    from emoprobe import acoustics as ac

    f = ac.extract_features(y, sr)
    return {"tempo": f.tempo_bpm, "tonic": f.key, "mode": f.mode, "best_mode": f.mode_best_guess,
            "mode_confidence": f.mode_confidence, "flag": "tempo_estimators_disagree" in f.flags,
            "tempo_estimates": dict(f.tempo_estimates)}


def _emoprobe_job(path: str) -> dict:
    y, sr = sf.read(path, dtype="float32")
    return _emoprobe_full(y, sr)


def _madmom_as(m: dict, tempo_key: str) -> dict:
    return {"tempo": m[tempo_key], "tonic": m["tonic"], "mode": m["mode"], "flag": None}


def _group(rec: dict) -> str:
    kind = "chorale" if rec["name"].startswith("chorale") else "synthetic"
    return f"{kind}, {'drums' if rec['drums'] else 'no drums'}"


def _ratio_name(est: float, truth: float) -> str:
    r = est / truth
    for name, m in (("right", 1), ("x2", 2), ("x1/2", 0.5), ("x3", 3), ("x1/3", 1 / 3), ("3:2", 1.5),
                    ("2:3", 2 / 3), ("5:3", 5 / 3), ("3:5", 0.6)):
        if abs(r / m - 1) <= 0.04:
            return name
    return "other"


def emoprobe_results(records: list[dict], corpus: Path, cache: Path | None, jobs: int) -> list[dict]:
    """emoprobe's full features per clip, and the two library baselines, cached by
    clip name (so that combination rules can be scored again without re-extracting)."""
    from concurrent.futures import ProcessPoolExecutor

    sys.path.insert(0, str(HERE))
    import bench_corpus as bc
    from emoprobe import acoustics as ac

    bc.ESTIMATORS["emoprobe"] = _emoprobe_full
    have = json.loads(cache.read_text()) if cache and cache.exists() else {}
    todo = [m for m in records if m["name"] not in have]
    if todo:
        names = ["emoprobe", "essentia", "librosa"]
        with ProcessPoolExecutor(jobs, initializer=ac._single_threaded_worker) as pool:
            for m, r in zip(todo, pool.map(bc._run, [(str(corpus / m["wav"]), names) for m in todo])):
                have[m["name"]] = r
        if cache:
            cache.write_text(json.dumps(have))
    return [have[m["name"]] for m in records]


def score_cmd(args) -> int:
    sys.path.insert(0, str(HERE))
    import bench_corpus as bc

    corpus = Path(args.corpus)
    records = _records(corpus, args.split, args.batches)
    mm = {c["wav"]: c for c in json.loads(Path(args.madmom).read_text())["clips"]}
    base = emoprobe_results(records, corpus, Path(args.cache) if args.cache else None, args.jobs)
    tc = {c["wav"]: c for c in json.loads(Path(args.tempocnn).read_text())["clips"]} if args.tempocnn else {}
    tc_names = sorted(k for k in next(iter(tc.values()), {}) if k.startswith("tempo_"))
    results = []
    for rec, b in zip(records, base):
        m = mm[rec["wav"]]
        r = dict(b)
        r["madmom_comb"] = _madmom_as(m, "tempo_comb")
        r["madmom_dbn"] = _madmom_as(m, "tempo_dbn")
        for name, rule in COMBINATIONS.items():
            r[name] = rule(b["emoprobe"], m)
        for k in tc_names:  # tempo only: the key columns are emoprobe's
            r[f"tempocnn_{k[6:]}"] = {**b["emoprobe"], "tempo": tc[rec["wav"]][k], "flag": None}
        results.append(r)
    names = ["emoprobe", "essentia", "librosa", "madmom_comb", "madmom_dbn", *COMBINATIONS,
             *(f"tempocnn_{k[6:]}" for k in tc_names)]
    print(f"{len(records)} clips ({args.split})")
    for name in names:
        print(f"{name:24s}", json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                                          for k, v in bc.score(records, results, name).items()}))
        groups: dict[str, list[int]] = {}
        for i, rec in enumerate(records):
            groups.setdefault(_group(rec), []).append(i)
        for g, idx in sorted(groups.items()):
            s = bc.score([records[i] for i in idx], [results[i] for i in idx], name)
            print(f"    {g:22s} n={s['n']:2d} mode {s['mode_acc']:.3f} key {s['key_weighted']:.3f} "
                  f"acc1 {s['acc1']:.3f} acc2 {s['acc2']:.3f}")
        ratios: dict[str, int] = {}
        for rec, r in zip(records, results):
            k = _ratio_name(r[name]["tempo"], rec["bpm"])
            ratios[k] = ratios.get(k, 0) + 1
        print("    tempo by ratio:", dict(sorted(ratios.items(), key=lambda kv: -kv[1])))
        if args.misses:
            for rec, r in zip(records, results):
                r = r[name]
                bad_key = r["mode"] != rec["mode"] or bc._norm_key(r["tonic"]) != bc._norm_key(rec["tonic"])
                if bad_key or _ratio_name(r["tempo"], rec["bpm"]) != "right":
                    print(f"      {rec['name']:34s} truth {rec['tonic']:2s} {rec['mode']} {rec['bpm']:5.1f} | "
                          f"est {r['tonic']:2s} {r['mode']:9s} {r['tempo']:6.1f}")
    return 0


def _uncertain_to_madmom_key(e: dict, m: dict) -> dict:
    """madmom's key as the vote where emoprobe's mode is "uncertain"."""
    if e["mode"] != "uncertain":
        return e
    return {**e, "tonic": m["tonic"], "mode": m["mode"], "best_mode": m["mode"]}


def _flagged_to_madmom_tempo(e: dict, m: dict) -> dict:
    """madmom's comb tempo where emoprobe's own estimators disagree (its flag)."""
    return {**e, "tempo": m["tempo_comb"]} if e["flag"] else e


def _madmom_octave_up(e: dict, m: dict) -> dict:
    """madmom as an octave arbiter: double emoprobe's tempo where madmom's comb
    or DBN tempo is its double (madmom halves more often than it doubles, so
    only the upward move is trusted)."""
    t = e["tempo"]
    up = any(abs(m[k] / (2 * t) - 1) <= 0.04 for k in ("tempo_comb", "tempo_dbn"))
    return {**e, "tempo": 2 * t} if up else e


# Designed on the train split (bench/RESULTS.md, "A pretrained model"); the test split scores them once.
COMBINATIONS = {"emo+mm key if uncertain": _uncertain_to_madmom_key,
                "emo+mm tempo if flagged": _flagged_to_madmom_tempo,
                "emo+mm octave up": _madmom_octave_up}


def timing_cmd(args) -> int:
    """Per-clip seconds on ``bench_acoustics``' 10 s clips, one thread, one
    process each: emoprobe's ``extract_features`` in this process, madmom in its
    venv; two rounds alternated, best of 2, so that the ratio comes from one run."""
    from concurrent.futures import ProcessPoolExecutor

    sys.path.insert(0, str(HERE))
    import bench_acoustics as ba
    from emoprobe import acoustics as ac

    ac._single_threaded_worker()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        with ProcessPoolExecutor(2) as pool:
            paths = list(pool.map(ba._make_clip, [(i, tmp) for i in range(args.n)]))
        ep, mm, load, parts = [], [], [], []
        for _ in range(2):
            t0 = time.perf_counter()
            for p in paths:
                y, sr = sf.read(p, dtype="float32")
                ac.extract_features(y, sr)
            ep.append((time.perf_counter() - t0) / len(paths))
            out = Path(tmp) / "mm.json"
            subprocess.run([args.madmom_python, __file__, "estimate", "--split", "none", "--out", str(out),
                            "--wav", *paths], check=True, env=env)
            got = json.loads(out.read_text())
            mm.append(float(np.mean([c["seconds"] for c in got["clips"]])))
            parts.append({k: float(np.mean([c[f"{k}_seconds"] for c in got["clips"]])) for k in ("key", "rnn", "post")})
            load.append(got["load_seconds"])
    print(f"{args.n} clips of {ba.DUR:.0f} s, one thread each, best of 2 rounds: "
          f"emoprobe {min(ep):.2f} s/clip, madmom (key + RNN beats + comb tempo + DBN) {min(mm):.2f} s/clip, "
          f"ratio {min(mm) / min(ep):.2f}; madmom model load {min(load):.1f} s per process")
    fast = parts[int(np.argmin(mm))]
    print("madmom's parts (s/clip, its faster round): " + ", ".join(f"{k} {v:.2f}" for k, v in fast.items()))
    print(f"80 clips on 2 workers, extrapolated: emoprobe {80 * min(ep) / 2:.0f} s, "
          f"emoprobe + madmom {80 * (min(ep) + min(mm)) / 2:.0f} s")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("estimate", help="madmom's estimates per clip (run in madmom's venv)")
    e.add_argument("--corpus", default=".cache/acoustic_corpus")
    e.add_argument("--split", default="train", choices=["train", "test", "all", "none"])
    e.add_argument("--batches", default=DEFAULT_BATCHES, help="corpus batches (\"all\" or e.g. 1,2)")
    e.add_argument("--wav", nargs="*", help="extra audio files")
    e.add_argument("--out", required=True)
    c = sub.add_parser("estimate-tempocnn", help="tempocnn's tempo per clip (run in its venv)")
    c.add_argument("--corpus", default=".cache/acoustic_corpus")
    c.add_argument("--split", default="train", choices=["train", "test", "all"])
    c.add_argument("--batches", default=DEFAULT_BATCHES, help="corpus batches (\"all\" or e.g. 1,2)")
    c.add_argument("--models", default="fcn,cnn,ismir2018")
    c.add_argument("--out", required=True)
    s = sub.add_parser("score", help="score madmom beside emoprobe and the baselines (project venv)")
    s.add_argument("--corpus", default=".cache/acoustic_corpus")
    s.add_argument("--split", default="train", choices=["train", "test", "all"])
    s.add_argument("--batches", default=DEFAULT_BATCHES, help="corpus batches (\"all\" or e.g. 1,2)")
    s.add_argument("--madmom", required=True, help="JSON written by 'estimate'")
    s.add_argument("--tempocnn", help="JSON written by 'estimate-tempocnn'")
    s.add_argument("--cache", help="JSON cache of emoprobe's and the baselines' results")
    s.add_argument("--jobs", type=int, default=2)
    s.add_argument("--misses", action="store_true")
    t = sub.add_parser("timing", help="seconds per 10 s clip, emoprobe and madmom, same run")
    t.add_argument("--madmom-python", required=True)
    t.add_argument("--n", type=int, default=16, help="how many of bench_acoustics' clips")
    args = ap.parse_args(argv)
    return {"estimate": estimate, "estimate-tempocnn": estimate_tempocnn, "score": score_cmd, "timing": timing_cmd}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
