"""The statistics run over the experiment's samples, computed once per run.

Each analysis is keyed by the samples it reads (their keys and the checksums
of their data), the settings it uses and a hash of the code that computes it,
and kept on disk beside the sample store in a data-only format
(``datacodec``): reading the cache never runs code. Under ``pytest -n auto`` the first
worker computes it under a file lock and the others load it, so the
permutation tests run once, not once per worker.
"""

from __future__ import annotations

import hashlib
import json
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np

from . import stats
from .config import ExperimentConfig
from .dataset import SampleSet
from . import datacodec
from .fileio import atomic_write_bytes, code_digest
from .threads import single_threaded_blas

T = TypeVar("T")
_PACKAGE_DIR = Path(__file__).resolve().parent
_code_hashes: dict[str, str] = {}


def code_hash(compute: Callable | None = None) -> str:
    """A hash of this package's source and of the file defining ``compute``.

    Any edit to the code invalidates every memo, so a result is never reused
    by code that would compute it differently, and no version is bumped by hand.
    """
    files = sorted(_PACKAGE_DIR.rglob("*.py"))  # the subpackages (stats/, truth/) compute results too
    try:
        extra = inspect.getsourcefile(compute) if compute is not None else None
    except TypeError:  # a builtin or C callable has no source file
        extra = None
    if extra and Path(extra).resolve() not in files:
        files.append(Path(extra).resolve())
    cache_key = "\n".join(map(str, files))
    if cache_key not in _code_hashes:
        _code_hashes[cache_key] = code_digest(files, _PACKAGE_DIR)
    return _code_hashes[cache_key]


def memoised(cache_dir: str | Path, name: str, payload: dict, compute: Callable[[], T]) -> T:
    """``compute()`` once per ``payload`` and code version, kept under ``cache_dir/analysis``."""
    from filelock import FileLock

    folder = Path(cache_dir) / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(json.dumps({"code": code_hash(compute), **payload}, sort_keys=True,
                                       default=str).encode()).hexdigest()[:20]
    path = folder / f"{name}-{digest}.json"
    with FileLock(str(path) + ".lock"):
        if path.exists():
            try:
                return datacodec.loads(path.read_bytes())
            except (ValueError, TypeError, OSError):  # damaged or foreign: recomputed, never trusted
                path.unlink(missing_ok=True)
        # One BLAS thread: the value must not depend on which process wrote it
        # (an xdist worker and a serial run have different thread counts).
        value = single_threaded_blas(compute)()
        atomic_write_bytes(path, datacodec.dumps(value))
        return value


def _inputs(samples: SampleSet) -> dict:
    """The samples an analysis reads, for its memo key: their keys, which hash only
    the inputs (prompt, seed, parameters), and a digest of their data (each
    entry's recorded checksums of its activations and its audio, from which the
    acoustic features are computed), so that an entry regenerated, replaced or
    edited under the same key is analysed again, never answered from the memo."""
    return {"keys": samples.keys, "content": samples.content_digest}


def _stats_kwargs(config: ExperimentConfig) -> dict:
    return dict(metric=config.statistics.metric, n_permutations=config.statistics.n_permutations,
                alpha=config.thresholds.alpha, min_gap=config.thresholds.min_gap,
                effect_thresholds=dict(config.thresholds.effect_classes), seed=config.base_seed)


def emotion_layers(samples: SampleSet, layers: Sequence[int], config: ExperimentConfig,
                   metric: str | None = None) -> stats.LayersAnalysis:
    """Gap, permutation p and bootstrap CI per layer; Holm, BH and max-T across layers.

    What the decisive claims read. The CI resamples whole wordings within
    emotion, then seeds within wording: the spread between wordings is part of
    the uncertainty of the gap. The gap test permutes wordings, so its N^2 work
    is one wording-block sum per layer; the control tests, which permute
    samples and cost N^2 per permutation, are :func:`emotion_controls`.
    """
    kwargs = {**_stats_kwargs(config), "n_boot": config.statistics.n_bootstrap, "bootstrap_unit": "hierarchical",
              "control": False, "control_pairs": False}
    if metric:
        kwargs["metric"] = metric
    payload = {**_inputs(samples), "layers": list(layers), **kwargs}
    return memoised(config.cache_dir, "emotion_layers", payload, lambda: stats.analyse_layers(
        {layer: samples.layer(layer) for layer in layers}, samples.conditions, samples.prompt_ids, **kwargs))


