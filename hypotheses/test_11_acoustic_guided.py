"""Claim 11 (exploratory): samples that sound alike sit alike in the layer.

Per layer: a Mantel test of pairwise activation distance against pairwise
acoustic distance (tempo, brightness, energy, onset rate, mode), r > 0 with a
permutation p under alpha (the seed's week-3 acoustic-guided analysis).
Never decides the verdict.
"""

import pytest


@pytest.mark.claim
@pytest.mark.exploratory
def test_activation_distance_follows_acoustic_distance(layer, acoustic_guided_results, experiment, record_claim):
    result = acoustic_guided_results[layer]
    alpha = experiment.thresholds.alpha
    record_claim("acoustic_guided", layer=layer, statistic=result.statistic, pvalue=result.pvalue)
    assert result.statistic > 0 and result.pvalue < alpha, (
        f"layer {layer}: Mantel {result.method} r = {result.statistic:.3f}, p = {result.pvalue:.3g} "
        f"over {result.n_permutations} permutations")
