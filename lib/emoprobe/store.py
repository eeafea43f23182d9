"""A content-addressed, crash-safe store of generated samples.

Each sample lives in a folder named by the SHA-256 of everything that shapes
it: model identity, prompt, seed, generation parameters, capture parameters
and the store format version. The folder holds ``audio.wav`` (float32),
``activations.npz`` (per-layer means and time bins, float16) and
``meta.json`` (the spec, checksums of the two data files, library versions).

Writes go to a temporary folder that is renamed into place, so an entry is
either whole or absent. Loading verifies the checksums; a damaged entry is
reported, moved aside and generated again, never used. Only missing entries
are generated, under a file lock, so a run killed halfway resumes where it
stopped and parallel workers generate each sample once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence, TextIO

import numpy as np

from .config import ExperimentConfig, SampleSpec
from .fileio import sha256_file

FORMAT_VERSION = 1
log = logging.getLogger(__name__)


class DamagedEntryError(RuntimeError):
    """A stored sample failed its checksum or could not be read."""


@dataclass(frozen=True)
class StoredSample:
    key: str
    spec: SampleSpec
    path: Path
    layers: np.ndarray  # [L] layer indices
    mean: np.ndarray  # [L, D] float16
    bins: np.ndarray  # [L, K, D] float16
    uncond_mean: np.ndarray | None
    meta: dict

    @property
    def audio_path(self) -> Path:
        return self.path / "audio.wav"

    def load_audio(self) -> tuple[np.ndarray, int]:
        import soundfile

        audio, rate = soundfile.read(self.audio_path, dtype="float32", always_2d=False)
        return audio, rate


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": sys.version.split()[0]}
    for package in ("torch", "audiocraft", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "absent"
    return versions


@dataclass(frozen=True)
class KeyParams:
    """Everything besides the spec that shapes a sample's content."""

    model_identity: str
    duration_s: float
    top_k: int
    top_p: float
    temperature: float
    cfg_coef: float
    n_time_bins: int
    keep_unconditional: bool

    @classmethod
    def from_config(cls, config: ExperimentConfig, model_identity: str) -> "KeyParams":
        gen = config.generation
        return cls(model_identity, gen.duration_s, gen.top_k, gen.top_p, gen.temperature, gen.cfg_coef,
                   config.capture.n_time_bins, config.capture.keep_unconditional)


