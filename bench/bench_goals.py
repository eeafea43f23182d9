"""Issue 17's goals for the decisive analysis: seconds and peak memory at the plan's sizes.

The decisive analysis is ``analysis.emotion_layers``: ``stats.analyse_layers``
with the suite's settings (10,000 permutations of the wordings for the gap
test and max-T; the two-stage bootstrap with 2,000 resamples). ``--controls``
adds the control tests (overall and the 6 per-pair ones, which permute
samples: N^2 work per permutation), as the one analysis did before issue 17;
the exploratory claim 2 now reads them from ``analysis.emotion_controls``. It runs here on synthetic activations of the nested design (4
emotions x 5 wordings, seeds = per emotion / 5), kept as float16 as the store
keeps them, drawn layer by layer so the input is never held in float64.

Each case runs in a fresh process, so its peak resident memory
(``ru_maxrss``) is its own; the input's share is printed beside it. Goals
(issue 17): 100 per emotion x 48 layers x 2048 dims in <= 60 s and <= 1 GB;
200 per emotion in <= 2 GB; 20 per emotion (80 samples) x 48 layers in <= 2 s.

    .venv/bin/python bench/bench_goals.py [--cases 20x48,100x48,200x48] [--dims 2048] [--permutations 10000]

Run it with ``PYTHONPATH`` pointing at another checkout's ``lib`` to measure
that code on the same inputs (the before/after figures in RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

N_PERMUTATIONS = 10_000
N_BOOT = 2_000
WORDINGS = 5


def one_case(per_emotion: int, n_layers: int, dims: int, permutations: int = N_PERMUTATIONS, controls: bool = False,
             seed: int = 0) -> dict:
    from emoprobe import stats
    from emoprobe.threads import single_threaded_blas

    try:
        from emoprobe.truth.synthetic import synthetic_activations
    except ImportError:  # a checkout from before emoprobe.truth
        from emoprobe.synthetic import synthetic_activations

    rng = np.random.default_rng(seed)
    activations = {}
    for layer in range(n_layers):
        sample = synthetic_activations(rng, planted_gap=0.01 if layer == 1 else 0.0, dim=dims,
                                       n_prompts_per_emotion=WORDINGS, n_seeds_per_prompt=per_emotion // WORDINGS)
        activations[layer] = sample.X.astype(np.float16)
    input_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB -> GB
    start = time.perf_counter()
    # As analysis.memoised runs it: one BLAS thread per process.
    result = single_threaded_blas(stats.analyse_layers)(
        activations, sample.emotions, sample.prompts, n_permutations=permutations, n_boot=N_BOOT,
        bootstrap_unit="hierarchical", seed=seed, control=controls, control_pairs=controls)
    seconds = time.perf_counter() - start
    return {"per_emotion": per_emotion, "N": len(sample.emotions), "layers": n_layers, "dims": dims,
            "permutations": permutations, "controls": controls,
            "seconds": seconds, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9,
            "input_peak_gb": input_rss, "pvalues": [r.pvalue for r in result.layers[:3]],
            "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="20x48,100x48,200x48", help="per-emotion x layers, comma separated")
    parser.add_argument("--dims", type=int, default=2048)
    parser.add_argument("--permutations", type=int, default=N_PERMUTATIONS)
    parser.add_argument("--controls", action="store_true",
                        help="add the control tests (analysis.emotion_controls), as one analysis did before issue 17")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        per_emotion, n_layers = map(int, args.one.split("x"))
        print(json.dumps(one_case(per_emotion, n_layers, args.dims, args.permutations, args.controls)))
        return
    print("| per emotion | N | layers | permutations | control tests | seconds | peak GB (input alone) | load |")
    print("|---|---|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", case, "--dims", str(args.dims),
                              "--permutations", str(args.permutations)] + ["--controls"] * args.controls,
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {r['per_emotion']} | {r['N']} | {r['layers']} | {r['permutations']} | "
              f"{'with' if r['controls'] else 'without'} | {r['seconds']:.2f} | "
              f"{r['peak_gb']:.2f} ({r['input_peak_gb']:.2f}) | {r['load']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
