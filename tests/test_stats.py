"""Engineering tests of the statistics engine (``emoprobe.stats``).

What they prove, in the issue's order:

* known answers: hand-computed similarities, gaps, p-values, CKA, MMD, corrections;
  the seed's own numbers classed as noise;
* the vectorised permutation engine agrees with ``scipy.stats.permutation_test``
  (same statistic, same permutation scheme): exactly on small designs where both
  enumerate every permutation, within Monte Carlo error on the real design;
* null calibration: on synthetic activations with the seed's geometry (shared
  mean direction, baseline cosine ~0.95, anisotropic noise, 4 emotions x 5
  wordings x 4 seeds) every test's false-positive rate at alpha 0.05 is within
  3 Monte Carlo SE of 0.05 over 1000 datasets; the paraphrase trap (a wording
  effect, no emotion effect) inflates the naive sample-level test and not ours;
* Holm across 48 null layers keeps the family-wise rate at or under 0.05, and
  the uncorrected "any layer p < 0.05" rate is shown to be far above it;
* power at the seed's 0.02 line with 20 per emotion, and the power-curve writer;
* degenerate input raises ``StatsInputError``, never returns a p-value.

Sizes are chosen so the file runs in about a minute on 2 cores (199 or 999
permutations per simulated dataset, 64 dimensions).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import scipy.stats

from emoprobe import stats as st
from emoprobe.truth.synthetic import (
    SEED_BETWEEN_SIMILARITY,
    SEED_CONTROL_SIMILARITY,
    design_labels,
    null_activations,
    planted_activations,
    seed_like_activations,
    synthetic_layers,
)

ALPHA = 0.05


def mc_bound(rate: float, n: int, k: float = 3.0) -> float:
    """k Monte Carlo standard errors of a rate estimated from n draws."""
    return k * math.sqrt(rate * (1.0 - rate) / n)


# ---------------------------------------------------------------------------
# Reference statistics for scipy.stats.permutation_test: written directly from
# the pair-class definitions with boolean masks, sharing no code with the engine.
# ---------------------------------------------------------------------------


def wording_units(emotions, prompts):
    keys = list(dict.fromkeys(zip(emotions, prompts)))
    unit_of_sample = np.array([keys.index(k) for k in zip(emotions, prompts)])
    unit_emotion = np.array([k[0] for k in keys])
    return unit_of_sample, unit_emotion


def scipy_gap_test(S, emotions, prompts, n_resamples, seed):
    """Gap test with whole wordings permuted, by scipy's 'pairings' permutation of unit positions."""
    unit_of_sample, unit_emotion = wording_units(emotions, prompts)
    i, j = np.triu_indices(len(emotions), 1)
    values = S[i, j]
    same_unit = unit_of_sample[i] == unit_of_sample[j]

    def statistic(order, axis=-1):
        # order[..., k] is the wording put at position k; position k keeps
        # the emotion label unit_emotion[k].
        order = np.asarray(order)
        flat = order.reshape(-1, order.shape[-1])
        label_of_unit = unit_emotion[np.argsort(flat, axis=1)]
        label = label_of_unit[:, unit_of_sample]
        same = label[:, i] == label[:, j]
        within = same & ~same_unit
        between = ~same
        gap = (values * within).sum(1) / within.sum(1) - (values * between).sum(1) / between.sum(1)
        return gap.reshape(order.shape[:-1])

    return scipy.stats.permutation_test(
        (np.arange(unit_emotion.size),), statistic, permutation_type="pairings", vectorized=True,
        n_resamples=n_resamples, alternative="greater", rng=np.random.default_rng(seed), batch=2000,
    )


def scipy_control_test(S, emotions, prompts, n_resamples, seed):
    """Control test with wording labels permuted over samples, by scipy's 'pairings'."""
    unit_of_sample, unit_emotion = wording_units(emotions, prompts)
    i, j = np.triu_indices(len(emotions), 1)
    values = S[i, j]

    def statistic(order, axis=-1):
        order = np.asarray(order)
        flat = order.reshape(-1, order.shape[-1])
        wording = unit_of_sample[np.argsort(flat, axis=1)]  # sample order[k] gets position k's wording
        same_wording = wording[:, i] == wording[:, j]
        emotion = unit_emotion[wording]
        between = emotion[:, i] != emotion[:, j]
        gap = (values * same_wording).sum(1) / same_wording.sum(1) - (values * between).sum(1) / between.sum(1)
        return gap.reshape(order.shape[:-1])

    return scipy.stats.permutation_test(
        (np.arange(len(emotions)),), statistic, permutation_type="pairings", vectorized=True,
        n_resamples=n_resamples, alternative="greater", rng=np.random.default_rng(seed), batch=500,
    )


# ---------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------


def test_similarity_matrix_known_values():
    X = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    S = st.similarity_matrix(X, "cosine")
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(S, [[1, r, 0], [r, 1, r], [0, r, 1]], atol=1e-12)
    E = st.similarity_matrix(X, "euclidean")
    np.testing.assert_allclose(E, -np.array([[0, 1, math.sqrt(5)], [1, 0, math.sqrt(2)], [math.sqrt(5), math.sqrt(2), 0]]), atol=1e-12)
    Y = np.array([[1.0, 2.0, 4.0], [2.0, 1.0, 0.0], [0.0, 1.0, 1.5]])
    np.testing.assert_allclose(st.similarity_matrix(Y, "pearson"), np.corrcoef(Y), atol=1e-12)


