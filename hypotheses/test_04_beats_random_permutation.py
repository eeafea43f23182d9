"""Claim 4: the real emotion labelling beats a random permutation of the labels.

Per layer: the observed gap exceeds the label-permutation null (labels move
with whole prompt wordings) at alpha, uncorrected. Claim 5 corrects across layers.
"""

import pytest


@pytest.mark.claim
def test_labelling_beats_permuted_labels(layer, layer_analysis, experiment, record_claim):
    result = layer_analysis.layer(layer)
    alpha = experiment.thresholds.alpha
    record_claim("permutation", layer=layer, gap=result.statistic, pvalue=result.pvalue,
                 pvalue_holm=result.pvalue_holm, pvalue_bh=result.pvalue_bh, pvalue_maxt=result.pvalue_maxt,
                 gap_se=result.ci.standard_error if result.ci else None, null_mean=result.test.null_mean,
                 null_sd=result.test.null_sd, n_permutations=result.test.n_permutations,
                 effect_size=result.effect_size, alpha=alpha)
    assert result.pvalue < alpha, (
        f"layer {layer}: gap {result.statistic:.4f} vs permutation null {result.test.null_mean:.4f} "
        f"± {result.test.null_sd:.4f}; p = {result.pvalue:.3g} (Holm {result.pvalue_holm:.3g}) >= {alpha} "
        f"over {result.test.n_permutations} permutations")
