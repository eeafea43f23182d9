"""Key, mode and tempo accuracy on the rendered validation corpus, against two
library baselines run on the same clips, plus feature-extraction time.

    PYTHONPATH=lib .venv/bin/python scripts/build_acoustic_corpus.py     # once (~2.5 min)
    PYTHONPATH=lib .venv/bin/python bench/bench_corpus.py [--split test] [--jobs 2] [--timing]

Estimators:

* ``emoprobe``: ``acoustics.extract_features`` as it stands (key, mode, tempo
  and the disagreement flag).
* ``librosa``: ``librosa.feature.tempo`` defaults; Krumhansl-Schmuckler
  (Krumhansl-Kessler profiles correlated with the clip's mean ``chroma_cqt``).
* ``essentia``: ``RhythmExtractor2013`` and ``KeyExtractor`` with their
  defaults, on the clip resampled to 44.1 kHz.

Scores: mode accuracy (an "uncertain" mode counts as wrong), mir_eval key
weighted score, tempo Acc1 (within 4%) and Acc2 (also at 2, 3, 1/2, 1/3 of
the truth), each per clip group.  The tuning split is ``train``; report
``test``.  ``--batch 2`` keeps to the clips added after the extractor's last
change (held out in both splits, see the builder); ``--compare`` prints the
first estimator against each other one with paired CIs and exact tests.  ``--timing`` times ``load_or_extract_many`` on 80 clips of 10 s
(``bench_acoustics``' clips) with a cold cache.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import read_manifest  # noqa: E402
from emoprobe import acoustics as ac  # noqa: E402
from emoprobe.compiled_kernels import import_librosa  # noqa: E402
from emoprobe.essentia_run import quiet_essentia  # noqa: E402
from emoprobe.tonality import PITCH_CLASSES, PROFILES  # noqa: E402

KK_MAJOR, KK_MINOR = (np.array(p) for p in PROFILES["krumhansl"])


def librosa_baseline(y: np.ndarray, sr: int) -> dict:
    librosa = import_librosa()

    tempo = float(librosa.feature.tempo(y=y, sr=sr)[0])
    # tuning=0: the corpus is rendered at A440, which is what the estimate would find. (The
    # estimate's numba localmax segfaulted here once: most likely a kernel cache that two pool
    # workers had compiled at once, which import_librosa now prevents; kept as measured.)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, tuning=0.0).mean(axis=1)
    best = max(((np.corrcoef(chroma, np.roll(prof, k))[0, 1], k, mode)
                for k in range(12) for mode, prof in (("major", KK_MAJOR), ("minor", KK_MINOR))))
    return {"tempo": tempo, "tonic": PITCH_CLASSES[best[1]], "mode": best[2], "flag": None}


def essentia_baseline(y: np.ndarray, sr: int) -> dict:
    librosa = import_librosa()

    es = quiet_essentia()
    y44 = np.ascontiguousarray(librosa.resample(y, orig_sr=sr, target_sr=44100), dtype=np.float32)
    tempo = float(es.RhythmExtractor2013()(y44)[0])
    key, scale, _ = es.KeyExtractor()(y44)
    return {"tempo": tempo, "tonic": key, "mode": scale, "flag": None}


def module_at(rev: str):
    """``emoprobe.acoustics`` as it was at git revision ``rev`` (importable as
    ``emoprobe._acoustics_at_rev``), to compare the extractor before and after
    in one run.  Only ``acoustics.py`` is swapped: the modules it imports
    (``tonality``, ``tempo``) are today's, so a change in those needs a worktree
    of ``rev`` instead."""
    import importlib.util
    import subprocess

    name = "emoprobe._acoustics_at_rev"
    if name not in sys.modules:
        src = subprocess.run(["git", "show", f"{rev}:lib/emoprobe/acoustics.py"], check=True,
                             capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]).stdout
        spec = importlib.util.spec_from_loader(name, loader=None)
        mod = importlib.util.module_from_spec(spec)
        mod.__package__ = "emoprobe"
        mod.__file__ = ac.__file__      # its code hash reads the folder beside it
        sys.modules[name] = mod
        exec(compile(src, f"acoustics@{rev}", "exec"), mod.__dict__)
    return sys.modules[name]


def emoprobe_before(y: np.ndarray, sr: int) -> dict:
    f = module_at(BEFORE_REV).extract_features(y, sr)
    return {"tempo": f.tempo_bpm, "tonic": f.key, "mode": f.mode,
            "flag": "tempo_estimators_disagree" in f.flags}


BEFORE_REV = "b97a85e"  # main when issue 15 began; --before changes it


def emoprobe_estimate(y: np.ndarray, sr: int) -> dict:
    f = ac.extract_features(y, sr)
    return {"tempo": f.tempo_bpm, "tonic": f.key, "mode": f.mode, "best_mode": f.mode_best_guess,
            "flag": "tempo_estimators_disagree" in f.flags}


ESTIMATORS = {"emoprobe": emoprobe_estimate, "emoprobe_before": emoprobe_before, "librosa": librosa_baseline, "essentia": essentia_baseline}


def _run(args):
    path, names = args
    y, sr = sf.read(path, dtype="float32")
    return {name: ESTIMATORS[name](y, sr) for name in names}


def _norm_key(tonic: str) -> str:
    return {"A#": "Bb", "D#": "Eb", "G#": "Ab", "Db": "C#", "Gb": "F#"}.get(tonic, tonic)


FIGURES = ("mode_acc", "key_weighted", "acc1", "acc2")


def per_clip(records: list[dict], results: list[dict], name: str) -> dict[str, np.ndarray]:
    """Each figure per clip (1/0, or mir_eval's key score): what ``score`` averages."""
    import mir_eval

    out: dict[str, list] = {"mode_acc": [], "key_weighted": [], "acc1": [], "acc2": [], "decided": [],
                            "flag": []}
    for rec, res in zip(records, results):
        r = res[name]
        out["mode_acc"].append(r["mode"] == rec["mode"])
        out["decided"].append(r["mode"] in ("major", "minor"))
        best_mode = r.get("best_mode", r["mode"])
        out["key_weighted"].append(mir_eval.key.weighted_score(f"{_norm_key(rec['tonic'])} {rec['mode']}",
                                                               f"{_norm_key(r['tonic'])} {best_mode}"))
        ratio = r["tempo"] / rec["bpm"]
        out["acc1"].append(abs(ratio - 1) <= 0.04)
        out["acc2"].append(any(abs(ratio / m - 1) <= 0.04 for m in (1, 2, 3, 0.5, 1 / 3)))
        out["flag"].append(r["flag"])
    return {k: np.array(v, dtype=object if k == "flag" else float) for k, v in out.items()}


def score(records: list[dict], results: list[dict], name: str) -> dict:
    clips = per_clip(records, results, name)
    out = {"n": len(records), **{k: float(np.mean(clips[k])) for k in FIGURES + ("decided",)}}
    for m in ("major", "minor"):
        sel = np.array([rec["mode"] == m for rec in records])
        out[f"mode_acc_{m}"] = float(np.mean(clips["mode_acc"][sel]))
    if len(records) and clips["flag"][0] is not None:
        f, acc1 = clips["flag"].astype(bool), clips["acc1"].astype(bool)
        out["flag_on_misses"] = f"{int(f[~acc1].sum())}/{int((~acc1).sum())}"
        out["flag_on_correct"] = f"{int(f[acc1].sum())}/{int(acc1.sum())}"
    return out


def paired_comparison(clips_a: dict[str, np.ndarray], clips_b: dict[str, np.ndarray], *,
                      confidence: float = 0.95, seed: int = 0) -> dict[str, dict]:
    """Estimator a against b on the same clips, per figure: the mean difference
    a - b, a CI and a two-sided p that agree with each other.

    * Right/wrong figures (mode, Acc1, Acc2): McNemar's exact test, i.e.
      ``scipy.stats.binomtest`` on the split of the discordant clips (those only
      one estimator gets right), and the matching conditional interval: the
      Clopper-Pearson interval of that split, scaled to a difference of shares by
      the discordant share of all clips.  Conditioning on the discordant count is
      what the exact test does; the CI then holds 0 exactly when the test is not
      significant at ``1 - confidence`` (checked up to 200 against 200 discordant
      clips, review 27b).  Being conditional, it leaves out the chance in how
      many clips are discordant: where one estimator is never the only one right,
      its far end is the observed difference, and it covers the true difference
      less often than its level says.
    * The key's weighted score (a few values per clip): a percentile bootstrap
      CI of the mean per-clip difference, and a two-sided sign-flip p
      (``scipy.stats.permutation_test``, 9999 random flips).  Not BCa: with a
      handful of clips that differ, BCa's interval excluded 0 where the exact
      test gave p = 0.25.  The percentile interval can still exclude 0 with 4 or
      5 clips differing while p is 0.06-0.13.

    Clips are taken as independent draws from the corpus' population.  **The p
    decides**: a figure is a tie unless its p is under ``1 - confidence``; the
    intervals show the size."""
    from scipy import stats

    out = {}
    for fig in FIGURES:
        if fig not in clips_a or fig not in clips_b:
            raise ValueError(f"both estimators need per-clip scores for {fig}")
        a, b = np.asarray(clips_a[fig], dtype=float), np.asarray(clips_b[fig], dtype=float)
        if a.shape != b.shape or a.ndim != 1 or a.size == 0:
            raise ValueError(f"{fig}: the two estimators need the same non-empty list of clips, "
                             f"got {a.shape} and {b.shape}")
        if not (np.isfinite(a).all() and np.isfinite(b).all()) or a.min() < 0 or b.min() < 0 \
                or a.max() > 1 or b.max() > 1:
            raise ValueError(f"{fig}: per-clip scores should be numbers in [0, 1]")
        d = a - b
        row = {"a": float(a.mean()), "b": float(b.mean()), "diff": float(d.mean()), "n": int(d.size)}
        if fig == "key_weighted":
            if np.ptp(d) == 0:
                row["ci"], row["p"] = (float(d[0]), float(d[0])), 1.0
            else:
                rng = np.random.default_rng(seed)
                ci = stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=9999,
                                     method="percentile", random_state=rng).confidence_interval
                row["ci"] = (float(ci.low), float(ci.high))
                row["p"] = float(stats.permutation_test((d,), np.mean, permutation_type="samples",
                                                        n_resamples=9999, random_state=rng).pvalue)
        else:
            if not np.isin(np.concatenate([a, b]), (0.0, 1.0)).all():
                raise ValueError(f"{fig}: per-clip scores should be right (1) or wrong (0)")
            a_only, b_only = int(np.sum(d > 0)), int(np.sum(d < 0))
            discordant = a_only + b_only
            row["a_only"], row["b_only"] = a_only, b_only
            if discordant:
                test = stats.binomtest(a_only, discordant)
                split = test.proportion_ci(confidence_level=confidence, method="exact")
                share = discordant / d.size
                row["ci"] = (share * (2 * split.low - 1), share * (2 * split.high - 1))
                row["p"] = float(test.pvalue)
            else:
                row["ci"], row["p"] = (0.0, 0.0), 1.0
        out[fig] = row
    return out