def hand_design():
    """6 samples: happy = wordings h1 (2 seeds) + h2; sad = s1 + s2 (2 seeds)."""
    emotions = ["happy", "happy", "happy", "sad", "sad", "sad"]
    prompts = ["h1", "h1", "h2", "s1", "s2", "s2"]
    return emotions, prompts


def test_pair_classes_and_gap_hand_computed():
    emotions, prompts = hand_design()
    classes = st.pair_classes(emotions, prompts)
    upper = np.triu(np.ones((6, 6), bool), 1)
    assert {tuple(p) for p in np.argwhere(classes.control & upper)} == {(0, 1), (4, 5)}
    assert {tuple(p) for p in np.argwhere(classes.within & upper)} == {(0, 2), (1, 2), (3, 4), (3, 5)}
    assert int((classes.between & upper).sum()) == 9
    # Give every class its own value, with a spread inside "within" to check the mean.
    S = np.full((6, 6), 0.70)
    for a, b, v in [(0, 1, 0.95), (4, 5, 0.97), (0, 2, 0.90), (1, 2, 0.80), (3, 4, 0.88), (3, 5, 0.86)]:
        S[a, b] = S[b, a] = v
    np.fill_diagonal(S, 1.0)
    g = st.gap(S, emotions, prompts)
    assert g.within == pytest.approx((0.90 + 0.80 + 0.88 + 0.86) / 4)
    assert g.between == pytest.approx(0.70)
    assert g.control == pytest.approx(0.96)
    assert g.gap == pytest.approx(0.86 - 0.70)
    assert g.relative_gap == pytest.approx(0.16 / 0.86)
    assert g.control_gap == pytest.approx(0.26)
    assert (g.n_within_pairs, g.n_between_pairs, g.n_control_pairs) == (4, 9, 2)
    assert g.pair("sad", "happy").gap == pytest.approx(0.16)
    # Without prompts, within is every same-emotion pair (control pairs included).
    g0 = st.gap(S, emotions)
    assert g0.within == pytest.approx((0.95 + 0.90 + 0.80 + 0.88 + 0.86 + 0.97) / 6)
    assert g0.control is None and g0.control_gap is None


def test_pair_counts_of_the_seed_design():
    emotions, prompts, _ = design_labels()
    g = st.gap(np.eye(80), emotions, prompts)
    # per wording C(4,2)=6 control pairs; per emotion C(20,2) - 5*6 within pairs
    assert (g.n_control_pairs, g.n_within_pairs, g.n_between_pairs) == (120, 640, 2400)
    assert len(g.pairs) == 6


def test_seed_numbers_are_noise_level():
    """Control 0.9508 against happy-sad 0.9461: a 0.0047 difference, noise by the seed's own classes."""
    emotions = ["happy"] * 4 + ["sad"] * 4
    prompts = ["h1", "h1", "h2", "h2", "s1", "s1", "s2", "s2"]
    S = np.full((8, 8), SEED_BETWEEN_SIMILARITY)
    classes = st.pair_classes(emotions, prompts)
    S[classes.control] = SEED_CONTROL_SIMILARITY
    S[classes.within] = SEED_BETWEEN_SIMILARITY  # the seed measured no within-emotion excess
    np.fill_diagonal(S, 1.0)
    g = st.gap(S, emotions, prompts)
    assert g.control_gap == pytest.approx(0.0047, abs=1e-12)
    assert st.effect_class(g.control_gap) == "noise"
    assert st.effect_class(g.gap) == "noise"
    assert g.gap < st.DEFAULT_MIN_GAP


@pytest.mark.parametrize(
    "value, expected",
    [(0.0, "noise"), (0.0099, "noise"), (0.01, "weak"), (0.049, "weak"), (0.05, "moderate"),
     (0.1499, "moderate"), (0.15, "strong"), (0.4, "strong"), (-0.06, "moderate")],
)
def test_effect_class_boundaries(value, expected):
    assert st.effect_class(value) == expected


def test_effect_class_thresholds_are_overridable():
    assert st.effect_class(0.03, {"weak": 0.02, "moderate": 0.025}) == "moderate"
    assert st.EFFECT_THRESHOLDS == {"weak": 0.01, "moderate": 0.05, "strong": 0.15}
    with pytest.raises(st.StatsInputError):
        st.effect_class(0.03, {"weak": 0.2})  # weak above moderate
    with pytest.raises(st.StatsInputError):
        st.effect_class(0.03, {"huge": 0.5})


def perfect_structure_matrix(emotions, prompts, rng, within=0.9, between=0.5, control=0.95, jitter=1e-3):
    classes = st.pair_classes(emotions, prompts)
    n = len(emotions)
    S = np.where(classes.control, control, np.where(classes.within, within, between))
    noise = rng.uniform(-jitter, jitter, (n, n))
    S = S + (noise + noise.T) / 2
    np.fill_diagonal(S, 1.0)
    return S


def test_gap_test_exact_pvalue_hand_computed():
    """3 emotions x 2 wordings: 90 distinct labellings, 15 partitions of the wordings,
    each reached by 3! relabellings. A perfect structure is the best partition: p = 6/90."""
    emotions = np.repeat(["a", "b", "c"], 4)
    prompts = np.repeat(["w1", "w2", "w3", "w4", "w5", "w6"], 2)
    S = perfect_structure_matrix(emotions, prompts, np.random.default_rng(0))
    res = st.permutation_gap_test(S, emotions, prompts, n_permutations=1000, seed=0)
    assert res.exact and res.n_permutations == 90
    assert res.pvalue == pytest.approx(6 / 90)
    assert res.scheme == "wording"


