"""Wording-level resampling: the schemes, and their calibration under a wording effect.

Each calibration draws hundreds of synthetic datasets whose wordings shift
their samples (the seeds of one wording are a cluster) and checks:
false-positive rates within alpha +- 3 Monte Carlo SE over >= 500 null
datasets, CI coverage >= 0.93 over >= 400 datasets with a known truth. Where
the old sample-level scheme is cheap to run, it must fail the same check
(the check's teeth).
"""

import math

import numpy as np
import pytest
from scipy.stats import norm

from emoprobe import acoustics, stats
from emoprobe.truth import synthetic
from emoprobe.stats import resampling

ALPHA = 0.05


def _fpr_band(n: int) -> tuple[float, float]:
    se = math.sqrt(ALPHA * (1 - ALPHA) / n)
    return ALPHA - 3 * se, ALPHA + 3 * se


# ---------------------------------------------------------------------------
# The schemes
# ---------------------------------------------------------------------------


def test_hierarchical_counts_keep_the_design():
    emotions, prompts, _ = synthetic.design_labels(3, 4, 5)
    design = stats.pairs.make_design(emotions, prompts, emotions.size)
    counts = resampling.hierarchical_counts(design.prompt_codes, design.prompt_emotion, 2000, np.random.default_rng(0))
    # Every resample keeps each emotion's sample count and draws a wording's seeds only from that wording.
    for e in range(3):
        assert np.all(counts[:, design.emotion_codes == e].sum(axis=1) == 20)
    per_wording = np.stack([counts[:, design.prompt_codes == g].sum(axis=1) for g in range(12)], axis=1)
    assert np.all(per_wording % 5 == 0)
    # Stage 1 draws 4 wordings of 4 with replacement: the expected number of distinct ones is 4(1 - (3/4)^4).
    distinct = (per_wording[:, :4] > 0).sum(axis=1).mean()
    assert distinct == pytest.approx(4 * (1 - 0.75**4), abs=0.05)
    # Stage 2 resamples seeds: a drawn wording does not always bring each of its seeds exactly once.
    assert np.any((counts > 0) & (counts != per_wording[:, design.prompt_codes] / 5))


def test_block_permutations_move_whole_wordings():
    groups = np.repeat(np.arange(6), [3, 3, 3, 2, 2, 4])
    perms = resampling.block_permutations(groups, 500, np.random.default_rng(1))
    assert all(np.array_equal(np.sort(p), np.arange(groups.size)) for p in perms)
    for p in perms:
        # The samples placed in a wording's slots all come from one wording of the same size.
        for g in range(6):
            sources = groups[p[groups == g]]
            assert np.unique(sources).size == 1 and np.sum(groups == sources[0]) == np.sum(groups == g)
    # Wordings of equal size are exchanged, uniformly.
    share = np.mean(groups[perms[:, 0]] == 0)
    assert share == pytest.approx(1 / 3, abs=0.07)


# ---------------------------------------------------------------------------
# Bootstrap CI of the gap
# ---------------------------------------------------------------------------


def _coverage(unit: str, n_datasets: int, rng) -> float:
    covered = 0
    for _ in range(n_datasets):
        data = synthetic.planted_activations(rng, 0.02, prompt_share=0.3)
        S = stats.similarity_matrix(data.X)
        ci = stats.bootstrap_gap_ci(S, data.emotions, data.prompts, 400, seed=rng, unit=unit, method="percentile")
        covered += ci.low <= 0.02 <= ci.high
    return covered / n_datasets


def test_hierarchical_bootstrap_covers_the_gap_under_a_wording_effect():
    coverage = _coverage("hierarchical", 400, np.random.default_rng(12))
    assert coverage >= 0.93, f"hierarchical 95% CI covered the true gap 0.02 in {coverage:.3f} of 400 datasets"


def test_sample_level_bootstrap_fails_the_same_coverage_check():
    coverage = _coverage("sample", 400, np.random.default_rng(13))
    assert coverage < 0.93, f"sample-level coverage {coverage:.3f}: the check would not catch it"


def test_analysis_uses_the_hierarchical_bootstrap():
    activations, emotions, prompts = synthetic.synthetic_layers(2, 1, planted={0: 0.02}, prompt_share=0.3)
    result = stats.analyse_layers(activations, emotions, prompts, n_permutations=99, n_boot=200, seed=0)
    assert result.layer(0).ci.unit == "hierarchical"


# ---------------------------------------------------------------------------
# Mantel test
# ---------------------------------------------------------------------------


