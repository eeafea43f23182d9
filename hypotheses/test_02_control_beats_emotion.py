"""Claim 2: the same prompt with different seeds is more alike than two different emotions.

Per layer and emotion pair: same-wording similarity (the control) exceeds
between-emotion similarity, with a permutation p under alpha.
"""

import pytest


@pytest.mark.claim
def test_control_similarity_beats_between_emotion_similarity(layer, emotion_pair, layer_analysis, experiment,
                                                             record_claim):
    result = layer_analysis.layer(layer)
    control = next(c for c in result.control_pairs if set(c.pair) == set(emotion_pair))
    pair_gap = result.gap.pair(*emotion_pair)
    alpha = experiment.thresholds.alpha
    record_claim("control", layer=layer, pair=list(emotion_pair), statistic=control.statistic,
                 pvalue=control.pvalue, control=pair_gap.control, between=pair_gap.between, alpha=alpha)
    assert control.statistic > 0 and control.pvalue < alpha, (
        f"layer {layer}, {emotion_pair[0]} vs {emotion_pair[1]}: control similarity {pair_gap.control:.4f} "
        f"vs between {pair_gap.between:.4f} (difference {control.statistic:+.4f}, p = {control.pvalue:.3g}, "
        f"alpha {alpha})")
