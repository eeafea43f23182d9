"""Representational metrics: linear CKA and MMD, with permutation tests per layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.spatial.distance import pdist, squareform

from .corrections import correct_across_layers
from .pairs import _as_activations, check_count, _Design, make_design, _pair_subset, _rng
from .permutation import _label_engine, _onehot, _PermutationEngine, _pair_tuple, _same_class_sums, _class_block_sums, _unit_aggregate
from .records import _BATCH_ELEMENTS, DEFAULT_ALPHA, DEFAULT_N_PERMUTATIONS, PermutationResult, StatsInputError, _single_threaded_blas




def _centred_gram(X: np.ndarray) -> np.ndarray:
    Xc = X - X.mean(axis=0, keepdims=True)
    return Xc @ Xc.T


def linear_cka(X: Any, Y: Any) -> float:
    """Linear CKA (Kornblith et al. 2019) between two representations of the same N samples.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with linear kernels
    ``K = Xc Xc^T``, ``L = Yc Yc^T`` of the column-centred data, i.e.
    ``|Yc^T Xc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F)``. In [0, 1]; invariant to
    orthogonal transforms and isotropic scaling of either side, not to
    arbitrary invertible linear maps. Raises if either side is constant.
    """
    X = _as_activations(X, "X")
    Y = _as_activations(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise StatsInputError(f"X and Y must hold the same samples: {X.shape[0]} versus {Y.shape[0]} rows")
    K, L = _centred_gram(X), _centred_gram(Y)
    norm_k, norm_l = np.linalg.norm(K), np.linalg.norm(L)
    if norm_k == 0 or norm_l == 0:
        raise StatsInputError("linear CKA is undefined when a representation is constant over samples")
    return float((K * L).sum() / (norm_k * norm_l))


def median_bandwidth(X: Any) -> float:
    """Median heuristic: the median euclidean distance between distinct rows of ``X``."""
    X = _as_activations(X)
    distances = pdist(X)
    positive = distances[distances > 0]
    if positive.size == 0:
        raise StatsInputError("all samples are identical: the median-heuristic bandwidth is zero")
    return float(np.median(positive))


def _rbf_kernel(X: np.ndarray, bandwidth: float) -> np.ndarray:
    sq = squareform(pdist(X, metric="sqeuclidean"))
    return np.exp(-sq / (2.0 * bandwidth**2))


def mmd(X: Any, Y: Any, bandwidth: float | None = None) -> float:
    """Unbiased squared MMD (Gretton et al. 2012) between samples X and Y, RBF kernel.

    ``k(x, y) = exp(-|x - y|^2 / (2 bandwidth^2))``; by default the bandwidth
    is the median distance of the pooled samples (median heuristic).
    ``MMD^2_u = mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean k(x_i, y_j)``;
    it can be slightly negative when the distributions agree. For a p-value
    use :func:`emotion_mmd_test` (permutation).
    """
    X = _as_activations(X, "X")
    Y = _as_activations(Y, "Y")
    if X.shape[1] != Y.shape[1]:
        raise StatsInputError(f"X and Y must have the same dimensions: {X.shape[1]} versus {Y.shape[1]}")
    Z = np.vstack([X, Y])
    bandwidth = median_bandwidth(Z) if bandwidth is None else float(bandwidth)
    if not bandwidth > 0:
        raise StatsInputError(f"bandwidth must be positive, got {bandwidth}")
    K = _rbf_kernel(Z, bandwidth)
    n, m = X.shape[0], Y.shape[0]
    Kxx, Kyy, Kxy = K[:n, :n], K[n:, n:], K[:n, n:]
    xx = (Kxx.sum() - np.trace(Kxx)) / (n * (n - 1))
    yy = (Kyy.sum() - np.trace(Kyy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * Kxy.mean())


def _cka_engine(design: _Design, n_permutations: int, rng: np.random.Generator) -> _PermutationEngine:
    """Linear CKA between X and one-hot emotions, under permutations of unit labels.

    With L = Y Y^T for one-hot Y, ``HSIC(K, L) = tr(K_c L)`` is the sum of the
    centred Gram matrix over same-emotion pairs (diagonal and same-unit pairs
    included: they never move), and ``|H L H|_F`` depends only on the class sizes.
    """
    unit_of_sample, unit_labels = design.units()
    n_units = unit_labels.size
    n_classes = design.n_emotions
    sizes = np.bincount(unit_of_sample, minlength=n_units).astype(np.float64)
    n = float(design.n)
    member = np.zeros((design.n, n_units))
    member[np.arange(design.n), unit_of_sample] = 1.0

    def payload(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        onehot = _onehot(labels, n_classes)
        m = onehot @ sizes  # class sizes [B, C]
        sum2, sum3 = (m**2).sum(axis=1), (m**3).sum(axis=1)
        return onehot, np.sqrt(sum2 - 2.0 * sum3 / n + sum2**2 / n**2)  # |H L H|_F

    def prepare(K: np.ndarray) -> tuple[np.ndarray, float]:
        norm_k = float(np.linalg.norm(K))
        if norm_k == 0:
            raise StatsInputError("linear CKA is undefined when the activations are constant over samples")
        return member.T @ K @ member, norm_k

    def evaluate(prepared: tuple[np.ndarray, float], load: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        T, norm_k = prepared
        onehot, norm_l = load
        return _same_class_sums(T, onehot) / (norm_k * norm_l)

    return _label_engine("cka", design, unit_labels, n_classes, n_permutations, rng, payload, prepare, evaluate)


def _mmd_engine(design: _Design, n_permutations: int, rng: np.random.Generator) -> _PermutationEngine:
    """Mean over emotion pairs of the unbiased MMD^2, under permutations of unit labels.

    ``prepare`` takes the RBF kernel matrix of the samples in ``design``.
    """
    unit_of_sample, unit_labels = design.units()
    n_units = unit_labels.size
    n_classes = design.n_emotions
    sizes = np.bincount(unit_of_sample, minlength=n_units).astype(np.float64)
    upper = np.triu_indices(n_classes, 1)
    diagonal = np.arange(n_classes)

    def payload(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        onehot = _onehot(labels, n_classes)
        m = onehot @ sizes
        counts = m[:, :, None] * m[:, None, :]
        counts[:, diagonal, diagonal] -= m  # i != j inside a class
        return onehot, counts

    def prepare(K: np.ndarray) -> np.ndarray:
        return _unit_aggregate(K, unit_of_sample, n_units, keep_same_unit=True)

    def evaluate(T: np.ndarray, load: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        onehot, counts = load
        mean = _class_block_sums(T, onehot) / counts
        inside = mean[:, diagonal, diagonal]
        mmd2 = inside[:, upper[0]] + inside[:, upper[1]] - 2.0 * mean[:, upper[0], upper[1]]
        return mmd2.mean(axis=1)

    return _label_engine("mmd", design, unit_labels, n_classes, n_permutations, rng, payload, prepare, evaluate)


@_single_threaded_blas
def emotion_cka_test(
    X: Any,
    emotions: Any,
    prompts: Any = None,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    *,
    seed: int | np.random.Generator | None = None,
) -> PermutationResult:
    """Linear CKA between the activations and the one-hot emotion labels, with a permutation p.

    Measures how much of the representation's geometry lines up with the
    emotion partition (0: none, 1: samples collapse onto their emotion);
    equals ``linear_cka(X, onehot(emotions))``. Emotion labels are permuted as
    in :func:`permutation_gap_test` (whole wordings when prompts are given).
    """
    X = _as_activations(X)
    design = make_design(emotions, prompts, X.shape[0])
    engine = _cka_engine(design, check_count(n_permutations, "n_permutations"), _rng(seed))
    return engine.run(_centred_gram(X), scale=1.0)


@_single_threaded_blas
def emotion_mmd_test(
    X: Any,
    emotions: Any,
    prompts: Any = None,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    *,
    pair: Sequence[str] | None = None,
    bandwidth: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> PermutationResult:
    """MMD^2 between emotion groups (mean over emotion pairs, or one ``pair``), permutation p.

    Kernel and estimator as :func:`mmd`, bandwidth from all samples analysed
    (so it is the same in every permutation). Emotion labels are permuted as in
    :func:`permutation_gap_test`.
    """
    X = _as_activations(X)
    design = make_design(emotions, prompts, X.shape[0])
    if pair is not None:
        keep, design = _pair_subset(design, pair)
        X = X[keep]
    bandwidth = median_bandwidth(X) if bandwidth is None else float(bandwidth)
    engine = _mmd_engine(design, check_count(n_permutations, "n_permutations"), _rng(seed))
    engine.pair = _pair_tuple(pair)
    return engine.run(_rbf_kernel(X, bandwidth), scale=1.0)


@_single_threaded_blas
def compare_emotion_groups_by_layer(
    activations: Mapping[int, Any],
    emotions: Any,
    prompts: Any = None,
    *,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int | None = 0,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """CKA-with-emotion and MMD-between-emotions tests for every layer, Holm/BH-corrected.

    Returns ``{"cka": {layer: PermutationResult}, "mmd": {...},
    "cka_correction": CorrectionResult, "mmd_correction": CorrectionResult}``.
    The layers share their permutations (see :func:`analyse_layers`).
    """
    layers = sorted(activations)
    if not layers:
        raise StatsInputError("activations is empty")
    first = _as_activations(activations[layers[0]])
    design = make_design(emotions, prompts, first.shape[0])
    n_permutations = check_count(n_permutations, "n_permutations")
    streams = [_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]
    cka_engine = _cka_engine(design, n_permutations, streams[0])
    mmd_engine = _mmd_engine(design, n_permutations, streams[1])
    out: dict[str, Any] = {"cka": {}, "mmd": {}}
    for layer in layers:
        X = _as_activations(activations[layer], f"activations[{layer}]")
        if X.shape[0] != design.n:
            raise StatsInputError(f"layer {layer} has {X.shape[0]} samples, expected {design.n}")
        out["cka"][layer] = cka_engine.run(_centred_gram(X), scale=1.0)
        out["mmd"][layer] = mmd_engine.run(_rbf_kernel(X, median_bandwidth(X)), scale=1.0)
    for name in ("cka", "mmd"):
        out[f"{name}_correction"] = correct_across_layers([out[name][layer].pvalue for layer in layers], alpha)
    return out