def test_control_test_exact_pvalue_hand_computed():
    """2 emotions x 2 wordings x 2 seeds: 8!/2^4 = 2520 wording labellings. The observed
    statistic is reached only with the same matching into pairs and the same emotion
    partition: 4 wording-to-pair assignments, times 2 for swapping the emotions. p = 8/2520."""
    emotions = np.repeat(["a", "b"], 4)
    prompts = np.repeat(["w1", "w2", "w3", "w4"], 2)
    S = perfect_structure_matrix(emotions, prompts, np.random.default_rng(1), jitter=0.0)
    res = st.control_test(S, emotions, prompts, n_permutations=5000, seed=0)
    assert res.exact and res.n_permutations == 2520
    assert res.pvalue == pytest.approx(8 / 2520)
    assert res.statistic == pytest.approx(0.95 - 0.5)


def test_holm_and_bh_known_answers():
    p = [0.01, 0.04, 0.03, 0.005]
    c = st.correct_across_layers(p, alpha=0.05)
    # Holm: sorted p times (4, 3, 2, 1), running maximum, back in input order.
    np.testing.assert_allclose(c.pvalues_holm, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(c.pvalues_bh, scipy.stats.false_discovery_control(p, method="bh"))
    assert (c.n_uncorrected, c.n_holm, c.n_bh) == (4, 2, 4)
    assert c.reject_holm == (True, False, False, True)


def test_linear_cka_known_answers():
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[1.0], [3.0], [2.0]])
    # For 1-D representations linear CKA is the squared correlation: (1/2)^2.
    assert st.linear_cka(x, y) == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 5))
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    assert st.linear_cka(X, X) == pytest.approx(1.0)
    assert st.linear_cka(X, 3.0 * X @ Q + 7.0) == pytest.approx(1.0)  # orthogonal, scale, shift
    assert st.linear_cka(X, rng.standard_normal((30, 4))) < 0.5


def test_mmd_known_answer():
    X = np.array([[0.0], [0.0]])
    Y = np.array([[1.0], [1.0]])
    # bandwidth = median positive distance = 1: 1 + 1 - 2 exp(-1/2)
    assert st.median_bandwidth(np.vstack([X, Y])) == pytest.approx(1.0)
    assert st.mmd(X, Y) == pytest.approx(2.0 - 2.0 * math.exp(-0.5))


def test_emotion_cka_and_mmd_tests_match_direct_statistics():
    data = planted_activations(3, 0.03)
    onehot = (data.emotions[:, None] == np.unique(data.emotions)[None, :]).astype(float)
    cka = st.emotion_cka_test(data.X, data.emotions, data.prompts, 199, seed=0)
    assert cka.statistic == pytest.approx(st.linear_cka(data.X, onehot))
    assert cka.pvalue == pytest.approx(1 / 200)
    pair = st.emotion_mmd_test(data.X, data.emotions, data.prompts, 199, pair=("happy", "sad"), seed=0)
    happy, sad = data.X[data.emotions == "happy"], data.X[data.emotions == "sad"]
    assert pair.statistic == pytest.approx(st.mmd(happy, sad))
    assert pair.pair == ("happy", "sad")


def test_cohens_d_matches_pingouin_definition():
    data = planted_activations(4, 0.02)
    S = st.similarity_matrix(data.X)
    classes = st.pair_classes(data.emotions, data.prompts)
    upper = np.triu(np.ones_like(S, bool), 1)
    w, b = S[classes.within & upper], S[classes.between & upper]
    pooled = math.sqrt(((w.size - 1) * w.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (w.size + b.size - 2))
    assert st.cohens_d_pairs(S, data.emotions, data.prompts) == pytest.approx((w.mean() - b.mean()) / pooled)


# ---------------------------------------------------------------------------
# Agreement with scipy.stats.permutation_test
# ---------------------------------------------------------------------------


def test_gap_engine_equals_scipy_exactly_on_small_design():
    emotions = np.repeat(["a", "b", "c"], 4)
    prompts = np.repeat(["w1", "w2", "w3", "w4", "w5", "w6"], 2)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 8)) + 3.0
    S = st.similarity_matrix(X)
    ours = st.permutation_gap_test(S, emotions, prompts, n_permutations=10_000, seed=0)
    ref = scipy_gap_test(S, emotions, prompts, n_resamples=np.inf, seed=0)  # 720 permutations, exact
    assert ours.exact
    assert ours.statistic == pytest.approx(float(ref.statistic), abs=1e-14)
    # Same null distribution: scipy's 720 orderings hit each of our 90 labellings 8 times.
    np.testing.assert_allclose(np.sort(np.repeat(ours.null_distribution, 8)), np.sort(ref.null_distribution), atol=1e-12)
    # Same p-value, counting ties the way both define them. scipy's tie tolerance is
    # relative to |observed| (1e-14 x 0.008 here), below the round-off between its
    # one-row and batched sums, so its own p misses the 6 relabellings of the observed
    # partition (including the observed one); ours counts them (tolerance 1e-10).
    assert ours.pvalue == pytest.approx(float(np.mean(ref.null_distribution >= ref.statistic - 1e-10)), abs=1e-12)
    assert float(ref.pvalue) == pytest.approx(ours.pvalue - 6 / 90, abs=1e-12)
    # With a clear effect scipy's tolerance suffices and the two p-values are equal.
    Y = X + 0.8 * (emotions[:, None] == np.array(["a", "b", "c"])[None, :]) @ rng.standard_normal((3, 8))
    S = st.similarity_matrix(Y)
    ours = st.permutation_gap_test(S, emotions, prompts, n_permutations=10_000, seed=0)
    ref = scipy_gap_test(S, emotions, prompts, n_resamples=np.inf, seed=0)
    assert abs(ours.statistic) > 0.01
    assert ours.pvalue == pytest.approx(float(ref.pvalue), abs=1e-12)


