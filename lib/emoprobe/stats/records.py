"""Result records, documented defaults and the input error of the statistics engine."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..threads import single_threaded_blas


# ---------------------------------------------------------------------------
# Documented defaults. Research thresholds are arguments everywhere; these are
# only the values used when the caller (the experiment config) passes none.
# ---------------------------------------------------------------------------

DEFAULT_ALPHA = 0.05
#: The seed's ">2%" line: gap = within - between in similarity units.
DEFAULT_MIN_GAP = 0.02
DEFAULT_N_PERMUTATIONS = 10_000
DEFAULT_N_BOOT = 2_000

#: Lower bounds of the seed's effect classes, on |gap| in similarity units:
#: |gap| < 0.01 noise, [0.01, 0.05) weak, [0.05, 0.15) moderate, >= 0.15 strong.
EFFECT_THRESHOLDS: dict[str, float] = {"weak": 0.01, "moderate": 0.05, "strong": 0.15}

METRICS = ("cosine", "pearson", "euclidean")
# Metrics on a [-1, 1] scale, where the 0.02 line and the effect classes mean
# what the seed meant. Euclidean similarity is in activation units.
_BOUNDED_METRICS = ("cosine", "pearson")

# Statistics closer than this (times the similarity scale) to the observed one
# count as ties: far above float64 round-off in the vectorised sums, far below
# any effect worth reporting.
_TIE_RTOL = 1e-10
# Elements per one-hot batch in the permutation engine (memory bound ~16 MB).
_BATCH_ELEMENTS = 2_000_000


class StatsInputError(ValueError):
    """Input the statistics cannot honestly be computed on (never a p-value)."""


# The engine's products are skinny (``[B*C, U] @ [U, U]`` with U <= ~100) and
# memory-bound: measured on the 2-core box, BLAS threading made them 2-7x
# slower (thread hand-off costs more than the arithmetic), worst when other
# processes share the cores.
_single_threaded_blas = single_threaded_blas


# ---------------------------------------------------------------------------
# JSON-friendly records
# ---------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


class _Record:
    """Mixin: ``to_dict()`` gives plain JSON types; arrays marked ``json=False`` are left out."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.metadata.get("json", True):
                out[f.name] = _jsonable(getattr(self, f.name))
        return out

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _array_field() -> Any:
    return field(default=None, repr=False, compare=False, metadata={"json": False})


@dataclass(frozen=True)
class PairClasses(_Record):
    """Boolean ``[N, N]`` masks of the three pair classes (diagonal always False)."""

    within: np.ndarray = field(repr=False)
    between: np.ndarray = field(repr=False)
    control: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class PairGap(_Record):
    """Gap numbers restricted to one emotion pair ``(emotion_a, emotion_b)``.

    ``within`` pools the within pairs of both emotions, ``between`` is the
    a-b pairs, ``control`` the same-wording pairs of both (None without prompts).
    """

    emotion_a: str
    emotion_b: str
    within: float
    between: float
    control: float | None
    gap: float
    control_gap: float | None
    n_within_pairs: int
    n_between_pairs: int
    n_control_pairs: int


@dataclass(frozen=True)
class GapSummary(_Record):
    """Mean similarity per pair class and the gaps (see the module docstring).

    ``gap = within - between`` (absolute, similarity units; the ">2%" line is
    ``gap >= 0.02``), ``relative_gap = gap / within``,
    ``control_gap = control - between``. ``control`` and ``control_gap`` are
    None without prompts. ``pairs`` holds the same numbers per emotion pair.
    """

    within: float
    between: float
    control: float | None
    gap: float
    relative_gap: float
    control_gap: float | None
    n_within_pairs: int
    n_between_pairs: int
    n_control_pairs: int
    pairs: tuple[PairGap, ...] = ()

    def pair(self, a: str, b: str) -> PairGap:
        """The :class:`PairGap` of emotions ``a`` and ``b`` (either order)."""
        for p in self.pairs:
            if {p.emotion_a, p.emotion_b} == {str(a), str(b)}:
                return p
        raise KeyError(f"no emotion pair ({a!r}, {b!r}); known: {[(p.emotion_a, p.emotion_b) for p in self.pairs]}")


