"""Claim 5: at least one layer separates the emotions, after correction across layers.

One aggregate test. The experiment config names the correction that decides
(``statistics.correction``: Westfall-Young step-down max-T, or Holm); both are
recorded. The seed read "at least one of 48 layers at p < 0.05"
without correction, which noise alone passes most of the time; the uncorrected
count is reported beside the corrected one.
"""

import pytest

from emoprobe import report


@pytest.mark.claim
def test_some_layer_is_significant_after_correction(layer_analysis, experiment, record_claim, attach):
    alpha, min_gap = experiment.thresholds.alpha, experiment.thresholds.min_gap
    correction = experiment.statistics.correction
    name = "max-T" if correction == "maxt" else "Holm"
    layers = layer_analysis.layers
    record_claim("any_layer", n_layers=len(layers), n_significant_holm=layer_analysis.n_significant_holm,
                 n_significant_maxt=layer_analysis.n_significant_maxt, correction=correction,
                 n_significant_bh=layer_analysis.n_significant_bh,
                 n_significant_uncorrected=layer_analysis.n_significant_uncorrected, alpha=alpha,
                 layers=[{"layer": r.layer, "gap": r.statistic, "pvalue": r.pvalue, "pvalue_holm": r.pvalue_holm,
                          "pvalue_maxt": r.pvalue_maxt, "ci": [r.ci.low, r.ci.high] if r.ci else None}
                         for r in layers])
    attach(report.plot_layer_gaps(layer_analysis, min_gap), "gap per layer")
    attach(report.plot_corrected_pvalues(layer_analysis, alpha), "corrected p per layer")

    def corrected(r):
        return r.pvalue_maxt if correction == "maxt" else r.pvalue_holm

    best = min(layers, key=corrected)
    assert layer_analysis.n_significant(correction) >= 1, (
        f"no layer significant after {name} across {len(layers)} layers (best: layer {best.layer}, "
        f"p = {best.pvalue:.3g}, {name} {corrected(best):.3g}, Holm {best.pvalue_holm:.3g}, max-T "
        f"{best.pvalue_maxt:.3g}); uncorrected, {layer_analysis.n_significant_uncorrected} layer(s) had p < {alpha}")
