"""Claim 10 (exploratory): a linear probe reads emotion from the layer, above chance.

Per layer: logistic regression, cross-validated on prompt wordings it never
saw, beats the majority-class share with a permutation p under alpha (the
instrument of the SynTheory and Jukebox probing work). Never decides the verdict alone.
"""

import pytest


@pytest.mark.claim
@pytest.mark.exploratory
def test_probe_beats_chance(layer, probe_results, experiment, record_claim):
    result = probe_results[layer]
    alpha = experiment.thresholds.alpha
    record_claim("probe", layer=layer, accuracy=result.accuracy, chance=result.chance, pvalue=result.pvalue)
    assert result.accuracy > result.chance and result.pvalue < alpha, (
        f"layer {layer}: probe accuracy {result.accuracy:.2f} vs chance {result.chance:.2f}, "
        f"p = {result.pvalue:.3g} over {result.n_permutations} permutations")