def _clustered_features(rng, prompts: np.ndarray, dims: int = 4, share: float = 0.6) -> np.ndarray:
    _, codes = np.unique(prompts, return_inverse=True)
    wording = rng.standard_normal((codes.max() + 1, dims))[codes]
    return math.sqrt(share) * wording + math.sqrt(1 - share) * rng.standard_normal((prompts.size, dims))


def _mantel_null_pvalues(rng, grouped: bool, n_datasets: int = 500, n_permutations: int = 99) -> np.ndarray:
    from scipy.spatial.distance import pdist, squareform

    pvalues = np.empty(n_datasets)
    for k in range(n_datasets):
        data = synthetic.null_activations(rng, dim=32, prompt_share=0.5)
        activation = 1.0 - stats.similarity_matrix(data.X)
        np.fill_diagonal(activation, 0.0)
        acoustic = squareform(pdist(_clustered_features(rng, data.prompts)))
        pvalues[k] = acoustics.mantel_test(activation, acoustic, n_permutations, seed=int(rng.integers(2**31)),
                                           groups=data.prompts if grouped else None).pvalue
    return pvalues


def test_wording_level_mantel_is_calibrated_when_both_sides_cluster_by_wording():
    fpr = float(np.mean(_mantel_null_pvalues(np.random.default_rng(21), grouped=True) < ALPHA))
    low, high = _fpr_band(500)
    assert low <= fpr <= high, f"Mantel FPR {fpr:.3f} over 500 nulls, band [{low:.3f}, {high:.3f}]"


def test_sample_level_mantel_fails_the_same_calibration():
    fpr = float(np.mean(_mantel_null_pvalues(np.random.default_rng(22), grouped=False) < ALPHA))
    assert fpr > _fpr_band(500)[1], f"sample-level Mantel FPR {fpr:.3f}: the check would not catch it"


def test_wording_level_mantel_detects_shared_structure():
    rng = np.random.default_rng(23)
    from scipy.spatial.distance import pdist, squareform

    hits = 0
    _, prompts, _ = synthetic.design_labels()
    for _ in range(40):
        # The layer holds the audio's features plus as much unrelated noise.
        features = _clustered_features(rng, prompts)
        activation = squareform(pdist(np.hstack([features, rng.standard_normal((prompts.size, 4))])))
        acoustic = squareform(pdist(features))
        hits += acoustics.mantel_test(activation, acoustic, 199, seed=1, groups=prompts).pvalue < ALPHA
    assert hits / 40 >= 0.8


# ---------------------------------------------------------------------------
# Acoustic agreement
# ---------------------------------------------------------------------------


def _two_emotions(rng, shift: float, n_wordings: int = 5, n_seeds: int = 4, share: float = 0.5):
    def side(mean):
        wording = np.repeat(rng.standard_normal(n_wordings), n_seeds)
        return mean + math.sqrt(share) * wording + math.sqrt(1 - share) * rng.standard_normal(n_wordings * n_seeds)

    wordings = np.repeat([f"p{k}" for k in range(n_wordings)], n_seeds)
    return side(shift), side(0.0), wordings


def test_wording_level_agreement_p_is_calibrated_under_a_wording_effect():
    rng = np.random.default_rng(31)
    pvalues = []
    for _ in range(500):
        a, b, wordings = _two_emotions(rng, 0.0)
        pvalues.append(acoustics.agreement(a, b, "higher", n_bootstrap=50, seed=int(rng.integers(2**31)),
                                           wordings_a=wordings, wordings_b=wordings).pvalue)
    fpr = float(np.mean(np.array(pvalues) < ALPHA))
    low, high = _fpr_band(500)
    assert low <= fpr <= high, f"agreement FPR {fpr:.3f} over 500 nulls, band [{low:.3f}, {high:.3f}]"


def test_sample_level_mann_whitney_fails_the_same_calibration():
    rng = np.random.default_rng(32)
    pvalues = [acoustics.agreement(*_two_emotions(rng, 0.0)[:2], "higher", n_bootstrap=2).pvalue for _ in range(500)]
    assert np.mean(np.array(pvalues) < ALPHA) > _fpr_band(500)[1]


def test_wording_level_agreement_ci_covers_the_true_rate():
    rng = np.random.default_rng(33)
    shift = 1.0
    truth = norm.cdf(shift / math.sqrt(2.0))  # P(a > b) with unit total variance on each side
    covered = 0
    for _ in range(400):
        a, b, wordings = _two_emotions(rng, shift)
        r = acoustics.agreement(a, b, "higher", n_bootstrap=400, seed=int(rng.integers(2**31)),
                                wordings_a=wordings, wordings_b=wordings, n_permutations=2)
        covered += r.ci_low <= truth <= r.ci_high
    assert covered / 400 >= 0.93, f"agreement CI covered the true rate {truth:.3f} in {covered / 400:.3f} of 400"


