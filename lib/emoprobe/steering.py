"""Causal evidence: steer generation along the found emotion direction, against relabelled controls.

Every other claim is correlational (activations differ by label). Here the
direction that separates the two emotions of a contrast at layer L is added to
the residual stream while a neutral prompt is generated; if the model uses it,
the music moves the way the direction table says (happier: faster, brighter,
more major). Its controls, the same construction under random relabellings of
the wordings, must not do as much.

- **Direction**: the difference of the two emotions' mean wordings (each
  wording's mean pooled activation at layer L, so every wording weighs the
  same), divided by a label-free size: the root mean square of that
  difference over every labelling of the pool (``typical_difference_norm``).
  So a random split of the wordings gives a vector of norm about 1, and the
  emotion's own split a longer one in proportion to how far it separates
  them. Every wording of the two emotions is
  used, not one half: with half of each emotion's wordings, some random
  relabellings of the pool would pick other wordings of the same emotions
  and be emotion directions themselves (100 of 4,200 with five wordings per
  emotion), which the estimated one cannot outrank when emotion is there
  (in the vectorised calibration that cut the planted power from 0.56 to
  0.34, bench/RESULTS.md). Half the wordings still serve a diagnostic: the
  held-out separation, how far a direction estimated on every other
  wording separates the rest.
- **Scale**: the typical residual norm at L, the median norm of the samples'
  pooled activations there; the steering vector is ``alpha * scale * direction``
  (so alpha is in residual norms for a typical split of the wordings),
  added to the conditional rows of layer L's output at every generation step
  (the rows the direction was estimated on; classifier-free guidance then
  extrapolates away from the unsteered unconditional rows).
- **Controls**: K directions per contrast and layer, each made by the same
  function from the same wording means as the emotion direction
  (``class_mean_direction``), under a random relabelling of the contrast's
  pool of wordings (its two emotions' wordings, the same group sizes):
  K distinct relabellings, none of them the observed one. Same pool, same
  group sizes, same label-free divisor, same scale, the same seeds, prompts and
  alphas at generation, the same alpha-0 samples and the same kind of store
  key. Under the null that the labels carry nothing beyond the wordings
  (wordings are the exchangeable unit), the emotion direction is one more
  draw of the same procedure, so the rank p below is an exact permutation p
  (Hemerik and Goeman's, for random relabellings without replacement).
  **The controls are not orthogonal to the emotion direction**, although the
  issue asked for that: a direction estimated from the wordings lies where
  they vary most, and a control forced orthogonal to it is denied exactly
  that part, so it moves the music less and the estimated direction outranks
  it with no emotion in the model. Measured: the null known-truth model's
  happy-minus-sad direction ranked first of 99 orthogonalised controls on
  base seeds 20241007 (tempo) and 7 (brightness); isotropic controls failed
  the same way. ``tests/test_steering_calibration.py`` shows both failures
  on synthetic activations, and that the relabelled controls hold alpha.
- **Layers**: the config's, or the ``max_layers`` with the smallest
  corrected p of the gap test, most significant first (``choose_layers``).
  That choice used the labels, so each control repeats it on its own
  labelling (``labelling_layers``: the gap of every layer under the
  relabelling, its p against the gap test's own permutation null, the same
  correction) and is steered at the layers it chose, compared slot by slot.
  Without that the null's rate rose to 0.074 on the calibration's hostile
  model; with it, 0.030, and 0.024 at a fixed layer (bench/RESULTS.md).
- **Statistic**: per prompt and seed the least-squares slope of the feature
  against alpha, averaged over prompts and seeds (seeds are matched across
  alphas and directions). Its p is its rank among the controls'
  slopes, signed by the expected direction: ``(1 + #{random >= observed}) / (K + 1)``.
  Holm across features x contrasts x layers. Causal evidence is "supported"
  when any row passes, in its expected direction, and "inconclusive" instead
  when the word-overlap audit flags the wordings the run used: there a model
  whose music follows its words, with no emotion, passes far more often than
  alpha.

A steered sample is content-addressed like every other: its key holds the
model identity extended by the layer, the direction's hash and alpha, so a
rerun generates nothing and a new direction (new samples, new estimate) new
samples. Alpha 0 is the plain sample of the neutral prompt, shared by every
direction and layer. Plain library code (no pytest); never part of the verdict.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Mapping, Sequence, TextIO

import numpy as np

from .capture import LayerHooks
from .config import ExperimentConfig, SampleSpec, derive_seed

SUPPORTED, NOT_SUPPORTED, NOT_RUN = "supported", "not supported", "not run"
# Supported, but on wordings the word-overlap audit flags: a word-matching model can move the music too.
INCONCLUSIVE = "inconclusive"
ERRORED = "error"  # the claim was on and did not finish: never reported as "not run"
STUDY = "steer"
CLAIM = "steering"  # the claim rows' name in the record
HYPOTHESIS = "test_14_steering_moves_acoustics.py"  # its tests' file


# -- what is tested -------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureRow:
    """One row of the direction table: steering towards ``first`` should move ``feature`` by ``sign``."""

    first: str
    second: str
    feature: str  # an AcousticFeatures field, or "mode" (share of clips in major)
    sign: int  # +1: up when steered towards first

    @property
    def contrast(self) -> str:
        return f"{self.first}-{self.second}"


def feature_rows(contrasts) -> list[FeatureRow]:
    """The direction table as steering expectations (a mode row only when the two modes differ)."""
    return [FeatureRow(c.first, c.second, feature, sign) for c in contrasts for feature, sign in c.expectations()]


# -- directions -----------------------------------------------------------------------

def split_wordings(prompt_ids: Sequence[str]) -> np.ndarray:
    """True for samples whose wording is in the estimation half (every other wording, in order)."""
    prompt_ids = np.asarray(prompt_ids)
    chosen = set()
    for emotion in sorted({p.rsplit("/", 1)[0] for p in prompt_ids}):
        wordings = sorted({p for p in prompt_ids if p.rsplit("/", 1)[0] == emotion},
                          key=lambda p: (len(p), p))
        chosen.update(wordings[::2])
    return np.array([p in chosen for p in prompt_ids])


@dataclass(frozen=True)
class Direction:
    layer: int
    name: str  # "happy-sad", or its control "random007/happy-sad"
    vector: np.ndarray  # in units of the pool's typical class-mean difference (norm about 1 at random)
    # How well the direction separates the held-out wordings: the difference of
    # the two emotions' mean projections there, over the pooled SD.
    heldout_separation: float | None = None
    # Its labelling's rank-th chosen layer (0: the most significant): the emotion
    # direction and its controls are compared slot by slot.
    slot: int = 0

    @property
    def hash(self) -> str:
        return direction_hash(self.vector)

    def steered_hash(self, scale: float) -> str:
        """The hash a steered sample's key holds: of the vector added per unit alpha (scale x direction),
        so a new scale (other samples, other emotions in the study) is new samples."""
        return direction_hash(scale * self.vector)

    @property
    def is_random(self) -> bool:
        return self.name.startswith("random")


def control_name(contrast: str, j: int) -> str:
    return f"random{j:03d}/{contrast}"


def direction_hash(vector: np.ndarray) -> str:
    return hashlib.sha256(np.round(np.asarray(vector, dtype=np.float64), 6).astype(np.float32).tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class ContrastDesign:
    """A contrast's labelling of its pool of wordings (every wording of its two emotions, sorted):
    ``labels[i]`` is +1 for the first emotion, -1 for the second. A control relabels the pool."""

    wordings: tuple[str, ...]
    labels: np.ndarray


def contrast_design(conditions: Sequence[str], prompt_ids: Sequence[str], first: str, second: str) -> ContrastDesign:
    label_of = {p: 1 if c == first else -1 for p, c in zip(prompt_ids, conditions) if c in (first, second)}
    wordings = tuple(sorted(label_of))
    return ContrastDesign(wordings, np.array([label_of[w] for w in wordings]))


def wording_means(X: np.ndarray, prompt_ids: Sequence[str], wordings: Sequence[str]) -> np.ndarray:
    """[P, D] each wording's mean activation: a wording is the unit labels are exchangeable over."""
    X, prompt_ids = np.asarray(X, dtype=np.float64), np.asarray(prompt_ids)
    return np.stack([X[prompt_ids == w].mean(axis=0) for w in wordings])