@dataclass(frozen=True)
class PermutationResult(_Record):
    """A permutation test, scipy-style: ``statistic`` and ``pvalue``.

    ``scheme`` names what was permuted ("wording": emotion labels of whole
    prompt wordings; "sample": labels of single samples). ``exact`` is True
    when every distinct label arrangement was enumerated, and then
    ``n_permutations`` is their number. ``null_mean``/``null_sd`` summarise
    the permutation null; ``standardized = (statistic - null_mean) / null_sd``
    is the standardised effect size. ``pair`` names the emotion pair when the
    test was restricted to one. ``null_distribution`` is kept for plots but
    left out of ``to_dict()``.
    """

    statistic: float
    pvalue: float
    n_permutations: int
    null_mean: float
    null_sd: float
    standardized: float
    alternative: str
    scheme: str
    exact: bool
    name: str
    pair: tuple[str, str] | None = None
    null_distribution: np.ndarray | None = _array_field()


@dataclass(frozen=True)
class BootstrapCI(_Record):
    """Bootstrap confidence interval of a gap (``scipy.stats.bootstrap``).

    ``unit="sample"`` resampled samples within their wording (within their
    emotion when there are no prompts): the CI of the gap for these wordings.
    ``unit="prompt"`` resampled whole wordings within emotion: wider, it also
    covers the choice of wordings. ``unit="hierarchical"`` (what the analysis
    uses) resampled whole wordings within emotion, then seeds within each drawn
    wording (``emoprobe.stats.resampling``), with a percentile interval.
    """

    statistic: float
    low: float
    high: float
    confidence: float
    n_boot: int
    method: str
    unit: str
    standard_error: float
    name: str = "gap"


@dataclass(frozen=True)
class CorrectionResult(_Record):
    """P-values of a family of tests (layers), raw and corrected.

    Holm (``pingouin.multicomp(method="holm")``) controls the family-wise error
    rate: use it for "at least one layer is significant". Benjamini-Hochberg
    (``method="fdr_bh"``) controls the false discovery rate: use it to explore
    which layers. A test is significant when its (corrected) p < alpha.
    """

    alpha: float
    pvalues: tuple[float, ...]
    pvalues_holm: tuple[float, ...]
    pvalues_bh: tuple[float, ...]
    reject_uncorrected: tuple[bool, ...]
    reject_holm: tuple[bool, ...]
    reject_bh: tuple[bool, ...]
    n_tests: int
    n_uncorrected: int
    n_holm: int
    n_bh: int


@dataclass(frozen=True)
class DimsShareResult(_Record):
    """The seed's diagnostic: share of dimensions whose emotion means differ by > threshold.

    Diagnostic only, see :func:`dims_differing_share` for why it is not a test.
    """

    emotion_a: str
    emotion_b: str
    threshold: float
    real_share: float
    shuffled_share_mean: float
    shuffled_share_sd: float
    share_of_shuffles_at_least_real: float
    n_a: int
    n_b: int
    n_dims: int
    n_shuffles: int
    shuffled_shares: np.ndarray | None = _array_field()


@dataclass(frozen=True)
class DimensionTestResult(_Record):
    """Per-dimension Welch t-tests with Benjamini-Hochberg FDR control.

    ``unit="prompt"`` means each wording's mean was one observation (the valid
    choice when wordings are nested in emotions); ``"sample"`` means each
    sample was. Dimensions constant in both groups get p = 1.
    """

    emotion_a: str
    emotion_b: str
    alpha: float
    unit: str
    n_a: int
    n_b: int
    n_dims: int
    n_significant_uncorrected: int
    n_significant_fdr: int
    share_significant_fdr: float
    statistic: np.ndarray | None = _array_field()
    pvalues: np.ndarray | None = _array_field()
    pvalues_fdr: np.ndarray | None = _array_field()


