"""Permutation engines: the vectorised label-permutation loop, the gap and control tests."""

from __future__ import annotations

import contextlib
import copy
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .pairs import (_as_similarity, _check_alternative, check_count, _design_and_matrix, _Design, _labels, make_design,
                    _pair_subset, _rng)
from .records import (_BATCH_ELEMENTS, _TIE_RTOL, DEFAULT_N_PERMUTATIONS, PermutationResult, StatsInputError,
                      _single_threaded_blas)




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


def label_batches(labels: np.ndarray, n_permutations: int, rng: np.random.Generator, batch: int) -> tuple[list[np.ndarray], bool]:
    """Batches of permuted label vectors: all distinct arrangements when there are at most
    ``n_permutations`` (exact test), else ``n_permutations`` uniformly random permutations."""
    stream, exact, _ = _label_stream(labels, n_permutations, rng, batch)
    return list(stream()), exact


def _random_batches(labels: np.ndarray, sizes: list[int], rng: np.random.Generator) -> Iterator[np.ndarray]:
    for size in sizes:
        yield rng.permuted(np.tile(labels, (size, 1)), axis=1)


def _label_stream(labels: np.ndarray, n_permutations: int, rng: np.random.Generator,
                  batch: int) -> tuple[Callable[[], Iterator[np.ndarray]], bool, int]:
    """The batches of :func:`label_batches` as a replayable stream: (batches, exact, count).

    Each call of ``batches()`` draws the same batches again, one at a time, from
    a copy of ``rng``'s state taken here; ``rng`` itself is moved past them as
    if they had been drawn now, so a caller that goes on using it draws what it
    drew when the batches were kept.
    """
    if _n_arrangements(labels) <= n_permutations:
        arrangements = _all_arrangements(labels)
        return (lambda: (arrangements[k : k + batch] for k in range(0, len(arrangements), batch))), True, len(arrangements)
    sizes = [min(batch, n_permutations - start) for start in range(0, n_permutations, batch)]
    state = copy.deepcopy(rng.bit_generator.state)
    kind = type(rng.bit_generator)
    for _ in _random_batches(labels, sizes, rng):
        pass

    def batches() -> Iterator[np.ndarray]:
        replay = kind()
        replay.state = state
        return _random_batches(labels, sizes, np.random.Generator(replay))

    return batches, False, n_permutations


def _layer_workers(n_layers: int) -> int:
    """Threads that evaluate one permutation batch on the layers side by side.

    Each evaluation is single-threaded BLAS, so a layer's numbers do not depend
    on this count; only the wall time does.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, n_layers))


@dataclass
class _PermutationEngine:
    """A permutation test prepared for one design, evaluated on any number of layers.

    ``batches()`` streams the permutation batches (what derives from labels
    alone: one-hot matrices, pair counts, gather indices), built one at a time
    from the same permuted labels on every call. :meth:`run_layers` evaluates
    each batch on every layer's matrix, with a few matrix products, and then
    drops it: memory is one batch, whatever the number of permutations.
    Layers analysed together share their permutations: each layer's test is
    valid on its own, and the Holm correction across layers is valid under any
    dependence between them.

    ``prepare(S)`` maps a layer's matrix to what ``evaluate(prepared,
    payload)`` needs; ``observed`` is the payload of the real labelling.
    """

    name: str
    scheme: str
    exact: bool
    n_permutations: int
    observed: Any
    batches: Callable[[], Iterable[Any]]
    prepare: Callable[[np.ndarray], Any]
    evaluate: Callable[[Any, Any], np.ndarray]
    pair: tuple[str, str] | None = None
    # Unit labels [B, n_units] -> what evaluate needs: any labellings, not only the stream's.
    payload: Callable[[np.ndarray], Any] | None = None

    def run(self, S: np.ndarray, *, alternative: str = "greater", scale: float | None = None) -> PermutationResult:
        return self.run_layers([S], alternative=alternative, scales=None if scale is None else [scale])[0]

    def run_layers(self, matrices: Sequence[np.ndarray], *, alternative: str = "greater",
                   scales: Sequence[float] | None = None) -> list[PermutationResult]:
        """The test on each layer's matrix, every permutation batch evaluated on all layers before the next."""
        prepared = [self.prepare(S) for S in matrices]
        observed = [float(self.evaluate(p, self.observed)[0]) for p in prepared]
        nulls: list[list[np.ndarray]] = [[] for _ in prepared]
        workers = _layer_workers(len(prepared))
        with ThreadPoolExecutor(workers) if workers > 1 else contextlib.nullcontext() as pool:
            for payload in self.batches():
                if pool is None:
                    values = [self.evaluate(p, payload) for p in prepared]
                else:
                    values = list(pool.map(lambda p, load=payload: self.evaluate(p, load), prepared))
                for null, value in zip(nulls, values):
                    null.append(value)
        if scales is None:
            scales = [float(np.abs(S).max()) for S in matrices]
        return [
            _permutation_result(value, np.concatenate(null), self.exact, alternative=alternative, scheme=self.scheme,
                                name=self.name, scale=scale, pair=self.pair)
            for value, null, scale in zip(observed, nulls, scales)
        ]


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


