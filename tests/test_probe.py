"""The dual-form probe: equal to scikit-learn, calibrated at the wording level, fast enough.

Calibration runs the probe on hundreds of synthetic datasets with a strong
wording effect and no emotion: the wording-level p must reject at alpha
(within 3 Monte Carlo SE); a planted emotion gap must be found.
"""

import math

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict

from emoprobe import probe, stats
from emoprobe.truth import synthetic

ALPHA = 0.05
N_DATASETS = 500
N_PERMUTATIONS = 199


def _fpr_band(n: int) -> tuple[float, float]:
    se = math.sqrt(ALPHA * (1 - ALPHA) / n)
    return ALPHA - 3 * se, ALPHA + 3 * se


@pytest.mark.parametrize("n_emotions,n_prompts,n_seeds", [(2, 3, 3), (3, 3, 2), (4, 5, 4)])
@pytest.mark.parametrize("penalty", [0.05, 3.0])
def test_lowo_predictions_equal_sklearn_ridge_classifier(n_emotions, n_prompts, n_seeds, penalty):
    data = synthetic.planted_activations(n_emotions + n_prompts, 0.01, n_emotions=n_emotions,
                                         n_prompts_per_emotion=n_prompts, n_seeds_per_prompt=n_seeds, dim=40)
    design = stats.pairs.make_design(data.emotions, data.prompts, len(data.X))
    unit_of_sample, _ = design.units()
    M = probe.lowo_operator(probe.probe_gram(data.X), unit_of_sample, penalty)
    names = np.array(design.emotion_names)
    onehot = (data.emotions[:, None] == names[None, :]).astype(float)
    ours = names[(M @ onehot).argmax(axis=1)]
    Z = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    theirs = cross_val_predict(RidgeClassifier(alpha=penalty), Z, data.emotions, groups=data.prompts,
                               cv=LeaveOneGroupOut())
    assert np.array_equal(ours, theirs)


def _null_pvalues(rng) -> np.ndarray:
    pvalues = np.empty(N_DATASETS)
    for k in range(N_DATASETS):
        data = synthetic.null_activations(rng, dim=64, prompt_share=0.5)
        pvalues[k] = probe.probe_test(data.X, data.emotions, data.prompts, N_PERMUTATIONS, seed=rng).pvalue
    return pvalues


def test_wording_level_probe_is_calibrated_under_a_wording_effect():
    pvalues = _null_pvalues(np.random.default_rng(20261125))
    low, high = _fpr_band(N_DATASETS)
    fpr = float(np.mean(pvalues < ALPHA))
    assert low <= fpr <= high, f"probe FPR {fpr:.3f} over {N_DATASETS} wording-effect nulls, band [{low:.3f}, {high:.3f}]"


def test_probe_detects_a_planted_emotion_gap():
    rng = np.random.default_rng(3)
    detected = [probe.probe_test(d.X, d.emotions, d.prompts, N_PERMUTATIONS, seed=rng).pvalue < ALPHA
                for d in (synthetic.planted_activations(rng, 0.02, dim=64, prompt_share=0.3) for _ in range(50))]
    assert np.mean(detected) >= 0.9, f"power {np.mean(detected):.2f} at a planted gap of 0.02"


def test_layers_share_permutations_and_match_single_layer_calls():
    data = synthetic.planted_activations(11, 0.01, dim=32)
    both = probe.probe_test({3: data.X, 5: data.X[:, ::-1].copy()}, data.emotions, data.prompts, 99, seed=4)
    alone = probe.probe_test(data.X, data.emotions, data.prompts, 99, seed=4)
    assert both[3].pvalue == alone.pvalue and both[3].accuracy == alone.accuracy
    assert np.array_equal(both[3].null_distribution, alone.null_distribution)


def test_probe_refuses_a_design_without_wordings():
    data = synthetic.null_activations(1, dim=16)
    with pytest.raises(stats.StatsInputError):
        probe.probe_test(data.X, data.emotions, None)