def test_control_engine_equals_scipy_exactly_on_small_design():
    emotions = np.repeat(["a", "b"], 4)
    prompts = np.repeat(["w1", "w2", "w3", "w4"], 2)
    X = np.random.default_rng(6).standard_normal((8, 6)) + 2.0
    S = st.similarity_matrix(X)
    ours = st.control_test(S, emotions, prompts, n_permutations=10_000, seed=0)
    ref = scipy_control_test(S, emotions, prompts, n_resamples=np.inf, seed=0)  # 8! = 40320, exact
    assert ours.exact
    assert ours.statistic == pytest.approx(float(ref.statistic), abs=1e-14)
    assert ours.pvalue == pytest.approx(float(ref.pvalue), abs=1e-12)
    np.testing.assert_allclose(np.sort(np.repeat(ours.null_distribution, 16)), np.sort(ref.null_distribution), atol=1e-12)


@pytest.mark.parametrize("which", ["gap", "control"])
def test_engine_agrees_with_scipy_within_monte_carlo_error(which):
    """The seed's design (20 wordings, 80 samples): Monte Carlo on both sides."""
    data = null_activations(11, prompt_share=0.0)
    S = st.similarity_matrix(data.X)
    # Shift the class of interest so the statistic sits ~1.3 null SDs above the
    # null mean: p lands near 0.1, away from the edges where agreement is trivial.
    # (Adding delta to every within pair raises the gap by exactly delta; same for
    # control pairs and the control gap.)
    classes = st.pair_classes(data.emotions, data.prompts)
    test = st.permutation_gap_test if which == "gap" else st.control_test
    pilot = test(S, data.emotions, data.prompts, n_permutations=500, seed=0)
    delta = pilot.null_mean + 1.3 * pilot.null_sd - pilot.statistic
    S = S + delta * (classes.within if which == "gap" else classes.control)
    n = 4000
    if which == "gap":
        ours = st.permutation_gap_test(S, data.emotions, data.prompts, n, seed=1)
        ref = scipy_gap_test(S, data.emotions, data.prompts, n, seed=2)
    else:
        ours = st.control_test(S, data.emotions, data.prompts, None, n, seed=1)
        ref = scipy_control_test(S, data.emotions, data.prompts, n, seed=2)
    assert not ours.exact
    assert ours.statistic == pytest.approx(float(ref.statistic), abs=1e-13)
    p = float(ref.pvalue)
    assert 0.02 < p < 0.4, "the shift should put p away from the edges"
    assert abs(ours.pvalue - p) <= 4 * math.sqrt(2 * p * (1 - p) / n)
    null_ref = np.asarray(ref.null_distribution)
    assert abs(ours.null_mean - null_ref.mean()) <= 5 * null_ref.std() * math.sqrt(2 / n)
    assert ours.null_sd == pytest.approx(null_ref.std(ddof=1), rel=0.08)


# ---------------------------------------------------------------------------
# Null calibration
# ---------------------------------------------------------------------------

N_NULL_DATASETS = 1000
N_NULL_PERMUTATIONS = 199


def null_rates(prompt_share, n_datasets=N_NULL_DATASETS, seed=0):
    rng = np.random.default_rng(seed)
    rejections = {"gap": 0, "gap_naive": 0, "control": 0, "cka": 0, "mmd": 0}
    for k in range(n_datasets):
        data = null_activations(rng, prompt_share=prompt_share)
        S = st.similarity_matrix(data.X)
        pvalues = {
            "gap": st.permutation_gap_test(S, data.emotions, data.prompts, N_NULL_PERMUTATIONS, seed=rng).pvalue,
            # The naive analysis ignores the wordings and permutes single samples.
            "gap_naive": st.permutation_gap_test(S, data.emotions, None, N_NULL_PERMUTATIONS, seed=rng).pvalue,
            "control": st.control_test(S, data.emotions, data.prompts, None, N_NULL_PERMUTATIONS, seed=rng).pvalue,
            "cka": st.emotion_cka_test(data.X, data.emotions, data.prompts, N_NULL_PERMUTATIONS, seed=rng).pvalue,
            "mmd": st.emotion_mmd_test(data.X, data.emotions, data.prompts, N_NULL_PERMUTATIONS, seed=rng).pvalue,
        }
        for name, p in pvalues.items():
            rejections[name] += p < ALPHA
    return {name: count / n_datasets for name, count in rejections.items()}


@pytest.fixture(scope="module")
def pure_null_rates():
    return null_rates(prompt_share=0.0, seed=100)


@pytest.fixture(scope="module")
def wording_null_rates():
    return null_rates(prompt_share=0.3, seed=200)


