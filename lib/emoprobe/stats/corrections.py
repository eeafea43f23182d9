"""Multiple comparisons across layers: Holm and Benjamini-Hochberg, and Westfall-Young step-down max-T.

Holm/BH (:func:`correct_across_layers`, through ``pingouin.multicomp``) treat
the layers as a family of p-values. Max-T (:func:`maxt_stepdown`) works on the
permutation nulls themselves:

Every layer's gap test runs through the same permutations
(``stats.analyse_layers``), so each permutation gives a whole vector of null
statistics, one per layer. The step-down max-T adjustment compares each
layer's observed statistic with the permutation distribution of the MAXIMUM
over the layers still in play. It controls the family-wise error rate
strongly (under subset pivotality, which holds for a permutation of the
labels shared by all layers), and unlike Holm it uses the correlation
between layers: 48 nearly identical layers cost nearly nothing, where Holm
pays for 48 independent tests.

Statistics are standardised per layer by their own permutation null (mean and
standard deviation), so a layer with a wider null does not dominate the max.

Algorithm (Westfall and Young 1993, algorithm 2.8): order the layers by
observed statistic, largest first; for the k-th, count the permutations whose
maximum over the layers ranked k and below reaches the k-th statistic;
``p_k = (1 + count) / (1 + n_permutations)`` (``count / n`` when every
arrangement was enumerated), then enforce monotonicity down the order.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pingouin

from .records import DEFAULT_ALPHA, CorrectionResult, StatsInputError

__all__ = ["correct_across_layers", "maxt_stepdown", "standardise"]


def correct_across_layers(pvalues: Iterable[float], alpha: float = DEFAULT_ALPHA) -> CorrectionResult:
    """Holm and Benjamini-Hochberg corrections of per-layer p-values (``pingouin.multicomp``).

    Returns raw, Holm and BH p-values and the counts with p < alpha for each.
    The seed's "at least one of 48 layers at p < 0.05" is only a valid claim
    with the Holm count: with 48 null layers, uncorrected, about 1 - 0.95**48
    (~91%) of experiments show at least one.
    """
    p = np.asarray(list(pvalues), dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise StatsInputError("pvalues must be a non-empty 1-D sequence")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise StatsInputError(f"pvalues must be finite and in [0, 1], got {p.tolist()}")
    if not 0.0 < alpha < 1.0:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha}")
    reject_holm, p_holm = pingouin.multicomp(p, alpha=float(alpha), method="holm")
    reject_bh, p_bh = pingouin.multicomp(p, alpha=float(alpha), method="fdr_bh")
    reject_raw = p < alpha
    return CorrectionResult(
        alpha=float(alpha),
        pvalues=tuple(float(v) for v in p),
        pvalues_holm=tuple(float(v) for v in p_holm),
        pvalues_bh=tuple(float(v) for v in p_bh),
        reject_uncorrected=tuple(bool(v) for v in reject_raw),
        reject_holm=tuple(bool(v) for v in reject_holm),
        reject_bh=tuple(bool(v) for v in reject_bh),
        n_tests=int(p.size),
        n_uncorrected=int(reject_raw.sum()),
        n_holm=int(np.sum(reject_holm)),
        n_bh=int(np.sum(reject_bh)),
    )


def standardise(observed: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observed ``[L]`` and null ``[P, L]`` in units of each layer's null SD about its null mean."""
    mean = null.mean(axis=0)
    sd = null.std(axis=0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    return (observed - mean) / sd, (null - mean) / sd


def maxt_stepdown(observed: np.ndarray, null: np.ndarray, *, exact: bool = False,
                  standardize: bool = True, tolerance: float = 1e-10) -> np.ndarray:
    """Step-down max-T adjusted p-values ``[L]`` (one-sided: large statistics are extreme).

    ``observed`` ``[L]``; ``null`` ``[P, L]``, row ``p`` the statistics of all
    layers under permutation ``p`` (the same permutation for every layer).
    """
    observed = np.asarray(observed, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64)
    if null.ndim != 2 or null.shape[1] != observed.size:
        raise ValueError(f"null must be [permutations, {observed.size}], got {null.shape}")
    if standardize:
        observed, null = standardise(observed, null)
    order = np.argsort(-observed, kind="stable")
    # Running maximum from the least extreme layer upwards: column k holds the
    # max over the layers ranked k, k+1, ... in each permutation.
    tail_max = np.maximum.accumulate(null[:, order[::-1]], axis=1)[:, ::-1]
    counts = np.count_nonzero(tail_max >= observed[order][None, :] - tolerance, axis=0)
    n = null.shape[0]
    p_sorted = counts / n if exact else (1 + counts) / (1 + n)
    p_sorted = np.minimum(1.0, np.maximum.accumulate(p_sorted))
    adjusted = np.empty_like(p_sorted)
    adjusted[order] = p_sorted
    return adjusted
