"""Per-layer analysis: every number of the seed's claims for one layer, then across layers."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bootstrap import _hierarchical_ci, _hierarchical_resamples, _WeightedGap, bootstrap_gap_ci
from .corrections import correct_across_layers, maxt_stepdown
from .diagnostics import _check_thresholds, _cohens_d, effect_class
from .pairs import (_as_activations, check_count, _Design, _gap_layout, _gap_summary, make_design, _rng,
                    similarity_matrix)
from .permutation import _control_engine, gap_engine, _layer_workers, _PermutationEngine
from .records import (_BOUNDED_METRICS, DEFAULT_ALPHA, DEFAULT_MIN_GAP, DEFAULT_N_BOOT, DEFAULT_N_PERMUTATIONS, METRICS,
                      BootstrapCI, GapSummary, LayerResult, LayersAnalysis, StatsInputError, _single_threaded_blas)




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
    n_permutations = check_count(n_permutations, "n_permutations")
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
        gap=gap_engine(design, n_permutations, _rng(children[0])),
        control=control_engine,
        control_pairs=pair_engines,
        bootstrap_seed=children[1],
    )


def _analyse_with_plan(
    layer_data: Sequence[tuple[int | None, Any]],
    emotions: Any,
    prompts: Any,
    plan: _LayerPlan,
    *,
    metric: str,
    n_boot: int,
    confidence: float,
    alpha: float,
    min_gap: float,
    thresholds: dict[str, float],
    bootstrap_unit: str,
    bootstrap_method: str,
) -> list[LayerResult]:
    """One :class:`LayerResult` per ``(layer, activations)``, in order.

    The per-layer numbers come first (similarity, summary, bootstrap); then
    each permutation engine streams its batches through all the layers'
    matrices at once (:meth:`_PermutationEngine.run_layers`), so no engine
    keeps more than one batch of permutations.
    """
    design = plan.design
    if bootstrap_unit == "hierarchical" and design.prompt_codes is None:
        bootstrap_unit = "sample"  # no wordings known: samples are the only unit there is
    # One draw of the two-stage resamples for every layer: each layer would draw
    # the same ones from the same seed.
    # What depends on the design alone is built once: the pair layout, and for
    # the two-stage bootstrap its resamples and their weighted pair counts
    # (each layer would draw the same resamples from the same seed).
    layout = _gap_layout(design)
    weighted = (_WeightedGap(design, "gap", _hierarchical_resamples(design, n_boot, _rng(plan.bootstrap_seed)))
                if n_boot and bootstrap_unit == "hierarchical" else None)

    def per_layer(item: tuple[int | None, Any]) -> tuple[np.ndarray, GapSummary, BootstrapCI | None, float]:
        layer, X = item
        X = _as_activations(X, "X" if layer is None else f"activations[{layer}]")
        if X.shape[0] != design.n:
            raise StatsInputError(f"{'X' if layer is None else f'layer {layer}'} has {X.shape[0]} samples but there are {design.n} labels")
        S = similarity_matrix(X, metric)
        if weighted is not None:
            ci = _hierarchical_ci(S, weighted, n_boot, confidence)
        elif n_boot:
            ci = bootstrap_gap_ci(S, emotions, prompts, n_boot, confidence, _rng(plan.bootstrap_seed),
                                  unit=bootstrap_unit, method=bootstrap_method)
        else:
            ci = None
        return S, _gap_summary(S, design, layout), ci, _cohens_d(S, layout)

    # Layers side by side on threads: each is single-threaded BLAS on its own
    # data, so no number depends on the thread count.
    workers = _layer_workers(len(layer_data))
    with ThreadPoolExecutor(workers) if workers > 1 else contextlib.nullcontext() as pool:
        done = list(pool.map(per_layer, layer_data) if pool is not None else map(per_layer, layer_data))
    matrices, summaries, cis, cohens = (list(column) for column in zip(*done))
    tests = plan.gap.run_layers(matrices)
    controls = plan.control.run_layers(matrices) if plan.control is not None else [None] * len(matrices)
    pair_results = [engine.run_layers(matrices) for engine in plan.control_pairs]
    bounded = metric in _BOUNDED_METRICS
    return [
        LayerResult(
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
            cohens_d=d,
            control=control,
            control_pairs=tuple(by_pair[k] for by_pair in pair_results),
            alpha=float(alpha),
            min_gap=float(min_gap),
            meets_min_gap=bool(summary.gap >= min_gap),
            significant=bool(test.pvalue < alpha),
            effect_thresholds=thresholds,
        )
        for k, ((layer, _), summary, test, ci, d, control) in enumerate(
            zip(layer_data, summaries, tests, cis, cohens, controls))
    ]


def _check_layer_settings(metric: str, alpha: float, n_boot: int, confidence: float) -> None:
    if metric not in METRICS:
        raise StatsInputError(f"unknown metric {metric!r}; choose one of {METRICS}")
    if not 0.0 < alpha < 1.0:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha}")
    if n_boot:
        check_count(n_boot, "n_boot", minimum=2)
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
    plan = _plan(make_design(emotions, prompts, X.shape[0]), n_permutations, seed, control, control_pairs)
    return _analyse_with_plan(
        [(layer, X)], emotions, prompts, plan, metric=metric, n_boot=n_boot, confidence=confidence, alpha=alpha,
        min_gap=min_gap, thresholds=thresholds, bootstrap_unit=bootstrap_unit, bootstrap_method=bootstrap_method,
    )[0]


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
    plan = _plan(make_design(emotions, prompts, first.shape[0]), n_permutations, seed, control, control_pairs)
    results = _analyse_with_plan(
        [(int(layer), activations[layer]) for layer in layers], emotions, prompts, plan, metric=metric, n_boot=n_boot,
        confidence=confidence, alpha=alpha, min_gap=min_gap, thresholds=thresholds,
        bootstrap_unit=bootstrap_unit, bootstrap_method=bootstrap_method,
    )
    correction = correct_across_layers([r.pvalue for r in results], alpha)
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
