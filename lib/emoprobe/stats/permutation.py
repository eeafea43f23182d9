"""Statistics engine: similarity, label-permutation tests, corrections, effect sizes.

The seed (``shared/seed/000_d90189981cb3a4e8.txt``) asks, per layer of MusicGen:
is within-emotion similarity higher than between-emotion similarity by more
than 2%? Does the control (same prompt, different seed) beat the emotion
contrast? Does the real labelling beat a random permutation? Is at least one
layer significant at p < 0.05? This module computes those numbers and the
inference behind them. It has no pytest in it; ``tests/test_stats.py`` proves
it calibrated.

Inputs per layer
----------------
``X``         ``[N, D]`` pooled activations, one row per generated sample.
``emotions``  N emotion labels.
``prompts``   N prompt-wording identifiers, or None. Wordings are nested in
              emotions: each emotion has several wordings, each wording was
              generated with several seeds. Wordings are keyed by
              ``(emotion, prompt)``, so an identifier need only be unique
              within its emotion (``"p0"`` under happy and under sad are two
              different wordings).

Pair classes (one definition, used everywhere)
----------------------------------------------
Every unordered pair of distinct samples ``i < j`` falls in at most one class:

``control``  same wording, different seed (same emotion by nesting).
``within``   same emotion, DIFFERENT wording. Same-wording pairs are kept out
             so that sharing the exact words cannot inflate the emotion gap.
             With ``prompts=None``: same emotion, any pair.
``between``  different emotions.

The gap
-------
``gap = mean(within) - mean(between)``, an absolute difference in similarity
units (cosine by default), averaged over pairs. The seed's ">2%" criterion is
``gap >= 0.02`` (``DEFAULT_MIN_GAP``), and its effect classes (< 1% noise,
1-5% weak, 5-15% moderate, > 15% strong) read the same absolute number.
``relative_gap = gap / within`` is reported beside it, never used for a
decision. ``control_gap = mean(control) - mean(between)`` is the seed's
"difference from control" (its 0.9508 - 0.9461 = 0.0047).

Inference
---------
All p-values come from permuting labels of whole samples (or of whole
wordings), never from treating the N^2 pairwise similarities as independent
observations: pairs sharing a sample are dependent, and a t-test over pairs
would be wildly anti-conservative. ``p = (1 + #{null >= observed}) / (1 +
n_permutations)``, with ties (within ``1e-10`` of the similarity scale)
counted as ``>=``. When the design admits no more distinct label arrangements
than ``n_permutations``, every arrangement is enumerated and the p-value is
exact (``#{null >= observed} / n_arrangements``), as ``scipy.stats
.permutation_test`` does. The permutation loop is vectorised (batches of
permutations as one-hot matrices, one matrix product per batch) and agrees
with ``scipy.stats.permutation_test`` on the same data; ``tests/test_stats.py``
checks that.

* Gap test (``permutation_gap_test``): H0 = the emotion label of a wording is
  exchangeable, i.e. which wordings were called "happy" does not change the
  similarity structure. With prompts given, emotion labels are permuted at
  the WORDING level: whole wordings (all their seeds) move together. Why: if
  the model reacts to the exact words but not to the emotion, samples of one
  wording are similar to each other. Permuting single samples would scatter a
  wording's seeds over several "emotions" in the null world, so the null
  would see fewer similar pairs inside emotions than the real labelling has,
  and a wording effect would look like a significant emotion effect. Moving
  wordings whole keeps that structure in every permutation; only the
  emotion-to-wording assignment is tested. Without prompts, samples are
  permuted (valid only if samples are exchangeable, i.e. no wording effect).
* Control test (``control_test``): H0 = samples are exchangeable (neither
  wording nor emotion changes the activations). Wording labels (each carrying
  its emotion) are permuted over samples, keeping the number of seeds per
  wording. The statistic ``control_gap`` compares same-wording pairs with
  different-emotion pairs. A rejection says "the prompt matters"; it cannot
  say whether the wording or the emotion matters, which is the gap test's job.

Both tests are one-sided by default (``alternative="greater"``): the claims
are directional. Use :func:`correct_across_layers` (Holm for the family-wise
claim "at least one layer", Benjamini-Hochberg for exploration) whenever
several layers are read; the uncorrected count is reported beside it, never
instead of it.

A result is significant when p < alpha (strictly, as ``pingouin.multicomp``
rejects). With ``n_permutations`` random permutations the smallest attainable
p is ``1 / (n_permutations + 1)``: Holm over 48 layers at alpha 0.05 needs
p < 0.00104, so use at least 999 permutations (the default is 10,000).
:func:`analyse_layers` draws the permutations once and runs every layer
through them (each layer's test stays valid; Holm holds under any dependence).

Thresholds (``alpha``, the 0.02 line, ``n_permutations``, the effect classes)
are arguments with documented defaults below; the experiment config passes
its own.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pingouin
import scipy.stats
from scipy.spatial.distance import pdist, squareform

from ..threads import single_threaded_blas

__all__ = [
    "StatsInputError",
    "DEFAULT_ALPHA",
    "DEFAULT_MIN_GAP",
    "DEFAULT_N_PERMUTATIONS",
    "DEFAULT_N_BOOT",
    "EFFECT_THRESHOLDS",
    "METRICS",
    "PairClasses",
    "PairGap",
    "GapSummary",
    "PermutationResult",
    "BootstrapCI",
    "CorrectionResult",
    "DimsShareResult",
    "DimensionTestResult",
    "LayerResult",
    "LayersAnalysis",
    "PowerCurve",
    "similarity_matrix",
    "pair_classes",
    "gap",
    "permutation_gap_test",
    "control_test",
    "bootstrap_gap_ci",
    "correct_across_layers",
    "linear_cka",
    "mmd",
    "median_bandwidth",
    "emotion_cka_test",
    "emotion_mmd_test",
    "compare_emotion_groups_by_layer",
    "dims_differing_share",
    "per_dimension_test",
    "effect_class",
    "cohens_d_pairs",
    "analyse_layer",
    "analyse_layers",
    "power_curve",
    "write_power_curve",
]

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
    wording (``emoprobe.resampling``), with a percentile interval.
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
    #: Westfall-Young step-down max-T over the layers (``emoprobe.corrections``).
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


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------


def _as_activations(X: Any, name: str = "X") -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(f"{name} must be a numeric array [n_samples, n_dims]: {exc}") from exc
    if arr.ndim != 2:
        raise StatsInputError(f"{name} must be 2-D [n_samples, n_dims], got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise StatsInputError(f"{name} needs at least 2 samples and 1 dimension, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise StatsInputError(
            f"{name} has {int(bad.sum())} NaN or infinite values, in samples {rows[:10].tolist()}"
            f"{' ...' if rows.size > 10 else ''}; fix the activations, a statistic on them would be meaningless"
        )
    return arr


def _as_similarity(S: Any, n: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(S, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(f"S must be a numeric [N, N] similarity matrix: {exc}") from exc
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise StatsInputError(f"S must be a square [N, N] similarity matrix, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise StatsInputError(f"S is {arr.shape[0]}x{arr.shape[0]} but there are {n} labels")
    if not np.isfinite(arr).all():
        raise StatsInputError("S has NaN or infinite entries")
    scale = max(1.0, float(np.abs(arr).max()))
    if not np.allclose(arr, arr.T, rtol=0, atol=1e-8 * scale):
        raise StatsInputError("S must be symmetric (a similarity between samples)")
    return arr


@dataclass(frozen=True)
class _Design:
    """Integer-coded labels. Wordings are keyed by (emotion, prompt)."""

    emotion_names: tuple[str, ...]
    emotion_codes: np.ndarray  # [N] int
    prompt_codes: np.ndarray | None  # [N] int in [0, G)
    prompt_emotion: np.ndarray | None  # [G] emotion code of each wording

    @property
    def n(self) -> int:
        return int(self.emotion_codes.size)

    @property
    def n_emotions(self) -> int:
        return len(self.emotion_names)

    @property
    def n_prompts(self) -> int | None:
        return None if self.prompt_codes is None else int(self.prompt_emotion.size)  # type: ignore[union-attr]

    def counts(self) -> dict[str, int]:
        c = np.bincount(self.emotion_codes, minlength=self.n_emotions)
        return {name: int(k) for name, k in zip(self.emotion_names, c)}

    def units(self) -> tuple[np.ndarray, np.ndarray]:
        """(unit index of each sample, emotion code of each unit): wordings if known, else samples."""
        if self.prompt_codes is None:
            return np.arange(self.n), self.emotion_codes.copy()
        return self.prompt_codes, self.prompt_emotion.copy()  # type: ignore[union-attr]

    def subset(self, keep: np.ndarray) -> _Design:
        """The design restricted to samples ``keep`` (bool mask), codes renumbered."""
        em = self.emotion_codes[keep]
        used = np.unique(em)
        remap = np.full(self.n_emotions, -1)
        remap[used] = np.arange(used.size)
        names = tuple(self.emotion_names[k] for k in used)
        if self.prompt_codes is None:
            return _Design(names, remap[em], None, None)
        pc = self.prompt_codes[keep]
        used_p, new_pc = np.unique(pc, return_inverse=True)
        return _Design(names, remap[em], new_pc, remap[self.prompt_emotion[used_p]])  # type: ignore[index]


def _labels(values: Any, n: int, name: str) -> list[str]:
    if values is None:
        raise StatsInputError(f"{name} is required")
    if isinstance(values, (str, bytes)):
        raise StatsInputError(f"{name} must be a sequence of N labels, not a single string")
    labels = [str(v) for v in np.asarray(values, dtype=object).ravel().tolist()]
    if len(labels) != n:
        raise StatsInputError(f"{name} has {len(labels)} labels but there are {n} samples")
    return labels


def _make_design(emotions: Any, prompts: Any, n: int, *, need_within: bool = True) -> _Design:
    em = _labels(emotions, n, "emotions")
    names = tuple(dict.fromkeys(em))  # order of first appearance
    if len(names) < 2:
        raise StatsInputError(
            f"all {n} samples have the same emotion label {names[0]!r}; within- versus between-emotion needs at least 2 emotions"
        )
    codes = np.array([names.index(e) for e in em])
    counts = np.bincount(codes, minlength=len(names))
    if counts.min() < 2:
        few = [names[k] for k in np.nonzero(counts < 2)[0]]
        raise StatsInputError(
            f"emotions {few} have a single sample; within-emotion similarity needs at least 2 samples per emotion"
        )
    if prompts is None:
        return _Design(names, codes, None, None)
    pr = _labels(prompts, n, "prompts")
    keys = list(dict.fromkeys(zip(em, pr)))
    key_index = {k: g for g, k in enumerate(keys)}
    prompt_codes = np.array([key_index[(e, p)] for e, p in zip(em, pr)])
    prompt_emotion = np.array([names.index(e) for e, _ in keys])
    if need_within:
        per_emotion = np.bincount(prompt_emotion, minlength=len(names))
        if per_emotion.min() < 2:
            few = [names[k] for k in np.nonzero(per_emotion < 2)[0]]
            raise StatsInputError(
                f"emotions {few} have a single prompt wording; within-emotion pairs are defined across "
                "different wordings, so each emotion needs at least 2 wordings (or pass prompts=None, "
                "accepting that a wording effect then counts as an emotion effect)"
            )
    return _Design(names, codes, prompt_codes, prompt_emotion)


def _pair_subset(design: _Design, pair: Sequence[str]) -> tuple[np.ndarray, _Design]:
    """(mask of the samples of the two emotions in ``pair``, the design restricted to them)."""
    if isinstance(pair, str) or len(pair) != 2:
        raise StatsInputError(f"pair must name two emotions, got {pair!r}")
    a, b = (str(p) for p in pair)
    for e in (a, b):
        if e not in design.emotion_names:
            raise StatsInputError(f"emotion {e!r} of pair {tuple(pair)!r} is not among {list(design.emotion_names)}")
    if a == b:
        raise StatsInputError(f"pair {tuple(pair)!r} must name two different emotions")
    keep = np.isin(design.emotion_codes, [design.emotion_names.index(a), design.emotion_names.index(b)])
    return keep, design.subset(keep)


def _rng(seed: int | np.random.Generator | np.random.SeedSequence | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_alternative(alternative: str) -> str:
    if alternative not in ("greater", "less", "two-sided"):
        raise StatsInputError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    return alternative


def _check_count(value: int, name: str, minimum: int = 1) -> int:
    try:
        valid = int(value) == value and value >= minimum
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise StatsInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------
# Similarity
# ---------------------------------------------------------------------------


def similarity_matrix(X: Any, metric: str = "cosine") -> np.ndarray:
    """Pairwise similarity ``[N, N]`` between the rows of ``X`` ``[N, D]``.

    * ``"cosine"``: ``<x_i, x_j> / (|x_i| |x_j|)`` (the seed's metric). A zero
      row makes it undefined and raises :class:`StatsInputError`.
    * ``"pearson"``: the cosine of the rows after removing each row's mean
      over dimensions (``np.corrcoef`` of rows). A constant row raises.
    * ``"euclidean"``: NEGATIVE euclidean distance ``-|x_i - x_j|``, so larger
      is more similar and every gap keeps its sign convention. It is in
      activation units: the 0.02 line and the effect classes do not apply.
    """
    X = _as_activations(X)
    metric = str(metric).lower()
    if metric == "euclidean":
        return -squareform(pdist(X, metric="euclidean"))
    if metric == "pearson":
        X = X - X.mean(axis=1, keepdims=True)
        what = "constant (zero variance across dimensions)"
    elif metric == "cosine":
        what = "zero vectors"
    else:
        raise StatsInputError(f"unknown metric {metric!r}; choose one of {METRICS}")
    norms = np.linalg.norm(X, axis=1)
    scale = float(np.abs(X).max()) if X.size else 0.0
    degenerate = norms <= 1e-12 * max(scale, 1e-300) * math.sqrt(X.shape[1])
    if degenerate.any():
        rows = np.nonzero(degenerate)[0]
        raise StatsInputError(f"{metric} similarity is undefined: samples {rows[:10].tolist()} are {what}")
    Z = X / norms[:, None]
    S = np.clip(Z @ Z.T, -1.0, 1.0)
    S = (S + S.T) / 2.0  # exact symmetry despite BLAS round-off
    np.fill_diagonal(S, 1.0)
    return S


def pair_classes(emotions: Any, prompts: Any = None) -> PairClasses:
    """Masks of the control / within / between pairs (the module's one definition).

    Raises :class:`StatsInputError` on degenerate labels, like every statistic.
    """
    if emotions is None or isinstance(emotions, (str, bytes)):
        raise StatsInputError("emotions must be a sequence of N labels")
    n = int(np.asarray(emotions, dtype=object).size)
    return _pair_masks(_make_design(emotions, prompts, n, need_within=False))


def _pair_masks(design: _Design) -> PairClasses:
    em = design.emotion_codes
    same_emotion = em[:, None] == em[None, :]
    off_diagonal = ~np.eye(design.n, dtype=bool)
    if design.prompt_codes is None:
        same_prompt = np.zeros_like(same_emotion)
        within = same_emotion & off_diagonal
    else:
        pc = design.prompt_codes
        same_prompt = (pc[:, None] == pc[None, :]) & off_diagonal
        within = same_emotion & ~same_prompt & off_diagonal
    return PairClasses(within=within, between=~same_emotion, control=same_prompt)


# ---------------------------------------------------------------------------
# The gap
# ---------------------------------------------------------------------------


def _design_and_matrix(S: Any, emotions: Any, prompts: Any, *, need_within: bool = True) -> tuple[np.ndarray, _Design]:
    """Validated similarity matrix and the integer-coded design of its labels."""
    S = _as_similarity(S)
    return S, _make_design(emotions, prompts, S.shape[0], need_within=need_within)


def gap(S: Any, emotions: Any, prompts: Any = None) -> GapSummary:
    """Within, between and control means of ``S`` and the gaps (see module docstring).

    Means are over unordered pairs of distinct samples. ``gap = within -
    between`` in similarity units; ``relative_gap = gap / within``;
    ``control_gap = control - between``. ``pairs`` repeats this per emotion
    pair, in order of first appearance of the emotions.
    """
    S, design = _design_and_matrix(S, emotions, prompts)
    return _gap_summary(S, design)


def _gap_summary(S: np.ndarray, design: _Design) -> GapSummary:
    # Work on the N(N-1)/2 unordered pairs as flat vectors (i < j).
    i, j = np.triu_indices(design.n, 1)
    values = S[i, j]
    em_i, em_j = design.emotion_codes[i], design.emotion_codes[j]
    same_emotion = em_i == em_j
    has_prompts = design.prompt_codes is not None
    if has_prompts:
        same_prompt = design.prompt_codes[i] == design.prompt_codes[j]  # type: ignore[index]
    else:
        same_prompt = np.zeros_like(same_emotion)
    classes = {"within": same_emotion & ~same_prompt, "between": ~same_emotion, "control": same_prompt}

    def mean(mask: np.ndarray) -> tuple[float, int]:
        count = int(mask.sum())
        return (float(values[mask].mean()) if count else float("nan")), count

    within, n_within = mean(classes["within"])
    between, n_between = mean(classes["between"])
    control, n_control = mean(classes["control"]) if has_prompts else (None, 0)
    low, high = np.minimum(em_i, em_j), np.maximum(em_i, em_j)
    pairs = []
    for a in range(design.n_emotions):
        for b in range(a + 1, design.n_emotions):
            inside = same_emotion & ((em_i == a) | (em_i == b))
            w, nw = mean(classes["within"] & inside)
            bt, nb = mean((low == a) & (high == b))
            c, nc = mean(classes["control"] & inside) if has_prompts else (None, 0)
            pairs.append(
                PairGap(
                    emotion_a=design.emotion_names[a],
                    emotion_b=design.emotion_names[b],
                    within=w,
                    between=bt,
                    control=c,
                    gap=w - bt,
                    control_gap=None if c is None else c - bt,
                    n_within_pairs=nw,
                    n_between_pairs=nb,
                    n_control_pairs=nc,
                )
            )
    return GapSummary(
        within=within,
        between=between,
        control=control,
        gap=within - between,
        relative_gap=(within - between) / within if within != 0 else float("nan"),
        control_gap=None if control is None else control - between,
        n_within_pairs=n_within,
        n_between_pairs=n_between,
        n_control_pairs=n_control,
        pairs=tuple(pairs),
    )


# ---------------------------------------------------------------------------
# Vectorised permutation engine
# ---------------------------------------------------------------------------


def _n_arrangements(labels: np.ndarray) -> int:
    """Number of distinct orderings of a label vector (a multinomial coefficient)."""
    counts = np.bincount(labels)
    total = math.factorial(int(labels.size))
    for c in counts:
        total //= math.factorial(int(c))
    return total


def _all_arrangements(labels: np.ndarray) -> np.ndarray:
    """Every distinct ordering of ``labels`` (only called when there are few)."""
    counts = np.bincount(labels).tolist()
    size = int(labels.size)
    out: list[list[int]] = []
    prefix: list[int] = []

    def extend() -> None:
        if len(prefix) == size:
            out.append(prefix.copy())
            return
        for value, left in enumerate(counts):
            if left:
                counts[value] -= 1
                prefix.append(value)
                extend()
                prefix.pop()
                counts[value] += 1

    extend()
    return np.array(out, dtype=np.int64)


def _onehot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``labels [B, U]`` -> one-hot ``[B, C, U]`` float64 (row (b, c) marks the units of class c)."""
    return (labels[:, None, :] == np.arange(n_classes)[None, :, None]).astype(np.float64)


def _class_products(T: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """``A[b, c, u] = sum_{v in class c} T[u, v]``: one matrix product for the whole batch.

    The batch is stacked into the rows of one ``[B*C, U] @ [U, U]`` product (T is
    symmetric), which is the shape BLAS handles fastest here.
    """
    B, C, U = onehot.shape
    return (onehot.reshape(B * C, U) @ T).reshape(B, C, U)


def _same_class_sums(T: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """``sum_{u,v: class(u)=class(v)} T[u,v]`` for each permutation in the batch."""
    return np.einsum("bcu,bcu->b", onehot, _class_products(T, onehot))


def _class_block_sums(T: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """``M[b, c, d] = sum_{u in c, v in d} T[u, v]`` for each permutation ``b``."""
    return np.matmul(onehot, _class_products(T, onehot).transpose(0, 2, 1))


def _unit_aggregate(S: np.ndarray, unit_of_sample: np.ndarray, n_units: int, *, keep_same_unit: bool) -> np.ndarray:
    """``T[g, h] = sum of S[i, j]`` over samples i in unit g, j in unit h, i != j.

    ``keep_same_unit=False`` zeroes ``T[g, g]`` (pairs inside one unit).
    """
    if n_units == S.shape[0] and np.array_equal(unit_of_sample, np.arange(n_units)):
        T = S.copy()  # units are the samples
    else:
        onehot = np.zeros((S.shape[0], n_units))
        onehot[np.arange(S.shape[0]), unit_of_sample] = 1.0
        S_off = S.copy()
        np.fill_diagonal(S_off, 0.0)
        T = onehot.T @ S_off @ onehot
    if not keep_same_unit or n_units == S.shape[0]:
        np.fill_diagonal(T, 0.0)
    return T


def _label_batches(labels: np.ndarray, n_permutations: int, rng: np.random.Generator, batch: int) -> tuple[list[np.ndarray], bool]:
    """Batches of permuted label vectors: all distinct arrangements when there are at most
    ``n_permutations`` (exact test), else ``n_permutations`` uniformly random permutations."""
    if _n_arrangements(labels) <= n_permutations:
        arrangements = _all_arrangements(labels)
        return [arrangements[k : k + batch] for k in range(0, len(arrangements), batch)], True
    batches = []
    for start in range(0, n_permutations, batch):
        size = min(batch, n_permutations - start)
        batches.append(rng.permuted(np.tile(labels, (size, 1)), axis=1))
    return batches, False


@dataclass
class _PermutationEngine:
    """A permutation test prepared for one design, evaluated on any number of layers.

    The permuted label batches (and everything derived from labels alone:
    one-hot matrices, pair counts, gather indices) are built once, then
    ``run(S)`` evaluates the statistic on a layer's matrix with a few matrix
    products. Layers analysed together therefore share their permutations:
    each layer's test is valid on its own, and the Holm correction across
    layers is valid under any dependence between them.

    ``prepare(S)`` maps the layer's matrix to what ``evaluate(prepared,
    payload)`` needs; ``payloads`` are the permutation batches, ``observed``
    the payload of the real labelling.
    """

    name: str
    scheme: str
    exact: bool
    n_permutations: int
    observed: Any
    payloads: list[Any]
    prepare: Callable[[np.ndarray], Any]
    evaluate: Callable[[Any, Any], np.ndarray]
    pair: tuple[str, str] | None = None

    def run(self, S: np.ndarray, *, alternative: str = "greater", scale: float | None = None) -> PermutationResult:
        prepared = self.prepare(S)
        observed = float(self.evaluate(prepared, self.observed)[0])
        null = np.concatenate([self.evaluate(prepared, payload) for payload in self.payloads])
        if scale is None:
            scale = float(np.abs(S).max())
        return _permutation_result(
            observed, null, self.exact, alternative=alternative, scheme=self.scheme, name=self.name, scale=scale, pair=self.pair
        )


def _pvalue(null: np.ndarray, observed: float, alternative: str, exact: bool, tolerance: float) -> float:
    """scipy.stats.permutation_test's p-value: ``(1 + #as extreme) / (1 + n)``, or exact counts."""
    adjustment = 0 if exact else 1
    n = null.size
    greater = (np.count_nonzero(null >= observed - tolerance) + adjustment) / (n + adjustment)
    less = (np.count_nonzero(null <= observed + tolerance) + adjustment) / (n + adjustment)
    if alternative == "greater":
        p = greater
    elif alternative == "less":
        p = less
    else:
        p = 2.0 * min(greater, less)
    return float(min(1.0, p))


def _permutation_result(
    observed: float,
    null: np.ndarray,
    exact: bool,
    *,
    alternative: str,
    scheme: str,
    name: str,
    scale: float,
    pair: tuple[str, str] | None = None,
) -> PermutationResult:
    tolerance = _TIE_RTOL * max(scale, 1e-300)
    null_mean = float(null.mean())
    null_sd = float(null.std(ddof=1)) if null.size > 1 else float("nan")
    standardized = (observed - null_mean) / null_sd if null_sd > 0 else float("nan")
    return PermutationResult(
        statistic=observed,
        pvalue=_pvalue(null, observed, alternative, exact, tolerance),
        n_permutations=int(null.size),
        null_mean=null_mean,
        null_sd=null_sd,
        standardized=float(standardized),
        alternative=alternative,
        scheme=scheme,
        exact=exact,
        name=name,
        pair=pair,
        null_distribution=null,
    )


def _pair_tuple(pair: Sequence[str] | None) -> tuple[str, str] | None:
    return None if pair is None else (str(pair[0]), str(pair[1]))


def _subset_prepare(design: _Design, pair: Sequence[str] | None) -> tuple[_Design, Callable[[np.ndarray], np.ndarray]]:
    """The (pair-restricted) design and a function cutting a layer's matrix to it."""
    if pair is None:
        return design, lambda S: S
    keep, sub = _pair_subset(design, pair)
    index = np.ix_(keep, keep)
    return sub, lambda S: S[index]


def _gap_engine(design: _Design, n_permutations: int, rng: np.random.Generator, pair: Sequence[str] | None = None) -> _PermutationEngine:
    """Gap = within - between under permutations of the emotion labels of units.

    Units are wordings when prompts are known, samples otherwise. Same-unit
    pairs (same wording, or the diagonal) belong to no class and never move;
    the rest split into within (same label) and between (different label). The
    total over different-unit pairs is fixed, so a permutation only needs the
    same-label sum: one matrix product per batch.
    """
    design, cut = _subset_prepare(design, pair)
    unit_of_sample, unit_labels = design.units()
    n_units = unit_labels.size
    n_classes = design.n_emotions
    sizes = np.bincount(unit_of_sample, minlength=n_units).astype(np.float64)
    total_count = sizes.sum() ** 2 - (sizes**2).sum()

    def payload(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        onehot = _onehot(labels, n_classes)
        within_count = ((onehot @ sizes) ** 2 - onehot @ sizes**2).sum(axis=1)
        return onehot, within_count

    def prepare(S: np.ndarray) -> tuple[np.ndarray, float]:
        T = _unit_aggregate(cut(S), unit_of_sample, n_units, keep_same_unit=False)
        return T, float(T.sum())

    def evaluate(prepared: tuple[np.ndarray, float], load: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        T, total_sum = prepared
        onehot, within_count = load
        within_sum = _same_class_sums(T, onehot)
        return within_sum / within_count - (total_sum - within_sum) / (total_count - within_count)

    batch = max(1, _BATCH_ELEMENTS // max(1, n_units * n_classes))
    batches, exact = _label_batches(unit_labels, n_permutations, rng, batch)
    payloads = [payload(b) for b in batches]
    return _PermutationEngine(
        name="gap",
        scheme="sample" if design.prompt_codes is None else "wording",
        exact=exact,
        n_permutations=sum(len(b) for b in batches),
        observed=payload(unit_labels[None, :]),
        payloads=payloads,
        prepare=prepare,
        evaluate=evaluate,
        pair=_pair_tuple(pair),
    )


def _control_engine(design: _Design, n_permutations: int, rng: np.random.Generator, pair: Sequence[str] | None = None) -> _PermutationEngine:
    """control_gap = mean(same-wording pairs) - mean(different-emotion pairs), wording labels permuted over samples."""
    design, cut = _subset_prepare(design, pair)
    prompt_codes = design.prompt_codes
    prompt_emotion = design.prompt_emotion
    n_prompts = int(prompt_emotion.size)  # type: ignore[union-attr]
    sizes = np.bincount(prompt_codes, minlength=n_prompts)  # type: ignore[arg-type]
    if (sizes < 2).all():
        raise StatsInputError(
            "no control pairs: every prompt wording has a single sample; the control needs the same "
            "wording generated with at least 2 seeds"
        )
    n = design.n
    n_emotions = design.n_emotions
    emotion_sizes = np.bincount(prompt_emotion, weights=sizes, minlength=n_emotions)  # type: ignore[arg-type]
    control_count = float((sizes * (sizes - 1)).sum() / 2)  # unordered pairs
    between_count = float((n * n - (emotion_sizes**2).sum()) / 2)
    # Sorting a permuted wording-label vector lays the samples out in "slots":
    # the slots of wording g are contiguous and their number is fixed, so the
    # same-wording pairs are one fixed list of slot pairs, gathered per
    # permutation (cheaper than a one-hot product over all wordings).
    slot_label = np.repeat(np.arange(n_prompts), sizes)
    slot_i, slot_j = np.nonzero(np.triu(slot_label[:, None] == slot_label[None, :], 1))

    # The pair indices are what the permutations hold (permutations x pairs);
    # int32 halves that wherever the flat index fits, which is up to N = 46,340.
    index_type = np.int32 if n * n < 2**31 else np.int64

    def payload(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(labels, axis=1, kind="stable")
        flat_pairs = (order[:, slot_i] * n + order[:, slot_j]).astype(index_type)
        return flat_pairs, _onehot(prompt_emotion[labels], n_emotions)  # type: ignore[index]

    def prepare(S: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        S = cut(S)
        S_off = S.copy()
        np.fill_diagonal(S_off, 0.0)
        return np.ascontiguousarray(S).ravel(), S_off, float(S_off.sum() / 2)

    def evaluate(prepared: tuple[np.ndarray, np.ndarray, float], load: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        S_flat, S_off, total = prepared
        flat_pairs, onehot_e = load
        control_sum = np.take(S_flat, flat_pairs).sum(axis=1)
        same_emotion_sum = _same_class_sums(S_off, onehot_e) / 2
        return control_sum / control_count - (total - same_emotion_sum) / between_count

    batch = max(1, _BATCH_ELEMENTS // max(1, n * n_emotions))
    batches, exact = _label_batches(prompt_codes, n_permutations, rng, batch)  # type: ignore[arg-type]
    return _PermutationEngine(
        name="control_gap",
        scheme="sample",
        exact=exact,
        n_permutations=sum(len(b) for b in batches),
        observed=payload(prompt_codes[None, :]),  # type: ignore[index]
        payloads=[payload(b) for b in batches],
        prepare=prepare,
        evaluate=evaluate,
        pair=_pair_tuple(pair),
    )




@_single_threaded_blas
def permutation_gap_test(
    S: Any,
    emotions: Any,
    prompts: Any = None,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    *,
    seed: int | np.random.Generator | None = None,
    alternative: str = "greater",
    pair: Sequence[str] | None = None,
) -> PermutationResult:
    """Is within-emotion similarity above between-emotion similarity? (statistic: ``gap``)

    Method: permute emotion labels and recompute ``gap = within - between``.
    With prompts, the labels of whole wordings are permuted (all seeds of a
    wording move together, the number of wordings per emotion is kept):
    H0 is "the emotion assigned to a wording does not matter". This stays
    valid when the model reacts to exact wordings, which sample-level
    permutation does not (module docstring). Without prompts, labels of
    single samples are permuted: H0 is that samples are exchangeable.

    ``pair=(a, b)`` restricts the data to emotions a and b first. p-values are
    ``(1 + #{null >= observed}) / (1 + n_permutations)``, or exact when all
    distinct arrangements (at most ``n_permutations``) are enumerated.
    ``seed`` is an int, a ``numpy.random.Generator`` or None.
    """
    S, design = _design_and_matrix(S, emotions, prompts)
    engine = _gap_engine(design, _check_count(n_permutations, "n_permutations"), _rng(seed), pair)
    return engine.run(S, alternative=_check_alternative(alternative))


@_single_threaded_blas
def control_test(
    S: Any,
    emotions: Any,
    prompts: Any,
    pair: Sequence[str] | None = None,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    *,
    seed: int | np.random.Generator | None = None,
    alternative: str = "greater",
) -> PermutationResult:
    """Does same-wording (different-seed) similarity exceed between-emotion similarity?

    Statistic: ``control_gap = mean(same-wording pairs) - mean(different-emotion
    pairs)``, overall or, with ``pair=(a, b)``, on the samples of a and b only
    (between = the a-b pairs). This is the seed's control: its 0.9508 versus
    0.9461.

    Permutation scheme: H0 is that samples are exchangeable (neither wording
    nor emotion changes the activations). The wording labels, each carrying its
    emotion, are permuted over the samples, keeping the number of seeds per
    wording; under H0 every such relabelling is equally likely, so the test is
    exact up to Monte Carlo error. Emotion labels cannot be permuted instead:
    same-wording pairs are same-emotion by construction, so they would stay
    control pairs in every permutation. A rejection means "the prompt changes
    the activations"; whether the wording or the emotion does is the gap
    test's question.
    """
    if prompts is None:
        raise StatsInputError("control_test needs prompts: the control pairs are same-prompt, different-seed")
    S, design = _design_and_matrix(S, emotions, prompts, need_within=False)
    engine = _control_engine(design, _check_count(n_permutations, "n_permutations"), _rng(seed), pair)
    return engine.run(S, alternative=_check_alternative(alternative))


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------


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
) -> BootstrapCI:
    """Bootstrap CI of ``gap`` (or ``control_gap``) via ``scipy.stats.bootstrap``.

    ``unit="sample"``: samples are resampled with replacement within their
    emotion, stratified by wording when prompts are given (each wording keeps
    its number of seeds, so the design, and the meaning of "within = different
    wording", is kept). This is the CI for the wordings actually used.
    ``unit="prompt"``: whole wordings are resampled within emotion (a cluster
    bootstrap), which also covers the choice of wordings and is wider.
    ``unit="hierarchical"``: whole wordings within emotion, then seeds within
    each drawn wording (two stages, :func:`emoprobe.resampling.hierarchical_counts`),
    with a percentile interval (``method`` is not used). This is the one that
    covers the true gap under a wording effect (``tests/test_resampling.py``).

    A resample counts a sample drawn k times with weight k; pairs of a sample
    with its own copies are left out (they are not pairs of two generations).
    ``method`` is scipy's: "BCa" (default), "percentile" or "basic".
    """
    S, design = _design_and_matrix(S, emotions, prompts)
    n_boot = _check_count(n_boot, "n_boot", minimum=2)
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

    masks = _pair_masks(design)
    first = masks.control if statistic == "control_gap" else masks.within
    S_first, C_first = np.where(first, S, 0.0), first.astype(np.float64)
    S_between, C_between = np.where(masks.between, S, 0.0), masks.between.astype(np.float64)

    def weighted_mean(W: np.ndarray, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
        return np.einsum("bi,bi->b", W @ values, W) / np.einsum("bi,bi->b", W @ counts, W)

    if unit == "hierarchical":
        return _hierarchical_ci(design, n_boot, confidence, _rng(seed), statistic,
                                lambda W: weighted_mean(W, S_first, C_first) - weighted_mean(W, S_between, C_between))

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
        value = weighted_mean(W, S_first, C_first) - weighted_mean(W, S_between, C_between)
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


def _hierarchical_ci(design: _Design, n_boot: int, confidence: float, rng: np.random.Generator, name: str,
                     statistic_of_weights: Callable[[np.ndarray], np.ndarray]) -> BootstrapCI:
    """Percentile CI of a weighted statistic under the two-stage (wording, then seed) bootstrap."""
    from ..resampling import hierarchical_counts

    observed = float(statistic_of_weights(np.ones((1, design.n)))[0])
    values = []
    for start in range(0, n_boot, 500):  # bounded memory: 500 x N weights at a time
        counts = hierarchical_counts(design.prompt_codes, design.prompt_emotion, min(500, n_boot - start), rng)
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append(statistic_of_weights(counts))
    boot = np.concatenate(values)
    boot = boot[np.isfinite(boot)]  # a resample with no pair of a class says nothing about it
    if boot.size < 2:
        raise StatsInputError("the hierarchical bootstrap drew no resample with both pair classes")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return BootstrapCI(statistic=observed, low=float(low), high=float(high), confidence=float(confidence),
                       n_boot=n_boot, method="percentile", unit="hierarchical",
                       standard_error=float(boot.std(ddof=1)), name=name)


# ---------------------------------------------------------------------------
# Multiple comparisons
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Representational comparisons: CKA and MMD
# ---------------------------------------------------------------------------


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

    batch = max(1, _BATCH_ELEMENTS // max(1, n_units * n_classes))
    batches, exact = _label_batches(unit_labels, n_permutations, rng, batch)
    return _PermutationEngine(
        name="cka",
        scheme="sample" if design.prompt_codes is None else "wording",
        exact=exact,
        n_permutations=sum(len(b) for b in batches),
        observed=payload(unit_labels[None, :]),
        payloads=[payload(b) for b in batches],
        prepare=prepare,
        evaluate=evaluate,
    )


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

    batch = max(1, _BATCH_ELEMENTS // max(1, n_units * n_classes))
    batches, exact = _label_batches(unit_labels, n_permutations, rng, batch)
    return _PermutationEngine(
        name="mmd",
        scheme="sample" if design.prompt_codes is None else "wording",
        exact=exact,
        n_permutations=sum(len(b) for b in batches),
        observed=payload(unit_labels[None, :]),
        payloads=[payload(b) for b in batches],
        prepare=prepare,
        evaluate=evaluate,
    )


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
    design = _make_design(emotions, prompts, X.shape[0])
    engine = _cka_engine(design, _check_count(n_permutations, "n_permutations"), _rng(seed))
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
    design = _make_design(emotions, prompts, X.shape[0])
    if pair is not None:
        keep, design = _pair_subset(design, pair)
        X = X[keep]
    bandwidth = median_bandwidth(X) if bandwidth is None else float(bandwidth)
    engine = _mmd_engine(design, _check_count(n_permutations, "n_permutations"), _rng(seed))
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
    design = _make_design(emotions, prompts, first.shape[0])
    n_permutations = _check_count(n_permutations, "n_permutations")
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


# ---------------------------------------------------------------------------
# Per-dimension diagnostics
# ---------------------------------------------------------------------------


def _two_emotions(X: Any, emotions: Any, a: str, b: str, prompts: Any = None) -> tuple[np.ndarray, _Design, int, int]:
    X = _as_activations(X)
    design = _make_design(emotions, prompts, X.shape[0], need_within=False)
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
    n_shuffles = _check_count(n_shuffles, "n_shuffles")
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
    masks = _pair_masks(design)
    within = S[np.triu(masks.within, 1)]
    between = S[np.triu(masks.between, 1)]
    return float(pingouin.compute_effsize(within, between, paired=False, eftype="cohen"))


# ---------------------------------------------------------------------------
# One layer, many layers
# ---------------------------------------------------------------------------


@dataclass
class _LayerPlan:
    """Everything of a layer analysis that depends on the design, not on the activations.

    Built once per design and seed; every layer runs through the same
    permutations and bootstrap resamples (so a layer's result is the same
    whether it is analysed alone or with the others).
    """

    design: _Design
    gap: _PermutationEngine
    control: _PermutationEngine | None
    control_pairs: list[_PermutationEngine]
    bootstrap_seed: np.random.SeedSequence


def _plan(design: _Design, n_permutations: int, seed: int | None, control: bool, control_pairs: bool) -> _LayerPlan:
    n_permutations = _check_count(n_permutations, "n_permutations")
    names = design.emotion_names
    pairs = [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
    # Fixed child order: 0 gap, 1 bootstrap, 2 control, 3.. control per pair.
    children = np.random.SeedSequence(seed).spawn(3 + len(pairs))
    run_control = control and design.prompt_codes is not None
    control_engine = _control_engine(design, n_permutations, _rng(children[2])) if run_control else None
    pair_engines = []
    if run_control and control_pairs:
        pair_engines = [_control_engine(design, n_permutations, _rng(children[3 + k]), pair) for k, pair in enumerate(pairs)]
    return _LayerPlan(
        design=design,
        gap=_gap_engine(design, n_permutations, _rng(children[0])),
        control=control_engine,
        control_pairs=pair_engines,
        bootstrap_seed=children[1],
    )


def _analyse_with_plan(
    X: Any,
    emotions: Any,
    prompts: Any,
    plan: _LayerPlan,
    *,
    layer: int | None,
    metric: str,
    n_boot: int,
    confidence: float,
    alpha: float,
    min_gap: float,
    thresholds: dict[str, float],
    bootstrap_unit: str,
    bootstrap_method: str,
) -> LayerResult:
    design = plan.design
    X = _as_activations(X, "X" if layer is None else f"activations[{layer}]")
    if X.shape[0] != design.n:
        raise StatsInputError(f"{'X' if layer is None else f'layer {layer}'} has {X.shape[0]} samples but there are {design.n} labels")
    S = similarity_matrix(X, metric)
    summary = _gap_summary(S, design)
    test = plan.gap.run(S)
    ci = None
    if bootstrap_unit == "hierarchical" and design.prompt_codes is None:
        bootstrap_unit = "sample"  # no wordings known: samples are the only unit there is
    if n_boot:
        ci = bootstrap_gap_ci(
            S, emotions, prompts, n_boot, confidence, _rng(plan.bootstrap_seed), unit=bootstrap_unit, method=bootstrap_method
        )
    control = plan.control.run(S) if plan.control is not None else None
    pair_results = tuple(engine.run(S) for engine in plan.control_pairs)
    bounded = metric in _BOUNDED_METRICS
    return LayerResult(
        layer=layer,
        metric=metric,
        n_samples=design.n,
        n_per_emotion=design.counts(),
        n_prompts=design.n_prompts,
        statistic=summary.gap,
        pvalue=test.pvalue,
        gap=summary,
        test=test,
        ci=ci,
        effect_class=effect_class(summary.gap, thresholds) if bounded else None,
        effect_size=test.standardized,
        cohens_d=cohens_d_pairs(S, emotions, prompts),
        control=control,
        control_pairs=pair_results,
        alpha=float(alpha),
        min_gap=float(min_gap),
        meets_min_gap=bool(summary.gap >= min_gap),
        significant=bool(test.pvalue < alpha),
        effect_thresholds=thresholds,
    )


def _check_layer_settings(metric: str, alpha: float, n_boot: int, confidence: float) -> None:
    if metric not in METRICS:
        raise StatsInputError(f"unknown metric {metric!r}; choose one of {METRICS}")
    if not 0.0 < alpha < 1.0:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha}")
    if n_boot:
        _check_count(n_boot, "n_boot", minimum=2)
    if not 0.0 < confidence < 1.0:
        raise StatsInputError(f"confidence must be in (0, 1), got {confidence}")


@_single_threaded_blas
def analyse_layer(
    X: Any,
    emotions: Any,
    prompts: Any = None,
    *,
    layer: int | None = None,
    metric: str = "cosine",
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = 0.95,
    alpha: float = DEFAULT_ALPHA,
    min_gap: float = DEFAULT_MIN_GAP,
    seed: int | None = 0,
    effect_thresholds: Mapping[str, float] | None = None,
    control: bool = True,
    control_pairs: bool = True,
    bootstrap_unit: str = "hierarchical",
    bootstrap_method: str = "BCa",
) -> LayerResult:
    """All per-layer numbers of the seed's claims, as one :class:`LayerResult`.

    Similarity (``metric``), the gap summary, the gap permutation test,
    the bootstrap CI of the gap (``n_boot=0`` skips it), the effect class and
    standardised effect, and (with prompts and ``control``) the control test
    overall and, with ``control_pairs``, per emotion pair. ``seed`` fixes every random stream;
    ``layer`` only labels the record. ``alpha`` and ``min_gap`` set the
    ``significant``/``meets_min_gap`` flags; they never change a statistic.
    """
    _check_layer_settings(metric, alpha, n_boot, confidence)
    thresholds = _check_thresholds(effect_thresholds)
    X = _as_activations(X)
    plan = _plan(_make_design(emotions, prompts, X.shape[0]), n_permutations, seed, control, control_pairs)
    return _analyse_with_plan(
        X, emotions, prompts, plan, layer=layer, metric=metric, n_boot=n_boot, confidence=confidence, alpha=alpha,
        min_gap=min_gap, thresholds=thresholds, bootstrap_unit=bootstrap_unit, bootstrap_method=bootstrap_method,
    )


@_single_threaded_blas
def analyse_layers(
    activations: Mapping[int, Any],
    emotions: Any,
    prompts: Any = None,
    *,
    metric: str = "cosine",
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = 0.95,
    alpha: float = DEFAULT_ALPHA,
    min_gap: float = DEFAULT_MIN_GAP,
    seed: int | None = 0,
    effect_thresholds: Mapping[str, float] | None = None,
    control: bool = True,
    control_pairs: bool = True,
    bootstrap_unit: str = "hierarchical",
    bootstrap_method: str = "BCa",
) -> LayersAnalysis:
    """:func:`analyse_layer` on every layer, then Holm, BH and step-down max-T across layers.

    ``activations`` maps layer index -> ``[N, D]`` (same samples, same order, in
    every layer). The permutations are drawn once and shared by all layers:
    each layer's p-value is valid on its own, Holm is valid under any
    dependence between layers, and a layer gets the same result as from
    :func:`analyse_layer` with the same seed. Each record gets
    ``pvalue_holm``/``pvalue_bh`` and the matching flags; the analysis carries
    corrected and uncorrected counts.
    """
    if not activations:
        raise StatsInputError("activations is empty: no layer to analyse")
    _check_layer_settings(metric, alpha, n_boot, confidence)
    thresholds = _check_thresholds(effect_thresholds)
    layers = sorted(activations)
    first = _as_activations(activations[layers[0]], f"activations[{layers[0]}]")
    plan = _plan(_make_design(emotions, prompts, first.shape[0]), n_permutations, seed, control, control_pairs)
    results = [
        _analyse_with_plan(
            activations[layer], emotions, prompts, plan, layer=int(layer), metric=metric, n_boot=n_boot,
            confidence=confidence, alpha=alpha, min_gap=min_gap, thresholds=thresholds,
            bootstrap_unit=bootstrap_unit, bootstrap_method=bootstrap_method,
        )
        for layer in layers
    ]
    correction = correct_across_layers([r.pvalue for r in results], alpha)
    from ..corrections import maxt_stepdown

    # Every layer ran through the same permutations (one plan), so row p of the
    # stacked nulls is one relabelling seen by all layers: what max-T needs.
    p_maxt = maxt_stepdown(np.array([r.statistic for r in results]),
                           np.stack([r.test.null_distribution for r in results], axis=1), exact=plan.gap.exact)
    results = [
        dataclasses.replace(
            r,
            pvalue_holm=correction.pvalues_holm[k],
            pvalue_bh=correction.pvalues_bh[k],
            significant_holm=correction.reject_holm[k],
            significant_bh=correction.reject_bh[k],
            pvalue_maxt=float(p_maxt[k]),
            significant_maxt=bool(p_maxt[k] < alpha),
        )
        for k, r in enumerate(results)
    ]
    # Claim 2 reads every (layer, pair) control test: one family, one Holm.
    flat = [c.pvalue for r in results for c in r.control_pairs]
    if flat:
        holm = iter(correct_across_layers(flat, alpha).pvalues_holm)
        results = [dataclasses.replace(r, control_pairs_holm=tuple(next(holm) for _ in r.control_pairs))
                   for r in results]
    control_correction = None
    if all(r.control is not None for r in results):
        control_correction = correct_across_layers([r.control.pvalue for r in results], alpha)  # type: ignore[union-attr]
    return LayersAnalysis(
        layers=tuple(results),
        alpha=float(alpha),
        min_gap=float(min_gap),
        correction=correction,
        control_correction=control_correction,
        n_layers=len(results),
        n_significant_uncorrected=correction.n_uncorrected,
        n_significant_holm=correction.n_holm,
        n_significant_bh=correction.n_bh,
        n_significant_maxt=int(np.sum(p_maxt < alpha)),
    )


# ---------------------------------------------------------------------------
# Power
# ---------------------------------------------------------------------------


@_single_threaded_blas
def power_curve(
    effects: Sequence[float] = (0.0, 0.0005, 0.001, 0.002, 0.004, 0.01, 0.02),
    n_per_emotion: int = 20,
    n_sim: int = 200,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_gap: float = DEFAULT_MIN_GAP,
    n_permutations: int = 199,
    metric: str = "cosine",
    n_seeds_per_prompt: int = 4,
    seed: int | None = 0,
    n_layers: int = 1,
    **geometry: Any,
) -> PowerCurve:
    """Detection rate of :func:`permutation_gap_test` against a planted gap.

    Honest to the run when called with its ``n_permutations`` and its number
    of analysed layers ``n_layers``: one true layer counts as detected when
    its p is below ``alpha / n_layers``, what Holm's first step needs and what
    max-T needs with independent layers (the report does this; 199
    permutations and no correction showed power 0.74 at a gap of 0.002 where
    the real test had 0.14). The permutations are drawn once and shared by
    the simulated datasets (each test stays valid on its own).

    For each effect, ``n_sim`` datasets are drawn with
    :func:`emoprobe.synthetic.planted_activations` (``n_per_emotion`` samples
    per emotion = wordings x ``n_seeds_per_prompt`` seeds; ``geometry`` goes to
    the generator: dim, baseline_cosine, prompt_share, ...) and tested at
    ``alpha``. Power depends on the geometry (noise level, wording effect,
    effective dimension) as much as on N: read it with the geometry recorded
    in the result.
    """
    from emoprobe.synthetic import planted_activations  # no import cycle at module load

    if n_per_emotion % n_seeds_per_prompt:
        raise StatsInputError(f"n_per_emotion={n_per_emotion} must be a multiple of n_seeds_per_prompt={n_seeds_per_prompt}")
    n_prompts = n_per_emotion // n_seeds_per_prompt
    n_sim = _check_count(n_sim, "n_sim")
    n_layers = _check_count(n_layers, "n_layers")
    threshold = alpha / n_layers
    rng = _rng(seed)
    power, power_se, power_min, mean_gap = [], [], [], []
    used_geometry: dict[str, Any] = {}
    engine = None
    for effect in effects:
        detected = detected_min = 0
        gaps = []
        for _ in range(n_sim):
            data = planted_activations(
                rng, float(effect), n_prompts_per_emotion=n_prompts, n_seeds_per_prompt=n_seeds_per_prompt, **geometry
            )
            used_geometry = data.geometry
            S = similarity_matrix(data.X, metric)
            if engine is None:
                design = _make_design(data.emotions, data.prompts, S.shape[0])
                engine = _gap_engine(design, _check_count(n_permutations, "n_permutations"), rng)
            res = engine.run(S)
            detected += res.pvalue < threshold
            detected_min += (res.pvalue < threshold) and (res.statistic >= min_gap)
            gaps.append(res.statistic)
        rate = detected / n_sim
        power.append(rate)
        power_se.append(math.sqrt(rate * (1 - rate) / n_sim))
        power_min.append(detected_min / n_sim)
        mean_gap.append(float(np.mean(gaps)))
    geometry_record = {k: v for k, v in used_geometry.items() if k not in ("emotion_var",)}
    return PowerCurve(
        effects=tuple(float(e) for e in effects),
        power=tuple(power),
        power_se=tuple(power_se),
        power_min_gap=tuple(power_min),
        mean_gap=tuple(mean_gap),
        n_sim=n_sim,
        n_per_emotion=n_per_emotion,
        alpha=float(alpha),
        min_gap=float(min_gap),
        n_permutations=n_permutations,
        metric=metric,
        geometry=geometry_record,
        seed=seed,
        n_layers=n_layers,
        n_prompts_per_emotion=n_prompts,
    )


def write_power_curve(path: str | Path, curve: PowerCurve | None = None, **power_kwargs: Any) -> tuple[Path, Path]:
    """Write a power curve to ``<path>.json`` and ``<path>.png`` (matplotlib, Agg).

    Computes :func:`power_curve` with ``power_kwargs`` when ``curve`` is None.
    Returns the two paths. The plot shows power (p < alpha) and the GO-style
    rate (p < alpha and measured gap >= min_gap) against the planted gap,
    with the min_gap line.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if curve is None:
        curve = power_curve(**power_kwargs)
    base = Path(path)
    if base.suffix in (".json", ".png"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    json_path, png_path = base.with_suffix(".json"), base.with_suffix(".png")
    json_path.write_text(curve.to_json(indent=2) + "\n")

    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=100)
    effects = np.asarray(curve.effects)
    power = np.asarray(curve.power)
    se = np.asarray(curve.power_se)
    ax.errorbar(effects, power, yerr=1.96 * se, marker="o", capsize=3, label=f"p < {curve.alpha:g} (gap test)")
    ax.plot(effects, curve.power_min_gap, marker="s", linestyle="--", label=f"p < {curve.alpha:g} and gap >= {curve.min_gap:g}")
    ax.axhline(curve.alpha, color="grey", linewidth=0.8, linestyle=":", label=f"alpha = {curve.alpha:g}")
    ax.axvline(curve.min_gap, color="red", linewidth=0.8, linestyle=":", label=f"min gap {curve.min_gap:g}")
    ax.set_xlabel(f"planted gap (within - between {curve.metric} similarity)")
    ax.set_ylabel("detection rate")
    ax.set_ylim(-0.02, 1.02)
    g = curve.geometry
    ax.set_title(
        f"{curve.n_per_emotion}/emotion, {g.get('n_prompts_per_emotion', '?')} wordings, "
        f"baseline cos {g.get('baseline_cosine', '?')}, {curve.n_sim} sims",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return json_path, png_path
