"""Claim 2 (a control): the same prompt with different seeds is more alike than two different emotions.

Per layer and emotion pair: same-wording similarity exceeds between-emotion
similarity, with a permutation p under alpha after Holm across every layer x
pair test of the run. It is a sanity check that the seeds vary less than the
prompts do: its null is "samples fully exchangeable", so any prompt effect,
wording as much as emotion, passes it. It is not evidence of emotion and
never decides the verdict; its margin is reported beside the seed's 0.0047.
"""

import pytest

from emoprobe.truth.synthetic import SEED_BETWEEN_SIMILARITY, SEED_CONTROL_SIMILARITY

SEED_MARGIN = SEED_CONTROL_SIMILARITY - SEED_BETWEEN_SIMILARITY


@pytest.mark.claim
@pytest.mark.exploratory
def test_control_similarity_beats_between_emotion_similarity(layer, emotion_pair, control_analysis, experiment,
                                                             record_claim):
    result = control_analysis.layer(layer)
    index = next(k for k, c in enumerate(result.control_pairs) if set(c.pair) == set(emotion_pair))
    control, pvalue_holm = result.control_pairs[index], result.control_pairs_holm[index]
    pair_gap = result.gap.pair(*emotion_pair)
    alpha = experiment.thresholds.alpha
    record_claim("control", layer=layer, pair=list(emotion_pair), statistic=control.statistic,
                 pvalue=control.pvalue, pvalue_holm=pvalue_holm, margin=control.statistic, seed_margin=SEED_MARGIN,
                 control=pair_gap.control, between=pair_gap.between, alpha=alpha)
    assert control.statistic > 0 and pvalue_holm < alpha, (
        f"layer {layer}, {emotion_pair[0]} vs {emotion_pair[1]}: control similarity {pair_gap.control:.4f} "
        f"vs between {pair_gap.between:.4f}, margin {control.statistic:+.4f} (the seed's: {SEED_MARGIN:.4f}), "
        f"p = {control.pvalue:.3g}, Holm over {len(result.control_pairs) * control_analysis.n_layers} layer x pair tests {pvalue_holm:.3g}, "
        f"alpha {alpha}. A control (the seeds vary less than the prompts), not evidence of emotion")