def pvalue_against_null(result: PermutationResult, observed: float, scale: float) -> float:
    """The p another labelling's statistic would get against ``result``'s permutation null.

    The same count, ties and alternative as ``result.pvalue``; ``scale`` is
    the largest absolute similarity of the layer's matrix (the tie
    tolerance's scale, as in the test itself). For ``result.statistic`` it
    gives back ``result.pvalue``.
    """
    if result.null_distribution is None:
        raise StatsInputError("the permutation result kept no null distribution")
    return _pvalue(np.asarray(result.null_distribution), float(observed), result.alternative, result.exact,
                   _TIE_RTOL * max(scale, 1e-300))


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


def _label_engine(name: str, design: _Design, unit_labels: np.ndarray, n_classes: int, n_permutations: int,
                  rng: np.random.Generator, payload: Callable, prepare: Callable, evaluate: Callable,
                  **extra: Any) -> _PermutationEngine:
    """An engine whose permutations relabel the design's units (wordings, or samples without them)."""
    batch = max(1, _BATCH_ELEMENTS // max(1, unit_labels.size * n_classes))
    labels, exact, count = _label_stream(unit_labels, n_permutations, rng, batch)
    return _PermutationEngine(
        name=name,
        scheme="sample" if design.prompt_codes is None else "wording",
        exact=exact,
        n_permutations=count,
        observed=payload(unit_labels[None, :]),
        batches=lambda: map(payload, labels()),
        prepare=prepare,
        evaluate=evaluate,
        payload=payload,
        **extra,
    )


def gap_engine(design: _Design, n_permutations: int, rng: np.random.Generator, pair: Sequence[str] | None = None) -> _PermutationEngine:
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

    return _label_engine("gap", design, unit_labels, n_classes, n_permutations, rng, payload, prepare, evaluate,
                         pair=_pair_tuple(pair))


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
    labels, exact, count = _label_stream(prompt_codes, n_permutations, rng, batch)  # type: ignore[arg-type]
    return _PermutationEngine(
        name="control_gap",
        scheme="sample",
        exact=exact,
        n_permutations=count,
        observed=payload(prompt_codes[None, :]),  # type: ignore[index]
        batches=lambda: map(payload, labels()),
        prepare=prepare,
        evaluate=evaluate,
        pair=_pair_tuple(pair),
    )




def gaps_under_labellings(matrices: Sequence[Any], emotions: Any, prompts: Any, labellings: Sequence[Any]) -> np.ndarray:
    """[n_labellings, n_layers]: each layer's ``gap`` had the samples been labelled each way.

    ``emotions`` and ``prompts`` are the design; each labelling gives every
    sample an emotion of the design (the same one to every sample of a
    wording, as the gap test's permutations do). Evaluated through the gap
    test's own engine, in one batch per layer: the number ``gap`` and
    :func:`permutation_gap_test` give for that labelling, at the cost of a
    matrix product.
    """
    first = _as_similarity(matrices[0])
    design = make_design(emotions, prompts, first.shape[0])
    engine = gap_engine(design, 1, np.random.default_rng(0))
    unit_of_sample, _ = design.units()
    code = {name: k for k, name in enumerate(design.emotion_names)}
    unit_labels = np.full((len(labellings), int(unit_of_sample.max()) + 1), -1)
    for row, labelling in enumerate(labellings):
        labelling = _labels(labelling, design.n, "labelling")
        unknown = sorted(set(labelling) - set(code))
        if unknown:
            raise StatsInputError(f"labelling {row} names emotions the design does not have: {unknown}")
        codes = np.array([code[e] for e in labelling])
        unit_labels[row, unit_of_sample] = codes
        if np.any(unit_labels[row, unit_of_sample] != codes):
            raise StatsInputError(f"labelling {row} splits a wording between emotions")
    load = engine.payload(unit_labels)  # type: ignore[misc]
    return np.stack([engine.evaluate(engine.prepare(_as_similarity(S, design.n)), load) for S in matrices], axis=1)


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
    engine = gap_engine(design, check_count(n_permutations, "n_permutations"), _rng(seed), pair)
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
    engine = _control_engine(design, check_count(n_permutations, "n_permutations"), _rng(seed), pair)
    return engine.run(S, alternative=_check_alternative(alternative))
