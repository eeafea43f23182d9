"""A content-addressed, crash-safe store of generated samples.

Each sample lives in a folder named by the SHA-256 of everything that shapes
it: model identity, prompt, seed, generation parameters, capture parameters
and the store format version. The folder holds ``audio.wav`` (float32),
``activations.npz`` (per-layer means and time bins, float16) and
``meta.json`` (the spec, checksums of the two data files, library versions).

Writes go to a temporary folder that is renamed into place, so an entry is
either whole or absent; staging folders of writers that died are removed.
An entry is used only if it is what it claims to be: its ``meta.json`` is
whole, the key recomputed from its spec and parameters names its folder, and
its checksum table covers exactly its data files, each of which matches, and
its activations are what ``save`` writes: layers 0..L-1 in order (every layer
of the model), arrays of the shapes that implies, float16, finite. Any other
entry is reported (sample and reason), moved to ``damaged/`` and generated
again, never used. ``save`` refuses activations float16 cannot hold (NaN, inf,
beyond ±65504), naming sample and layer, rather than store them as inf. The
checksums catch corruption and misplaced entries, not forgery: whoever can
write the cache can write wrong numbers (but never run code, as nothing in it
is unpickled). Only missing entries
are generated, under a file lock, so a run killed halfway resumes where it
stopped and parallel workers generate each sample once.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

import numpy as np

from .config import ExperimentConfig, SampleSpec
from .fileio import atomic_write_bytes, sha256_file

FORMAT_VERSION = 1
log = logging.getLogger(__name__)


DATA_FILES = ("audio.wav", "activations.npz")
STAGING_MAX_AGE_S = 24 * 3600  # a staging folder of another host is left this long


def content_digest(entries: Iterable[tuple[str, Mapping[str, Any] | None]]) -> str:
    """SHA-256 over each entry's key and its data files' checksums, in order.

    A sample's key hashes its inputs (prompt, seed, parameters), not its data:
    an entry regenerated on a GPU (not bit-reproducible), taken from another
    shard or edited keeps its key but not its checksums. This digest names the
    data itself; ``None`` for an entry stands for one that is missing.
    """
    digest = hashlib.sha256()
    for key, checksums in entries:
        row = [key, *((checksums.get(name) if isinstance(checksums, Mapping) else None) for name in DATA_FILES)]
        digest.update(json.dumps(row).encode() + b"\n")
    return digest.hexdigest()


class DamagedEntryError(RuntimeError):
    """A stored sample failed its checksum or could not be read."""


class ActivationRangeError(ValueError):
    """Activations the float16 store cannot hold: NaN, inf, or beyond float16's finite range (±65504)."""

    def __init__(self, message: str, rows: Sequence[int] = ()):
        super().__init__(message)
        self.rows = list(rows)  # the offending indices along the first axis


ACTIVATION_ARRAYS = ("mean", "bins", "uncond_mean")  # what activations.npz holds besides ``layers``


def as_float16(values: np.ndarray, what: str, labels: Sequence | None = None, label_name: str = "row") -> np.ndarray:
    """``values`` as float16, or ActivationRangeError naming what cannot be held.

    The store keeps activations as float16, where a finite value beyond
    ±65504 becomes inf: such values, and NaN or inf already there, are
    refused (never clipped), naming ``what`` and the offending ``labels``
    (one per index of the first axis; the indices themselves when None).
    """
    values = np.asarray(values)
    with np.errstate(over="ignore", invalid="ignore"):
        cast = values.astype(np.float16)
    bad = ~np.isfinite(cast)
    if values.dtype.kind in "fc":
        bad |= ~np.isfinite(values)
    if not bad.any():
        return cast
    rows = np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1)) if bad.ndim else np.array([0])
    named = [labels[r] if labels is not None and r < len(labels) else int(r) for r in rows]
    finite = np.isfinite(values) if values.dtype.kind in "fc" else np.ones(values.shape, bool)
    n_nonfinite = int((~finite).sum())
    largest = float(np.abs(values[finite & bad]).max()) if (finite & bad).any() else None
    parts = [f"{n_nonfinite} NaN or inf"] if n_nonfinite else []
    if largest is not None:
        parts.append(f"{int((finite & bad).sum())} finite value(s) beyond float16's range "
                     f"(largest |x| {largest:.6g} > {float(np.finfo(np.float16).max):g})")
    raise ActivationRangeError(
        f"{what}: {label_name} {', '.join(map(str, named))} hold(s) {' and '.join(parts)}; activations are "
        "stored as float16, which cannot hold them, so they are refused rather than stored as inf or clipped",
        rows)


