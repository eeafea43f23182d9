"""The experiment configuration: one TOML file, overridable per run.

Every number that is a research choice (N, alpha, the 2% gap, the 80% acoustic
agreement) lives in the experiment file. ``load_config`` reads it, applies the
run's overrides and validates the result, so that a bad configuration fails
with one clear message before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import config_schema, lexical
from .modelspec import canonical_model_spec

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = REPO_ROOT / "configs" / "experiment.toml"
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "emoprobe"


class ConfigError(ValueError):
    """The experiment configuration cannot be run as written."""


@dataclass(frozen=True)
class GenerationParams:
    duration_s: float = 10.0
    top_k: int = 250
    top_p: float = 0.0
    temperature: float = 1.0
    cfg_coef: float = 3.0
    batch_size: int | str = 8  # or "auto": fit free GPU memory


@dataclass(frozen=True)
class CaptureParams:
    layers: tuple[int, ...] | None = None  # None: every layer of the model
    n_time_bins: int = 4
    keep_unconditional: bool = False


@dataclass(frozen=True)
class Thresholds:
    alpha: float = 0.05
    min_gap: float = 0.02
    acoustic_agreement: float = 0.80
    # The mode claim needs a decided mode (not "uncertain") on at least this share of
    # each side's samples: a rate over the few decided ones is no evidence (review 27b).
    mode_min_decided: float = 0.5
    min_n_per_emotion: int = 20
    # The word-overlap audit flags a word when more of the wording pairs sharing it are
    # same-emotion pairs than this (lexical.DesignAudit).
    max_word_same_emotion_share: float = 0.45
    # Datasets of the audit's word-only null simulated on the design (design.word_only_null).
    word_only_null_datasets: int = 300
    effect_classes: Mapping[str, float] = field(
        # Lower bounds of the seed's classes on |gap|; below "weak" is noise.
        default_factory=lambda: {"weak": 0.01, "moderate": 0.05, "strong": 0.15})


@dataclass(frozen=True)
class StatisticsParams:
    metric: str = "cosine"
    n_permutations: int = 10_000
    n_bootstrap: int = 2_000
    probe_permutations: int = 1_000
    # Ridge penalty of the probe, relative to the mean eigenvalue of the centred Gram.
    probe_ridge: float = 1.0
    # The correction across layers that decides the verdict: "maxt" or "holm".
    correction: str = "maxt"


@dataclass(frozen=True)
class ListeningParams:
    """The blinded listening check (``python -m emoprobe.listen``)."""

    clips_per_emotion: int = 6
    clip_seconds: float = 8.0
    seed: int | None = None  # None: drawn at random per build (blind); fixed: for debugging, not blind
    # A decisive check can stop a GO; an exploratory one is only shown.
    decisive: bool = False
    records: tuple[str, ...] = ()  # scored checks (listening.json or its folder) for the report


@dataclass(frozen=True)
class SteeringParams:
    """Causal evidence by steering (``emoprobe.steering``): never part of the verdict."""

    enabled: bool = False
    # Neutral prompts the steered samples are generated from.
    prompts: tuple[str, ...] = ("instrumental music",)
    # Steering strengths, in residual norms for a typical split of the wordings; must hold 0, a negative and
    # a positive.
    alphas: tuple[float, ...] = (-0.5, -0.25, 0.0, 0.25, 0.5)
    n_seeds: int = 4  # seeds per prompt, the same at every alpha and direction
    max_layers: int = 2  # k: the layers with the smallest corrected p of the gap test, most significant first
    layers: tuple[int, ...] | None = None  # steer these layers instead (None: the most significant ones)
    n_random: int = 299  # K relabelled control directions per contrast and layer (emoprobe.steering)


@dataclass(frozen=True)
class AcousticContrast:
    """Expected acoustic ordering of ``first`` against ``second``."""

    first: str
    second: str
    directions: Mapping[str, str]  # feature name -> "higher" | "lower"
    modes: tuple[str, str] | None = None  # expected mode of (first, second)

    def expectations(self) -> list[tuple[str, int]]:
        """(feature, sign): steering towards ``first`` should move the feature by sign (mode: the share in
        major, a row only when the two modes differ)."""
        rows = [(feature, 1 if direction == "higher" else -1) for feature, direction in self.directions.items()]
        if self.modes and self.modes[0] != self.modes[1]:
            rows.append(("mode", 1 if self.modes[0] == "major" else -1))
        return rows


@dataclass(frozen=True)
class ExperimentConfig:
    model: str
    emotions: Mapping[str, tuple[str, ...]]
    n_per_emotion: int
    base_seed: int
    generation: GenerationParams
    capture: CaptureParams
    thresholds: Thresholds
    statistics: StatisticsParams
    contrasts: tuple[AcousticContrast, ...]
    extreme_pairs: tuple[tuple[str, str], ...]
    n_per_extreme_prompt: int
    cache_dir: Path
    source: Path | None = None
    # Every model of the run, the first being ``model``; each gets its own verdict.
    models: tuple[str, ...] = ()
    listening: ListeningParams = ListeningParams()
    steering: SteeringParams = SteeringParams()

    def for_model(self, name: str) -> "ExperimentConfig":
        """This experiment restricted to one of its models."""
        return dataclasses.replace(self, model=name, models=(name,))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    def config_hash(self, *, seeds: bool = True) -> str:
        """A short hash of everything that shapes the data and the verdict.

        ``seeds=False`` leaves out the base seed: the hash of the design, which
        nights on new seeds share (they are replicates of one configuration)."""
        payload = self.to_dict()
        if not seeds:
            payload.pop("base_seed", None)
        payload.pop("cache_dir", None)
        payload.pop("source", None)
        payload.get("listening", {}).pop("records", None)  # where results lie, like cache_dir
        payload.pop("steering", None)  # steering never shapes the emotion samples or the verdict
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Overrides:
    """Per-run overrides, as given on the pytest command line."""

    model: str | Sequence[str] | None = None  # one name, or several for a multi-model run
    n_per_emotion: int | None = None
    seed: int | None = None
    layers: str | None = None
    cache_dir: str | None = None
    emotions: str | None = None
    listening: Sequence[str] | None = None  # scored listening checks for the report
    steer: bool = False  # steering on, whatever [steering] enabled says


def parse_layers(text: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """``"all"`` -> None; ``"0,3,5-7"`` or a list -> sorted unique indices."""
    if text is None:
        return None
    if isinstance(text, str):
        text = text.strip()
        if text.lower() == "all":
            return None
        indices: set[int] = set()
        for part in filter(None, (p.strip() for p in text.split(","))):
            try:
                if "-" in part[1:]:
                    lo, hi = part.split("-", 1)
                    lo, hi = int(lo), int(hi)
                    if hi < lo:
                        raise ConfigError(f"layers: the range {part!r} runs backwards; write {hi}-{lo}")
                    indices.update(range(lo, hi + 1))
                else:
                    indices.add(int(part))
            except ValueError as err:
                if isinstance(err, ConfigError):
                    raise
                raise ConfigError(
                    f"layers: cannot read {part!r}; give 'all' or indices like '0,3,10-12'") from None
        if not indices:
            raise ConfigError(f"layers: {text!r} names no layer; give 'all' or indices like '0,3,10-12'")
        return tuple(sorted(indices))
    if not text:
        raise ConfigError("layers: the list names no layer; give 'all' or indices like [0, 3, 10]")
    return tuple(sorted({int(i) for i in text}))


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"experiment config not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"experiment config {path} is not valid TOML: {err}") from None


def _contrasts_from(raw: Sequence[Mapping[str, Any]]) -> tuple[AcousticContrast, ...]:
    contrasts = []
    for entry in raw:
        entry = dict(entry)
        try:
            first, second = entry.pop("emotions")
        except (KeyError, ValueError):
            raise ConfigError("each [[acoustics.contrasts]] needs emotions = [first, second]") from None
        modes = entry.pop("mode", None)
        for feature, direction in entry.items():
            if direction not in ("higher", "lower"):
                raise ConfigError(
                    f"acoustics contrast {first}/{second}: {feature} = {direction!r}, "
                    "expected 'higher' or 'lower'")
        contrasts.append(AcousticContrast(first, second, entry, tuple(modes) if modes else None))
    return tuple(contrasts)


def _listening_from(raw: Mapping[str, Any], records: Sequence[str] | None) -> ListeningParams:
    raw = dict(raw)
    known = {f.name for f in dataclasses.fields(ListeningParams)} - {"records"} | {"record"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"[listening]: unknown key(s) {unknown}; known: {sorted(known)}")
    # record: one path or a list (one per model); "" is none.
    record = raw.pop("record", ())
    record = [record] if isinstance(record, str) else list(record)
    if records is not None:
        record = list(records)
    return ListeningParams(**raw, records=tuple(str(r) for r in record if str(r).strip()))


def _steering_from(raw: Mapping[str, Any], steer: bool) -> SteeringParams:
    raw = dict(raw)
    layers = raw.pop("layers", "significant")
    params = SteeringParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()},
                            layers=None if layers == "significant" else tuple(sorted(set(layers))))
    return dataclasses.replace(params, enabled=True) if steer else params


# Which way each threshold makes a GO easier: +1 where a larger value is looser, -1 where a smaller
# one is.  Every field of Thresholds but the descriptive effect_classes is here (tests/test_config.py).
LOOSER_WHEN = {"alpha": +1, "min_gap": -1, "acoustic_agreement": -1, "mode_min_decided": -1,
               "min_n_per_emotion": -1, "max_word_same_emotion_share": +1, "word_only_null_datasets": -1}


@dataclass(frozen=True)
class ThresholdDeviation:
    """One setting a verdict rests on that a run chose other than the standard's: the seed's
    thresholds (``Thresholds()``, which the shipped ``configs/experiment.toml`` must equal), the
    shipped metric and correction, and extreme pairs to run the positive control on."""
    name: str
    value: Any
    standard: Any
    looser: bool        # it can turn a verdict into GO: no GO under it
    moves_no_go: bool   # it can turn a verdict into NO-GO or PIVOT: neither under it

    def describe(self) -> str:
        return f"{self.name} {self.value!r} (standard {self.standard!r})"


def verdict_deviations(experiment: ExperimentConfig) -> tuple[ThresholdDeviation, ...]:
    """Where ``experiment`` departs from the standard in a way that can move its verdict.

    Thresholds: looser per ``LOOSER_WHEN``.  Alpha and the gap line move a NO-GO or PIVOT either
    way (alpha decides significance; the line splits GO from PIVOT); a looser sample gate makes
    a NO-GO of an underpowered run, and a looser acoustic or mode threshold a PIVOT of an
    INCONCLUSIVE.  The audit's settings gate only a GO.  Any other metric is looser (a euclidean
    gap is in activation units, a pearson gap centred first: neither is on the gap line's
    scale); the other correction, Holm, is less powerful, so it can only make a NO-GO; no
    extreme pairs leaves a NO-GO without its positive control.  Run counts (permutations,
    bootstrap resamples) are not compared: they set precision, and the design check reports
    power.  The decision gives no GO under a looser deviation and no NO-GO or PIVOT under one
    that moves them (``decision.Outcome.threshold_deviations``)."""
    standard, stats, out = Thresholds(), StatisticsParams(), []
    for name, direction in LOOSER_WHEN.items():
        value, ref = getattr(experiment.thresholds, name), getattr(standard, name)
        if value != ref:
            looser = (value - ref) * direction > 0
            moves = {"alpha": True, "min_gap": True, "min_n_per_emotion": looser, "acoustic_agreement": looser,
                     "mode_min_decided": looser}.get(name, False)
            out.append(ThresholdDeviation(name, value, ref, looser, moves))
    if experiment.statistics.metric != stats.metric:
        out.append(ThresholdDeviation("statistics.metric", experiment.statistics.metric, stats.metric, True, True))
    if experiment.statistics.correction != stats.correction:
        out.append(ThresholdDeviation("statistics.correction", experiment.statistics.correction, stats.correction,
                                      False, True))
    if not experiment.extreme_pairs:
        out.append(ThresholdDeviation("extreme_contrasts.pairs", [], "some pairs", False, True))
    return tuple(out)


def load_config(path: str | Path | None = None, overrides: Overrides | None = None) -> ExperimentConfig:
    """Read the experiment file, apply ``overrides`` and validate.

    Raises ConfigError with one readable message on any problem that can be
    seen without loading a model (layer indices are checked against the model
    separately, by ``emoprobe.models.check_layers``).
    """
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    raw = _read_toml(path)
    try:
        config_schema.check_raw(raw, {"generation": GenerationParams, "capture": CaptureParams,
                                      "thresholds": Thresholds, "statistics": StatisticsParams,
                                      "steering": SteeringParams})
    except config_schema.SchemaError as err:
        raise ConfigError(f"experiment config {path}: {err}") from None
    ov = overrides or Overrides()

    emotions_raw = raw.get("emotions") or {}
    emotions = {name: tuple(prompts) for name, prompts in emotions_raw.items()}
    if ov.emotions:
        wanted = [e.strip() for e in ov.emotions.split(",") if e.strip()]
        unknown = [e for e in wanted if e not in emotions]
        if unknown:
            raise ConfigError(
                f"unknown emotion(s) {unknown}; the config defines {sorted(emotions)}")
        emotions = {e: emotions[e] for e in wanted}

    contrasts = _contrasts_from(raw.get("acoustics", {}).get("contrasts", []))
    for contrast in contrasts:
        for emotion in (contrast.first, contrast.second):
            if emotion not in emotions_raw:
                raise ConfigError(
                    f"acoustic contrast names unknown emotion {emotion!r}; "
                    f"the config defines {sorted(emotions_raw)}")
    # A run restricted with --emotions keeps only the contrasts it can compute.
    contrasts = tuple(c for c in contrasts if c.first in emotions and c.second in emotions)

    gen = GenerationParams(**raw.get("generation", {}))
    cap_raw = dict(raw.get("capture", {}))
    layers = parse_layers(ov.layers if ov.layers is not None else cap_raw.pop("layers", "all"))
    cap_raw.pop("layers", None)
    capture = CaptureParams(layers=layers, **cap_raw)
    thr_raw = dict(raw.get("thresholds", {}))
    effect_classes = thr_raw.pop("effect_classes", None)
    thresholds = Thresholds(**thr_raw, **({"effect_classes": effect_classes} if effect_classes else {}))
    sampling = raw.get("sampling", {})
    extreme = raw.get("extreme_contrasts", {})

    models = ov.model or raw.get("model", {}).get("name", "facebook/musicgen-large")
    models = (models,) if isinstance(models, str) else tuple(models)
    if not models or len(set(map(canonical_model_spec, models))) != len(models):
        # "tiny" and "tiny:" (or one spec with its parameters reordered) are one model: it would run twice.
        raise ConfigError(f"models must be one or more distinct models, got {list(models)}")

    config = ExperimentConfig(
        model=models[0],
        models=models,
        emotions=emotions,
        n_per_emotion=ov.n_per_emotion if ov.n_per_emotion is not None else sampling.get("n_per_emotion", 20),
        base_seed=ov.seed if ov.seed is not None else sampling.get("base_seed", 0),
        generation=gen,
        capture=capture,
        thresholds=thresholds,
        statistics=StatisticsParams(**raw.get("statistics", {})),
        contrasts=contrasts,
        extreme_pairs=tuple(tuple(p) for p in extreme.get("pairs", [])),
        n_per_extreme_prompt=extreme.get("n_per_prompt", 10),
        cache_dir=Path(ov.cache_dir) if ov.cache_dir else DEFAULT_CACHE_DIR,
        source=path,
        listening=_listening_from(raw.get("listening", {}), ov.listening),
        steering=_steering_from(raw.get("steering", {}), ov.steer),
    )
    validate(config)
    return config


def validate(config: ExperimentConfig) -> None:
    """Raise ConfigError on the first problem found, with what to change."""
    if len(config.emotions) < 2:
        raise ConfigError(f"need at least 2 emotions to compare, got {sorted(config.emotions)}")
    for emotion, prompts in config.emotions.items():
        if not config_schema.EMOTION_NAME.match(emotion):
            raise ConfigError(f"emotion name {emotion!r}: use letters, digits, '_' and '-' only")
        if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise ConfigError(f"emotion {emotion!r} has an empty prompt list or an empty prompt")
        wordless = [p for p in prompts if not lexical.tokens(p, one_letter=True)]
        if wordless:
            raise ConfigError(
                f"emotion {emotion!r}: prompt(s) {wordless} hold no word (letters or digits); the lexical control "
                "and the word-overlap audit compare wordings by their words, so a wording without one cannot be "
                "told from the others. Add a word")
    if config.n_per_emotion < 2:
        raise ConfigError(
            f"n_per_emotion = {config.n_per_emotion}: need at least 2 samples per emotion "
            "to measure within-emotion similarity (the seed asks for 20)")
    for emotion, prompts in config.emotions.items():
        # Within-emotion pairs need two wordings; control pairs need a wording
        # generated twice. Samples cycle through the wordings.
        if len(prompts) < 2:
            raise ConfigError(f"emotion {emotion!r} has one wording: within-emotion similarity needs at least 2")
        if config.n_per_emotion <= len(prompts):
            raise ConfigError(
                f"n_per_emotion = {config.n_per_emotion} gives each of {emotion!r}'s {len(prompts)} wordings "
                f"at most one seed, so there is no same-prompt control; use at least {len(prompts) + 1} "
                "(the seed asks for 20)")
    for pair in config.extreme_pairs:
        if len(pair) != 2 or not all(isinstance(p, str) and p.strip() for p in pair):
            raise ConfigError(f"extreme_contrasts.pairs entries must be two prompts, got {pair!r}")
    gen = config.generation
    if gen.duration_s <= 0:
        raise ConfigError(f"generation.duration_s must be positive, got {gen.duration_s}")
    if gen.batch_size != "auto" and not (isinstance(gen.batch_size, int) and gen.batch_size >= 1):
        raise ConfigError(f"generation.batch_size must be 'auto' or at least 1, got {gen.batch_size!r}")
    if config.capture.n_time_bins < 1:
        raise ConfigError(f"capture.n_time_bins must be at least 1, got {config.capture.n_time_bins}")
    if config.capture.layers is not None and any(i < 0 for i in config.capture.layers):
        raise ConfigError(f"layer indices must be non-negative, got {list(config.capture.layers)}")
    if not 0 < config.thresholds.alpha < 1:
        raise ConfigError(f"thresholds.alpha must lie in (0, 1), got {config.thresholds.alpha}")
    listening = config.listening
    if not (isinstance(listening.clips_per_emotion, int) and listening.clips_per_emotion >= 1):
        raise ConfigError(f"listening.clips_per_emotion must be at least 1, got {listening.clips_per_emotion!r}")
    if not listening.clip_seconds > 0:
        raise ConfigError(f"listening.clip_seconds must be positive, got {listening.clip_seconds!r}")
    if config.statistics.metric not in ("cosine", "pearson", "euclidean"):
        raise ConfigError(
            f"statistics.metric {config.statistics.metric!r}: use cosine, pearson or euclidean")
    check_steering(config)
    if config.statistics.correction not in ("maxt", "holm"):
        raise ConfigError(
            f"statistics.correction {config.statistics.correction!r}: use maxt (Westfall-Young step-down "
            "max-T across layers) or holm")



def steering_floor(config: ExperimentConfig) -> tuple[int, float, float, int]:
    """(tests, smallest attainable rank p, the p Holm's first step needs, fewest relabellings of a pool).

    The tests are features x contrasts x layers. A contrast's K controls are
    distinct relabellings of its pool of wordings (``emoprobe.steering``),
    so the smallest rank p is ``1 / (K + 1)`` and K cannot exceed the pool's
    other labellings, ``C(G1 + G2, G1) - 1`` (the design-floor reasoning of
    ``emoprobe.design``, which cannot be imported here without a cycle
    through the known-truth models).
    """
    s = config.steering
    contrasts = [c for c in config.contrasts if c.first in config.emotions and c.second in config.emotions]
    n_layers = len(s.layers) if s.layers is not None else s.max_layers
    n_tests = sum(len(c.expectations()) for c in contrasts) * n_layers
    used = [[min(len(config.emotions[e]), config.n_per_emotion) for e in (c.first, c.second)] for c in contrasts]
    others = min((math.comb(sum(g), g[0]) - 1 for g in used), default=0)
    return n_tests, 1 / (s.n_random + 1), config.thresholds.alpha / max(n_tests, 1), others


def check_steering(config: ExperimentConfig) -> None:
    """ConfigError, naming what to change, when the [steering] table cannot give an answer."""
    s = config.steering
    alphas = list(s.alphas)
    if len(set(alphas)) != len(alphas) or 0 not in alphas or min(alphas) >= 0 or max(alphas) <= 0:
        raise ConfigError(f"steering.alphas = {alphas}: give distinct values including 0, a negative and a "
                          "positive one (the slope is paired over seeds across them)")
    if not s.prompts or not all(isinstance(p, str) and p.strip() for p in s.prompts):
        raise ConfigError("steering.prompts: give at least one neutral prompt")
    if len({p.strip() for p in s.prompts}) != len(s.prompts):
        raise ConfigError(f"steering.prompts = {list(s.prompts)}: a prompt given twice is the same samples twice "
                          "(the same seeds and keys), not two units of the slope")
    if s.layers is not None and (not s.layers or min(s.layers) < 0):
        raise ConfigError(f"steering.layers = {list(s.layers)}: give 'significant' or non-negative layer indices")
    if not s.enabled:
        return
    n_tests, smallest, needed, others = steering_floor(config)
    if not n_tests:
        raise ConfigError("steering needs expected directions: the run has no [[acoustics.contrasts]] "
                          "between its emotions")
    need = math.floor(n_tests / config.thresholds.alpha)  # 1 / (K + 1) < alpha / n_tests
    if smallest >= needed:
        raise ConfigError(
            f"steering.n_random = {s.n_random}: the smallest rank p is 1/{s.n_random + 1} = {smallest:.4f}, "
            f"and Holm over {n_tests} tests (features x contrasts x layers) needs it below {needed:.4f} at "
            f"alpha {config.thresholds.alpha}; use n_random >= {need}, or fewer layers (max_layers)")
    if s.n_random > others:
        raise ConfigError(
            f"steering.n_random = {s.n_random}: a contrast's controls relabel its wordings, and its pool has only "
            f"{others} labellings besides the observed one; Holm over {n_tests} tests needs n_random >= {need}: "
            "add wordings to the emotions, or test fewer features or layers")


@dataclass(frozen=True)
class SampleSpec:
    """One sample the experiment asks for.

    ``condition`` is the emotion (study "emotion") or the extreme prompt's pair
    label (study "extreme"). ``prompt_id`` names the exact wording, so that
    same-wording pairs (the control) can be told from paraphrase pairs.
    """

    study: str
    condition: str
    prompt: str
    prompt_id: str
    replicate: int
    seed: int


def derive_seed(base_seed: int, *parts: object) -> int:
    """A 31-bit seed from the base seed and the sample's identity.

    Every sample gets its own seed: sharing seeds across conditions would make
    their sampling noise correlated.
    """
    text = ":".join(str(p) for p in (base_seed, *parts))
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def planned_wordings(config: ExperimentConfig) -> dict[str, tuple[str, ...]]:
    """Each emotion's wordings the plan generates: the first ``n_per_emotion`` of its list when that
    is fewer than listed. What the word-overlap audit must read, not every wording listed.
    One entry per wording (prompt id), as the run analyses them: two wordings with the same text
    stay two (review 29: merged, they made a smaller design than the run's)."""
    return audited_design(config)[0]


def audited_design(config: ExperimentConfig, samples_per_wording: Mapping[str, int] | None = None
                   ) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[int, ...]]]:
    """(wordings, samples of each) per emotion: the design the word-overlap audit simulates.

    One entry per wording (prompt id) of the emotion study, in plan order. Without
    ``samples_per_wording`` the counts are the plan's (unequal where ``n_per_emotion`` does
    not divide by the wordings); with it (prompt id -> the samples the run has, as the
    sample-size claim records them) they are the run's, and a wording with no sample left,
    or an emotion with none, is left out. ValueError where it names a prompt id the plan lacks.
    """
    planned: dict[str, dict[str, list]] = {}
    for spec in plan_samples(config, include_extremes=False):
        entry = planned.setdefault(spec.condition, {}).setdefault(spec.prompt_id, [spec.prompt, 0])
        entry[1] += 1
    if samples_per_wording is not None:
        unknown = sorted(set(samples_per_wording) - {pid for per in planned.values() for pid in per})
        if unknown:
            raise ValueError(f"samples of wordings the plan does not have: {unknown}")
        for per in planned.values():
            for prompt_id, entry in per.items():
                had = samples_per_wording.get(prompt_id, 0)
                # Read as recorded, never rounded: a count is whole, and no more than the plan's.
                if not isinstance(had, numbers.Integral) or isinstance(had, bool) or not 0 <= had <= entry[1]:
                    raise ValueError(f"{prompt_id}: {had!r} samples recorded, the plan has {entry[1]}: "
                                     "expected a whole number from 0 to that")
                entry[1] = int(had)
    kept = {e: [entry for entry in per.values() if entry[1] > 0] for e, per in planned.items()}
    return ({e: tuple(text for text, _ in entries) for e, entries in kept.items() if entries},
            {e: tuple(n for _, n in entries) for e, entries in kept.items() if entries})


def plan_samples(config: ExperimentConfig, include_extremes: bool = True) -> list[SampleSpec]:
    """The samples the configuration asks for, in a fixed order.

    Sample ``i`` of an emotion uses wording ``i mod P``, so each wording is
    generated with several seeds.
    """
    specs = []
    for emotion, prompts in config.emotions.items():
        for i in range(config.n_per_emotion):
            index = i % len(prompts)
            specs.append(SampleSpec("emotion", emotion, prompts[index], f"{emotion}/{index}", i,
                                    derive_seed(config.base_seed, "emotion", emotion, i)))
    if include_extremes:
        for pair_index, pair in enumerate(config.extreme_pairs):
            for side, prompt in enumerate(pair):
                label = f"extreme{pair_index}/{'ab'[side]}"
                for i in range(config.n_per_extreme_prompt):
                    specs.append(SampleSpec("extreme", label, prompt, label, i,
                                            derive_seed(config.base_seed, "extreme", prompt, i)))
    return specs
