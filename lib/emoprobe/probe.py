"""A fast linear probe for emotion: ridge in the dual, leave-one-wording-out in closed form.

The seed's design has N = 80 samples and D = 2048 dimensions per layer, so a
probe is cheapest in the dual: everything it needs is the N x N Gram matrix.
Ridge regression with an unpenalised intercept on one-hot emotion targets is
a linear smoother, ``Y_hat = H Y`` with ``H = 11'/N + Kc (Kc + lambda I)^-1``
(``Kc`` the centred Gram). For any linear smoother of that kind the
leave-group-out predictions are exact and closed form: holding out the samples
``I`` of one wording, ``Y_hat_-I[I] = Y[I] - (I - H[I, I])^-1 (Y - H Y)[I]``.
So the cross-validated predictions are ``M Y`` for one fixed ``N x N`` matrix
``M`` per layer, and a permutation of the labels costs one product with it.
The predicted class is the argmax (scikit-learn's ``RidgeClassifier``, which
``tests/test_probe.py`` checks it against on small cases).

Inference (what the p permutes): the emotion labels of whole WORDINGS, all
seeds of a wording together, as the gap test does. Folds leave one wording
out, so the probe is scored on wordings it never saw; permuting single
samples instead would break the wording clusters in the null world and turn a
pure wording effect into a "significant" probe (measured: false-positive rate
about 0.16). Every layer runs through the same permutations.

Features are z-scored over all N samples before the Gram (label-free, so no
label information leaks into a fold, and the permutation null sees the same
transform). The penalty is relative: ``lambda = ridge * trace(Kc) / N``, so
one setting means the same at every layer's scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from . import stats
from .threads import single_threaded_blas

__all__ = ["ProbeTest", "lowo_operator", "probe_gram", "probe_test", "DEFAULT_RIDGE"]

#: Relative ridge penalty (times the mean eigenvalue of the centred Gram).
DEFAULT_RIDGE = 1.0


@dataclass(frozen=True)
class ProbeTest:
    """One layer's leave-one-wording-out probe and its wording-level permutation p.

    ``accuracy`` is the share of samples whose held-out prediction is their
    emotion; ``chance`` is the permutation null's mean accuracy (below
    1/n_emotions: a held-out wording's emotion has one wording fewer in
    training); ``pvalue = (1 + #{null >= accuracy}) / (1 + n)``, or exact
    when every arrangement was enumerated.
    """

    layer: int | None
    accuracy: float
    chance: float
    pvalue: float
    n_permutations: int
    exact: bool
    ridge: float
    penalty: float
    scheme: str = "wording"
    null_distribution: np.ndarray | None = field(default=None, repr=False, compare=False)


def probe_gram(X: Any, standardize: bool = True) -> np.ndarray:
    """The N x N Gram of the (z-scored) features."""
    X = np.asarray(X, dtype=np.float64)
    if standardize:
        X = X - X.mean(axis=0)
        sd = X.std(axis=0)
        X = X / np.where(sd > 0, sd, 1.0)
    return X @ X.T


def lowo_operator(K: np.ndarray, groups: np.ndarray, penalty: float) -> np.ndarray:
    """``M`` with leave-one-group-out ridge predictions ``= M @ Y`` for any targets ``Y``.

    ``K`` is the (uncentred) Gram, ``penalty`` the absolute lambda; the
    intercept is unpenalised (as scikit-learn's ``fit_intercept=True``).
    """
    n = K.shape[0]
    C = np.eye(n) - 1.0 / n
    Kc = C @ K @ C
    s, V = np.linalg.eigh((Kc + Kc.T) / 2)
    s = np.clip(s, 0.0, None)
    H = (V * (s / (s + penalty))) @ V.T + 1.0 / n
    R = np.eye(n) - H
    B = np.zeros((n, n))
    for g in np.unique(groups):
        idx = np.nonzero(groups == g)[0]
        B[np.ix_(idx, idx)] = np.linalg.inv(R[np.ix_(idx, idx)])
    return np.eye(n) - B @ R


def _accuracies(M: np.ndarray, label_batch: np.ndarray, unit_of_sample: np.ndarray, n_classes: int) -> np.ndarray:
    """Held-out accuracy for each permuted labelling ``label_batch [P, units]``."""
    sample_labels = label_batch[:, unit_of_sample]  # [P, N]
    onehot = (sample_labels[:, :, None] == np.arange(n_classes)).astype(np.float64)  # [P, N, C]
    P, N, C = onehot.shape
    predicted = (M @ onehot.transpose(1, 0, 2).reshape(N, P * C)).reshape(N, P, C).argmax(axis=2).T
    return (predicted == sample_labels).mean(axis=1)


@single_threaded_blas
def probe_test(
    activations: Mapping[int, Any] | Any,
    emotions: Any,
    prompts: Any,
    n_permutations: int = 1000,
    *,
    seed: int | np.random.Generator | None = 0,
    ridge: float = DEFAULT_RIDGE,
    standardize: bool = True,
) -> dict[int, ProbeTest] | ProbeTest:
    """Leave-one-wording-out ridge probe per layer, p from wording-level label permutations.

    ``activations`` maps layer -> ``[N, D]`` (or is one ``[N, D]`` array, then
    one :class:`ProbeTest` is returned). Every layer shares the permutations.
    """
    if prompts is None:
        raise stats.StatsInputError("the probe needs prompts: folds leave one wording out")
    single = not isinstance(activations, Mapping)
    layers = {None: activations} if single else dict(activations)
    if not layers:
        raise stats.StatsInputError("activations is empty: no layer to probe")
    if not ridge > 0:
        raise stats.StatsInputError(f"ridge must be positive, got {ridge}")
    n = np.asarray(next(iter(layers.values()))).shape[0]
    design = stats.pairs.make_design(emotions, prompts, n)
    unit_of_sample, unit_labels = design.units()
    n_permutations = stats.pairs.check_count(n_permutations, "n_permutations")
    batch = max(1, 2_000_000 // max(1, n * design.n_emotions))
    batches, exact = stats.permutation.label_batches(unit_labels, n_permutations, np.random.default_rng(seed), batch)
    out = {}
    for layer, X in layers.items():
        K = probe_gram(X, standardize)
        Kc_trace = float(np.trace(K) - K.sum() / n)
        penalty = ridge * max(Kc_trace, 1e-300) / n
        M = lowo_operator(K, unit_of_sample, penalty)
        observed = float(_accuracies(M, unit_labels[None, :], unit_of_sample, design.n_emotions)[0])
        null = np.concatenate([_accuracies(M, b, unit_of_sample, design.n_emotions) for b in batches])
        hits = np.count_nonzero(null >= observed - 1e-12)
        pvalue = hits / null.size if exact else (1 + hits) / (1 + null.size)
        out[layer] = ProbeTest(None if layer is None else int(layer), observed, float(null.mean()),
                               float(min(1.0, pvalue)), int(null.size), exact, float(ridge), float(penalty),
                               null_distribution=null)
    return out[None] if single else out
