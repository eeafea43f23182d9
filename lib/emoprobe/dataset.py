"""The experiment's samples as arrays ready for analysis.

``collect_samples`` joins the pieces: it plans the samples the configuration
asks for, loads what the store has, generates (with capture) only what it
lacks, and returns a ``SampleSet``: labels, prompt wordings, seeds, per-layer
pooled activations and the audio files.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence, TextIO

import numpy as np

from .capture import generate_batch, resolve_batch_size
from . import design
from .config import ConfigError, ExperimentConfig, SampleSpec, plan_samples, planned_wordings
from .fileio import atomic_write_bytes
from .models import ModelInfo, load_model
from .store import EnsureReport, KeyParams, SampleStore, StoredSample, content_digest, ensure_samples


class SampleSetIncomplete(LookupError):
    """Samples are missing and this caller may not generate them."""


@dataclass
class SampleSet:
    """Samples of one study ("emotion" or "extreme") with aligned labels."""

    samples: list[StoredSample]
    layers: tuple[int, ...]  # the layers stored (every layer of the model)

    @property
    def conditions(self) -> np.ndarray:
        return np.array([s.spec.condition for s in self.samples])

    @property
    def prompt_ids(self) -> np.ndarray:
        return np.array([s.spec.prompt_id for s in self.samples])

    @property
    def seeds(self) -> np.ndarray:
        return np.array([s.spec.seed for s in self.samples])

    def samples_per_wording(self) -> dict[str, int]:
        """prompt id -> how many samples of that wording the set has (``config.audited_design``'s input)."""
        ids, counts = np.unique(self.prompt_ids, return_counts=True)
        return {str(i): int(n) for i, n in zip(ids, counts)}

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.samples]

    @property
    def content_digest(self) -> str:
        """A digest of the samples' data, not only of their keys: each key with the
        checksums its entry records (``store.content_digest``), so that an entry
        whose data changed under the same key counts as other samples."""
        return content_digest((s.key, s.checksums) for s in self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def _rows(self, layer: int) -> list[int]:
        """Each sample's row holding ``layer``, read from its stored ``layers`` index, never by position."""
        if layer not in self.layers:
            raise KeyError(f"layer {layer} was not captured (have {self.layers[0]}..{self.layers[-1]})")
        rows = []
        for s in self.samples:
            found = np.flatnonzero(np.asarray(s.layers) == layer)
            if len(found) != 1:
                raise KeyError(f"sample {s.spec.prompt_id} seed {s.spec.seed} (key {s.key[:12]}) stores layer "
                               f"{layer} {len(found)} times (its layers: {np.asarray(s.layers).tolist()})")
            rows.append(int(found[0]))
        return rows

    def layer(self, layer: int) -> np.ndarray:
        """[N, D] float64 mean-over-time activations of ``layer``."""
        return np.stack([s.mean[row] for s, row in zip(self.samples, self._rows(layer))]).astype(np.float64)

    def layer_bins(self, layer: int) -> np.ndarray:
        """[N, K, D] float64 time-binned activations of ``layer``."""
        return np.stack([s.bins[row] for s, row in zip(self.samples, self._rows(layer))]).astype(np.float64)

    def subset(self, conditions: Sequence[str]) -> "SampleSet":
        keep = set(conditions)
        return SampleSet([s for s in self.samples if s.spec.condition in keep], self.layers)


def capture_generate_fn(config: ExperimentConfig, layers: Sequence[int]):
    """A store ``generate`` callback: one batch through MusicGen with capture."""
    gen = config.generation

    def generate(model, specs: Sequence[SampleSpec]) -> list[dict]:
        if gen.duration_s > model.max_duration:
            raise ConfigError(f"duration {gen.duration_s}s exceeds the model's {model.max_duration}s window")
        batch = generate_batch(model, [s.prompt for s in specs], [s.seed for s in specs],
                               duration_s=gen.duration_s, top_k=gen.top_k, top_p=gen.top_p,
                               temperature=gen.temperature, cfg_coef=gen.cfg_coef, layers=layers,
                               n_time_bins=config.capture.n_time_bins,
                               keep_unconditional=config.capture.keep_unconditional)
        acts = batch.activations
        results = []
        for b in range(len(specs)):
            results.append({
                "audio": batch.audio[b], "sample_rate": batch.sample_rate, "layers": list(layers),
                "mean": np.stack([acts.mean[layer][b] for layer in layers]),
                "bins": np.stack([acts.bins[layer][b] for layer in layers]),
                "uncond_mean": (np.stack([acts.uncond_mean[layer][b] for layer in layers])
                                if acts.uncond_mean is not None else None),
            })
        return results

    return generate


def collect_samples(config: ExperimentConfig, info: ModelInfo, store: SampleStore,
                    progress: bool | TextIO = True, include_extremes: bool = True,
                    device: str | None = None, generate_missing: bool = True,
                    specs: Sequence[SampleSpec] | None = None) -> tuple[dict[str, SampleSet], EnsureReport]:
    """Every sample the configuration asks for, by study, generating only what is missing.

    ``specs`` narrows the plan to a part of it (one shard, see ``emoprobe.shard``).
    ``progress`` is a bool, or the stream the generation progress bar writes to.
    """
    if specs is None:
        specs = plan_samples(config, include_extremes=include_extremes)
    layers = tuple(range(info.n_layers))
    params = KeyParams.from_config(config, info.identity)

    def load():
        if not generate_missing:
            raise SampleSetIncomplete(f"some samples are not in {store.root} and generation is off")
        store.record_model_load(info.label)
        model = load_model(info, device=device, prompt_emotions=_prompt_emotions(config))
        # While the model is loaded: its text conditioning of every wording, so
        # that the lexical control never loads the model on a warm cache, and of
        # every word, which the word-overlap audit reads (``conditioner_word_vectors``).
        text_conditioning(config, info, [*(p for prompts in config.emotions.values() for p in prompts),
                                         *audit_words(config)], model=model)
        return model

    stored, report = ensure_samples(store, specs, params, load, capture_generate_fn(config, layers),
                                    lambda model: resolve_batch_size(config.generation.batch_size, model,
                                                                     config.generation.duration_s),
                                    progress=progress,
                                    extra_meta={"model": info.label, "model_is_random": info.is_random,
                                                "generation": asdict(params)},
                                    n_layers=info.n_layers, dim=info.dim)
    by_study: dict[str, list[StoredSample]] = {}
    for sample in stored:
        by_study.setdefault(sample.spec.study, []).append(sample)
    return {study: SampleSet(samples, layers) for study, samples in by_study.items()}, report


def _prompt_emotions(config: ExperimentConfig) -> dict[str, str]:
    return {p: e for e, prompts in config.emotions.items() for p in prompts}


TEXT_CONDITIONING_VERSION = 1


def _stored_row(path: Path) -> np.ndarray | None:
    """One stored conditioning row, or None where it is missing or is not what the conditioner writes.

    The conditioner writes float32 values (``lexical.conditioner_embeddings``), so a row
    that float32 does not hold exactly (1e-200, 1e200, NaN), that is empty or all zero,
    or that is not one flat float array was not written by it: recomputed, never trusted.
    Read through a memory map, so a header that claims more than the file holds fails
    here rather than allocating it; pickles are refused.
    """
    try:
        row = np.array(np.load(path, mmap_mode="r", allow_pickle=False))
    except (OSError, ValueError, MemoryError):
        return None
    if row.ndim != 1 or row.dtype.kind != "f" or not row.size:
        return None
    with np.errstate(over="ignore", under="ignore"):
        as_float32 = row.astype(np.float32)
    if not np.isfinite(as_float32).all() or not np.array_equal(as_float32, row) or not as_float32.any():
        return None
    return row.astype(np.float64)


def text_conditioning(config: ExperimentConfig, info: ModelInfo, wordings: Sequence[str],
                      model=None, *, compute_missing: bool = True) -> np.ndarray | None:
    """[P, D] the model's mean-pooled text conditioning of each wording (``lexical.conditioner_embeddings``).

    Kept per model and wording under ``cache_dir/text``; what is missing is
    computed with ``model``, or with the model loaded here when none is given
    (only on a cache filled before this record existed). With ``compute_missing``
    False nothing is computed: None when any wording is missing.
    """
    from filelock import FileLock

    from .lexical import conditioner_embeddings

    folder = Path(config.cache_dir) / "text"
    folder.mkdir(parents=True, exist_ok=True)

    def path(wording: str) -> Path:
        key = f"{TEXT_CONDITIONING_VERSION}:{info.identity}:{wording}"
        return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"

    with FileLock(str(folder / "text.lock")):
        found = {}
        for wording in wordings:
            row = _stored_row(path(wording))
            if row is not None:
                found[wording] = row
        widths = {row.size for row in found.values()}
        if len(widths) > 1:  # rows of two models or a damaged file: keep none of them rather than guess
            found = {}
        missing = [w for w in dict.fromkeys(wordings) if w not in found]
        if missing and not compute_missing:
            return None
        if missing:
            if model is None:
                model = load_model(info, prompt_emotions=_prompt_emotions(config))
            for wording, row in zip(missing, conditioner_embeddings(model, missing)):
                buffer = io.BytesIO()
                np.save(buffer, row)
                atomic_write_bytes(path(wording), buffer.getvalue())
                found[wording] = row
    return np.stack([found[w] for w in wordings])


def audit_words(config: ExperimentConfig) -> list[str]:
    """The words whose text conditioning the run stores for the word-overlap audit."""
    return design.conditioner_words(planned_wordings(config))


def conditioner_word_vectors(config: ExperimentConfig, info: ModelInfo) -> dict[str, np.ndarray] | None:
    """word -> the model's text conditioning of that word alone, for every word of the design.

    What ``design.audit(word_vectors=)`` reads to simulate a word-only model that reads
    words by meaning as this model's conditioner does. Stored when the samples were
    generated; never computed here (the controller of a run has no model loaded): None
    when the store lacks any of them, e.g. on a cache filled before they were kept.
    """
    words = audit_words(config)
    try:
        vectors = text_conditioning(config, info, words, compute_missing=False)
    except OSError:  # the folder or its lock is not what the store made: read as missing
        return None
    return None if vectors is None else dict(zip(words, vectors))
