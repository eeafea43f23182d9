"""Causal evidence: steer generation along the found emotion direction, against random directions.

Every other claim is correlational (activations differ by label). Here the
direction that separates the two emotions of a contrast at layer L is added to
the residual stream while a neutral prompt is generated; if the model uses it,
the music moves the way the direction table says (happier: faster, brighter,
more major). Adding a random direction of the same size must not do as much.

- **Direction**: the difference of the two emotions' class means of the
  stored pooled activations at layer L, estimated on one half of each
  emotion's wordings (the other half measures how well it separates unseen
  wordings), normalised to unit length.
- **Scale**: the typical residual norm at L, the median norm of the samples'
  pooled activations there; the steering vector is ``alpha * scale * direction``,
  added to the conditional rows of layer L's output at every generation step
  (the rows the direction was estimated on; classifier-free guidance then
  extrapolates away from the unsteered unconditional rows).
- **Controls**: K random unit directions orthogonal to every contrast's
  direction at L, one set per layer shared by the contrasts, each built as an
  emotion direction is but from random groups of wordings (of the estimation
  halves' sizes, emotions ignored), then made orthogonal to the contrasts'
  directions. Isotropic random directions would not do: an estimated
  direction lies where the activations vary with the prompt, and such
  directions move the output more than ones the model never sees (the null
  model's happy-minus-sad direction, a difference of wordings, outranked 99
  isotropic ones on tempo). KNOWN OPEN PROBLEM: the orthogonalisation still
  leaves the emotion direction unlike its controls under the null (it may
  lie along the wordings' dominant direction, which the controls are then
  denied): the null model is supported at layer 0 on both seeds tried
  (tests/test_steering_known_truth.py fails there). The rank p is not yet
  calibrated; do not read "supported" as evidence until it is.
- **Statistic**: per prompt and seed the least-squares slope of the feature
  against alpha, averaged over prompts and seeds (seeds are matched across
  alphas and directions). Its p is its rank among the random directions'
  slopes, signed by the expected direction: ``(1 + #{random >= observed}) / (K + 1)``.
  Holm across features x contrasts x layers. Causal evidence is "supported"
  when any row passes, in its expected direction.

A steered sample is content-addressed like every other: its key holds the
model identity extended by the layer, the direction's hash and alpha, so a
rerun generates nothing and a new direction (new samples, new estimate) new
samples. Alpha 0 is the plain sample of the neutral prompt, shared by every
direction and layer. Plain library code (no pytest); never part of the verdict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Sequence, TextIO

import numpy as np

from .capture import LayerHooks
from .config import ConfigError, ExperimentConfig, SampleSpec, derive_seed

SUPPORTED, NOT_SUPPORTED, NOT_RUN = "supported", "not supported", "not run"
STUDY = "steer"


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
    rows = []
    for c in contrasts:
        for feature, direction in c.directions.items():
            rows.append(FeatureRow(c.first, c.second, feature, 1 if direction == "higher" else -1))
        if c.modes and c.modes[0] != c.modes[1]:
            rows.append(FeatureRow(c.first, c.second, "mode", 1 if c.modes[0] == "major" else -1))
    return rows


def n_random_needed(n_tests: int, alpha: float) -> int:
    """The fewest random directions with which the smallest rank p, 1 / (K + 1), passes Holm's first step."""
    return int(np.floor(n_tests / alpha))


def check_steering(config: ExperimentConfig) -> None:
    """ConfigError, naming what to change, when the [steering] table cannot give an answer."""
    s = config.steering
    alphas = list(s.alphas)
    if len(set(alphas)) != len(alphas) or 0 not in alphas or min(alphas) >= 0 or max(alphas) <= 0:
        raise ConfigError(f"steering.alphas = {alphas}: give distinct values including 0, a negative and a "
                          "positive one (the slope is paired over seeds across them)")
    if not s.prompts or not all(isinstance(p, str) and p.strip() for p in s.prompts):
        raise ConfigError("steering.prompts: give at least one neutral prompt")
    if s.layers is not None and (not s.layers or min(s.layers) < 0):
        raise ConfigError(f"steering.layers = {list(s.layers)}: give 'significant' or non-negative layer indices")
    if not s.enabled:
        return
    rows = feature_rows(config.contrasts)
    if not rows:
        raise ConfigError("steering needs expected directions: the run has no [[acoustics.contrasts]] "
                          "between its emotions")
    n_layers = len(s.layers) if s.layers is not None else s.max_layers
    n_tests = len(rows) * n_layers
    need = n_random_needed(n_tests, config.thresholds.alpha)
    if s.n_random < need:
        raise ConfigError(
            f"steering.n_random = {s.n_random}: the smallest rank p is 1/{s.n_random + 1} = {1 / (s.n_random + 1):.4f}, "
            f"and Holm over {len(rows)} features x contrasts x {n_layers} layers = {n_tests} tests needs it below "
            f"{config.thresholds.alpha / n_tests:.4f}; use n_random >= {need}, or fewer layers (max_layers)")


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
    name: str  # "happy-sad", or "random007"
    vector: np.ndarray  # unit length
    # How well the direction separates the held-out wordings: the difference of
    # the two emotions' mean projections there, over the pooled SD.
    heldout_separation: float | None = None

    @property
    def hash(self) -> str:
        return direction_hash(self.vector)

    @property
    def is_random(self) -> bool:
        return self.name.startswith("random")


