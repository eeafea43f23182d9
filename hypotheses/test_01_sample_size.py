"""Claim 1: every emotion has at least the seed's minimum number of samples (20).

Fewer makes the verdict INCONCLUSIVE, whatever else passes.
"""

import pytest


@pytest.mark.claim
def test_every_emotion_has_enough_samples(emotion_samples, experiment, record_claim):
    counts = {e: int((emotion_samples.conditions == e).sum()) for e in experiment.emotions}
    need = experiment.thresholds.min_n_per_emotion
    # Per wording too: the word-overlap audit of the verdict simulates the run's own shape.
    record_claim("sample_size", min_n=min(counts.values()), counts=counts, threshold=need,
                 wording_counts=emotion_samples.samples_per_wording())
    short = {e: n for e, n in counts.items() if n < need}
    assert not short, f"fewer than {need} samples per emotion: {short}; the verdict is INCONCLUSIVE"