def test_null_geometry_is_the_seeds():
    data = null_activations(0)
    g = st.gap(st.similarity_matrix(data.X), data.emotions, data.prompts)
    assert 0.94 < g.between < 0.96 and 0.94 < g.within < 0.96
    eigen = np.linalg.eigvalsh(np.cov(data.X.T))[::-1]
    assert eigen[0] > 10 * eigen[len(eigen) // 2]  # anisotropic


@pytest.mark.parametrize("test_name", ["gap", "gap_naive", "control", "cka", "mmd"])
def test_false_positive_rate_is_nominal_without_any_structure(pure_null_rates, test_name):
    rate = pure_null_rates[test_name]
    print(f"pure null, {test_name}: FPR {rate:.3f} over {N_NULL_DATASETS} datasets")
    assert abs(rate - ALPHA) <= mc_bound(ALPHA, N_NULL_DATASETS), rate


@pytest.mark.parametrize("test_name", ["gap", "cka", "mmd"])
def test_false_positive_rate_is_nominal_under_a_wording_effect(wording_null_rates, test_name):
    """Samples of one wording resemble each other, emotion does nothing: wording-level
    permutation keeps the false-positive rate at alpha."""
    rate = wording_null_rates[test_name]
    print(f"wording-effect null, {test_name}: FPR {rate:.3f} over {N_NULL_DATASETS} datasets")
    assert abs(rate - ALPHA) <= mc_bound(ALPHA, N_NULL_DATASETS), rate


def test_sample_level_permutation_falls_into_the_paraphrase_trap(wording_null_rates):
    """Documents why wordings are permuted whole: ignoring them, a pure wording
    effect passes as an emotion effect far more often than alpha."""
    print(f"wording-effect null: naive sample-level gap test FPR {wording_null_rates['gap_naive']:.3f}, "
          f"control test rejects {wording_null_rates['control']:.3f}")
    assert wording_null_rates["gap_naive"] > 0.3, wording_null_rates
    # The control test is meant to see the wording effect: it is not a null for it.
    assert wording_null_rates["control"] > 0.9, wording_null_rates


def test_holm_keeps_family_wise_rate_across_48_null_layers():
    """500 experiments of 48 null layers each, 999 permutations (so Holm's first
    threshold 0.05/48 is reachable). Holm: FWER <= 0.05 (+ 3 MC SE). Uncorrected
    "at least one layer with p < 0.05": about 1 - 0.95**48 = 0.91, documented here."""
    n_experiments, n_layers = 500, 48
    rng = np.random.default_rng(7)
    any_holm = any_raw = any_bh = 0
    for _ in range(n_experiments):
        activations, emotions, prompts = synthetic_layers(rng, n_layers, prompt_share=0.1)
        result = st.analyse_layers(
            activations, emotions, prompts, n_permutations=999, n_boot=0, control=False,
            seed=int(rng.integers(2**63)),
        )
        any_holm += result.n_significant_holm > 0
        any_bh += result.n_significant_bh > 0
        any_raw += result.n_significant_uncorrected > 0
    fwer_holm, fwer_bh, fwer_raw = any_holm / n_experiments, any_bh / n_experiments, any_raw / n_experiments
    print(f"48 null layers: FWER Holm {fwer_holm:.3f}, BH {fwer_bh:.3f}, uncorrected {fwer_raw:.3f}")
    assert fwer_holm <= ALPHA + mc_bound(ALPHA, n_experiments)
    assert fwer_bh <= ALPHA + mc_bound(ALPHA, n_experiments)  # under the global null BH controls FWER too
    assert fwer_raw > 0.8


# ---------------------------------------------------------------------------
# Power
# ---------------------------------------------------------------------------


def test_planted_gap_is_measured_as_planted():
    gaps = [st.gap(st.similarity_matrix(d.X), d.emotions, d.prompts).gap for d in (planted_activations(s, 0.02) for s in range(40))]
    assert np.mean(gaps) == pytest.approx(0.02, rel=0.05)


def test_power_at_the_seeds_two_percent_line():
    """Stated power: a planted within-minus-between gap of 0.02 with 20 samples per
    emotion (5 wordings x 4 seeds), baseline cosine 0.95, wording share 0.1, 64
    anisotropic dimensions, is detected at p < 0.05 in at least 95% of datasets
    (measured: all of them). Only about half of them also MEASURE a gap >= 0.02:
    a true gap exactly on the line passes a ">= 0.02" criterion by a coin flip."""
    curve = st.power_curve(planted_activations, effects=(0.02,), n_per_emotion=20, n_sim=100, n_permutations=199, seed=3)
    print(f"power at 0.02: {curve.power[0]:.2f}; p<0.05 and measured gap>=0.02: {curve.power_min_gap[0]:.2f}")
    assert curve.power[0] >= 0.95
    assert 0.25 < curve.power_min_gap[0] < 0.75


def test_power_curve_written_as_json_and_png(tmp_path):
    json_path, png_path = st.write_power_curve(
        tmp_path / "power_curve", generate=planted_activations, effects=(0.0, 0.001, 0.003, 0.02), n_sim=40, n_permutations=99, seed=0
    )
    record = json.loads(json_path.read_text())
    assert record["effects"] == [0.0, 0.001, 0.003, 0.02]
    assert record["n_per_emotion"] == 20 and record["geometry"]["baseline_cosine"] == 0.95
    assert record["power"][0] <= 0.2 and record["power"][-1] == 1.0
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------
# Bootstrap, per-layer records, other metrics
# ---------------------------------------------------------------------------


def test_bootstrap_ci_covers_the_planted_gap():
    rng = np.random.default_rng(8)
    n_datasets, covered, widths = 150, 0, []
    for _ in range(n_datasets):
        data = planted_activations(rng, 0.02, prompt_share=0.0)
        S = st.similarity_matrix(data.X)
        ci = st.bootstrap_gap_ci(S, data.emotions, data.prompts, n_boot=999, seed=rng)
        assert ci.low <= ci.statistic <= ci.high
        covered += ci.low <= 0.02 <= ci.high
        widths.append(ci.high - ci.low)
    coverage = covered / n_datasets
    print(f"bootstrap 95% CI coverage {coverage:.3f}, mean width {np.mean(widths):.4f}")
    assert abs(coverage - 0.95) <= mc_bound(0.95, n_datasets) + 0.02


def test_bootstrap_by_wording_is_wider_under_a_wording_effect():
    data = planted_activations(9, 0.02, prompt_share=0.4)
    S = st.similarity_matrix(data.X)
    by_sample = st.bootstrap_gap_ci(S, data.emotions, data.prompts, 999, seed=0)
    by_prompt = st.bootstrap_gap_ci(S, data.emotions, data.prompts, 999, seed=0, unit="prompt")
    assert by_prompt.high - by_prompt.low > by_sample.high - by_sample.low
    control = st.bootstrap_gap_ci(S, data.emotions, data.prompts, 999, seed=0, statistic="control_gap")
    assert control.statistic == pytest.approx(st.gap(S, data.emotions, data.prompts).control_gap)


def test_analyse_layers_finds_planted_layers_and_serialises():
    activations, emotions, prompts = synthetic_layers(12, 6, planted={1: 0.03, 4: 0.03})
    result = st.analyse_layers(activations, emotions, prompts, n_permutations=999, n_boot=200, seed=0)
    holm = {r.layer for r in result.layers if r.significant_holm}
    assert holm == {1, 4}
    assert result.n_significant_holm == 2 and result.n_significant_uncorrected >= 2
    layer1 = result.layer(1)
    assert layer1.meets_min_gap and layer1.effect_class == "weak" and layer1.effect_size > 5
    assert layer1.ci.low < layer1.statistic < layer1.ci.high
    assert layer1.control.pvalue < 0.01 and len(layer1.control_pairs) == 6
    assert layer1.n_per_emotion == {"happy": 20, "sad": 20, "calm": 20, "energetic": 20}
    assert layer1.pvalue_holm >= layer1.pvalue
    record = json.loads(json.dumps(result.to_dict()))
    assert record["layers"][1]["test"]["n_permutations"] == 999
    assert "null_distribution" not in record["layers"][1]["test"]
    # One layer alone gives the same answer as inside the family (shared permutations).
    alone = st.analyse_layer(activations[4], emotions, prompts, layer=4, n_permutations=999, n_boot=200, seed=0)
    assert alone.pvalue == result.layer(4).pvalue and alone.ci == result.layer(4).ci


def test_seed_like_null_reproduces_the_seeds_numbers_and_is_noise():
    summaries = [st.gap(st.similarity_matrix(d.X), d.emotions, d.prompts) for d in map(seed_like_activations, range(40))]
    assert np.mean([g.control_gap for g in summaries]) == pytest.approx(0.0047, abs=0.0007)
    assert np.mean([g.between for g in summaries]) == pytest.approx(SEED_BETWEEN_SIMILARITY, abs=0.002)
    data = seed_like_activations(21)
    r = st.analyse_layer(data.X, data.emotions, data.prompts, n_permutations=999, n_boot=0, control_pairs=False)
    assert r.effect_class == "noise" and not r.meets_min_gap
    assert st.effect_class(r.gap.control_gap) == "noise"


def test_euclidean_metric_has_no_effect_class():
    data = planted_activations(2, 0.03)
    r = st.analyse_layer(data.X, data.emotions, data.prompts, metric="euclidean", n_permutations=199, n_boot=0, control=False)
    assert r.effect_class is None and r.pvalue < 0.05 and r.gap.within < 0


def test_seed_dimension_diagnostic_depends_on_scale_but_welch_fdr_does_not():
    data = planted_activations(13, 0.05)
    small = st.dims_differing_share(data.X, data.emotions, "happy", "sad", n_shuffles=200, seed=0)
    large = st.dims_differing_share(10 * data.X, data.emotions, "happy", "sad", n_shuffles=200, seed=0)
    assert small.real_share < large.real_share  # the same data, another unit: another "share"
    assert large.shuffled_share_mean > small.shuffled_share_mean
    welch_small = st.per_dimension_test(data.X, data.emotions, "happy", "sad", data.prompts)
    welch_large = st.per_dimension_test(10 * data.X, data.emotions, "happy", "sad", data.prompts)
    np.testing.assert_allclose(welch_small.pvalues, welch_large.pvalues)
    assert welch_small.unit == "prompt" and welch_small.n_a == 5 and welch_small.n_significant_fdr > 0
    # Welch per dimension is scipy's, on wording means.
    means = {p: data.X[data.prompts == p].mean(axis=0) for p in np.unique(data.prompts)}
    happy = np.array([m for p, m in means.items() if p.startswith("happy/")])
    sad = np.array([m for p, m in means.items() if p.startswith("sad/")])
    ref = scipy.stats.ttest_ind(happy[:, 0], sad[:, 0], equal_var=False)
    assert welch_small.pvalues[0] == pytest.approx(ref.pvalue)


def test_per_dimension_fdr_is_calibrated_under_a_wording_effect():
    rng = np.random.default_rng(14)
    n, any_fdr, any_sample_unit = 200, 0, 0
    for _ in range(n):
        data = null_activations(rng, prompt_share=0.3)
        any_fdr += st.per_dimension_test(data.X, data.emotions, "happy", "sad", data.prompts).n_significant_fdr > 0
        any_sample_unit += st.per_dimension_test(data.X, data.emotions, "happy", "sad").n_significant_fdr > 0
    print(f"per-dimension BH, any dimension significant: wording unit {any_fdr / n:.3f}, sample unit {any_sample_unit / n:.3f}")
    assert any_fdr / n <= ALPHA + mc_bound(ALPHA, n)
    assert any_sample_unit / n > 0.3  # seeds of one wording are not independent replicates


def test_compare_emotion_groups_by_layer():
    activations, emotions, prompts = synthetic_layers(15, 3, planted={2: 0.03})
    out = st.compare_emotion_groups_by_layer(activations, emotions, prompts, n_permutations=199, seed=0)
    assert out["cka"][2].pvalue < 0.05 and out["mmd"][2].pvalue < 0.05
    assert out["cka_correction"].n_tests == 3


# ---------------------------------------------------------------------------
# Degenerate input: a clear error, never a p-value
# ---------------------------------------------------------------------------


def degenerate_cases():
    emotions, prompts, _ = design_labels(2, 2, 2)
    X = np.random.default_rng(0).standard_normal((8, 5)) + 1.0
    nan = X.copy()
    nan[3, 2] = np.nan
    inf = X.copy()
    inf[0, 0] = np.inf
    zero = X.copy()
    zero[5] = 0.0
    constant = X.copy()
    constant[2] = 4.0
    S = st.similarity_matrix(X)
    return [
        ("nan", lambda: st.similarity_matrix(nan), "NaN or infinite"),
        ("inf", lambda: st.analyse_layer(inf, emotions, prompts), "NaN or infinite"),
        ("zero vector", lambda: st.similarity_matrix(zero, "cosine"), "zero vectors"),
        ("constant row pearson", lambda: st.similarity_matrix(constant, "pearson"), "constant"),
        ("one sample per emotion", lambda: st.gap(S[:2, :2], ["happy", "sad"]), "single sample"),
        ("all labels the same", lambda: st.permutation_gap_test(S, ["happy"] * 8), "same emotion label"),
        ("X rows versus labels", lambda: st.analyse_layer(X[:7], emotions, prompts), "7 samples"),
        ("prompts length", lambda: st.gap(S, emotions, prompts[:6]), "prompts has 6 labels"),
        ("S not square", lambda: st.gap(S[:, :7], emotions), "square"),
        ("S not symmetric", lambda: st.gap(S + np.triu(np.ones((8, 8)), 1), emotions), "symmetric"),
        ("one wording per emotion", lambda: st.gap(S, emotions, np.where(emotions == "happy", "h", "s")), "single prompt wording"),
        ("control without prompts", lambda: st.control_test(S, emotions, None), "needs prompts"),
        ("control with one seed per wording", lambda: st.control_test(S, emotions, [str(k) for k in range(8)]), "no control pairs"),
        ("unknown metric", lambda: st.similarity_matrix(X, "manhattan"), "unknown metric"),
        ("unknown pair emotion", lambda: st.control_test(S, emotions, prompts, ("happy", "angry")), "'angry'"),
        ("1-D activations", lambda: st.similarity_matrix(X[0]), "2-D"),
        ("p-value out of range", lambda: st.correct_across_layers([0.2, 1.5]), re.escape("in [0, 1]")),
        ("bad alpha", lambda: st.correct_across_layers([0.2], alpha=0.0), "alpha"),
        ("zero permutations", lambda: st.permutation_gap_test(S, emotions, prompts, 0), "n_permutations"),
        ("constant representation cka", lambda: st.linear_cka(np.ones((5, 3)), X[:5]), "constant"),
        ("empty layers", lambda: st.analyse_layers({}, emotions, prompts), "empty"),
    ]


@pytest.mark.parametrize("name, call, message", degenerate_cases(), ids=[c[0] for c in degenerate_cases()])
def test_degenerate_input_raises_clear_error(name, call, message):
    with pytest.raises(st.StatsInputError, match=message):
        call()


def test_stats_input_error_is_a_value_error():
    assert issubclass(st.StatsInputError, ValueError)


# ---------------------------------------------------------------------------
# Permutations streamed across layers
# ---------------------------------------------------------------------------


def test_streamed_label_batches_replay_the_eager_draws_and_leave_the_generator_where_they_did():
    labels = np.repeat(np.arange(8), 5)
    eager_rng, stream_rng = np.random.default_rng(11), np.random.default_rng(11)
    eager, exact = st.permutation.label_batches(labels, 2500, eager_rng, 1000)
    stream, stream_exact, count = st.permutation._label_stream(labels, 2500, stream_rng, 1000)
    assert (exact, stream_exact, count) == (False, False, 2500)
    for _ in range(2):  # every pass draws the same batches again
        replayed = list(stream())
        assert [b.shape for b in replayed] == [(1000, 40), (1000, 40), (500, 40)]
        assert all(np.array_equal(a, b) for a, b in zip(eager, replayed))
    assert eager_rng.integers(0, 2**62) == stream_rng.integers(0, 2**62)


def test_streamed_analysis_gives_the_eager_engines_pvalues_bit_for_bit():
    """The engine before streaming held every batch and ran the layers one by one
    through all of them; streaming runs every batch through all layers. Same
    permutations, same arithmetic: the nulls and p-values must be identical."""
    activations, emotions, prompts = synthetic_layers(4, 5, {1: 0.03, 3: 0.01}, n_prompts_per_emotion=4,
                                                      n_seeds_per_prompt=3, dim=48)
    analysis = st.analyse_layers(activations, emotions, prompts, n_permutations=1500, n_boot=0, seed=4)
    design = st.pairs.make_design(emotions, prompts, len(emotions))
    plan = st.layers._plan(design, 1500, 4, True, True)
    engines = [("test", plan.gap), ("control", plan.control)]
    for name, engine in engines + [(k, e) for k, e in enumerate(plan.control_pairs)]:
        held = list(engine.batches())  # what the eager engine kept until every layer was done
        for layer, result in zip(sorted(activations), analysis.layers):
            S = st.similarity_matrix(activations[layer])
            prepared = engine.prepare(S)
            null = np.concatenate([engine.evaluate(prepared, payload) for payload in held])
            eager = st.permutation._permutation_result(
                float(engine.evaluate(prepared, engine.observed)[0]), null, engine.exact, alternative="greater",
                scheme=engine.scheme, name=engine.name, scale=float(np.abs(S).max()), pair=engine.pair)
            streamed = result.control_pairs[name] if isinstance(name, int) else getattr(result, name)
            assert np.array_equal(streamed.null_distribution, eager.null_distribution)
            assert streamed.pvalue == eager.pvalue and streamed.statistic == eager.statistic
    assert analysis.layer(1).pvalue < 0.01 and analysis.layer(4).pvalue > 0.01


@pytest.mark.parametrize("which", ["gap", "control"])
def test_streamed_analysis_gives_scipys_exact_pvalue_at_every_layer(which):
    """The test above compares streaming with the engine's own arithmetic; this one
    with scipy's. On a design small enough to enumerate, the exact p-value does not
    depend on the draws, so the streamed multi-layer analysis must give scipy's
    exact p (and statistic) in every layer, null and planted alike."""
    if which == "gap":
        emotions, prompts = np.repeat(["a", "b", "c"], 4), np.repeat(["w1", "w2", "w3", "w4", "w5", "w6"], 2)
    else:
        emotions, prompts = np.repeat(["a", "b"], 4), np.repeat(["w1", "w2", "w3", "w4"], 2)
    rng = np.random.default_rng(8)
    base = rng.standard_normal((emotions.size, 8)) + 3.0
    shift = (emotions[:, None] == np.unique(emotions)[None, :]) @ rng.standard_normal((np.unique(emotions).size, 8))
    activations = {layer: base + strength * shift + 0.3 * rng.standard_normal(base.shape)
                   for layer, strength in enumerate((0.0, 0.8, 0.1))}
    analysis = st.analyse_layers(activations, emotions, prompts, n_permutations=100_000, n_boot=0, seed=3)
    reference = scipy_gap_test if which == "gap" else scipy_control_test
    pvalues = []
    for layer, record in zip(sorted(activations), analysis.layers):
        result = record.test if which == "gap" else record.control
        ref = reference(st.similarity_matrix(activations[layer]), emotions, prompts, n_resamples=np.inf, seed=0)
        assert result.exact
        assert result.statistic == pytest.approx(float(ref.statistic), abs=1e-13)
        # ties counted with the engine's tolerance (see the exact gap test above)
        assert result.pvalue == pytest.approx(float(np.mean(ref.null_distribution >= ref.statistic - 1e-10)),
                                              abs=1e-12)
        pvalues.append(result.pvalue)
    assert len(set(pvalues)) > 1, "the layers should differ, or the test cannot tell them apart"


def test_streamed_engine_holds_one_batch_not_every_permutation():
    """40,000 control permutations of 200 samples: the eager engine held every
    payload (about 0.4 GB of pair indices and one-hot labels); streamed, the
    peak is one batch."""
    import tracemalloc

    emotions, prompts, _ = design_labels(n_emotions=4, n_prompts_per_emotion=5, n_seeds_per_prompt=10)
    design = st.pairs.make_design(emotions, prompts, len(emotions))
    S = st.similarity_matrix(null_activations(0, n_prompts_per_emotion=5, n_seeds_per_prompt=10).X)
    sizes = [(sum(a.nbytes for a in payload), payload[0].shape[0])
             for payload in st.permutation._control_engine(design, 40_000, np.random.default_rng(0)).batches()]
    one_batch, every_batch = max(size for size, _ in sizes), sum(size for size, _ in sizes)
    tracemalloc.start()  # from before the engine is built: an eager engine builds its batches there
    st.permutation._control_engine(design, 40_000, np.random.default_rng(0)).run_layers([S, S])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert every_batch > 3e8 and peak < 3 * one_batch + 50e6, (peak, one_batch, every_batch)


def test_the_decisive_analysis_without_controls_gives_the_same_numbers():
    """analysis.emotion_layers leaves the (exploratory) control tests to
    analysis.emotion_controls: each random stream has its own child seed, so
    dropping them changes no gap, CI or corrected p."""
    activations, emotions, prompts = synthetic_layers(6, 3, {0: 0.02}, n_prompts_per_emotion=3, n_seeds_per_prompt=3,
                                                      dim=32)
    both = st.analyse_layers(activations, emotions, prompts, n_permutations=999, n_boot=200, seed=6)
    decisive = st.analyse_layers(activations, emotions, prompts, n_permutations=999, n_boot=200, seed=6,
                                 control=False, control_pairs=False)
    for a, b in zip(both.layers, decisive.layers):
        assert b.control is None and b.control_pairs == ()
        assert (a.test.to_dict(), a.ci.to_dict(), a.pvalue_holm, a.pvalue_maxt) == \
            (b.test.to_dict(), b.ci.to_dict(), b.pvalue_holm, b.pvalue_maxt)
        assert np.array_equal(a.test.null_distribution, b.test.null_distribution)