@dataclass(frozen=True)
class LayerResult(_Record):
    """Everything the hypothesis suite reads about one layer.

    ``statistic`` is the gap (within - between), ``pvalue`` its wording-level
    permutation p (uncorrected); ``pvalue_holm``/``pvalue_bh`` are filled in by
    :func:`analyse_layers` (None for a single layer). ``ci`` is the bootstrap CI
    of the gap, ``effect_class`` the seed's class of |gap| (None for the
    unbounded euclidean metric), ``effect_size`` the gap standardised by the
    permutation null, ``cohens_d`` Cohen's d of within- versus between-pair
    similarities (descriptive only: pairs are not independent).
    ``control`` tests same-wording versus between-emotion similarity;
    ``control_pairs`` does so per emotion pair.
    """

    layer: int | None
    metric: str
    n_samples: int
    n_per_emotion: dict[str, int]
    n_prompts: int | None
    statistic: float
    pvalue: float
    gap: GapSummary
    test: PermutationResult
    ci: BootstrapCI | None
    effect_class: str | None
    effect_size: float
    cohens_d: float
    control: PermutationResult | None
    control_pairs: tuple[PermutationResult, ...]
    alpha: float
    min_gap: float
    meets_min_gap: bool
    significant: bool
    effect_thresholds: dict[str, float]
    pvalue_holm: float | None = None
    pvalue_bh: float | None = None
    significant_holm: bool | None = None
    significant_bh: bool | None = None
    pvalue_maxt: float | None = None
    significant_maxt: bool | None = None
    #: Holm over every (layer, emotion pair) control test of the analysis, in ``control_pairs`` order.
    control_pairs_holm: tuple[float, ...] = ()


@dataclass(frozen=True)
class LayersAnalysis(_Record):
    """Per-layer results with Holm/BH correction across the layers analysed.

    ``correction`` is over the gap tests (the seed's "at least one layer with
    p < 0.05" is ``n_significant_holm >= 1``); ``control_correction`` over the
    overall control tests (None without prompts).
    """

    layers: tuple[LayerResult, ...]
    alpha: float
    min_gap: float
    correction: CorrectionResult
    control_correction: CorrectionResult | None
    n_layers: int
    n_significant_uncorrected: int
    n_significant_holm: int
    n_significant_bh: int
    #: Westfall-Young step-down max-T over the layers (``emoprobe.stats.corrections``).
    n_significant_maxt: int | None = None

    def n_significant(self, correction: str) -> int:
        """Layers significant under ``correction`` ("holm" or "maxt")."""
        return self.n_significant_maxt if correction == "maxt" else self.n_significant_holm  # type: ignore[return-value]

    @property
    def by_layer(self) -> dict[int, LayerResult]:
        return {r.layer: r for r in self.layers}  # type: ignore[misc]

    def layer(self, index: int) -> LayerResult:
        return self.by_layer[index]


@dataclass(frozen=True)
class PowerCurve(_Record):
    """Detection rate of the gap test against the planted gap.

    ``power[k]`` is the share of simulated datasets with planted gap
    ``effects[k]`` whose gap test gave p < alpha (``power_se`` its Monte Carlo
    SE); ``power_min_gap[k]`` the share that also measured gap >= min_gap (the
    GO-style criterion). ``mean_gap`` is the average measured gap.
    """

    effects: tuple[float, ...]
    power: tuple[float, ...]
    power_se: tuple[float, ...]
    power_min_gap: tuple[float, ...]
    mean_gap: tuple[float, ...]
    n_sim: int
    n_per_emotion: int
    alpha: float
    min_gap: float
    n_permutations: int
    metric: str
    geometry: dict[str, Any]
    seed: int | None
    #: Layers the run corrects over: a layer counts as detected at p < alpha / n_layers.
    n_layers: int = 1
    n_prompts_per_emotion: int | None = None