def typical_difference_norm(means: np.ndarray, n_first: int) -> float:
    """Root mean square, over every labelling of the pool with ``n_first`` wordings labelled +1,
    of the norm of the two groups' mean difference. Label-free: a function of the pool alone.

    For a random split of P values into groups of n1 and n2 without replacement,
    Var(mean1 - mean2) = S^2 P / (n1 n2), with S^2 the variance of the P values
    (divisor P - 1); summed over dimensions, E||mean1 - mean2||^2 = P / (n1 n2)
    times the trace of the wording means' covariance.
    """
    means = np.asarray(means, dtype=np.float64)
    P = len(means)
    n_second = P - n_first
    if n_first < 1 or n_second < 1:
        raise ValueError("both groups of wordings need at least one wording")
    spread = float(np.sum(means.var(axis=0, ddof=1))) if P > 1 else 0.0
    return math.sqrt(P / (n_first * n_second) * spread)


def class_mean_direction(means: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The mean wording of label +1 minus that of label -1, over the pool's typical such difference.

    The one function behind an emotion direction and each of its controls.
    The divisor (``typical_difference_norm``) does not depend on the labels,
    so every labelling is scaled alike and the vectors keep their relative
    sizes: a labelling that separates the wordings well (an emotion the
    activations hold) gives a longer vector than one that splits them at
    random, which is of norm about 1. Normalising each to unit length instead
    would hand every control that shares most of its wordings with the
    emotion direction the same push (measured: the planted model ranked 3rd to
    6th of 100 under unit vectors, bench/RESULTS.md).
    """
    labels = np.asarray(labels)
    diff = means[labels == 1].mean(axis=0) - means[labels == -1].mean(axis=0)
    typical = typical_difference_norm(means, int(np.sum(labels == 1)))
    if not np.isfinite(typical) or typical == 0 or not np.linalg.norm(diff) > 0:
        raise ValueError("the two groups of wordings have identical means")
    return diff / typical


def relabellings(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """[k, P]: k distinct relabellings of the pool, none of them ``labels`` itself, drawn uniformly.

    With the observed labelling this is a uniform random subset of the
    relabelling group that contains the identity, so the rank p,
    ``(1 + #{controls >= observed}) / (k + 1)``, is exact (Hemerik and Goeman
    2018, random permutations without replacement). Draws with replacement
    would let a control repeat the observed labelling and tie it.
    """
    labels = np.asarray(labels)
    available = math.comb(len(labels), int(np.sum(labels == 1))) - 1
    if k > available:
        raise ValueError(f"{k} controls asked for, but the pool has only {available} other labellings")
    rng = np.random.default_rng(seed)
    seen, out = {labels.tobytes()}, []
    while len(out) < k:
        draw = rng.permutation(labels)
        if draw.tobytes() not in seen:
            seen.add(draw.tobytes())
            out.append(draw)
    return np.stack(out) if out else np.empty((0, len(labels)), dtype=labels.dtype)


def heldout_separation(X: np.ndarray, conditions: Sequence[str], prompt_ids: Sequence[str], first: str,
                       second: str) -> float | None:
    """How well the contrast separates unseen wordings: the class-mean direction of every other wording
    (``split_wordings``), the two emotions' mean projections on the rest apart in pooled SDs."""
    X, conditions, prompt_ids = np.asarray(X, dtype=np.float64), np.asarray(conditions), np.asarray(prompt_ids)
    half = split_wordings(prompt_ids)
    a, b = conditions == first, conditions == second
    diff = X[a & half].mean(axis=0) - X[b & half].mean(axis=0)
    if not np.linalg.norm(diff) > 0:
        return None
    unit = diff / np.linalg.norm(diff)
    pa, pb = X[a & ~half] @ unit, X[b & ~half] @ unit
    if len(pa) < 2 or len(pb) < 2:
        return None
    sd = np.sqrt((pa.var(ddof=1) + pb.var(ddof=1)) / 2)
    return float((pa.mean() - pb.mean()) / sd) if sd > 0 else None


def contrast_directions(X: np.ndarray, conditions: Sequence[str], prompt_ids: Sequence[str], first: str,
                        second: str, layer: int, n_random: int, seed: int) -> tuple[Direction, list[Direction]]:
    """The contrast's emotion direction and its ``n_random`` controls at ``layer``.

    Each is ``class_mean_direction`` of the same wording means, the emotion
    direction under the contrast's own labelling of its wordings, each control
    under a random relabelling of them (same pool, same group sizes). Under
    the null that the labels carry nothing beyond the wordings, the emotion
    direction is one more draw of the same procedure, so its rank is a
    permutation p. Nothing is done to a control that is not done to it.
    """
    X, conditions, prompt_ids = np.asarray(X, dtype=np.float64), np.asarray(conditions), np.asarray(prompt_ids)
    design = contrast_design(conditions, prompt_ids, first, second)
    means = wording_means(X, prompt_ids, design.wordings)
    name = f"{first}-{second}"
    try:
        unit = class_mean_direction(means, design.labels)
    except ValueError:
        raise ValueError(f"layer {layer}: {first} and {second} have identical means") from None
    emotion = Direction(layer, name, unit, heldout_separation(X, conditions, prompt_ids, first, second))
    controls = [Direction(layer, control_name(name, j), class_mean_direction(means, labels))
                for j, labels in enumerate(relabellings(design.labels, n_random, seed))]
    return emotion, controls


def emotion_direction(X: np.ndarray, conditions: Sequence[str], prompt_ids: Sequence[str],
                      first: str, second: str, layer: int) -> Direction:
    """Unit difference of the two emotions' mean wordings (its controls: ``contrast_directions``)."""
    return contrast_directions(X, conditions, prompt_ids, first, second, layer, 0, 0)[0]


def residual_scale(X: np.ndarray) -> float:
    """The typical residual norm at a layer: the median norm of the pooled activations."""
    return float(np.median(np.linalg.norm(np.asarray(X, dtype=np.float64), axis=1)))


def _corrected(config: ExperimentConfig, pvalues: np.ndarray, gaps: np.ndarray, nulls: np.ndarray,
               exact: bool) -> np.ndarray:
    """One labelling's corrected p per layer, as the gap test corrects them (Holm, or step-down max-T)."""
    from .stats import correct_across_layers
    from .stats.corrections import maxt_stepdown

    if config.statistics.correction == "maxt":
        return np.asarray(maxt_stepdown(gaps, nulls, exact=exact), dtype=np.float64)
    return np.asarray(correct_across_layers(list(pvalues), config.thresholds.alpha).pvalues_holm)


def _ranked(layers: Sequence[int], corrected: np.ndarray, k: int) -> tuple[int, ...]:
    """The k layers with the smallest corrected p (ties: the earlier layer), most significant first."""
    order = sorted(range(len(layers)), key=lambda i: (corrected[i], layers[i]))
    return tuple(int(layers[i]) for i in order[:k])


def check_steered_layers(config: ExperimentConfig, analysed: Sequence[int], model: str) -> None:
    """ConfigError at start-up when [steering] layers names a layer the run does not capture:
    a direction is estimated from that layer's stored activations."""
    from .config import ConfigError

    s = config.steering
    missing = [layer for layer in (s.layers or ()) if layer not in analysed]
    if s.enabled and missing:
        raise ConfigError(f"steering.layers = {list(s.layers)}: layer(s) {missing} are not captured for {model} "
                          f"(captured: {list(analysed)}); a direction is estimated from its layer's activations")


def choose_layers(config: ExperimentConfig, layer_analysis, analysed: Sequence[int]) -> tuple[tuple[int, ...], str]:
    """The layers to steer, most significant first, and why: the config's, or the ``max_layers``
    with the smallest corrected p of the gap test (the significant ones, when there are any;
    a null model is steered too). Its controls repeat this choice on their own labellings
    (``labelling_layers``)."""
    s = config.steering
    if s.layers is not None:
        return tuple(s.layers), "set in the experiment file"
    correction = config.statistics.correction
    rows = [r for r in layer_analysis.layers if r.layer in analysed]
    corrected = np.array([r.pvalue_maxt if correction == "maxt" and r.pvalue_maxt is not None else r.pvalue_holm
                          for r in rows])
    chosen = _ranked([r.layer for r in rows], corrected, s.max_layers)
    n_significant = int(np.sum(corrected < config.thresholds.alpha))
    return chosen, (f"the {len(chosen)} with the smallest {correction}-corrected p of the gap test "
                    f"({n_significant} significant); each control repeats the choice on its own labelling")


def relabelled_conditions(conditions: Sequence[str], prompt_ids: Sequence[str], design: ContrastDesign,
                          labels: np.ndarray, first: str, second: str) -> np.ndarray:
    """Each sample's emotion once the contrast's pool of wordings is labelled ``labels`` (others kept)."""
    label_of = dict(zip(design.wordings, labels))
    return np.array([(first if label_of[p] == 1 else second) if p in label_of else c
                     for c, p in zip(conditions, prompt_ids)])


def labelling_layers(config: ExperimentConfig, emotion_samples, layer_analysis, analysed: Sequence[int],
                     design: ContrastDesign, labellings: np.ndarray, first: str, second: str) -> list[tuple[int, ...]]:
    """The layers ``choose_layers`` would pick had the contrast's wordings been labelled each way.

    The gap of each layer under the labelling, its p against that layer's
    permutation null (the gap test's own draws, which are uniform random
    labellings whatever the observed one, so one reference for every
    labelling), corrected across layers as the gap test is, then the
    ``max_layers`` smallest. So a control is chosen by the same rule, from
    the same data, as the emotion direction: the choice that used the labels
    is repeated under each relabelling, and the rank p stays a permutation p.
    """
    from . import stats

    s = config.steering
    if s.layers is not None:
        return [tuple(s.layers)] * len(labellings)
    rows = [r for r in layer_analysis.layers if r.layer in analysed]
    if any(r.test.null_distribution is None for r in rows):
        raise ValueError("the layer analysis kept no permutation null: the controls cannot repeat the layer choice")
    layers = [r.layer for r in rows]
    nulls = np.stack([r.test.null_distribution for r in rows], axis=1)
    exact = bool(rows[0].test.exact)
    metric = config.statistics.metric
    matrices = [stats.similarity_matrix(emotion_samples.layer(layer), metric) for layer in layers]
    scales = [float(np.abs(S).max()) for S in matrices]
    conditions = [relabelled_conditions(emotion_samples.conditions, emotion_samples.prompt_ids, design, labels,
                                        first, second) for labels in labellings]
    all_gaps = stats.gaps_under_labellings(matrices, emotion_samples.conditions, emotion_samples.prompt_ids,
                                           conditions)
    out = []
    for gaps in all_gaps:
        pvalues = np.array([stats.pvalue_against_null(r.test, g, scale) for r, g, scale in zip(rows, gaps, scales)])
        out.append(_ranked(layers, _corrected(config, pvalues, gaps, nulls, exact), s.max_layers))
    return out


# -- steered generation ---------------------------------------------------------------

class SteeringHooks(LayerHooks):
    """Adds a per-row vector to the conditional rows of chosen layers' outputs, at every step.

    ``rows[b]`` is ``(layer, vector)`` or None (row b unsteered). Unlike the
    known-truth planter nothing takes it out again: the vector flows on down
    the residual stream, as a steering intervention does.
    """

    def __init__(self, lm, rows: Sequence[tuple[int, np.ndarray] | None]):
        import torch

        super().__init__(lm)
        self.batch = len(rows)
        self.vectors: dict[int, object] = {}
        device = next(lm.parameters()).device
        for b, row in enumerate(rows):
            if row is None:
                continue
            layer, vector = row
            if layer not in self.vectors:
                self.vectors[layer] = torch.zeros(self.batch, lm.dim, dtype=torch.float32, device=device)
            self.vectors[layer][b] = torch.as_tensor(np.asarray(vector, dtype=np.float32), device=device)

    def hooks(self):
        return [(layer, "post", self._hook(vectors)) for layer, vectors in self.vectors.items()]

    def _hook(self, vectors):
        B = self.batch

        def hook(_module, _inputs, output):
            if output.shape[0] not in (B, 2 * B):
                # A vector not added would be stored under a steered key.
                raise RuntimeError(f"steering hook: {output.shape[0]} rows at a layer, expected {B} or {2 * B}")
            output = output.clone()
            output[:B] += vectors.to(output.dtype)[:, None, :]
            return output
        return hook


@dataclass(frozen=True)
class SteeredSample:
    """One planned steered sample: a neutral prompt and seed, a direction at a layer, and alpha."""

    spec: SampleSpec
    layer: int | None  # None at alpha 0 (the plain sample)
    direction: str
    direction_hash: str
    alpha: float
    vector: np.ndarray | None  # alpha * scale * direction; None at alpha 0

    @property
    def unit(self) -> tuple[str, int]:
        """The matched unit of the slope: prompt and seed."""
        return self.spec.prompt_id, self.spec.seed


def steered_identity(model_identity: str, layer: int, direction_hash_: str, alpha: float) -> str:
    """The model identity a steered sample is keyed under: steering is part of what made it."""
    return f"{model_identity}|steer:layer={layer};direction={direction_hash_};alpha={alpha!r}"


def plan_steering(config: ExperimentConfig, directions: Sequence[Direction], scales: Mapping[int, float]) -> list[SteeredSample]:
    """Every steered sample: each direction x nonzero alpha x prompt x seed, plus the shared alpha-0 samples."""
    s = config.steering
    units = [(i, prompt, r, derive_seed(config.base_seed, STUDY, prompt, r))
             for i, prompt in enumerate(s.prompts) for r in range(s.n_seeds)]
    plan = [SteeredSample(SampleSpec(STUDY, "alpha0", prompt, f"steer/{i}", r, seed), None, "none", "", 0.0, None)
            for i, prompt, r, seed in units]
    for d in directions:
        for alpha in s.alphas:
            if alpha == 0:
                continue
            vector = alpha * scales[d.layer] * d.vector
            for i, prompt, r, seed in units:
                condition = f"L{d.layer}/{d.name}/{alpha:g}"
                plan.append(SteeredSample(SampleSpec(STUDY, condition, prompt, f"steer/{i}", r, seed),
                                          d.layer, d.name, d.steered_hash(scales[d.layer]), float(alpha), vector))
    return plan


def steered_params(config: ExperimentConfig, model_identity: str):
    """spec -> KeyParams of a plan: the plain ones at alpha 0, the steered identity otherwise."""
    from .store import KeyParams

    def params_for(item: SteeredSample):
        identity = model_identity if item.layer is None else steered_identity(
            model_identity, item.layer, item.direction_hash, item.alpha)
        return KeyParams.from_config(config, identity)
    return params_for


def collect_steered(config: ExperimentConfig, info, store, plan: Sequence[SteeredSample],
                    progress: bool | TextIO = False, generate_missing: bool = True, device: str | None = None):
    """The stored sample of every planned steered sample (aligned with ``plan``), generating what is missing."""
    from .dataset import SampleSetIncomplete, capture_generate_fn
    from .models import load_model
    from .store import ensure_samples, sample_key

    params_for = steered_params(config, info.identity)
    by_spec = {item.spec: item for item in plan}
    layers = tuple(range(info.n_layers))
    plain = capture_generate_fn(config, layers)

    def generate(model, specs):
        with SteeringHooks(model.lm, [None if by_spec[s].vector is None else (by_spec[s].layer, by_spec[s].vector)
                                      for s in specs]):
            return plain(model, specs)

    def load():
        if not generate_missing:
            raise SampleSetIncomplete(f"some steered samples are not in {store.root} and generation is off")
        store.record_model_load(info.label)
        return load_model(info, device=device,
                          prompt_emotions={p: e for e, prompts in config.emotions.items() for p in prompts})

    from .capture import resolve_batch_size

    # Alpha 0 is one sample per prompt and seed, whatever the direction.
    unique = list({sample_key(item.spec, params_for(item)): item for item in plan}.values())
    stored, report = ensure_samples(
        store, [item.spec for item in unique], lambda spec: params_for(by_spec[spec]), load, generate,
        lambda model: resolve_batch_size(config.generation.batch_size, model, config.generation.duration_s),
        progress=progress, extra_meta={"model": info.label, "model_is_random": info.is_random, "steering": True},
        n_layers=info.n_layers, dim=info.dim)
    by_key = {sample.key: sample for sample in stored}
    return [by_key[sample_key(item.spec, params_for(item))] for item in plan], report


# -- the test -------------------------------------------------------------------------

def feature_value(features, name: str) -> float:
    if name == "mode":
        return 1.0 if features.mode == "major" else 0.0
    return float(getattr(features, name))


def unit_slopes(values: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """[..., n_alphas, n_units] -> [..., n_units]: least-squares slope against alpha, per unit."""
    a = np.asarray(alphas, dtype=np.float64)
    centred = a - a.mean()
    return np.einsum("a,...au->...u", centred, values - values.mean(axis=-2, keepdims=True)) / np.sum(centred ** 2)


def rank_pvalue(observed: float, null: np.ndarray, sign: int) -> float:
    """Permutation p: the observed slope's rank among the controls' (signed by the expectation)."""
    null = np.asarray(null, dtype=np.float64)
    if not np.isfinite(observed):
        return 1.0  # a feature that could not be measured is no evidence
    # A control whose slope could not be measured counts against the observed one.
    return float((1 + np.sum((sign * null >= sign * observed) | ~np.isfinite(null))) / (null.size + 1))


@dataclass(frozen=True)
class DoseResponse:
    alphas: tuple[float, ...]
    mean: tuple[float, ...]  # along the emotion direction, over prompts and seeds
    low: tuple[float, ...]  # its 95% t interval over prompts and seeds
    high: tuple[float, ...]
    band_low: tuple[float, ...]  # 2.5th and 97.5th percentiles of the random directions' means
    band_high: tuple[float, ...]


@dataclass(frozen=True)
class SteeringRow:
    layer: int
    first: str
    second: str
    feature: str
    sign: int
    slope: float  # mean over prompts and seeds, feature units per unit alpha
    slope_ci: tuple[float, float]
    random_slope_median: float
    pvalue: float
    pvalue_holm: float
    supported: bool
    n_random: int
    n_units: int
    heldout_separation: float | None
    dose: DoseResponse


@dataclass(frozen=True)
class SteeringResult:
    verdict: str  # SUPPORTED, NOT_SUPPORTED or INCONCLUSIVE
    layers: tuple[int, ...]
    layer_choice: str
    scales: dict[int, float]
    rows: tuple[SteeringRow, ...]
    n_extra_samples: int
    alphas: tuple[float, ...]
    design_warning: str | None = None  # the word-overlap audit's line, when it flags the wordings

    def row(self, first: str, second: str, feature: str, layer: int) -> SteeringRow:
        return next(r for r in self.rows if (r.first, r.second, r.feature, r.layer) == (first, second, feature, layer))


def _t_interval(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    from scipy import stats as scipy_stats

    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, mean
    half = scipy_stats.t.ppf(0.975, n - 1) * x.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean - half, mean + half


def steering_test(values: Mapping[tuple[int, str], np.ndarray], rows: Sequence[FeatureRow], layers: Sequence[int],
                  alphas: Sequence[float], n_random: int, alpha: float,
                  separations: Mapping[tuple[int, str], float | None] | None = None) -> list[SteeringRow]:
    """The per-row test. ``values[(slot, direction)]`` is ``{feature: [n_alphas, n_units]}``
    (direction "happy-sad" or its control "random000/happy-sad".. at its labelling's slot-th
    chosen layer, alpha 0 included); ``layers[slot]`` is the emotion direction's layer there."""
    from emoprobe import stats

    out = []
    for slot, layer in enumerate(layers):
        for row in rows:
            randoms = [control_name(row.contrast, j) for j in range(n_random)]
            emotion = values[(slot, row.contrast)][row.feature]
            null_values = np.stack([values[(slot, name)][row.feature] for name in randoms])
            slopes = unit_slopes(emotion, alphas)
            null_slopes = unit_slopes(null_values, alphas).mean(axis=-1)
            low, high = _t_interval(emotion)
            band = np.percentile(null_values.mean(axis=-1), [2.5, 97.5], axis=0)
            slope_low, slope_high = _t_interval(slopes[None, :])
            dose = DoseResponse(tuple(map(float, alphas)), tuple(emotion.mean(axis=-1)), tuple(low), tuple(high),
                                tuple(band[0]), tuple(band[1]))
            out.append(dict(layer=layer, first=row.first, second=row.second, feature=row.feature, sign=row.sign,
                            slope=float(slopes.mean()), slope_ci=(float(slope_low[0]), float(slope_high[0])),
                            random_slope_median=float(np.median(null_slopes)),
                            pvalue=rank_pvalue(slopes.mean(), null_slopes, row.sign), n_random=n_random,
                            n_units=int(emotion.shape[-1]),
                            heldout_separation=(separations or {}).get((slot, row.contrast)), dose=dose))
    holm = stats.correct_across_layers([r["pvalue"] for r in out], alpha).pvalues_holm
    return [SteeringRow(**r, pvalue_holm=float(p), supported=bool(p < alpha)) for r, p in zip(out, holm)]


def verdict(rows: Sequence[SteeringRow], design_warning: str | None = None) -> str:
    """Supported when any row passes Holm, in its expected direction; inconclusive instead when the
    word-overlap audit flags the wordings (``design.audit``): there a model whose music follows
    the words, with no emotion in it, is supported far more often than alpha (bench/RESULTS.md)."""
    return _evidence_word(any(r.supported for r in rows), bool(design_warning))


def _evidence_word(any_supported: bool, design_flagged: bool) -> str:
    """The one rule behind ``verdict`` (on a result) and ``causal_evidence`` (on recorded rows)."""
    if not any_supported:
        return NOT_SUPPORTED
    return INCONCLUSIVE if design_flagged else SUPPORTED


def causal_evidence(claim_rows: Sequence[Mapping], outcomes: Sequence[str] = ()) -> str:
    """The causal-evidence line's word from the steering claim's recorded rows and its tests' outcomes
    ("passed", "failed", "skipped", "error in setup", ...): none recorded and none errored is "not run"."""
    if any(o.startswith("error") for o in outcomes):
        return ERRORED
    if not claim_rows:
        return NOT_RUN
    return _evidence_word(any(r.get("supported") for r in claim_rows),
                          any(r.get("design_flagged") for r in claim_rows))


# -- the whole run --------------------------------------------------------------------

def labelled_directions(config: ExperimentConfig, emotion_samples, layer_analysis, analysed: Sequence[int],
                        first: str, second: str) -> list[Direction]:
    """A contrast's emotion direction and its K controls at each of their chosen layers.

    Every labelling of the contrast's pool (the observed one, then K random
    relabellings, ``relabellings``) goes through the same steps: its layers
    (``labelling_layers``, the config's when fixed), then at each its
    ``class_mean_direction`` of the same wording means, in slot order.
    """
    conditions, prompt_ids = np.asarray(emotion_samples.conditions), np.asarray(emotion_samples.prompt_ids)
    design = contrast_design(conditions, prompt_ids, first, second)
    seed = derive_seed(config.base_seed, STUDY, "random", first, second)
    labellings = np.vstack([design.labels[None, :], relabellings(design.labels, config.steering.n_random, seed)])
    choices = labelling_layers(config, emotion_samples, layer_analysis, analysed, design, labellings, first, second)
    means: dict[int, np.ndarray] = {}
    name = f"{first}-{second}"
    out = []
    for j, (labels, layers) in enumerate(zip(labellings, choices)):
        for slot, layer in enumerate(layers):
            if layer not in means:
                means[layer] = wording_means(emotion_samples.layer(layer), prompt_ids, design.wordings)
            try:
                vector = class_mean_direction(means[layer], labels)
            except ValueError:
                raise ValueError(f"layer {layer}: {first} and {second} have identical means") from None
            if j == 0:
                out.append(Direction(layer, name, vector, heldout_separation(
                    emotion_samples.layer(layer), conditions, prompt_ids, first, second), slot))
            else:
                out.append(Direction(layer, control_name(name, j - 1), vector, None, slot))
    return out


@dataclass(frozen=True)
class SteeringPlan:
    layers: tuple[int, ...]
    layer_choice: str
    directions: tuple[Direction, ...]
    scales: dict[int, float]
    samples: tuple[SteeredSample, ...]


def plan_for(config: ExperimentConfig, emotion_samples, layer_analysis, analysed: Sequence[int]) -> SteeringPlan:
    """The layers, directions and steered samples the emotion samples call for."""
    layers, why = choose_layers(config, layer_analysis, analysed)
    contrasts = [c for c in config.contrasts if c.first in config.emotions and c.second in config.emotions]
    directions = [d for c in contrasts
                  for d in labelled_directions(config, emotion_samples, layer_analysis, analysed, c.first, c.second)]
    for d in directions:
        if not d.is_random and layers[d.slot] != d.layer:
            raise AssertionError(f"the emotion direction's slot {d.slot} is at layer {d.layer}, "
                                 f"but the layer choice put layer {layers[d.slot]} there")
    scales = {layer: residual_scale(emotion_samples.layer(layer)) for layer in sorted({d.layer for d in directions})}
    return SteeringPlan(layers, why, tuple(directions), scales, tuple(plan_steering(config, directions, scales)))


def plan_from_store(config: ExperimentConfig, info, store) -> SteeringPlan:
    """The steering plan of a cache that holds the whole emotion study (the launcher's second phase)."""
    from . import analysis
    from .dataset import collect_samples
    from .models import check_layers

    emotion = collect_samples(config, info, store, progress=False, generate_missing=False)[0]["emotion"]
    analysed = check_layers(config.capture.layers, info)
    return plan_for(config, emotion, analysis.emotion_layers(emotion, analysed, config), analysed)


def generate_steering_shard(config: ExperimentConfig, info, index: int, count: int, store=None,
                            progress: bool = True, device: str | None = None):
    """Ensure shard ``index``/``count`` of the steered samples is in the store (after the emotion shards)."""
    from .shard import shard_specs
    from .store import SampleStore

    store = store if store is not None else SampleStore(config.cache_dir)
    plan = plan_from_store(config, info, store)
    batch = config.generation.batch_size
    part = shard_specs(plan.samples, index, count, batch if isinstance(batch, int) else 1)
    return collect_steered(config, info, store, part, progress=progress, device=device)[1]


def missing_samples(config: ExperimentConfig, info, store) -> int:
    """How many planned steered samples the store lacks."""
    from .store import sample_key

    params_for = steered_params(config, info.identity)
    return sum(not store.exists(sample_key(item.spec, params_for(item)))
               for item in plan_from_store(config, info, store).samples)


def run(config: ExperimentConfig, info, store, emotion_samples, layer_analysis, analysed: Sequence[int],
        progress: bool | TextIO = False, generate_missing: bool = True) -> tuple[SteeringResult, list, list]:
    """Directions, steered samples (generated if missing), features and the test.

    Returns the result, the plan's samples and their stored samples (aligned), for the report's players.
    """
    from . import analysis
    from .dataset import SampleSet

    planned = plan_for(config, emotion_samples, layer_analysis, analysed)
    layers, directions, plan = planned.layers, planned.directions, list(planned.samples)
    stored, _ = collect_steered(config, info, store, plan, progress=progress, generate_missing=generate_missing)
    unique = list({s.key: s for s in stored}.values())
    features = dict(zip([s.key for s in unique],
                        analysis.acoustic_features(SampleSet(unique, tuple(range(info.n_layers))), config,
                                                   progress=bool(progress))))
    rows = feature_rows(config.contrasts)
    alphas = tuple(config.steering.alphas)
    units = sorted({item.unit for item in plan})
    unit_index = {u: i for i, u in enumerate(units)}
    values = {(d.slot, d.name): {r.feature: np.full((len(alphas), len(units)), np.nan) for r in rows}
              for d in directions}
    slot_of = {(d.layer, d.name): d.slot for d in directions}
    for item, sample in zip(plan, stored):
        # The alpha-0 sample of a prompt and seed is the same for every direction.
        targets = list(values) if item.layer is None else [(slot_of[(item.layer, item.direction)], item.direction)]
        for target in targets:
            for r in rows:
                values[target][r.feature][alphas.index(item.alpha), unit_index[item.unit]] = \
                    feature_value(features[sample.key], r.feature)
    separations = {(d.slot, d.name): d.heldout_separation for d in directions if not d.is_random}
    tested = steering_test(values, rows, layers, alphas, config.steering.n_random, config.thresholds.alpha,
                           separations)
    from . import design

    from .dataset import conditioner_word_vectors

    # The verdict's audit (run_record.decide_model): the samples the run has, and the conditioner's
    # embeddings where the store keeps them (review 29b: steering audited the plan, by words only).
    warning = design.audit_experiment(config, emotion_samples.samples_per_wording(),
                                      word_vectors=conditioner_word_vectors(config, info))[1].warning()
    result = SteeringResult(verdict(tested, warning), layers, planned.layer_choice, planned.scales, tuple(tested),
                            len(unique), alphas, warning)
    return result, plan, stored


def n_extra_samples(config: ExperimentConfig, n_layers: int | None = None) -> int:
    """Steered samples a run adds: contrasts x (1 + K) directions x nonzero alphas x prompts x seeds per layer,
    plus one alpha-0 sample per prompt and seed."""
    s = config.steering
    n_layers = n_layers if n_layers is not None else (len(s.layers) if s.layers is not None else s.max_layers)
    units = len(s.prompts) * s.n_seeds
    nonzero = sum(1 for a in s.alphas if a != 0)
    return n_layers * len(config.contrasts) * (1 + s.n_random) * nonzero * units + units

