"""Bootstrap confidence intervals of the gap: by sample, by wording, or in two stages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.stats

from .pairs import check_count, _design_and_matrix, _Design, _pair_masks, _rng
from .records import DEFAULT_N_BOOT, BootstrapCI, StatsInputError, _single_threaded_blas
from .resampling import hierarchical_counts




@_single_threaded_blas
def bootstrap_gap_ci(
    S: Any,
    emotions: Any,
    prompts: Any = None,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = None,
    *,
    unit: str = "sample",
    method: str = "BCa",
    statistic: str = "gap",
    resamples: Sequence[np.ndarray] | None = None,
) -> BootstrapCI:
    """Bootstrap CI of ``gap`` (or ``control_gap``) via ``scipy.stats.bootstrap``.

    ``unit="sample"``: samples are resampled with replacement within their
    emotion, stratified by wording when prompts are given (each wording keeps
    its number of seeds, so the design, and the meaning of "within = different
    wording", is kept). This is the CI for the wordings actually used.
    ``unit="prompt"``: whole wordings are resampled within emotion (a cluster
    bootstrap), which also covers the choice of wordings and is wider.
    ``unit="hierarchical"``: whole wordings within emotion, then seeds within
    each drawn wording (two stages, :func:`emoprobe.stats.resampling.hierarchical_counts`),
    with a percentile interval (``method`` is not used). This is the one that
    covers the true gap under a wording effect (``tests/test_resampling.py``).

    ``resamples``: the two-stage draws to use instead of drawing them from
    ``seed`` (:func:`_hierarchical_resamples`, so that layers sharing one design
    share one draw; the same as drawing it from that seed every time).

    A resample counts a sample drawn k times with weight k; pairs of a sample
    with its own copies are left out (they are not pairs of two generations).
    ``method`` is scipy's: "BCa" (default), "percentile" or "basic".
    """
    S, design = _design_and_matrix(S, emotions, prompts)
    n_boot = check_count(n_boot, "n_boot", minimum=2)
    if not 0.0 < confidence < 1.0:
        raise StatsInputError(f"confidence must be in (0, 1), got {confidence}")
    if unit not in ("sample", "prompt", "hierarchical"):
        raise StatsInputError(f"unit must be 'sample', 'prompt' or 'hierarchical', got {unit!r}")
    if statistic not in ("gap", "control_gap"):
        raise StatsInputError(f"statistic must be 'gap' or 'control_gap', got {statistic!r}")
    if statistic == "control_gap" and design.prompt_codes is None:
        raise StatsInputError("control_gap needs prompts")
    if unit in ("prompt", "hierarchical") and design.prompt_codes is None:
        raise StatsInputError(f"unit={unit!r} needs prompts")

    if unit == "hierarchical":
        if resamples is None:
            resamples = _hierarchical_resamples(design, n_boot, _rng(seed))
        return _hierarchical_ci(S, _WeightedGap(design, statistic, resamples), n_boot, confidence)

    weighted = _WeightedGap(design, statistic)
    S_first, S_between = weighted.layer_matrices(S)

    n = design.n
    if unit == "sample":
        item_to_samples = np.eye(n)
        stratum_of_item = design.prompt_codes if design.prompt_codes is not None else design.emotion_codes
    else:
        n_prompts = design.n_prompts
        item_to_samples = np.zeros((n_prompts, n))  # type: ignore[arg-type]
        item_to_samples[design.prompt_codes, np.arange(n)] = 1.0
        stratum_of_item = design.prompt_emotion
    n_items = item_to_samples.shape[0]
    strata = [np.nonzero(stratum_of_item == s)[0] for s in np.unique(stratum_of_item)]
    # scipy needs >= 2 observations per sample; a stratum of one item is
    # resampled to itself anyway, so it enters with a fixed weight.
    fixed_counts = np.zeros(n_items)
    for items in strata:
        if items.size == 1:
            fixed_counts[items] = 1.0
    data = tuple(items for items in strata if items.size > 1)
    if not data:
        raise StatsInputError("nothing to resample: every stratum has a single item")

    def stat(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        lead = np.broadcast_shapes(*[r.shape[:-1] for r in resampled])
        flat = [np.broadcast_to(r, lead + r.shape[-1:]).reshape(-1, r.shape[-1]) for r in resampled]
        B = flat[0].shape[0]
        offsets = (np.arange(B) * n_items)[:, None]
        idx = np.concatenate([f + offsets for f in flat], axis=1).ravel()
        counts = np.bincount(idx, minlength=B * n_items).reshape(B, n_items) + fixed_counts
        W = counts @ item_to_samples
        value = weighted.value(W, S_first, S_between, weighted.pair_counts(W))
        return value.reshape(lead)

    observed = float(stat(*data))
    with np.errstate(invalid="ignore", divide="ignore"):
        res = scipy.stats.bootstrap(
            data,
            stat,
            n_resamples=n_boot,
            vectorized=True,
            paired=False,
            confidence_level=confidence,
            method=method,
            rng=_rng(seed),
        )
    return BootstrapCI(
        statistic=observed,
        low=float(res.confidence_interval.low),
        high=float(res.confidence_interval.high),
        confidence=float(confidence),
        n_boot=n_boot,
        method=method,
        unit=unit,
        standard_error=float(res.standard_error),
        name=statistic,
    )


def _hierarchical_resamples(design: _Design, n_boot: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The two-stage (wording, then seed) resample counts, ``[500, N]`` at a time (bounded work per product)."""
    return [hierarchical_counts(design.prompt_codes, design.prompt_emotion, min(500, n_boot - start), rng)
            for start in range(0, n_boot, 500)]


def _quadratic(W: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``sum_ij W[b, i] W[b, j] M[i, j]`` for each row ``b`` of ``W``."""
    return np.einsum("bi,bi->b", W @ M, W)


class _WeightedGap:
    """``gap`` (or ``control_gap``) as a function of sample weights, for one design.

    Weighted mean of the first class's pairs (within, or control) minus that of
    the between pairs. The weighted pair counts (the denominators) depend on
    the design and the weights, not on the layer: given the ``resamples`` here,
    they are computed once for every layer that shares them.
    """

    def __init__(self, design: _Design, statistic: str, resamples: Sequence[np.ndarray] = ()):
        masks = _pair_masks(design)
        self.first = masks.control if statistic == "control_gap" else masks.within
        self.between = masks.between
        self.name = statistic
        self.n_samples = design.n
        self.C_first, self.C_between = self.first.astype(np.float64), self.between.astype(np.float64)
        self.observed_weights = np.ones((1, design.n))
        self.observed_counts = self.pair_counts(self.observed_weights)
        self.resamples = list(resamples)
        self.resample_counts = [self.pair_counts(W) for W in self.resamples]

    def pair_counts(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _quadratic(W, self.C_first), _quadratic(W, self.C_between)

    def layer_matrices(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.where(self.first, S, 0.0), np.where(self.between, S, 0.0)

    @staticmethod
    def value(W: np.ndarray, S_first: np.ndarray, S_between: np.ndarray,
              counts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return _quadratic(W, S_first) / counts[0] - _quadratic(W, S_between) / counts[1]


def _hierarchical_ci(S: np.ndarray, weighted: _WeightedGap, n_boot: int, confidence: float) -> BootstrapCI:
    """Percentile CI of the weighted gap of ``S`` under the two-stage (wording, then seed) bootstrap."""
    S_first, S_between = weighted.layer_matrices(S)
    observed = float(weighted.value(weighted.observed_weights, S_first, S_between, weighted.observed_counts)[0])
    values = []
    for W, counts in zip(weighted.resamples, weighted.resample_counts):
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append(weighted.value(W, S_first, S_between, counts))
    boot = np.concatenate(values)
    boot = boot[np.isfinite(boot)]  # a resample with no pair of a class says nothing about it
    if boot.size < 2:
        raise StatsInputError("the hierarchical bootstrap drew no resample with both pair classes")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return BootstrapCI(statistic=observed, low=float(low), high=float(high), confidence=float(confidence),
                       n_boot=n_boot, method="percentile", unit="hierarchical",
                       standard_error=float(boot.std(ddof=1)), name=weighted.name)
