"""The seed's diagnostics and effect sizes: differing-dimension share, per-dimension tests, effect classes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pingouin
import scipy.stats

from .pairs import (_as_activations, check_count, _Design, _design_and_matrix, _gap_layout, _GapLayout, make_design,
                    _pair_subset, _rng)
from .records import (_BATCH_ELEMENTS, DEFAULT_ALPHA, EFFECT_THRESHOLDS, DimensionTestResult, DimsShareResult,
                      StatsInputError, _single_threaded_blas)


# ---------------------------------------------------------------------------
# Per-dimension diagnostics
# ---------------------------------------------------------------------------


def _two_emotions(X: Any, emotions: Any, a: str, b: str, prompts: Any = None) -> tuple[np.ndarray, _Design, int, int]:
    X = _as_activations(X)
    design = make_design(emotions, prompts, X.shape[0], need_within=False)
    keep, sub = _pair_subset(design, (a, b))
    return X[keep], sub, sub.emotion_names.index(str(a)), sub.emotion_names.index(str(b))


@_single_threaded_blas
def dims_differing_share(
    X: Any,
    emotions: Any,
    a: str,
    b: str,
    threshold: float = 0.1,
    *,
    n_shuffles: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> DimsShareResult:
    """The seed's diagnostic: share of dimensions with ``|mean_a - mean_b| > threshold``, real versus shuffled.

    Reproduced so the report can show it, NOT a test of emotion encoding.
    Its flaws, each enough to make "5.2% real versus 12.9% random" meaningless:

    * A single shuffle is one draw from a null distribution, not the null. To
      call the real share "worse than random" one needs the spread of shuffled
      shares; here every shuffle is kept (``shuffled_share_mean``/``_sd``).
    * The 0.1 threshold is in raw activation units. The share then measures
      the layer's scale and noise level as much as any emotion: a layer with
      large activations shows many "differing" dimensions under any labelling,
      one with small activations shows none. No variance enters, so it is not
      a standardised effect.
    * With one sample per emotion (the seed's N=1) there is nothing to shuffle
      between two labels; whatever was compared, it was noise against noise.
    * Dimensions are strongly correlated, so a share is not a count of
      independent pieces of evidence.
    * Shuffling single samples ignores the nesting of wordings in emotions.

    The valid per-dimension test is :func:`per_dimension_test`.
    """
    Xab, design, ia, ib = _two_emotions(X, emotions, a, b)
    n_shuffles = check_count(n_shuffles, "n_shuffles")
    codes = design.emotion_codes
    n_a, n_b = int((codes == ia).sum()), int((codes == ib).sum())

    def shares(labels: np.ndarray) -> np.ndarray:  # labels [B, n]
        in_a = (labels == ia).astype(np.float64)
        mean_a = in_a @ Xab / n_a
        mean_b = (1.0 - in_a) @ Xab / n_b
        return (np.abs(mean_a - mean_b) > threshold).mean(axis=1)

    real = float(shares(codes[None, :])[0])
    rng = _rng(seed)
    batch = max(1, _BATCH_ELEMENTS // max(1, Xab.shape[1]))
    shuffled = np.concatenate(
        [shares(rng.permuted(np.tile(codes, (min(batch, n_shuffles - k), 1)), axis=1)) for k in range(0, n_shuffles, batch)]
    )
    return DimsShareResult(
        emotion_a=str(a),
        emotion_b=str(b),
        threshold=float(threshold),
        real_share=real,
        shuffled_share_mean=float(shuffled.mean()),
        shuffled_share_sd=float(shuffled.std(ddof=1)) if shuffled.size > 1 else float("nan"),
        share_of_shuffles_at_least_real=float((shuffled >= real).mean()),
        n_a=n_a,
        n_b=n_b,
        n_dims=int(Xab.shape[1]),
        n_shuffles=n_shuffles,
        shuffled_shares=shuffled,
    )


def per_dimension_test(
    X: Any,
    emotions: Any,
    a: str,
    b: str,
    prompts: Any = None,
    *,
    alpha: float = DEFAULT_ALPHA,
    unit: str | None = None,
) -> DimensionTestResult:
    """Per-dimension Welch t-test of emotion a versus b, Benjamini-Hochberg across dimensions.

    ``scipy.stats.ttest_ind(equal_var=False)`` on every dimension, then
    ``scipy.stats.false_discovery_control`` (BH). The observation unit matters:
    with prompts given, the default ``unit="prompt"`` averages each wording's
    seeds first, because seeds of one wording are not independent replicates
    of an emotion (a wording effect would otherwise pass as an emotion effect).
    ``unit="sample"`` uses samples (right only without a wording effect).
    Assumes roughly normal means per unit (the t-test is robust to this at
    moderate n); dimensions constant in both groups get p = 1.
    """
    if unit is None:
        unit = "sample" if prompts is None else "prompt"
    if unit not in ("sample", "prompt", "hierarchical"):
        raise StatsInputError(f"unit must be 'sample', 'prompt' or 'hierarchical', got {unit!r}")
    if unit == "prompt" and prompts is None:
        raise StatsInputError("unit='prompt' needs prompts")
    if not 0.0 < alpha < 1.0:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha}")
    Xab, design, ia, ib = _two_emotions(X, emotions, a, b, prompts)
    if unit == "prompt":
        pc = design.prompt_codes
        G = design.n_prompts
        sums = np.zeros((G, Xab.shape[1]))  # type: ignore[arg-type]
        np.add.at(sums, pc, Xab)
        values = sums / np.bincount(pc, minlength=G)[:, None]  # type: ignore[arg-type]
        groups = design.prompt_emotion
    else:
        values, groups = Xab, design.emotion_codes
    xa, xb = values[groups == ia], values[groups == ib]
    if min(len(xa), len(xb)) < 2:
        raise StatsInputError(
            f"per-dimension test needs at least 2 {unit}s per emotion, got {len(xa)} and {len(xb)}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        res = scipy.stats.ttest_ind(xa, xb, axis=0, equal_var=False)
    t = np.asarray(res.statistic, dtype=np.float64)
    p = np.asarray(res.pvalue, dtype=np.float64)
    p = np.where(np.isnan(p), 1.0, p)
    p_fdr = scipy.stats.false_discovery_control(p, method="bh")
    n_fdr = int((p_fdr < alpha).sum())
    return DimensionTestResult(
        emotion_a=str(a),
        emotion_b=str(b),
        alpha=float(alpha),
        unit=unit,
        n_a=int(len(xa)),
        n_b=int(len(xb)),
        n_dims=int(values.shape[1]),
        n_significant_uncorrected=int((p < alpha).sum()),
        n_significant_fdr=n_fdr,
        share_significant_fdr=n_fdr / values.shape[1],
        statistic=t,
        pvalues=p,
        pvalues_fdr=p_fdr,
    )


# ---------------------------------------------------------------------------
# Effect sizes
# ---------------------------------------------------------------------------


def _check_thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    merged = dict(EFFECT_THRESHOLDS)
    if thresholds is not None:
        unknown = set(thresholds) - set(EFFECT_THRESHOLDS)
        if unknown:
            raise StatsInputError(f"unknown effect classes {sorted(unknown)}; expected {sorted(EFFECT_THRESHOLDS)}")
        merged.update({k: float(v) for k, v in thresholds.items()})
    if not 0 <= merged["weak"] <= merged["moderate"] <= merged["strong"]:
        raise StatsInputError(f"effect thresholds must satisfy 0 <= weak <= moderate <= strong, got {merged}")
    return merged


def effect_class(gap_value: float, thresholds: Mapping[str, float] | None = None) -> str:
    """The seed's class of an absolute gap in similarity units (cosine or Pearson).

    ``|gap| < weak`` -> "noise", ``< moderate`` -> "weak", ``< strong`` ->
    "moderate", else "strong"; lower bounds are inclusive. Defaults are
    :data:`EFFECT_THRESHOLDS` (0.01, 0.05, 0.15: the seed's 1%, 5%, 15%); pass
    the experiment config's to override any of them. The magnitude is
    classed; the sign (within below between) is the caller's to report. The
    seed's 0.9508 - 0.9461 = 0.0047 is "noise".
    """
    value = float(gap_value)
    if not math.isfinite(value):
        raise StatsInputError(f"effect_class needs a finite gap, got {gap_value!r}")
    t = _check_thresholds(thresholds)
    size = abs(value)
    if size >= t["strong"]:
        return "strong"
    if size >= t["moderate"]:
        return "moderate"
    if size >= t["weak"]:
        return "weak"
    return "noise"


def cohens_d_pairs(S: Any, emotions: Any, prompts: Any = None) -> float:
    """Cohen's d of within-pair versus between-pair similarities (``pingouin.compute_effsize``).

    Descriptive only: the pairs share samples, so they are not independent and
    d must not be turned into a p-value. The standardised effect used for
    inference is ``PermutationResult.standardized``.
    """
    S, design = _design_and_matrix(S, emotions, prompts)
    return _cohens_d(S, _gap_layout(design))


def _cohens_d(S: np.ndarray, layout: _GapLayout) -> float:
    values = S[layout.i, layout.j]
    return float(pingouin.compute_effsize(values[layout.within], values[layout.between], paired=False, eftype="cohen"))