def emotion_controls(samples: SampleSet, layers: Sequence[int], config: ExperimentConfig) -> stats.LayersAnalysis:
    """The control tests per layer and emotion pair (claim 2, exploratory), Holm over every layer x pair.

    The same seed as :func:`emotion_layers`, so its gap numbers are the same
    and its control p-values are those one analysis of both would give.
    """
    kwargs = {**_stats_kwargs(config), "n_boot": 0, "control": True, "control_pairs": True}
    payload = {**_inputs(samples), "layers": list(layers), **kwargs}
    return memoised(config.cache_dir, "emotion_controls", payload, lambda: stats.analyse_layers(
        {layer: samples.layer(layer) for layer in layers}, samples.conditions, samples.prompt_ids, **kwargs))


@dataclass(frozen=True)
class TemporalGap:
    """Early-versus-late gap of one layer (exploratory; never decides the verdict)."""

    layer: int
    gaps_by_bin: tuple[float, ...]
    early: float
    late: float

    @property
    def divergence(self) -> float:
        return self.late - self.early


def temporal_gaps(samples: SampleSet, layers: Sequence[int], config: ExperimentConfig) -> list[TemporalGap]:
    """The within-minus-between gap in each time bin of each layer."""
    metric = config.statistics.metric

    def compute():
        out = []
        for layer in layers:
            binned = samples.layer_bins(layer)
            gaps = tuple(stats.gap(stats.similarity_matrix(binned[:, k], metric), samples.conditions,
                                   samples.prompt_ids).gap for k in range(binned.shape[1]))
            out.append(TemporalGap(layer, gaps, gaps[0], gaps[-1]))
        return out

    return memoised(config.cache_dir, "temporal", {**_inputs(samples), "layers": list(layers),
                                                   "metric": metric}, compute)


def extreme_contrasts(samples: SampleSet, layers: Sequence[int], config: ExperimentConfig) -> dict[str, stats.LayersAnalysis]:
    """Per extreme pair: does the pair separate in any layer? (the positive control)

    Each side of a pair is one prompt, so there are no paraphrases: labels are
    permuted sample by sample, and a separation here may be wording as much as
    emotion. That is fine for a positive control: it asks whether the method
    can see any difference at all.
    """
    kwargs = {**_stats_kwargs(config), "n_boot": 0, "control": False, "control_pairs": False}
    result = {}
    for pair_index in range(len(config.extreme_pairs)):
        label = f"extreme{pair_index}"
        subset = samples.subset([f"{label}/a", f"{label}/b"])
        if len(subset) == 0:
            continue
        payload = {**_inputs(subset), "layers": list(layers), **kwargs}
        result[label] = memoised(config.cache_dir, "extreme", payload, lambda s=subset: stats.analyse_layers(
            {layer: s.layer(layer) for layer in layers}, s.conditions, None, **kwargs))
    return result


OTHER_METRICS = ("pearson", "euclidean", "cka", "mmd")


@dataclass(frozen=True)
class MetricResult:
    """One layer under one metric: the statistic and its wording-level permutation p."""

    metric: str
    layer: int
    statistic: float
    pvalue: float
    n_permutations: int


def other_metrics(samples: SampleSet, layers: Sequence[int], config: ExperimentConfig) -> list[MetricResult]:
    """The seed's week-3 exploration: the gap under Pearson and euclidean similarity,
    linear CKA with the emotion labels, and MMD between emotions, per layer.

    Every p comes from permuting emotion labels of whole wordings, as for cosine.
    """
    n_perm, seed = config.statistics.n_permutations, config.base_seed

    def compute():
        out = []
        for layer in layers:
            X = samples.layer(layer)
            for metric in OTHER_METRICS:
                if metric in ("pearson", "euclidean"):
                    r = stats.permutation_gap_test(stats.similarity_matrix(X, metric), samples.conditions,
                                                   samples.prompt_ids, n_permutations=n_perm, seed=seed)
                elif metric == "cka":
                    r = stats.emotion_cka_test(X, samples.conditions, samples.prompt_ids, n_perm, seed=seed)
                else:
                    r = stats.emotion_mmd_test(X, samples.conditions, samples.prompt_ids, n_perm, seed=seed)
                out.append(MetricResult(metric, layer, float(r.statistic), float(r.pvalue), r.n_permutations))
        return out

    return memoised(config.cache_dir, "other_metrics", {**_inputs(samples), "layers": list(layers),
                                                        "n": n_perm, "seed": seed}, compute)


