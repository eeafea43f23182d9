"""Claim 3: within-emotion similarity exceeds between-emotion similarity by more than 2%.

Per layer: the gap (mean within-emotion, different-wording similarity minus
mean between-emotion similarity, as defined in ``emoprobe.stats``) is at least
the configured minimum gap (the seed's 0.02), reported with its bootstrap CI.
"""

import pytest


@pytest.mark.claim
def test_gap_reaches_the_minimum(layer, layer_analysis, experiment, record_claim):
    result = layer_analysis.layer(layer)
    min_gap = experiment.thresholds.min_gap
    ci = (result.ci.low, result.ci.high) if result.ci is not None else (None, None)
    record_claim("gap", layer=layer, gap=result.statistic, ci=list(ci), within=result.gap.within,
                 between=result.gap.between, effect_class=result.effect_class, threshold=min_gap,
                 n=result.n_samples)
    assert result.statistic >= min_gap, (
        f"layer {layer}: gap {result.statistic:.4f} (95% CI {ci[0]:.4f} to {ci[1]:.4f}) < {min_gap}; "
        f"within {result.gap.within:.4f}, between {result.gap.between:.4f}, effect class {result.effect_class}")
