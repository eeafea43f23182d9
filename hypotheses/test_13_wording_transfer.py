"""Claim 13 (exploratory): emotion learnt from the emotion's name transfers to wordings that only describe it.

Per layer: a classifier trained on the samples of wordings that name their
emotion ("a happy song") predicts the emotion of wordings that only describe
it ("bright major chords, bouncy rhythm") above chance, with a p from
permuting the emotion labels of whole wordings. Never decides the verdict.
"""

import pytest


@pytest.mark.claim
@pytest.mark.exploratory
def test_named_emotion_predicts_described_emotion(layer, transfer_results, experiment, record_claim):
    if not transfer_results:
        pytest.skip("the experiment has no described-only wordings, or named wordings of fewer than two emotions")
    result = transfer_results[layer]
    alpha = experiment.thresholds.alpha
    record_claim("transfer", layer=layer, accuracy=result.accuracy, chance=result.chance, pvalue=result.pvalue,
                 n_train_wordings=result.n_train_wordings, n_test_wordings=result.n_test_wordings)
    assert result.accuracy > result.chance and result.pvalue < alpha, (
        f"layer {layer}: trained on {result.n_train_wordings} named wordings, accuracy {result.accuracy:.2f} on "
        f"{result.n_test_wordings} described wordings vs chance {result.chance:.2f}, p = {result.pvalue:.3g} "
        f"over {result.n_permutations} wording-label permutations")
