"""Statistics engine at MusicGen-large scale: 80 samples x 48 layers x 2048 dims.

Runs every per-layer claim of the suite with 10,000 permutations each: the gap
test, the control test overall and for each of the 6 emotion pairs, and the
bootstrap CI of the gap (10,000 resamples), then Holm/BH across layers; all of
it through ``stats.analyse_layers``, as the hypothesis suite calls it. Prints
the total time, the share spent in permutation tests (building the permuted
label batches plus evaluating them), and, measured in the same run on one layer,
the time of ``scipy.stats.permutation_test`` for the same gap and control tests
(same statistic, same permutation scheme, 10,000 permutations) as a ratio.
Target: under 30 s in all on the 2-core box. The last line is the total in
seconds alone.

    python bench/bench_stats.py [--layers 48] [--dims 2048] [--permutations 10000] [--boot 10000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.stats

from _timing import TIMERS, timed  # bench/ is on sys.path when a benchmark runs
from emoprobe import stats
from emoprobe.truth.synthetic import synthetic_layers





def instrument() -> None:
    """Count the time of permutation work: engine construction (permuted label
    batches, one-hot matrices, gather indices) and evaluation on each layer."""
    layers = stats.layers  # where analyse_layers looks the engines up
    layers.gap_engine = timed("permutation", layers.gap_engine)
    layers._control_engine = timed("permutation", layers._control_engine)
    stats.permutation._PermutationEngine.run = timed("permutation", stats.permutation._PermutationEngine.run)
    layers.bootstrap_gap_ci = timed("bootstrap", layers.bootstrap_gap_ci)


def scipy_reference(S, emotions, prompts, n_resamples, seed):
    """scipy.stats.permutation_test for the gap and control tests of one layer
    (straightforward mask-based statistics, scipy's 'pairings' permutations)."""
    keys = list(dict.fromkeys(zip(emotions, prompts)))
    unit_of_sample = np.array([keys.index(k) for k in zip(emotions, prompts)])
    unit_emotion = np.array([k[0] for k in keys])
    i, j = np.triu_indices(len(emotions), 1)
    values = S[i, j]
    same_unit = unit_of_sample[i] == unit_of_sample[j]

    def gap_statistic(order, axis=-1):
        flat = np.asarray(order).reshape(-1, np.shape(order)[-1])
        label = unit_emotion[np.argsort(flat, axis=1)][:, unit_of_sample]
        same = label[:, i] == label[:, j]
        within, between = same & ~same_unit, ~same
        out = (values * within).sum(1) / within.sum(1) - (values * between).sum(1) / between.sum(1)
        return out.reshape(np.shape(order)[:-1])

    def control_statistic(order, axis=-1):
        flat = np.asarray(order).reshape(-1, np.shape(order)[-1])
        wording = unit_of_sample[np.argsort(flat, axis=1)]
        control = wording[:, i] == wording[:, j]
        emotion = unit_emotion[wording]
        between = emotion[:, i] != emotion[:, j]
        out = (values * control).sum(1) / control.sum(1) - (values * between).sum(1) / between.sum(1)
        return out.reshape(np.shape(order)[:-1])

    rng = np.random.default_rng(seed)
    results, times = {}, {}
    for name, statistic, n_units in (("gap", gap_statistic, len(keys)), ("control", control_statistic, len(emotions))):
        start = time.perf_counter()
        results[name] = scipy.stats.permutation_test(
            (np.arange(n_units),), statistic, permutation_type="pairings", vectorized=True,
            n_resamples=n_resamples, alternative="greater", rng=rng, batch=500,
        )
        times[name] = time.perf_counter() - start
    return results, times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument("--dims", type=int, default=2048)
    parser.add_argument("--permutations", type=int, default=10_000)
    parser.add_argument("--boot", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # 20 per emotion (5 wordings x 4 seeds); a planted gap in two layers so the
    # run exercises both outcomes.
    activations, emotions, prompts = synthetic_layers(
        args.seed, args.layers, planted={min(5, args.layers - 1): 0.02, min(30, args.layers - 1): 0.01}, dim=args.dims
    )
    activations = {k: v.astype(np.float16) for k, v in activations.items()}  # as the sample store keeps them
    n = len(emotions)
    print(f"{n} samples x {args.layers} layers x {args.dims} dims; {args.permutations} permutations per test, "
          f"{args.boot} bootstrap resamples; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")

    instrument()
    start = time.perf_counter()
    analysis = stats.analyse_layers(activations, emotions, prompts, n_permutations=args.permutations, n_boot=args.boot, seed=args.seed)
    total = time.perf_counter() - start
    n_tests = sum(1 + (r.control is not None) + len(r.control_pairs) for r in analysis.layers)
    print(f"analyse_layers: {total:.2f} s total; {n_tests} permutation tests "
          f"({n_tests // args.layers} per layer: gap, control, 6 control pairs) + {args.layers} bootstrap CIs")
    print(f"  permutation tests {TIMERS['permutation']:.2f} s ({100 * TIMERS['permutation'] / total:.0f}% of total), "
          f"bootstrap {TIMERS['bootstrap']:.2f} s ({100 * TIMERS['bootstrap'] / total:.0f}%), "
          f"rest (similarity, summaries, corrections) {total - TIMERS['permutation'] - TIMERS['bootstrap']:.2f} s")
    print(f"  Holm-significant layers: {[r.layer for r in analysis.layers if r.significant_holm]} "
          f"(uncorrected p < alpha: {analysis.n_significant_uncorrected})")

    # One layer, same run: our gap and control tests against scipy's (a null
    # layer, so the two p-values can be compared away from their floor).
    layer = 0
    S = stats.similarity_matrix(activations[layer])
    t0 = time.perf_counter()
    ours_gap = stats.permutation_gap_test(S, emotions, prompts, args.permutations, seed=1)
    t1 = time.perf_counter()
    ours_control = stats.control_test(S, emotions, prompts, None, args.permutations, seed=1)
    t2 = time.perf_counter()
    ref, ref_times = scipy_reference(S, emotions, prompts, args.permutations, seed=2)
    ours_times = {"gap": t1 - t0, "control": t2 - t1}
    for name, ours in (("gap", ours_gap), ("control", ours_control)):
        print(f"  layer {layer} {name} test: ours {ours_times[name]:.3f} s (p={ours.pvalue:.4g}), "
              f"scipy.stats.permutation_test {ref_times[name]:.3f} s (p={float(ref[name].pvalue):.4g}); "
              f"scipy/ours = {ref_times[name] / ours_times[name]:.1f}x")
    per_layer_scipy = ref_times["gap"] + 7 * ref_times["control"]  # 1 gap + 7 control tests per layer (pairs are smaller: upper bound)
    print(f"  scipy for every permutation test of all layers would take about {per_layer_scipy * args.layers:.0f} s "
          f"(upper bound; {TIMERS['permutation']:.2f} s here)")
    print(f"{total:.2f}")


if __name__ == "__main__":
    main()