def format_comparison(name_a: str, name_b: str, comparison: dict[str, dict]) -> str:
    lines = [f"{name_a} - {name_b} (paired, same clips):"]
    for fig, r in comparison.items():
        test = (f"right only for {name_a} {r['a_only']}, only for {name_b} {r['b_only']}, McNemar p {r['p']:.3g}"
                if "a_only" in r else f"sign-flip p {r['p']:.3g}")
        lines.append(f"  {fig:12s} {r['a']:.3f} vs {r['b']:.3f}: {r['diff']:+.3f} "
                     f"(95% CI {r['ci'][0]:+.3f} to {r['ci'][1]:+.3f}); {test}")
    return "\n".join(lines)


def timing(n_jobs: int) -> dict[str, float]:
    """Seconds for features of bench_acoustics' 80 clips of 10 s, cold cache,
    with this extractor and with the one at ``BEFORE_REV``, alternated twice."""
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_acoustics as ba

    before = module_at(BEFORE_REV)
    times: dict[str, list[float]] = {"now": [], "before": []}
    with tempfile.TemporaryDirectory() as tmp:
        with ProcessPoolExecutor(n_jobs) as pool:
            paths = list(pool.map(ba._make_clip, [(i, tmp) for i in range(ba.N_CLIPS)]))
        for rnd in range(2):
            for label, mod in (("now", ac), ("before", before)):
                t0 = time.perf_counter()
                mod.load_or_extract_many(paths, ba.SampleStore(Path(tmp) / f"store_{label}_{rnd}"), ba.SR,
                                         n_jobs=n_jobs)
                times[label].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def read_against(path: str, records: list[dict], estimator: str = "emoprobe") -> list[dict]:
    """Per clip of ``records``, in order, another run's results (``--json`` of this script)
    for ``estimator``.  Refuses a file whose clips repeat a name, miss a clip, carry another
    truth (another corpus build) or lack the estimator."""
    try:
        theirs = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"--against {path}: cannot read it as a --json file of this script ({err})")
    if not isinstance(theirs, list) or not all(isinstance(r, dict) and "name" in r for r in theirs):
        raise SystemExit(f"--against {path}: not a list of clip records (write it with --json)")
    by_name: dict[str, dict] = {}
    for r in theirs:
        if r["name"] in by_name:
            raise SystemExit(f"--against {path}: clip {r['name']!r} appears twice")
        by_name[r["name"]] = r
    out = []
    for m in records:
        r = by_name.get(m["name"])
        if r is None:
            raise SystemExit(f"--against {path}: no result for clip {m['name']!r}")
        if any(r.get(k) != m[k] for k in ("tonic", "mode", "bpm")):
            raise SystemExit(f"--against {path}: clip {m['name']!r} has another truth there (another corpus build?)")
        if estimator not in r.get("results", {}):
            raise SystemExit(f"--against {path}: clip {m['name']!r} has no {estimator!r} result")
        out.append(r["results"])
    return out


