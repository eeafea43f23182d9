"""Claim 6: the audio's acoustics move in the direction its label predicts.

Per row of the config's direction table (happy vs sad: tempo, energy,
brightness higher, major against minor; energetic vs calm: tempo, energy,
brightness higher): the agreement rate (share of cross-pairs ordered as
expected) exceeds the configured threshold (the seed's 80%). Its CI and p treat
the seeds of one wording as a cluster (wordings resampled and permuted whole).
Mode: the share of each side's samples in its expected mode, among those whose
mode the extractor decided ("uncertain" ones count as neither); a side decided on
fewer than the config's mode_min_decided share of its samples gives no evidence.
"""

import numpy as np
import pytest

from emoprobe import acoustics, report


@pytest.mark.claim
def test_acoustic_feature_matches_label(contrast_feature, acoustic_features_by_emotion, wordings_by_emotion,
                                        experiment, record_claim, attach):
    first, second, feature, expected = contrast_feature
    threshold = experiment.thresholds.acoustic_agreement
    a, b = acoustic_features_by_emotion[first], acoustic_features_by_emotion[second]
    if feature == "mode":
        results = [acoustics.mode_agreement([f.mode for f in a], expected[0], wordings=wordings_by_emotion[first]),
                   acoustics.mode_agreement([f.mode for f in b], expected[1], wordings=wordings_by_emotion[second])]
        # An "uncertain" mode (weak major/relative-minor evidence) is neither
        # agreement nor disagreement; the message says how many there were. A side
        # decided on too few of its samples gives no rate (NaN): no evidence, no pass.
        min_decided = experiment.thresholds.mode_min_decided
        rate = acoustics.mode_claim_rate(results, min_decided)
        detail = "; ".join(f"{emo}: no sample with a decided mode ({r.n_uncertain} uncertain)" if not r.n else
                           f"{emo} {exp} in {r.agreement_rate:.0%} of {r.n} with a decided mode"
                           f" ({r.n_uncertain} uncertain, counted as neither; wording-level CI {r.ci_low:.0%} "
                           f"to {r.ci_high:.0%}, sign-flip p = {r.pvalue:.3g})"
                           for emo, exp, r in zip((first, second), expected, results))
        detail += f"; a decided mode needed on at least {min_decided:.0%} of each side's samples"
        pvalue = max(r.pvalue for r in results)
        attach(report.plot_mode_shares({first: a, second: b}), f"mode: {first} vs {second}")
    else:
        values_a, values_b = [getattr(f, feature) for f in a], [getattr(f, feature) for f in b]
        attach(report.plot_acoustic_boxes({first: a, second: b}, [feature]), f"{feature}: {first} vs {second}")
        # Seeds of one wording are a cluster: the p moves whole wordings, the CI resamples them.
        result = acoustics.agreement(values_a, values_b, expected, wordings_a=wordings_by_emotion[first],
                                     wordings_b=wordings_by_emotion[second])
        rate, pvalue = result.agreement_rate, result.pvalue
        detail = (f"agreement {rate:.0%} (wording-level CI {result.ci_low:.0%} to {result.ci_high:.0%}), "
                  f"wording-level permutation p = {pvalue:.3g} over {result.n_permutations} arrangements, "
                  f"medians {np.median(values_a):.4g} vs {np.median(values_b):.4g}")
    record_claim("acoustic", contrast=[first, second], feature=feature, agreement=rate, pvalue=pvalue,
                 threshold=threshold)
    assert rate > threshold, f"{first} vs {second}, {feature} expected {expected}: {detail}; need > {threshold:.0%}"
