"""Pair design: labels coded as emotions and wordings, similarity, pair classes and the gap."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.distance import pdist, squareform

from .records import METRICS, GapSummary, PairClasses, PairGap, StatsInputError


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


def make_design(emotions: Any, prompts: Any, n: int, *, need_within: bool = True) -> _Design:
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


def check_count(value: int, name: str, minimum: int = 1) -> int:
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
    return _pair_masks(make_design(emotions, prompts, n, need_within=False))


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
    return S, make_design(emotions, prompts, S.shape[0], need_within=need_within)


def gap(S: Any, emotions: Any, prompts: Any = None) -> GapSummary:
    """Within, between and control means of ``S`` and the gaps (see module docstring).

    Means are over unordered pairs of distinct samples. ``gap = within -
    between`` in similarity units; ``relative_gap = gap / within``;
    ``control_gap = control - between``. ``pairs`` repeats this per emotion
    pair, in order of first appearance of the emotions.
    """
    S, design = _design_and_matrix(S, emotions, prompts)
    return _gap_summary(S, design)


@dataclass(frozen=True)
class _GapLayout:
    """Which unordered pairs (i < j) fall in each class, overall and per emotion pair.

    It depends on the design alone, so layers sharing a design share one.
    """

    i: np.ndarray
    j: np.ndarray
    within: np.ndarray
    between: np.ndarray
    control: np.ndarray | None
    pairs: tuple[tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None], ...]  # a, b, within, between, control


def _gap_layout(design: _Design) -> _GapLayout:
    # Work on the N(N-1)/2 unordered pairs as flat vectors (i < j).
    i, j = np.triu_indices(design.n, 1)
    em_i, em_j = design.emotion_codes[i], design.emotion_codes[j]
    same_emotion = em_i == em_j
    has_prompts = design.prompt_codes is not None
    if has_prompts:
        same_prompt = design.prompt_codes[i] == design.prompt_codes[j]  # type: ignore[index]
    else:
        same_prompt = np.zeros_like(same_emotion)
    within, between = same_emotion & ~same_prompt, ~same_emotion
    low, high = np.minimum(em_i, em_j), np.maximum(em_i, em_j)
    pairs = []
    for a in range(design.n_emotions):
        for b in range(a + 1, design.n_emotions):
            inside = same_emotion & ((em_i == a) | (em_i == b))
            pairs.append((a, b, within & inside, (low == a) & (high == b),
                          same_prompt & inside if has_prompts else None))
    return _GapLayout(i, j, within, between, same_prompt if has_prompts else None, tuple(pairs))


def _gap_summary(S: np.ndarray, design: _Design, layout: _GapLayout | None = None) -> GapSummary:
    layout = layout or _gap_layout(design)
    values = S[layout.i, layout.j]

    def mean(mask: np.ndarray | None) -> tuple[float | None, int]:
        if mask is None:
            return None, 0
        count = int(mask.sum())
        return (float(values[mask].mean()) if count else float("nan")), count

    within, n_within = mean(layout.within)
    between, n_between = mean(layout.between)
    control, n_control = mean(layout.control)
    pairs = []
    for a, b, within_mask, between_mask, control_mask in layout.pairs:
        w, nw = mean(within_mask)
        bt, nb = mean(between_mask)
        c, nc = mean(control_mask)
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