def main(argv=None) -> int:
    global BEFORE_REV
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=".cache/acoustic_corpus")
    ap.add_argument("--split", default="test", choices=["train", "test", "all", "none"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--batch", default="all", help="corpus batch: 1, 2 or all (see build_acoustic_corpus)")
    ap.add_argument("--estimators", default=",".join(ESTIMATORS))
    ap.add_argument("--compare", action="store_true",
                    help="paired CIs and McNemar tests of the first estimator against each other one")
    ap.add_argument("--against", help="a --json file of another run on the same clips (another revision's "
                    "emoprobe, say): --compare then also sets the first estimator against its emoprobe")
    ap.add_argument("--misses", action="store_true", help="list the clips each estimator gets wrong")
    ap.add_argument("--json", help="write per-clip results here")
    ap.add_argument("--timing", action="store_true", help="also time 80 clips of 10 s, now and before")
    ap.add_argument("--before", default=BEFORE_REV, help="git revision of the 'before' extractor")
    args = ap.parse_args(argv)
    BEFORE_REV = args.before
    corpus = Path(args.corpus)
    records = read_manifest(corpus, args.split, args.batch if args.batch == "all" else {args.batch})
    names = args.estimators.split(",")
    if args.against and not args.compare:
        raise SystemExit("--against needs --compare")
    against = read_against(args.against, records) if args.against else None   # before the long scoring run
    jobs = [(str(corpus / m["wav"]), names) for m in records]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, initializer=ac._single_threaded_worker) as pool:
        results = list(pool.map(_run, jobs))
    print(f"{len(records)} clips (split {args.split}, batch {args.batch}) in {time.perf_counter() - t0:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps([{**m, "results": r} for m, r in zip(records, results)], indent=1))
    for name in names if records else ():
        print(name, json.dumps(score(records, results, name)))
        if args.misses:
            for rec, res in zip(records, results):
                r = res[name]
                bad_mode = r["mode"] != rec["mode"] or _norm_key(r["tonic"]) != _norm_key(rec["tonic"])
                bad_tempo = abs(r["tempo"] / rec["bpm"] - 1) > 0.04
                if bad_mode or bad_tempo:
                    print(f"   {rec['name']:40s} {rec['instrument']:11s} drums={rec['drums']!s:13s} "
                          f"truth {rec['tonic']} {rec['mode']} {rec['bpm']:6.1f} | est {r['tonic']} {r['mode']} "
                          f"{r['tempo']:6.1f} flag={r['flag']}")
    if args.compare and records:
        first = per_clip(records, results, names[0])
        for other in names[1:]:
            print(format_comparison(names[0], other, paired_comparison(first, per_clip(records, results, other))))
        if against is not None:
            other = per_clip(records, against, "emoprobe")
            print(format_comparison(names[0], f"emoprobe of {Path(args.against).name}", paired_comparison(first, other)))
    if args.timing:
        t = timing(args.jobs)
        print(f"features of 80 clips of 10 s, {args.jobs} workers, best of 2: "
              f"now {t['now']:.1f} s, before ({BEFORE_REV}) {t['before']:.1f} s, ratio {t['now'] / t['before']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
