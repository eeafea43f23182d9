"""Dump per-clip tempo candidates of the acoustic corpus (issue 15, tempo third
attempt): every estimator's tempo plus the onset autocorrelations, so that
combination rules can be designed on the train split without re-running them.

    PYTHONPATH=lib .venv/bin/python bench/tempo_candidates.py --split train --out .cache/tempo_cand_train.pkl
"""
from __future__ import annotations

import argparse
import pickle
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import add_corpus_arguments, corpus_records  # noqa: E402
from emoprobe import acoustics as ac  # noqa: E402
from emoprobe.compiled_kernels import import_librosa  # noqa: E402
from emoprobe import tempo as tp  # noqa: E402
from emoprobe.essentia_run import run_essentia  # noqa: E402


def candidates(path: str) -> dict:
    librosa = import_librosa()

    y, sr = sf.read(path, dtype="float32")
    spec = ac._spectra(y, sr)
    t0 = time.perf_counter()
    te = ac.estimate_tempo(y, sr, _spec=spec)
    t_ref = time.perf_counter() - t0
    y44 = np.ascontiguousarray(librosa.resample(y, orig_sr=sr, target_sr=44100, res_type="soxr_hq"),
                               dtype=np.float32)
    t0 = time.perf_counter()
    mf = run_essentia("RhythmExtractor2013", y44, method="multifeature")
    t_mf = time.perf_counter() - t0
    dg = run_essentia("RhythmExtractor2013", y44, method="degara")
    onsets_full = librosa.onset.onset_detect(onset_envelope=spec.onset_env_fullband, sr=sr, hop_length=ac._HOP)
    onsets_low = librosa.onset.onset_detect(onset_envelope=spec.onset_env_lowband, sr=sr, hop_length=ac._HOP)
    dur = y.size / sr
    return {
        "estimates": te.estimates, "primary": te.tempo_bpm, "flag": te.estimators_disagree,
        "margin": te.margin, "periodicity": te.periodicity,
        "multifeature": float(mf[0]), "mf_conf": float(mf[2]), "mf_estimates": np.asarray(mf[3]),
        "mf_ticks": np.asarray(mf[1]),
        "degara": float(dg[0]), "degara_ticks": np.asarray(dg[1]),
        "acf_low": tp._acf(spec.onset_env_lowband), "acf_full": tp._acf(spec.onset_env_fullband),
        "onset_rate_full": len(onsets_full) / dur, "onset_rate_low": len(onsets_low) / dur,
        "fps": sr / ac._HOP, "t_ref": t_ref, "t_mf": t_mf,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    add_corpus_arguments(ap, batches="1,2,3", batches_help="corpus batches (the fifth attempt's dump: 1,2,3; "
                                                          "the third's: 1)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    corpus = Path(a.corpus)
    recs = corpus_records(a)
    with ProcessPoolExecutor(a.jobs, initializer=ac._single_threaded_worker) as pool:
        res = list(pool.map(candidates, [str(corpus / m["wav"]) for m in recs]))
    with open(a.out, "wb") as f:
        pickle.dump([{**m, **r} for m, r in zip(recs, res)], f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
