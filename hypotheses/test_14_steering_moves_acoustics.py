"""Claim 14 (causal evidence): steering along the emotion direction moves the music the label's way.

Per row of the direction table (happy vs sad: tempo, energy, brightness up,
minor to major; energetic vs calm: tempo, energy, brightness up), at each
steered layer: the slope of the feature against alpha, when the contrast's
direction is added to the residual stream while neutral prompts are generated,
beats the slopes of its controls, the same construction under random
relabellings of the contrast's wordings (a permutation rank p),
Holm-corrected across features x contrasts x layers. Its verdict line is
"causal evidence: supported / not supported / inconclusive / not run / error"
(``emoprobe.steering``; inconclusive: supported on wordings the word-overlap
audit flags);
it never changes GO, PIVOT or NO-GO. Off unless ``[steering] enabled = true``
or ``--steer``.
"""

import pytest

from emoprobe import report


@pytest.mark.claim
@pytest.mark.exploratory
def test_steering_moves_feature(contrast_feature, steering_result, experiment, record_claim, attach):
    first, second, feature, _ = contrast_feature
    if steering_result is None:
        pytest.skip("causal evidence: not run (steering is off; [steering] enabled = true or --steer)")
    rows = [r for r in steering_result.rows if (r.first, r.second, r.feature) == (first, second, feature)]
    if not rows:
        pytest.skip(f"{first} and {second} are expected in the same mode: no direction to steer {feature} by")
    alpha = experiment.thresholds.alpha
    for r in rows:
        record_claim("steering", layer=r.layer, contrast=[first, second], feature=feature, slope=r.slope,
                     pvalue=r.pvalue, pvalue_holm=r.pvalue_holm, supported=r.supported, n_random=r.n_random,
                     random_slope_median=r.random_slope_median, threshold=alpha,
                     design_flagged=steering_result.design_warning is not None)
        attach(report.plot_dose_response(r), f"dose-response: {feature}, {first} vs {second}, layer {r.layer}")
    numbers = "; ".join(
        f"layer {r.layer}: slope {r.slope:.4g} per unit alpha ({'up' if r.sign > 0 else 'down'} expected) vs median "
        f"random {r.random_slope_median:.4g}, rank p = {r.pvalue:.3g} among {r.n_random} controls, "
        f"Holm p = {r.pvalue_holm:.3g} (need < {alpha})" for r in rows)
    if any(r.supported for r in rows) and steering_result.design_warning:
        pytest.fail(f"{numbers}; supported, but {steering_result.design_warning}: inconclusive (a model whose "
                    "music follows its words passes here far more often than alpha)", pytrace=False)
    assert any(r.supported for r in rows), numbers
