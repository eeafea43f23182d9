"""How analysis time grows with samples per emotion and with layers, against the predicted cost.

Runs ``stats.analyse_layers`` (what the suite calls) on synthetic activations
(``synthetic.synthetic_layers``: 4 emotions x 5 wordings, seeds per wording
= samples per emotion / 5, 2048 dims as in MusicGen large) and times its
parts, as ``bench_stats.py`` does:

* permutation set-up: drawing the permuted labels once per analysis (the
  engines keep only the generator's state; "set-up GB" is the largest batch
  any engine builds, which is all an engine holds at a time);
* permutation evaluation: each layer's gap, control and 6 per-pair control tests;
* bootstrap: each layer's BCa interval of the gap (scipy.stats.bootstrap);
* the rest: similarity matrices, summaries, corrections.

Predicted cost (the statistics' own arithmetic): a permutation test costs
permutations x N^2 per layer (the control tests multiply a one-hot [C, N] by
the N x N similarity matrix per permutation; the gap test works on wordings,
whose number does not grow with N), so per-layer time should grow as N^2 at
fixed permutations, and total time linearly in layers at fixed N (plus the
set-up, paid once). Each permutation batch is built once per analysis and
evaluated on every layer before the next (the batch-building time shows in
the evaluation), so memory does not grow with the permutations.

Series 1: samples per emotion 20, 50, 100, 200 (N = 80..800), 4 layers.
Series 2: layers 1, 12, 24, 48 at 20 per emotion (N = 80).
Permutations: the suite's 10,000, except at 200 per emotion, where they are
reduced to 2,000 (time, not memory: the box is shared); its permutation times
are scaled by 10,000 / 2,000, which is checked by also running 100 per emotion
at 2,000 (the ratio is printed). Bootstrap resamples: the suite's 2,000
throughout. Peak memory at the plan's sizes: ``bench_goals.py``.

Writes bench/out/scaling.png (git-ignored) and prints a table, the fitted
exponents of each part, and last the exponent in N of the per-layer analysis
time alone.

    .venv/bin/python bench/bench_scaling.py [--dims 2048] [--layers-for-n 4]
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from pathlib import Path

import numpy as np

from _timing import TIMERS, timed  # bench/ is on sys.path when a benchmark runs
from emoprobe import stats
from emoprobe.truth.synthetic import synthetic_layers

OUT_DIR = Path(__file__).resolve().parent / "out"
FULL_PERMUTATIONS = 10_000
N_BOOT = 2_000
WORDINGS_PER_EMOTION = 5
N_EMOTIONS = 4
PARTS = ("permutation set-up", "permutation evaluation", "bootstrap", "rest")
LAYER_PARTS = PARTS[1:]  # paid once per layer; the set-up is paid once per analysis
PLAN_BYTES: list[int] = []


def record_plan_bytes(plan_function):
    """Record the largest permutation batch each engine of the plan streams (what it holds at once)."""
    def wrapper(*args, **kwargs):
        plan = plan_function(*args, **kwargs)
        for engine in [plan.gap, plan.control, *plan.control_pairs]:
            if engine is not None:
                engine.batches = largest_batch(engine.batches)
        return plan

    return wrapper


def largest_batch(batches):
    def stream():
        for payload in batches():
            PLAN_BYTES.append(sum(array.nbytes for array in payload))
            yield payload

    return stream


def instrument() -> None:
    layers = stats.layers  # where analyse_layers looks these up
    layers._plan = record_plan_bytes(layers._plan)
    layers.gap_engine = timed("permutation set-up", layers.gap_engine)
    layers._control_engine = timed("permutation set-up", layers._control_engine)
    stats.permutation._PermutationEngine.run = timed("permutation evaluation", stats.permutation._PermutationEngine.run)
    layers.bootstrap_gap_ci = timed("bootstrap", layers.bootstrap_gap_ci)


def measure(per_emotion: int, n_layers: int, dims: int, permutations: int, seed: int = 0) -> dict[str, float]:
    """Seconds per part of one ``analyse_layers`` call, permutation parts scaled to 10,000 permutations."""
    activations, emotions, prompts = synthetic_layers(
        seed, n_layers, n_prompts_per_emotion=WORDINGS_PER_EMOTION,
        n_seeds_per_prompt=per_emotion // WORDINGS_PER_EMOTION, dim=dims)
    activations = {k: v.astype(np.float16) for k, v in activations.items()}  # as the store keeps them
    gc.collect()
    TIMERS.clear()
    PLAN_BYTES.clear()
    start = time.perf_counter()
    stats.analyse_layers(activations, emotions, prompts, n_permutations=permutations, n_boot=N_BOOT, seed=seed)
    total = time.perf_counter() - start
    scale = FULL_PERMUTATIONS / permutations
    parts = {part: TIMERS[part] for part in PARTS[:3]}
    parts["rest"] = total - sum(parts.values())
    for part in PARTS[:2]:
        parts[part] *= scale
    parts["total"] = sum(parts[p] for p in PARTS)
    parts["per layer"] = sum(parts[p] for p in LAYER_PARTS) / n_layers
    parts["set-up GB"] = max(PLAN_BYTES) / 1e9  # one batch: the engines stream, whatever the permutations
    parts["measured seconds"] = total
    return parts


def exponent(x, y) -> float:
    """Least-squares slope of log y on log x."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def plot(n_rows, layer_rows, n_layers_for_n: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_n, ax_l) = plt.subplots(1, 2, figsize=(12, 4.8))
    per_emotion = np.array([r["per_emotion"] for r in n_rows])
    N = per_emotion * N_EMOTIONS
    ax_n.loglog(N, [r["per layer"] for r in n_rows], "o-", label="per layer: all of it")
    for part, style in (("permutation evaluation", "s--"), ("bootstrap", "d--")):
        ax_n.loglog(N, [r[part] / n_layers_for_n for r in n_rows], style, label=f"per layer: {part}")
    ax_n.loglog(N, [r["permutation set-up"] for r in n_rows], "^-.", label="permutation set-up (once per analysis)")
    for r, n in zip(n_rows, N):
        if r["permutations"] != FULL_PERMUTATIONS:
            ax_n.annotate(f"run at {r['permutations']:,} permutations, scaled", (n, r["per layer"]),
                          textcoords="offset points", xytext=(-150, 10), fontsize=7)
    evaluation = np.array([r["permutation evaluation"] / n_layers_for_n for r in n_rows])
    ax_n.loglog(N, evaluation[0] * (N / N[0]) ** 2, "k:", label="predicted: permutations x N^2 (from N=80)")
    ax_n.set_xlabel("samples N (4 emotions; 20, 50, 100, 200 per emotion)")
    ax_n.set_ylabel("seconds (10,000 permutations)")
    ax_n.set_title("analysis time vs samples")
    ax_n.legend(fontsize=8)
    ax_n.grid(True, which="both", alpha=0.3)

    layers = np.array([r["layers"] for r in layer_rows])
    totals = np.array([r["total"] for r in layer_rows])
    ax_l.plot(layers, totals, "o-", label="measured total")
    slope, intercept = np.polyfit(layers, totals, 1)
    ax_l.plot(layers, intercept + slope * layers, "k:",
              label=f"linear fit: {intercept:.2f} s + {slope:.3f} s/layer")
    ax_l.set_xlabel("layers (N = 80, 2048 dims)")
    ax_l.set_ylabel("seconds (10,000 permutations, 2,000 bootstrap)")
    ax_l.set_title("analysis time vs layers")
    ax_l.legend(fontsize=8)
    ax_l.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", type=int, default=2048)
    parser.add_argument("--layers-for-n", type=int, default=4, help="layers in the samples series")
    parser.add_argument("--reduced-permutations", type=int, default=2_000)
    args = parser.parse_args()
    instrument()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.dims} dims; "
          f"bootstrap {N_BOOT}; times scaled to {FULL_PERMUTATIONS} permutations")

    print(f"\nsamples series ({args.layers_for_n} layers); set-up once per analysis, the rest per layer, seconds:")
    columns = ("permutation set-up", "set-up GB", *LAYER_PARTS, "per layer")
    print(f"{'per emotion':>11} {'N':>4} {'perms run':>9} " + " ".join(f"{c:>22}" for c in columns))
    n_rows = []
    for per_emotion in (20, 50, 100, 200):
        permutations = FULL_PERMUTATIONS if per_emotion < 200 else args.reduced_permutations
        row = measure(per_emotion, args.layers_for_n, args.dims, permutations)
        row.update(per_emotion=per_emotion, permutations=permutations)
        n_rows.append(row)
        values = [row["permutation set-up"], row["set-up GB"],
                  *(row[p] / args.layers_for_n for p in LAYER_PARTS), row["per layer"]]
        print(f"{per_emotion:>11} {per_emotion * N_EMOTIONS:>4} {permutations:>9} "
              + " ".join(f"{v:>22.3f}" for v in values), flush=True)

    check = measure(100, args.layers_for_n, args.dims, args.reduced_permutations)
    full = n_rows[2]
    print(f"linearity in permutations at 100 per emotion (run at {args.reduced_permutations}, scaled, over run at "
          f"{FULL_PERMUTATIONS}): evaluation {check['permutation evaluation'] / full['permutation evaluation']:.2f}, "
          f"set-up {check['permutation set-up'] / full['permutation set-up']:.2f}")

    print("\nlayers series (20 per emotion, N = 80), seconds in all:")
    layer_rows = []
    for n_layers in (1, 12, 24, 48):
        row = measure(20, n_layers, args.dims, FULL_PERMUTATIONS)
        row.update(layers=n_layers)
        layer_rows.append(row)
        print(f"  {n_layers:>2} layers: total {row['total']:.2f} s (set-up {row['permutation set-up']:.2f}, "
              f"evaluation {row['permutation evaluation']:.2f}, bootstrap {row['bootstrap']:.2f}, "
              f"rest {row['rest']:.2f})", flush=True)

    N = [r["per_emotion"] * N_EMOTIONS for r in n_rows]
    print("\nfitted exponents (log-log least squares; predicted: N^2 for permutation work, linear in layers):")
    print(f"  per layer, permutation evaluation ~ N^{exponent(N, [r['permutation evaluation'] for r in n_rows]):.2f}")
    print(f"  per layer, bootstrap              ~ N^{exponent(N, [r['bootstrap'] for r in n_rows]):.2f}")
    print(f"  per layer, all of it              ~ N^{exponent(N, [r['per layer'] for r in n_rows]):.2f}")
    print(f"  permutation set-up (per analysis) ~ N^{exponent(N, [r['permutation set-up'] for r in n_rows]):.2f}, "
          f"its memory ~ N^{exponent(N, [r['set-up GB'] for r in n_rows]):.2f}")
    layers = np.array([r["layers"] for r in layer_rows])
    totals = np.array([r["total"] for r in layer_rows])
    slope, intercept = np.polyfit(layers, totals, 1)
    print(f"  total vs layers: {intercept:.2f} s + {slope:.3f} s/layer, largest residual "
          f"{np.abs(totals - intercept - slope * layers).max():.2f} s; as a power ~ L^{exponent(layers, totals):.2f} "
          "(below 1: the fixed set-up)")
    path = OUT_DIR / "scaling.png"
    plot(n_rows, layer_rows, args.layers_for_n, path)
    print(f"plot: {path}")
    print(f"{exponent(N, [r['per layer'] for r in n_rows]):.2f}")


if __name__ == "__main__":
    main()