def sample_key(spec: SampleSpec, params: KeyParams) -> str:
    # Every layer is captured, so the layer choice is an analysis choice and
    # not part of the key: analysing another layer never regenerates.
    payload = {"format": FORMAT_VERSION, "prompt": spec.prompt, "seed": spec.seed, **asdict(params)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class SampleStore:
    """The on-disk store under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.samples_dir = self.root / "samples"
        self.tmp_dir = self.root / "tmp"
        self.damaged_dir = self.root / "damaged"
        for folder in (self.samples_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def entry_path(self, key: str) -> Path:
        return self.samples_dir / key[:2] / key

    def lock(self, keys: Sequence[str], timeout: float = -1):
        """The generation lock for one set of sample keys.

        Callers after the same keys (xdist workers of one run, two launches of
        one shard) exclude each other; callers after other keys (other shards)
        generate side by side. Overlapping sets may both write a sample, which
        the atomic rename makes harmless.
        """
        from filelock import FileLock

        digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]
        path = self.root / "locks" / f"generation-{digest}.lock"
        path.parent.mkdir(exist_ok=True)
        return FileLock(str(path), timeout=timeout)

    def save(self, key: str, spec: SampleSpec, audio: np.ndarray, sample_rate: int,
             layers: Sequence[int], mean: np.ndarray, bins: np.ndarray,
             uncond_mean: np.ndarray | None = None, extra_meta: dict | None = None) -> Path:
        """Write one entry atomically; a concurrent writer of the same key wins harmlessly."""
        import soundfile

        final = self.entry_path(key)
        if final.exists():
            return final
        staging = Path(tempfile.mkdtemp(prefix=f"{key[:12]}.", dir=self.tmp_dir))
        try:
            soundfile.write(staging / "audio.wav", np.asarray(audio, dtype=np.float32), sample_rate,
                            subtype="FLOAT")
            arrays = {"layers": np.asarray(layers, dtype=np.int32), "mean": mean.astype(np.float16),
                      "bins": bins.astype(np.float16)}
            if uncond_mean is not None:
                arrays["uncond_mean"] = uncond_mean.astype(np.float16)
            np.savez(staging / "activations.npz", **arrays)
            meta = {
                "format": FORMAT_VERSION, "key": key, "spec": asdict(spec), "sample_rate": sample_rate,
                "checksums": {name: sha256_file(staging / name) for name in ("audio.wav", "activations.npz")},
                "versions": library_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **(extra_meta or {}),
            }
            (staging / "meta.json").write_text(json.dumps(meta, indent=1))
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, final)
            except OSError:
                if not final.exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final

    def load(self, key: str) -> StoredSample:
        """Read and verify one entry; DamagedEntryError if it is not whole."""
        path = self.entry_path(key)
        try:
            meta = json.loads((path / "meta.json").read_text())
            for name, expected in meta["checksums"].items():
                if sha256_file(path / name) != expected:
                    raise DamagedEntryError(f"{path / name}: checksum mismatch")
            with np.load(path / "activations.npz") as arrays:
                data = {name: arrays[name] for name in arrays.files}
            spec = SampleSpec(**meta["spec"])
        except DamagedEntryError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DamagedEntryError(f"{path}: cannot be read ({type(err).__name__}: {err})") from err
        return StoredSample(key, spec, path, data["layers"], data["mean"], data["bins"],
                            data.get("uncond_mean"), meta)

    def exists(self, key: str) -> bool:
        return (self.entry_path(key) / "meta.json").is_file()

    def quarantine(self, key: str, reason: str) -> None:
        """Move a damaged entry aside (kept for inspection), so it is generated again."""
        self.damaged_dir.mkdir(parents=True, exist_ok=True)
        target = self.damaged_dir / f"{key}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.entry_path(key), target)
            (target / "DAMAGED.txt").write_text(reason + "\n")
        except FileNotFoundError:
            pass
        log.warning("damaged sample %s moved to %s: %s", key[:12], target, reason)

    def record_model_load(self, model_label: str) -> None:
        """Append to the load journal, which tells how often weights were loaded."""
        with open(self.root / "model_loads.log", "a") as journal:
            journal.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} {model_label}\n")

    def model_load_count(self) -> int:
        journal = self.root / "model_loads.log"
        return len(journal.read_text().splitlines()) if journal.exists() else 0


@dataclass
class EnsureReport:
    """What ``ensure_samples`` did: the numbers a run's provenance shows."""

    requested: int = 0
    loaded: int = 0
    generated: int = 0
    damaged: list[str] = field(default_factory=list)
    model_loaded: bool = False
    seconds_generating: float = 0.0


# generate(model, specs) -> list of per-sample dicts with audio, sample_rate,
# layers, mean [L, D], bins [L, K, D], uncond_mean or None.
GenerateFn = Callable[[object, Sequence[SampleSpec]], list[dict]]


def ensure_samples(store: SampleStore, specs: Sequence[SampleSpec], params: KeyParams,
                   load_model: Callable[[], object], generate: GenerateFn, batch_size: int | Callable[[object], int],
                   progress: bool | TextIO = True,
                   extra_meta: dict | None = None) -> tuple[list[StoredSample], EnsureReport]:
    """Load every spec's sample, generating (under the store's lock) only what is missing.

    The lock is held only while something needs generating: a worker that
    finds the cache complete never waits and never loads the model.
    """
    keys = [sample_key(spec, params) for spec in specs]
    report = EnsureReport(requested=len(specs))
    samples: dict[str, StoredSample] = {}

    def load_whole(candidates: Iterable[int]) -> list[int]:
        missing = []
        for i in candidates:
            if keys[i] in samples:
                continue
            if not store.exists(keys[i]):
                missing.append(i)
                continue
            try:
                samples[keys[i]] = store.load(keys[i])
            except DamagedEntryError as err:
                report.damaged.append(f"{keys[i][:12]}: {err}")
                store.quarantine(keys[i], str(err))
                missing.append(i)
        return missing

    missing = load_whole(range(len(specs)))
    if missing:
        with store.lock(keys):
            missing = load_whole(missing)  # another worker may have made them meanwhile
            if missing:
                _generate_missing(store, [specs[i] for i in missing], [keys[i] for i in missing],
                                  load_model, generate, batch_size, progress, report, extra_meta)
                still = load_whole(missing)
                if still:
                    raise DamagedEntryError(f"{len(still)} samples could not be written and read back")
    report.loaded = report.requested - report.generated
    return [samples[k] for k in keys], report


def _generate_missing(store, specs, keys, load_model, generate, batch_size, progress, report, extra_meta):
    from tqdm.auto import tqdm

    started = time.perf_counter()
    model = load_model()
    report.model_loaded = True
    if callable(batch_size):  # e.g. sized to the GPU memory the loaded model leaves free
        batch_size = batch_size(model)
    bar = tqdm(total=len(specs), desc="generating samples", unit="sample", disable=not progress,
               file=progress if hasattr(progress, "write") else sys.stderr)
    try:
        for start in range(0, len(specs), batch_size):
            batch_specs = specs[start:start + batch_size]
            for spec, key, result in zip(batch_specs, keys[start:start + batch_size],
                                         generate(model, batch_specs)):
                # Saved per batch, so a run killed later keeps what it made.
                store.save(key, spec, result["audio"], result["sample_rate"], result["layers"],
                           result["mean"], result["bins"], result.get("uncond_mean"), extra_meta)
                report.generated += 1
            bar.update(len(batch_specs))
    finally:
        bar.close()
        report.seconds_generating = time.perf_counter() - started