@dataclass(frozen=True)
class ProbeResult:
    layer: int
    accuracy: float
    chance: float
    pvalue: float
    n_permutations: int


def linear_probe(samples: SampleSet, layers: Sequence[int], config: ExperimentConfig) -> list[ProbeResult]:
    """A leave-one-wording-out ridge probe for emotion, per layer (``emoprobe.probe``).

    The probe is scored on wordings it never saw, and its p permutes the
    emotion labels of whole wordings (all seeds together), so a model that
    only recognises wordings neither scores above the null nor gets a small p.
    Chance is the permutation null's mean accuracy.
    """
    from . import probe

    n_perm, ridge = config.statistics.probe_permutations, config.statistics.probe_ridge

    def compute():
        tests = probe.probe_test({layer: samples.layer(layer) for layer in layers}, samples.conditions,
                                 samples.prompt_ids, n_perm, seed=config.base_seed, ridge=ridge)
        return [ProbeResult(layer, t.accuracy, t.chance, t.pvalue, t.n_permutations) for layer, t in tests.items()]

    return memoised(config.cache_dir, "probe", {**_inputs(samples), "layers": list(layers), "n": n_perm,
                                                "ridge": ridge, "seed": config.base_seed, "scheme": "wording-dual"},
                    compute)


def acoustic_features(samples: SampleSet, config: ExperimentConfig, progress: bool = True) -> list:
    """Acoustic features of every sample, kept in the sample store (see ``acoustics.load_or_extract``).

    Keyed there by each clip's checksum (the one its entry records) and the
    extractor's version: the one cache of features.
    """
    from tqdm.auto import tqdm

    from . import acoustics
    from .store import SampleStore

    store = SampleStore(config.cache_dir)
    # With -n auto one worker extracts, the others wait and then read what it kept.
    with store.lock(samples.keys, purpose="acoustics"):
        return [acoustics.load_or_extract(sample.audio_path, store, sample.meta.get("sample_rate"),
                                          source_sha256=sample.meta["checksums"]["audio.wav"])
                for sample in tqdm(samples.samples, desc="acoustic features", unit="clip", disable=not progress)]


ACOUSTIC_DISTANCE_FEATURES = ("tempo_bpm", "centroid_mean_hz", "rms", "onset_rate", "mode")


def acoustic_guided(samples: SampleSet, layers: Sequence[int], features: Sequence,
                    config: ExperimentConfig) -> dict[int, object]:
    """The seed's acoustic-guided analysis: per layer, a Mantel test of pairwise
    activation distance (1 - cosine similarity of the pooled activations)
    against pairwise acoustic distance (standardised tempo, brightness, energy,
    onset rate and mode). A positive r means samples that sound alike also sit
    alike in the layer.
    """
    from . import acoustics

    acoustic = acoustics.acoustic_distance_matrix(features, ACOUSTIC_DISTANCE_FEATURES, log_scale=("tempo_bpm",))

    def compute():
        out = {}
        for layer in layers:
            distance = 1.0 - stats.similarity_matrix(samples.layer(layer), "cosine")
            np.fill_diagonal(distance, 0.0)
            out[layer] = acoustics.mantel_test(distance, acoustic, n_permutations=config.statistics.n_permutations,
                                               seed=config.base_seed, groups=wordings(samples))
        return out

    return memoised(config.cache_dir, "acoustic_guided", {**_inputs(samples), "layers": list(layers),
                                                          "n": config.statistics.n_permutations, "scheme": "wording",
                                                          "features": ACOUSTIC_DISTANCE_FEATURES}, compute)