def direction_hash(vector: np.ndarray) -> str:
    return hashlib.sha256(np.round(np.asarray(vector, dtype=np.float64), 6).astype(np.float32).tobytes()).hexdigest()[:16]


def emotion_direction(X: np.ndarray, conditions: Sequence[str], prompt_ids: Sequence[str],
                      first: str, second: str, layer: int) -> Direction:
    """Unit difference of the class means on the estimation half of the wordings."""
    X = np.asarray(X, dtype=np.float64)
    conditions = np.asarray(conditions)
    half = split_wordings(prompt_ids)
    a, b = conditions == first, conditions == second
    diff = X[a & half].mean(axis=0) - X[b & half].mean(axis=0)
    norm = np.linalg.norm(diff)
    if not np.isfinite(norm) or norm == 0:
        raise ValueError(f"layer {layer}: {first} and {second} have identical means on the estimation wordings")
    unit = diff / norm
    pa, pb = X[a & ~half] @ unit, X[b & ~half] @ unit
    separation = None
    if len(pa) > 1 and len(pb) > 1:
        sd = np.sqrt((pa.var(ddof=1) + pb.var(ddof=1)) / 2)
        separation = float((pa.mean() - pb.mean()) / sd) if sd > 0 else None
    return Direction(layer, f"{first}-{second}", unit, separation)


def residual_scale(X: np.ndarray) -> float:
    """The typical residual norm at a layer: the median norm of the pooled activations."""
    return float(np.median(np.linalg.norm(np.asarray(X, dtype=np.float64), axis=1)))


def orthogonal_units(draws: np.ndarray, against: np.ndarray) -> np.ndarray:
    """``draws`` with their components along every row of ``against`` removed, at unit length."""
    against = np.atleast_2d(np.asarray(against, dtype=np.float64))
    basis, _ = np.linalg.qr(against.T)  # [D, m], orthonormal span of the emotion directions
    draws = np.array(draws, dtype=np.float64)
    draws -= (draws @ basis) @ basis.T
    return draws / np.linalg.norm(draws, axis=1, keepdims=True)


def random_orthogonal(against: np.ndarray, k: int, seed: int) -> np.ndarray:
    """[k, D] isotropic random unit directions orthogonal to every row of ``against``."""
    against = np.atleast_2d(np.asarray(against, dtype=np.float64))
    return orthogonal_units(np.random.default_rng(seed).standard_normal((k, against.shape[1])), against)


def wording_split_directions(X: np.ndarray, prompt_ids: Sequence[str], sizes: tuple[int, int], k: int,
                             seed: int) -> np.ndarray:
    """[k, D] class-mean differences of random groups of wordings, of the estimation halves' sizes.

    Built as an emotion direction is, from groups that ignore emotion: under
    the null that emotion does not matter, the emotion direction is built the same way.
    """
    prompt_ids = np.asarray(prompt_ids)
    wordings = np.array(sorted(set(prompt_ids)))
    if sizes[0] + sizes[1] > len(wordings):
        raise ValueError(f"{len(wordings)} wordings cannot make random groups of {sizes[0]} and {sizes[1]}")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(k):
        order = rng.permutation(wordings)
        a, b = np.isin(prompt_ids, order[:sizes[0]]), np.isin(prompt_ids, order[sizes[0]:sizes[0] + sizes[1]])
        draws.append(X[a].mean(axis=0) - X[b].mean(axis=0))
    return np.stack(draws)


