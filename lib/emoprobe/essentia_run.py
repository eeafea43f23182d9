"""Essentia algorithms, quiet and cached per process, for every estimator that uses them."""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["quiet_essentia", "run_essentia"]


@functools.lru_cache(maxsize=1)
def quiet_essentia():
    """``essentia.standard`` with its per-call INFO and warning lines switched off."""
    import essentia
    essentia.log.infoActive = False
    essentia.log.warningActive = False
    import essentia.standard as es
    return es


# Constructing RhythmExtractor2013 costs as much as running it on a 10 s clip.
@functools.lru_cache(maxsize=8)
def _algorithm(name: str, **params: Any):
    return getattr(quiet_essentia(), name)(**params)


def run_essentia(name: str, *inputs: Any, **params: Any):
    """Run a cached essentia algorithm, reset first: a reused
    PercivalBpmEstimator without reset() returns its first clip's tempo for
    every later clip (found by measurement, see tests/test_acoustics.py)."""
    algorithm = _algorithm(name, **params)
    algorithm.reset()
    return algorithm(*inputs)