def wordings(samples: SampleSet) -> np.ndarray:
    """Each sample's wording, unique across emotions (the unit every resampling moves whole)."""
    return np.array([f"{c}/{p}" for c, p in zip(samples.conditions, samples.prompt_ids)])


def features_by_condition(samples: SampleSet, features: Sequence) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for condition, feature in zip(samples.conditions, features):
        grouped.setdefault(str(condition), []).append(feature)
    return grouped


def best_layer(analysis: stats.LayersAnalysis) -> int:
    """The layer with the smallest corrected p, ties broken by the larger gap."""
    return min(analysis.layers, key=lambda r: (r.pvalue_holm, -r.statistic)).layer


def middle_layer(layers: Sequence[int]) -> int:
    return sorted(layers)[len(layers) // 2]


def similarity(samples: SampleSet, layer: int, metric: str) -> np.ndarray:
    return stats.similarity_matrix(samples.layer(layer), metric)


def wording_table(samples: SampleSet) -> tuple[list[str], list[str], list[str]]:
    """(wording ids, their texts, their emotions), in the order ``lexical.wording_similarity`` uses."""
    text, emotion = {}, {}
    for s in samples.samples:
        text[s.spec.prompt_id], emotion[s.spec.prompt_id] = s.spec.prompt, s.spec.condition
    ids = sorted(text)
    return ids, [text[i] for i in ids], [emotion[i] for i in ids]


def lexical_controls(samples: SampleSet, layers: Sequence[int], config: ExperimentConfig,
                     conditioner: np.ndarray | None) -> dict[int, "lexical.LexicalControl"]:
    """Per layer: does same emotion predict wording-pair similarity beyond the text? (``emoprobe.lexical``)

    ``conditioner`` is the model's text conditioning of the wordings in
    ``wording_table`` order (None: TF-IDF and confined words only). The
    controlled p is Holm-corrected across the layers, like the gap's.
    """
    from . import lexical

    metric, n_perm, seed = config.statistics.metric, config.statistics.n_permutations, config.base_seed
    ids, texts, labels = wording_table(samples)

    def compute():
        text = lexical.text_similarities(texts, labels, conditioner)
        W_by_layer = {}
        for layer in layers:
            order, W_by_layer[layer] = lexical.wording_similarity(
                stats.similarity_matrix(samples.layer(layer), metric), samples.prompt_ids)
            assert order == ids  # the text and activation matrices must index the same wordings
        return lexical.lexical_control_layers(W_by_layer, labels, text, n_permutations=n_perm, seed=seed,
                                              alpha=config.thresholds.alpha)

    digest = None if conditioner is None else hashlib.sha256(np.ascontiguousarray(conditioner).tobytes()).hexdigest()
    return memoised(config.cache_dir, "lexical", {**_inputs(samples), "layers": list(layers), "metric": metric,
                                                  "n": n_perm, "seed": seed, "conditioner": digest,
                                                  "alpha": config.thresholds.alpha}, compute)


def wording_transfer(samples: SampleSet, layers: Sequence[int], config: ExperimentConfig) -> dict[int, object]:
    """Per layer: a classifier trained on named wordings predicts the emotion of described ones (exploratory).

    Empty when the design cannot pose the question (no described wordings, or
    named wordings of fewer than two emotions).
    """
    from . import lexical

    n_perm, seed = config.statistics.probe_permutations, config.base_seed
    names = list(config.emotions)
    types = [lexical.wording_type(s.spec.prompt, names) for s in samples.samples]
    if lexical.DESCRIBED not in types or len({c for c, t in zip(samples.conditions, types) if t == lexical.NAMED}) < 2:
        return {}  # the design has no described wordings, or too few named ones, to train and test on

    def compute():
        return {layer: lexical.cross_wording_transfer(samples.layer(layer), samples.conditions, samples.prompt_ids,
                                                      types, n_permutations=n_perm, seed=seed, layer=layer)
                for layer in layers}

    return memoised(config.cache_dir, "transfer", {**_inputs(samples), "layers": list(layers), "n": n_perm,
                                                   "seed": seed}, compute)