def test_wording_level_agreement_detects_a_real_shift():
    rng = np.random.default_rng(34)
    pvalues = [acoustics.agreement(*_two_emotions(rng, 2.0, n_wordings=6)[:2], "higher", n_bootstrap=20,
                                   wordings_a=np.repeat(np.arange(6), 4), wordings_b=np.repeat(np.arange(6), 4)).pvalue
               for _ in range(40)]
    assert np.mean(np.array(pvalues) < ALPHA) >= 0.8


def test_validate_contrasts_passes_the_wordings_on():
    rng = np.random.default_rng(35)
    a, b, wordings = _two_emotions(rng, 1.0)
    happy, sad = [{"rms": v} for v in a], [{"rms": v} for v in b]
    table = {("happy", "sad"): {"rms": "higher"}}
    clustered = acoustics.validate_contrasts({"happy": happy, "sad": sad}, table, 0.8, min_decided=0.5, n_bootstrap=300,
                                             wordings_by_emotion={"happy": wordings, "sad": wordings})[0]
    direct = acoustics.agreement(a, b, "higher", n_bootstrap=300, wordings_a=wordings, wordings_b=wordings)
    assert (clustered.ci_low, clustered.ci_high, clustered.pvalue) == (direct.ci_low, direct.ci_high, direct.pvalue)
    assert direct.scheme == "wording"


# ---------------------------------------------------------------------------
# Mode agreement
# ---------------------------------------------------------------------------


def _modes(rng, centre: float, n_wordings: int = 5, n_seeds: int = 4, spread: float = 1.5):
    """Each wording's chance of the expected mode is expit(centre + spread * z): a wording effect on mode."""
    from scipy.special import expit

    chance = np.repeat(expit(centre + spread * rng.standard_normal(n_wordings)), n_seeds)
    modes = np.where(rng.random(chance.size) < chance, "major", "minor")
    return modes, np.repeat([f"p{k}" for k in range(n_wordings)], n_seeds)


def _true_mode_rate(centre: float, spread: float = 1.5) -> float:
    from scipy.special import expit

    z, w = np.polynomial.hermite_e.hermegauss(80)
    return float((w * expit(centre + spread * z)).sum() / w.sum())


@pytest.mark.parametrize("n_wordings", [5, 12])
def test_wording_level_mode_p_is_calibrated_under_a_wording_effect(n_wordings):
    rng = np.random.default_rng(41)
    pvalues = []
    for _ in range(500):
        modes, wordings = _modes(rng, 0.0, n_wordings)
        pvalues.append(acoustics.mode_agreement(modes, "major", wordings=wordings, n_bootstrap=2,
                                                seed=int(rng.integers(2**31))).pvalue)
    pvalues = np.array(pvalues)
    fpr = float(np.mean(pvalues < ALPHA))
    low, high = _fpr_band(500)
    print(f"mode sign-flip FPR, {n_wordings} wordings x 4 seeds: {fpr:.3f} (band {low:.3f}-{high:.3f})")
    # Five wordings give 32 sign patterns, so the exact test can only be conservative there.
    assert fpr <= high and (n_wordings == 5 or fpr >= low), f"mode FPR {fpr:.3f} over 500 nulls"


def test_sample_level_binomial_fails_the_same_calibration():
    rng = np.random.default_rng(42)
    pvalues = np.array([acoustics.mode_agreement(_modes(rng, 0.0)[0], "major").pvalue for _ in range(500)])
    assert np.mean(pvalues < ALPHA) > _fpr_band(500)[1]


def test_wording_level_mode_ci_covers_the_true_rate():
    rng = np.random.default_rng(43)
    truth = _true_mode_rate(1.5)
    covered = 0
    for _ in range(400):
        modes, wordings = _modes(rng, 1.5)
        r = acoustics.mode_agreement(modes, "major", wordings=wordings, n_bootstrap=400,
                                     seed=int(rng.integers(2**31)))
        covered += r.ci_low <= truth <= r.ci_high
    print(f"mode CI coverage of {truth:.3f}: {covered / 400:.3f}")
    assert covered / 400 >= 0.93, f"mode CI covered the true rate {truth:.3f} in {covered / 400:.3f} of 400"


def test_wording_level_mode_detects_a_real_preference():
    rng = np.random.default_rng(44)
    pvalues = []
    for _ in range(40):
        modes, wordings = _modes(rng, 3.0, spread=0.5)
        pvalues.append(acoustics.mode_agreement(modes, "major", wordings=wordings, n_bootstrap=2).pvalue)
    assert np.mean(np.array(pvalues) < ALPHA) >= 0.8
