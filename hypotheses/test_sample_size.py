"""Claim 1: the run has at least the seed's minimum samples per emotion."""

import pytest


@pytest.mark.claim
def test_enough_samples_per_emotion(emotion_samples, experiment):
    counts = {e: int((emotion_samples.conditions == e).sum()) for e in experiment.emotions}
    need = experiment.thresholds.min_n_per_emotion
    short = {e: n for e, n in counts.items() if n < need}
    assert not short, f"fewer than {need} samples for {short}; the verdict is INCONCLUSIVE"
