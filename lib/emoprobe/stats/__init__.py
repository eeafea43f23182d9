"""Statistics engine: similarity, label-permutation tests, corrections, effect sizes.

One module per concern; every public name is importable from ``emoprobe.stats``:

``records``      result records (JSON-friendly), documented defaults, ``StatsInputError``;
``pairs``        the design (emotions > wordings > seeds), similarity, pair classes, the gap;
``permutation``  the vectorised permutation engines, the gap and control tests;
``bootstrap``    confidence intervals of the gap; ``resampling`` the design-aware resampling schemes;
``corrections``  Holm / Benjamini-Hochberg and step-down max-T across layers;
``metrics``      linear CKA and MMD with their permutation tests;
``diagnostics``  the seed's diagnostics (differing-dimension share, effect classes) and their valid versions;
``power``        detection rate against a planted gap, from a generator the caller passes;
``layers``       the per-layer analysis the hypotheses read, and the analysis across layers.

Nothing here imports known-truth or test data (``emoprobe.truth``).

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
through them (each layer's test stays valid; Holm holds under any dependence),
streamed: each batch of permutations is evaluated on every layer and dropped
before the next is built, so memory does not grow with ``n_permutations``.

Thresholds (``alpha``, the 0.02 line, ``n_permutations``, the effect classes)
are arguments with documented defaults below; the experiment config passes
its own.
"""

from __future__ import annotations

from .bootstrap import bootstrap_gap_ci
from .corrections import correct_across_layers
from .diagnostics import cohens_d_pairs, dims_differing_share, effect_class, per_dimension_test
from .layers import analyse_layer, analyse_layers
from .metrics import compare_emotion_groups_by_layer, emotion_cka_test, emotion_mmd_test, linear_cka, median_bandwidth, mmd
from .pairs import gap, pair_classes, similarity_matrix
from .permutation import control_test, gaps_under_labellings, permutation_gap_test, pvalue_against_null
from .power import power_curve, write_power_curve
from .records import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_GAP,
    DEFAULT_N_BOOT,
    DEFAULT_N_PERMUTATIONS,
    EFFECT_THRESHOLDS,
    METRICS,
    BootstrapCI,
    CorrectionResult,
    DimensionTestResult,
    DimsShareResult,
    GapSummary,
    LayerResult,
    LayersAnalysis,
    PairClasses,
    PairGap,
    PermutationResult,
    PowerCurve,
    StatsInputError,
)

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
    "gaps_under_labellings",
    "pvalue_against_null",
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
