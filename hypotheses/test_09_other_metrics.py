"""Claim 9 (exploratory): other similarity metrics also separate the emotions.

Per layer and metric (Pearson and euclidean gap, linear CKA with the labels,
MMD between emotions), the wording-level permutation p is under alpha. The
seed's week 3: "some metrics might be more sensitive". Never decides the verdict.
"""

import pytest


@pytest.mark.claim
@pytest.mark.exploratory
def test_metric_separates_emotions(layer, metric, other_metric_results, experiment, record_claim):
    result = other_metric_results[(metric, layer)]
    alpha = experiment.thresholds.alpha
    record_claim("metric", layer=layer, metric=metric, statistic=result.statistic, pvalue=result.pvalue)
    assert result.pvalue < alpha, (f"layer {layer}, {metric}: statistic {result.statistic:.4g}, "
                                   f"p = {result.pvalue:.3g} over {result.n_permutations} permutations")
