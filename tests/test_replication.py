"""Nights as replications: known answers on both sides, and the null's error rate."""

import numpy as np
import pytest
import scipy.stats

from emoprobe.replication import is_complete, replicate

B = 999  # permutations per night: p is (k + 1) / (B + 1), as the gap test's


_SEEDS = iter(range(10**9))


def night(gaps_pvalues, verdict="NO-GO", design_hash="abc", model="m", base_seed=None, **extra):
    seed = next(_SEEDS) if base_seed is None else base_seed
    return {"model": model, "design_hash": design_hash, "base_seed": seed, "verdict": verdict, "partial": False,
            "layers": [{"layer": k, "gap": g, "pvalue": p} for k, (g, p) in enumerate(gaps_pvalues)], **extra}


def permutation_pvalues(rng, size):
    """Valid permutation p-values under the null: uniform on {1, ..., B + 1} / (B + 1)."""
    return rng.integers(1, B + 2, size=size) / (B + 1)


def test_null_nights_reject_at_most_alpha_over_many_histories():
    """500 histories of 5 null nights x 4 layers: the Holm-corrected combined p
    rejects some layer in at most alpha of them (within 3 standard errors)."""
    rng = np.random.default_rng(0)
    n_histories, alpha = 500, 0.05
    wrong = 0
    for _ in range(n_histories):
        rows = [night([(rng.normal(0, 0.01), p) for p in permutation_pvalues(rng, 4)]) for _ in range(5)]
        result = replicate(rows, "m", "abc")
        wrong += any(layer.combined_p_holm < alpha for layer in result.layers)
    rate = wrong / n_histories
    se = np.sqrt(alpha * (1 - alpha) / n_histories)
    assert rate <= alpha + 3 * se, f"family-wise false-positive rate {rate:.3f} over {n_histories} histories"


def test_a_layer_that_replicates_is_found_and_only_it():
    """Layer 2 is weakly significant every night (p ~ 0.03); no single night
    survives Holm over 4 layers, but five independent nights do."""
    rng = np.random.default_rng(1)
    rows = [night([(0.0, float(permutation_pvalues(rng, 1)[0])), (0.0, 0.5), (0.03, 0.03), (0.0, 0.7)])
            for _ in range(5)]
    result = replicate(rows, "m", "abc")
    by_layer = {r.layer: r for r in result.layers}
    assert by_layer[2].combined_p_holm < 0.05
    assert by_layer[1].combined_p_holm > 0.05 and by_layer[3].combined_p_holm > 0.05
    expected = scipy.stats.combine_pvalues([0.03] * 5, method="stouffer").pvalue
    assert by_layer[2].combined_p == pytest.approx(expected)


def test_interval_is_across_nights_and_needs_two():
    one = replicate([night([(0.02, 0.01)])], "m", "abc")
    assert one.layers[0].ci_low is None and one.n_nights == 1
    gaps = [0.01, 0.02, 0.03, 0.05]
    many = replicate([night([(g, 0.01)]) for g in gaps], "m", "abc").layers[0]
    low, high = scipy.stats.t.interval(0.95, 3, loc=np.mean(gaps), scale=scipy.stats.sem(gaps))
    assert (many.ci_low, many.ci_high) == pytest.approx((low, high))
    assert many.mean_gap == pytest.approx(np.mean(gaps))


def test_only_complete_nights_of_the_same_configuration_and_model_count():
    rows = [night([(0.03, 0.001)], verdict="GO"), night([(0.03, 0.001)], verdict="GO", design_hash="other"),
            night([(0.03, 0.001)], verdict="GO", partial=True), night([(0.03, 0.001)], verdict="GO", interrupted=True),
            night([(0.03, 0.001)], verdict="GO", model="other"), night([(0.0, 0.4)]),
            {"model": "m", "design_hash": "abc", "verdict": "GO"}]  # an old line without per-layer numbers
    result = replicate(rows, "m", "abc")
    assert (result.n_nights, result.n_go, result.excluded) == (2, 1, 4)
    assert result.summary == "GO in 1 of 2 nights"
    assert not is_complete(rows[2]) and not is_complete(rows[3]) and is_complete(rows[0])


def test_a_night_with_p_equal_to_one_does_not_veto_the_others():
    rows = [night([(0.03, 0.001)]) for _ in range(4)] + [night([(-0.01, 1.0)])]
    assert replicate(rows, "m", "abc").layers[0].combined_p < 0.05


def test_a_rerun_of_one_seed_is_not_a_second_night():
    rows = [night([(0.03, 0.03)], base_seed=7) for _ in range(4)]
    result = replicate(rows, "m", "abc")
    assert result.n_nights == 1 and result.layers[0].combined_p == pytest.approx(0.03)


def test_malformed_history_lines_are_left_out_not_fatal():
    rows = [5, "x", None, night([(0.03, 0.01)]), {"model": "m", "design_hash": "abc", "layers": [{"layer": "x"}]},
            night([(float("nan"), 0.01)]), night([(0.02, 7.0)])]
    result = replicate(rows, "m", "abc")
    assert result.n_nights == 1


def test_read_history_skips_what_is_not_a_record(tmp_path):
    from emoprobe.report import read_history

    history = tmp_path / "h.jsonl"
    history.write_bytes(b'5\n"text"\n{"model": "m"}\n\xff\xfe garbage\n[1, 2]\n')
    assert read_history(history) == [{"model": "m"}]
    assert read_history(tmp_path) == []  # a folder given as the history
