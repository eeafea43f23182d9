"""Claim 5: at least one layer separates the emotions, after Holm correction across layers.

One aggregate test. The seed read "at least one of 48 layers at p < 0.05"
without correction, which noise alone passes most of the time; the uncorrected
count is reported beside the corrected one.
"""

import pytest

from emoprobe import report


@pytest.mark.claim
def test_some_layer_is_significant_after_holm(layer_analysis, experiment, record_claim, attach):
    alpha, min_gap = experiment.thresholds.alpha, experiment.thresholds.min_gap
    layers = layer_analysis.layers
    record_claim("any_layer", n_layers=len(layers), n_significant_holm=layer_analysis.n_significant_holm,
                 n_significant_bh=layer_analysis.n_significant_bh,
                 n_significant_uncorrected=layer_analysis.n_significant_uncorrected, alpha=alpha,
                 layers=[{"layer": r.layer, "gap": r.statistic, "pvalue": r.pvalue, "pvalue_holm": r.pvalue_holm,
                          "ci": [r.ci.low, r.ci.high] if r.ci else None} for r in layers])
    attach(report.plot_layer_gaps(layer_analysis, min_gap), "gap per layer")
    attach(report.plot_corrected_pvalues(layer_analysis, alpha), "corrected p per layer")
    best = min(layers, key=lambda r: r.pvalue_holm)
    assert layer_analysis.n_significant_holm >= 1, (
        f"no layer significant after Holm across {len(layers)} layers (best: layer {best.layer}, "
        f"p = {best.pvalue:.3g}, Holm {best.pvalue_holm:.3g}); uncorrected, "
        f"{layer_analysis.n_significant_uncorrected} layer(s) had p < {alpha}")