class StoreFullError(OSError):
    """The disk holding the store ran out of space; nothing partial was kept."""


def _is_derived_cache(name: str) -> bool:
    # Acoustic features that earlier versions cached beside the audio: harmless
    # leftovers, never read (derived data now lives under derived/).
    return name.startswith("audio.") and name.endswith(".json")


def _derived_key(kind: str, version: str, checksum: str, params: Mapping[str, Any] | None) -> dict:
    # As it reads back from JSON (tuples become lists), so that equal keys compare equal.
    return json.loads(json.dumps({"kind": kind, "version": version, "checksum": checksum, "params": dict(params or {})}))


def _device_of(path: Path) -> str:
    """The device (and mount point) holding ``path``, for the full-disk message."""
    path = path.resolve()
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[1] == str(path):
                return f"{fields[0]} (mounted at {path})"
    except OSError:
        pass
    return str(path)


def no_space_error(path: Path) -> StoreFullError:
    return StoreFullError(errno.ENOSPC, f"no space left on {_device_of(path)} at {path}; "
                                        "free space or point --cache-dir elsewhere, then run again")


class CacheDirError(OSError):
    """The cache folder cannot hold the store: not a folder, not creatable, or not writable."""


def check_cache_dir(root: str | Path) -> Path:
    """Make sure ``root`` exists (creating it), is a folder and takes a file; CacheDirError if not."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise CacheDirError(f"cache dir {root} is a file, not a folder; give --cache-dir a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CacheDirError(f"cache dir {root} cannot be created: {err.strerror or err}") from None
    try:
        # Trying is the only reliable test: os.access ignores read-only mounts and ACLs.
        with tempfile.NamedTemporaryFile(dir=root, prefix=".emoprobe-write-test-"):
            pass
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise no_space_error(root) from None
        raise CacheDirError(f"cache dir {root} is not writable: {err.strerror or err}") from None
    return root


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


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

    @property
    def checksums(self) -> dict[str, str | None]:
        """Data file -> SHA-256, as the entry's meta records them (``load`` has verified them).

        A sample built in memory, with no checksum table, is named by a hash of
        its arrays instead, so that its content still counts (``content_digest``).
        """
        recorded = self.meta.get("checksums") if isinstance(self.meta, dict) else None
        if isinstance(recorded, dict):
            return {name: recorded.get(name) for name in DATA_FILES}
        arrays = hashlib.sha256()
        for array in (self.layers, self.mean, self.bins, self.uncond_mean):
            if array is not None:
                array = np.ascontiguousarray(array)
                arrays.update(f"{array.dtype.str}{array.shape}".encode())
                arrays.update(array.tobytes())
        return {name: None for name in DATA_FILES} | {"activations.npz": "in-memory:" + arrays.hexdigest()}

    def load_audio(self) -> tuple[np.ndarray, int]:
        import soundfile

        audio, rate = soundfile.read(self.audio_path, dtype="float32", always_2d=False)
        return audio, rate


def check_activations(where: Path, data: Mapping[str, np.ndarray], n_time_bins: int,
                      n_layers: int | None = None, dim: int | None = None) -> None:
    """DamagedEntryError unless ``data`` is what :meth:`SampleStore.save` writes.

    That is: ``layers`` (integers) exactly 0..L-1 in order, every layer of the
    model when ``n_layers`` is known; ``mean`` [L, D], ``bins`` [L, n_time_bins, D]
    and, when present, ``uncond_mean`` [L, D], all float16 and all finite, D the
    model's width when ``dim`` is known; nothing else. A checksum only says the
    file is the one written; this says it is one the store writes, so an entry
    with reordered, extra or missing layers, another width or dtype, or NaN or
    inf is regenerated rather than analysed under the wrong layer numbers.
    """
    unknown = sorted(set(data) - {"layers", *ACTIVATION_ARRAYS})
    if unknown:
        raise DamagedEntryError(f"{where} holds arrays the store never writes: {unknown}")
    if not {"layers", "mean", "bins"} <= set(data):
        raise DamagedEntryError(f"{where} lacks layers, mean or bins")
    layers = data["layers"]
    if layers.ndim != 1 or layers.dtype.kind not in "iu" or not np.array_equal(layers, np.arange(len(layers))):
        shown = layers.tolist() if layers.size <= 64 else f"{layers.size} values"
        raise DamagedEntryError(f"{where}: stores layers {shown} ({layers.dtype}), not 0..L-1 in order")
    n = len(layers)
    if n_layers is not None and n != n_layers:
        raise DamagedEntryError(f"{where}: stores {n} layers; the model has {n_layers}")
    mean = data["mean"]
    width = mean.shape[1] if mean.ndim == 2 else None
    if dim is not None and width is not None and width != dim:
        raise DamagedEntryError(f"{where}: stores width {width}; the model's is {dim}")
    expected = {"mean": (n, width), "bins": (n, n_time_bins, width), "uncond_mean": (n, width)}
    for name in ACTIVATION_ARRAYS:
        if name not in data:
            continue
        values = data[name]
        if values.dtype != np.float16:
            raise DamagedEntryError(f"{where}: {name} is {values.dtype}, not float16")
        if width is None or values.shape != expected[name]:
            raise DamagedEntryError(f"{where}: {name} has shape {values.shape}, not {expected[name]}")
        if not np.isfinite(values).all():
            bad = sorted({int(row) for row in np.nonzero(~np.isfinite(values))[0]})
            raise DamagedEntryError(f"{where}: {name} holds NaN or inf at layer(s) {bad}")


def library_versions() -> dict[str, str]:
    """The versions a stored sample depends on (Python, torch, audiocraft, numpy)."""
    from .provenance import package_versions

    return package_versions(("torch", "audiocraft", "numpy"))


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

    def derived_path(self, kind: str, version: str, checksum: str, params: Mapping[str, Any] | None = None) -> Path:
        """Where data derived from a file (SHA-256 ``checksum``) by ``kind`` at ``version``, with ``params``, is kept."""
        digest = hashlib.sha256(json.dumps(params or {}, sort_keys=True).encode()).hexdigest()[:16]
        return self.root / "derived" / kind / version / checksum[:2] / f"{checksum}-{digest}.json"

    def load_derived(self, kind: str, version: str, checksum: str, params: Mapping[str, Any] | None = None) -> Any:
        """The value :meth:`save_derived` kept for exactly this key, or None.

        Derived data (acoustic features, keyed by the audio's checksum and the
        extractor's version) is recomputed, never trusted, when absent,
        unreadable or recorded under another key; a new version or new audio
        is a new key.
        """
        key = _derived_key(kind, version, checksum, params)
        try:
            record = json.loads(self.derived_path(kind, version, checksum, params).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        return record.get("value")

    def save_derived(self, kind: str, version: str, checksum: str, value: Any,
                     params: Mapping[str, Any] | None = None) -> Path:
        """Keep ``value`` (plain JSON types) under the key :meth:`load_derived` reads; atomic."""
        path = self.derived_path(kind, version, checksum, params)
        key = _derived_key(kind, version, checksum, params)
        atomic_write_bytes(path, json.dumps({"key": key, "value": value}, indent=1, sort_keys=True,
                                            allow_nan=True).encode())
        return path

    def lock(self, keys: Sequence[str], timeout: float = -1, purpose: str = "generation"):
        """The ``purpose`` lock (generation by default) for one set of sample keys.

        Callers after the same keys (xdist workers of one run, two launches of
        one shard) exclude each other; callers after other keys (other shards)
        generate side by side. Overlapping sets may both write a sample, which
        the atomic rename makes harmless.
        """
        from filelock import FileLock

        digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]
        path = self.root / "locks" / f"{purpose}-{digest}.lock"
        path.parent.mkdir(exist_ok=True)
        return FileLock(str(path), timeout=timeout)

    def clean_staging(self) -> list[Path]:
        """Remove staging folders whose writer is dead; the folders removed.

        A writer is known dead when it ran on this host and its process is
        gone; a folder from another host is removed once it is a day old.
        """
        removed = []
        host = socket.gethostname()
        for folder in (self.tmp_dir.iterdir() if self.tmp_dir.is_dir() else ()):
            owner_host, pid = _staging_owner(folder.name)
            if owner_host == host:
                dead = not _pid_alive(pid)
            else:
                try:
                    dead = time.time() - folder.stat().st_mtime > STAGING_MAX_AGE_S
                except FileNotFoundError:
                    continue
            if dead:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        if removed:
            log.warning("removed %d staging folder(s) left by killed writers in %s", len(removed), self.tmp_dir)
        return removed

    def save(self, key: str, spec: SampleSpec, params: "KeyParams", audio: np.ndarray, sample_rate: int,
             layers: Sequence[int], mean: np.ndarray, bins: np.ndarray,
             uncond_mean: np.ndarray | None = None, extra_meta: dict | None = None) -> Path:
        """Write one entry atomically; a concurrent writer of the same key wins harmlessly.

        A full disk raises StoreFullError naming the device and path, and
        leaves no staging folder and no entry behind.
        """
        import soundfile

        if sample_key(spec, params) != key:
            raise ValueError(f"key {key[:12]} is not the key of {spec} under {params}")
        # Checked before anything is written: an entry that would hold inf is never made.
        layers = [int(layer) for layer in layers]
        sample = f"sample {spec.prompt_id} seed {spec.seed} (key {key[:12]})"
        arrays = {"layers": np.asarray(layers, dtype=np.int32)}
        for name, values in (("mean", mean), ("bins", bins), ("uncond_mean", uncond_mean)):
            if values is not None:
                arrays[name] = as_float16(values, f"{sample}, {name}", layers, "layer")
        final = self.entry_path(key)
        if (final / "meta.json").is_file():
            return final
        if final.exists():  # a folder without meta.json is never a finished entry
            log.warning("sample %s without meta.json moved to %s", key[:12],
                        self.quarantine(key, f"{final / 'meta.json'} is missing"))
        staging = Path(tempfile.mkdtemp(prefix=f"{socket.gethostname()}-{os.getpid()}-{key[:12]}.",
                                        dir=self.tmp_dir))
        try:
            # Encoded in memory and written with plain file calls, so that a
            # full disk surfaces as ENOSPC rather than libsndfile's "System error".
            wav = io.BytesIO()
            soundfile.write(wav, np.asarray(audio, dtype=np.float32), sample_rate, subtype="FLOAT", format="WAV")
            _write_bytes(staging / "audio.wav", wav.getvalue())
            npz = io.BytesIO()
            np.savez(npz, **arrays)
            _write_bytes(staging / "activations.npz", npz.getvalue())
            meta = {
                **(extra_meta or {}),
                "format": FORMAT_VERSION, "key": key, "spec": asdict(spec), "params": asdict(params),
                "sample_rate": sample_rate,
                "checksums": {name: sha256_file(staging / name) for name in DATA_FILES},
                "versions": library_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            _write_bytes(staging / "meta.json", json.dumps(meta, indent=1).encode())
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, final)
            except OSError:
                if not final.exists():
                    raise
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise no_space_error(self.root) from None
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final

    def load(self, key: str, n_layers: int | None = None, dim: int | None = None) -> StoredSample:
        """Read and verify one entry; DamagedEntryError, naming the file and the reason, if it is
        not whole, not the entry its folder names, or not activations as :meth:`save` writes
        them (see :func:`check_activations`; ``n_layers`` and ``dim``: the model's, when known)."""
        path = self.entry_path(key)
        meta_path = path / "meta.json"
        if not meta_path.is_file():
            raise DamagedEntryError(f"{meta_path} is missing")
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict):
                raise DamagedEntryError(f"{meta_path} is not a JSON object")
            lacking = [k for k in ("key", "spec", "checksums") if k not in meta]
            if "params" not in meta and "generation" not in meta:
                lacking.append("params")
            if lacking:
                raise DamagedEntryError(f"{meta_path} is incomplete: it lacks {', '.join(lacking)}")
            if meta["key"] != key:
                raise DamagedEntryError(f"{meta_path} names key {str(meta['key'])[:12]}, not its folder's {key[:12]}")
            spec = SampleSpec(**meta["spec"])
            # Entries written before "params" was recorded keep them under "generation".
            params = KeyParams(**meta.get("params", meta.get("generation")))
            if sample_key(spec, params) != key:
                raise DamagedEntryError(
                    f"{path}: its spec and parameters hash to {sample_key(spec, params)[:12]}, not to the "
                    "folder's key (a foreign or altered entry)")
            checksums = meta["checksums"]
            if not isinstance(checksums, dict) or sorted(checksums) != sorted(DATA_FILES):
                listed = sorted(checksums) if isinstance(checksums, dict) else checksums
                raise DamagedEntryError(
                    f"{meta_path}: the checksum table covers {listed!r}, not exactly the data files {list(DATA_FILES)}")
            unlisted = sorted(p.name for p in path.iterdir()
                              if p.name not in (*DATA_FILES, "meta.json") and not _is_derived_cache(p.name))
            if unlisted:
                raise DamagedEntryError(f"{path}: holds files no checksum covers: {unlisted}")
            for name in DATA_FILES:
                if sha256_file(path / name) != checksums[name]:
                    raise DamagedEntryError(f"{path / name}: checksum mismatch")
            with np.load(path / "activations.npz", allow_pickle=False) as arrays:
                data = {name: arrays[name] for name in arrays.files}
            check_activations(path / "activations.npz", data, params.n_time_bins, n_layers, dim)
        except DamagedEntryError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise DamagedEntryError(f"{path}: cannot be read ({type(err).__name__}: {err})") from None
        return StoredSample(key, spec, path, data["layers"], data["mean"], data["bins"],
                            data.get("uncond_mean"), meta)

    def recorded_checksums(self, key: str) -> dict | None:
        """The checksum table ``key``'s meta records (what ``load`` verifies the data
        against), read without hashing the data; None if the entry or its table is missing."""
        try:
            meta = json.loads((self.entry_path(key) / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        checksums = meta.get("checksums") if isinstance(meta, dict) else None
        return checksums if isinstance(checksums, dict) else None

    def exists(self, key: str) -> bool:
        """Whether anything is stored under ``key``: a folder without a whole
        ``meta.json`` counts, so that loading reports it and it is regenerated."""
        return self.entry_path(key).is_dir()

    def quarantine(self, key: str, reason: str) -> Path | None:
        """Move a damaged entry aside (kept for inspection), so it is generated again."""
        self.damaged_dir.mkdir(parents=True, exist_ok=True)
        target = self.damaged_dir / f"{key}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.entry_path(key), target)
        except FileNotFoundError:
            return None  # another worker moved it first
        try:
            (target / "DAMAGED.txt").write_text(reason + "\n")
        except OSError:
            pass
        return target

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


def ensure_samples(store: SampleStore, specs: Sequence[SampleSpec],
                   params: KeyParams | Callable[[SampleSpec], KeyParams],
                   load_model: Callable[[], object], generate: GenerateFn, batch_size: int | Callable[[object], int],
                   progress: bool | TextIO = True,
                   extra_meta: dict | None = None, n_layers: int | None = None,
                   dim: int | None = None) -> tuple[list[StoredSample], EnsureReport]:
    """Load every spec's sample, generating (under the store's lock) only what is missing.

    ``n_layers`` and ``dim``, the model's, when given: a stored entry of another
    layer count or width is damaged (see :func:`check_activations`), generated again.

    ``params`` may be a function of the spec (steered samples: each its own
    steering in the model identity). The lock is held only while something
    needs generating: a worker that finds the cache complete never waits and
    never loads the model.
    """
    params_of = params if callable(params) else (lambda _spec: params)
    keys = [sample_key(spec, params_of(spec)) for spec in specs]
    report = EnsureReport(requested=len(specs))

    def describe(i: int) -> str:
        spec = specs[i]
        return f"sample {spec.prompt_id} seed {spec.seed} (key {keys[i][:12]})"

    reasons: dict[int, str] = {}
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
                samples[keys[i]] = store.load(keys[i], n_layers, dim)
            except DamagedEntryError as err:
                reasons[i] = str(err)
                target = store.quarantine(keys[i], str(err))
                # The entry's files now lie under damaged/: say where, so the message names what exists.
                moved = f"; moved to {target}" if target else ""
                report.damaged.append(f"{describe(i)}: {err}{moved}")
                log.warning("%s is damaged and will be generated again: %s%s", describe(i), err, moved)
                missing.append(i)
        return missing

    missing = load_whole(range(len(specs)))
    if missing:
        with store.lock(keys):
            store.clean_staging()
            missing = load_whole(missing)  # another worker may have made them meanwhile
            if missing:
                _generate_missing(store, [specs[i] for i in missing], [keys[i] for i in missing], params_of,
                                  load_model, generate, batch_size, progress, report, extra_meta)
                reasons.clear()
                still = load_whole(missing)
                if still:
                    details = "; ".join(f"{describe(i)}: {reasons.get(i, 'not written')}" for i in still[:5])
                    raise DamagedEntryError(f"{len(still)} samples could not be written and read back: {details}")
    report.loaded = report.requested - report.generated
    # The key hashes the prompt, seed and parameters, not the labels: an entry generated under
    # another config's wording order or emotion names carries that config's prompt id and
    # condition in its meta.  The plan's spec is the one the analyses must read (review 32).
    return [replace(samples[k], spec=spec) for k, spec in zip(keys, specs)], report


def _generate_missing(store, specs, keys, params_of, load_model, generate, batch_size, progress, report, extra_meta):
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
                store.save(key, spec, params_of(spec), result["audio"], result["sample_rate"], result["layers"],
                           result["mean"], result["bins"], result.get("uncond_mean"), extra_meta)
                report.generated += 1
            bar.update(len(batch_specs))
    finally:
        bar.close()
        report.seconds_generating = time.perf_counter() - started


def _staging_owner(name: str) -> tuple[str | None, int]:
    """``host-pid-key.random`` -> (host, pid); (None, 0) for names of another form."""
    try:
        host, pid, _ = name.rsplit("-", 2)
        return host, int(pid)
    except ValueError:
        return None, 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True
