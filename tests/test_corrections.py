"""Step-down max-T across layers: equal to a plain implementation, FWER held, power gained."""

import math

import numpy as np
import pytest

from emoprobe import stats
from emoprobe.truth import synthetic
from emoprobe.stats import corrections

ALPHA = 0.05


def _plain_maxt(observed, null, exact=False):
    """Westfall-Young algorithm 2.8 written out, one layer at a time."""
    order = sorted(range(len(observed)), key=lambda k: -observed[k])
    adjusted, running = {}, 0.0
    for rank, k in enumerate(order):
        remaining = order[rank:]
        count = sum(max(row[j] for j in remaining) >= observed[k] - 1e-10 for row in null)
        p = count / len(null) if exact else (1 + count) / (1 + len(null))
        running = max(running, min(1.0, p))
        adjusted[k] = running
    return np.array([adjusted[k] for k in range(len(observed))])


@pytest.mark.parametrize("exact", [False, True])
def test_maxt_equals_the_plain_algorithm(exact):
    rng = np.random.default_rng(1)
    null = rng.standard_normal((300, 7)) + rng.standard_normal((300, 1))  # correlated layers
    observed = np.array([3.0, 0.2, 2.1, -1.0, 2.1, 1.5, 0.0])
    ours = corrections.maxt_stepdown(observed, null, exact=exact, standardize=False)
    assert np.allclose(ours, _plain_maxt(observed, null, exact))


def test_maxt_is_never_above_bonferroni_and_equals_the_raw_p_for_one_layer():
    rng = np.random.default_rng(2)
    null = rng.standard_normal((999, 1))
    observed = np.array([2.0])
    raw = (1 + np.count_nonzero(null[:, 0] >= 2.0 - 1e-10)) / 1000
    assert corrections.maxt_stepdown(observed, null, standardize=False)[0] == pytest.approx(raw)


def _correlated_layers(rng, n_layers, gap, layer_noise=0.5):
    base = synthetic.planted_activations(rng, gap, dim=48, prompt_share=0.3)
    scale = math.sqrt(base.geometry["noise_var"] / base.X.shape[1])
    return ({k: base.X + layer_noise * scale * rng.standard_normal(base.X.shape) for k in range(n_layers)},
            base.emotions, base.prompts)


def test_maxt_holds_the_family_wise_error_rate_on_correlated_null_layers():
    # The gap engine of analyse_layers, built once for the shared design and run on
    # every dataset's layers (its permutations are independent of the data).
    rng = np.random.default_rng(3)
    emotions, prompts, _ = synthetic.design_labels()
    engine = stats.permutation.gap_engine(stats.pairs.make_design(emotions, prompts, emotions.size), 199, rng)
    n = 500
    hits = 0
    for _ in range(n):
        acts, _, _ = _correlated_layers(rng, 6, 0.0)
        tests = [engine.run(stats.similarity_matrix(X)) for X in acts.values()]
        adjusted = corrections.maxt_stepdown(np.array([t.statistic for t in tests]),
                                             np.stack([t.null_distribution for t in tests], axis=1))
        hits += bool((adjusted < ALPHA).any())
    fwer = hits / n
    bound = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / n)
    assert fwer <= bound, f"max-T FWER {fwer:.3f} over {n} null datasets of 6 correlated layers > {bound:.3f}"


def test_maxt_finds_more_than_holm_on_correlated_layers():
    rng = np.random.default_rng(4)
    holm = maxt = 0
    for _ in range(60):
        acts, emotions, prompts = _correlated_layers(rng, 12, 0.0025)
        r = stats.analyse_layers(acts, emotions, prompts, n_permutations=499, n_boot=0, control=False,
                                 control_pairs=False, seed=int(rng.integers(2**31)))
        holm += r.n_significant_holm > 0
        maxt += r.n_significant_maxt > 0
        assert all(lr.pvalue_maxt <= lr.pvalue_holm + 1e-12 for lr in r.layers)
    assert maxt > holm, f"any layer significant: max-T {maxt}/60, Holm {holm}/60"


def test_claim_2_is_corrected_across_layers_and_pairs():
    import pingouin

    acts, emotions, prompts = synthetic.synthetic_layers(5, 3, prompt_share=0.3)
    r = stats.analyse_layers(acts, emotions, prompts, n_permutations=199, n_boot=0, seed=0)
    flat = [c.pvalue for layer in r.layers for c in layer.control_pairs]
    assert len(flat) == 3 * 6
    _, expected = pingouin.multicomp(np.array(flat), alpha=ALPHA, method="holm")
    assert np.allclose([p for layer in r.layers for p in layer.control_pairs_holm], expected)