def choose_layers(config: ExperimentConfig, layer_analysis, analysed: Sequence[int]) -> tuple[tuple[int, ...], str]:
    """The layers to steer and why: the config's, or the k most significant after correction
    (the k smallest corrected p when none is significant, so that a null model is tested too)."""
    s = config.steering
    if s.layers is not None:
        return tuple(s.layers), "set in the experiment file"
    correction = config.statistics.correction

    def corrected(r):
        return r.pvalue_maxt if correction == "maxt" and r.pvalue_maxt is not None else r.pvalue_holm

    ranked = sorted((r for r in layer_analysis.layers if r.layer in analysed), key=lambda r: (corrected(r), r.layer))
    significant = [r.layer for r in ranked if corrected(r) < config.thresholds.alpha]
    if significant:
        return tuple(sorted(significant[:s.max_layers])), f"the {min(len(significant), s.max_layers)} most " \
            f"significant after {correction} correction"
    return tuple(sorted(r.layer for r in ranked[:s.max_layers])), "no layer was significant: the smallest " \
        f"{correction}-corrected p"


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
                return None
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
                                          d.layer, d.name, d.hash, float(alpha), vector))
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
        progress=progress, extra_meta={"model": info.label, "model_is_random": info.is_random, "steering": True})
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
    """Permutation-style p: the observed slope's rank among the random directions' (signed by the expectation)."""
    null = np.asarray(null, dtype=np.float64)
    if not np.isfinite(observed):
        return 1.0  # a feature that could not be measured is no evidence
    # A random direction whose slope could not be measured counts against the observed one.
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
    verdict: str  # SUPPORTED or NOT_SUPPORTED
    layers: tuple[int, ...]
    layer_choice: str
    scales: dict[int, float]
    rows: tuple[SteeringRow, ...]
    n_extra_samples: int
    alphas: tuple[float, ...]

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
    """The per-row test. ``values[(layer, direction)]`` is ``{feature: [n_alphas, n_units]}``
    (direction "happy-sad" or "random000".. at that layer, alpha 0 included)."""
    from emoprobe import stats

    out = []
    for layer in layers:
        randoms = [f"random{j:03d}" for j in range(n_random)]
        for row in rows:
            emotion = values[(layer, row.contrast)][row.feature]
            null_values = np.stack([values[(layer, name)][row.feature] for name in randoms])
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
                            heldout_separation=(separations or {}).get((layer, row.contrast)), dose=dose))
    holm = stats.correct_across_layers([r["pvalue"] for r in out], alpha).pvalues_holm
    return [SteeringRow(**r, pvalue_holm=float(p), supported=bool(p < alpha)) for r, p in zip(out, holm)]


def verdict(rows: Sequence[SteeringRow]) -> str:
    return SUPPORTED if any(r.supported for r in rows) else NOT_SUPPORTED


# -- the whole run --------------------------------------------------------------------

def directions_at(config: ExperimentConfig, emotion_samples, layer: int) -> tuple[list[Direction], float]:
    """The contrasts' emotion directions and the K random controls at ``layer``, and its scale."""
    X = emotion_samples.layer(layer)
    contrasts = [c for c in config.contrasts if c.first in config.emotions and c.second in config.emotions]
    found = [emotion_direction(X, emotion_samples.conditions, emotion_samples.prompt_ids, c.first, c.second, layer)
             for c in contrasts]
    half = split_wordings(emotion_samples.prompt_ids)
    first = contrasts[0]
    sizes = tuple(len({p for p, c, h in zip(emotion_samples.prompt_ids, emotion_samples.conditions, half)
                       if c == e and h}) for e in (first.first, first.second))
    draws = wording_split_directions(X, emotion_samples.prompt_ids, sizes, config.steering.n_random,
                                     derive_seed(config.base_seed, STUDY, "random", layer))
    controls = orthogonal_units(draws, np.stack([d.vector for d in found]))
    randoms = [Direction(layer, f"random{j:03d}", v) for j, v in enumerate(controls)]
    return found + randoms, residual_scale(X)


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
    directions, scales = [], {}
    for layer in layers:
        found, scales[layer] = directions_at(config, emotion_samples, layer)
        directions.extend(found)
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
    values = {(d.layer, d.name): {r.feature: np.full((len(alphas), len(units)), np.nan) for r in rows}
              for d in directions}
    for item, sample in zip(plan, stored):
        # The alpha-0 sample of a prompt and seed is the same for every direction.
        targets = list(values) if item.layer is None else [(item.layer, item.direction)]
        for target in targets:
            for r in rows:
                values[target][r.feature][alphas.index(item.alpha), unit_index[item.unit]] = \
                    feature_value(features[sample.key], r.feature)
    separations = {(d.layer, d.name): d.heldout_separation for d in directions if not d.is_random}
    tested = steering_test(values, rows, layers, alphas, config.steering.n_random, config.thresholds.alpha,
                           separations)
    result = SteeringResult(verdict(tested), layers, planned.layer_choice, planned.scales, tuple(tested),
                            len(unique), alphas)
    return result, plan, stored


def n_extra_samples(config: ExperimentConfig, n_layers: int | None = None) -> int:
    """Steered samples a run adds: (contrasts + K) directions x nonzero alphas x prompts x seeds per layer,
    plus one alpha-0 sample per prompt and seed."""
    s = config.steering
    n_layers = n_layers if n_layers is not None else (len(s.layers) if s.layers is not None else s.max_layers)
    units = len(s.prompts) * s.n_seeds
    nonzero = sum(1 for a in s.alphas if a != 0)
    return n_layers * (len(config.contrasts) + s.n_random) * nonzero * units + units

