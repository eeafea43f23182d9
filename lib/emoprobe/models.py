"""Which MusicGen to run: real checkpoints through audiocraft, or a tiny random one.

Real models load with ``MusicGen.get_pretrained`` from a hub id or a local
checkpoint folder in audiocraft's own format (``state_dict.bin`` and
``compression_state_dict.bin``). ``tiny`` is built from audiocraft's own
classes (LMModel through ``builders.get_lm_model``, DelayedPatternProvider, a
LUT conditioner whose no-op tokenizer hashes the whole prompt and so needs no
download, and a small EnCodec) with seeded random weights. It runs the whole
pipeline on a CPU in seconds, and prompts still change what it generates, but
it knows nothing about music: a pipeline check, never evidence.

Checkpoints are read with ``torch.load(weights_only=True)``, ours and
audiocraft's alike: a checkpoint holds tensors and plain data (MusicGen's
``xp.cfg`` is a dict or a YAML string), so unpickling it never runs code. A
file that needs more than that is refused, not trusted.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import compiled_kernels
from .modelspec import parse_model_spec

TINY = "tiny"

# Architecture of the published checkpoints, so that layer indices can be
# checked before gigabytes of weights are fetched.
PUBLISHED = {
    "facebook/musicgen-small": (24, 1024),
    "facebook/musicgen-medium": (48, 1536),
    "facebook/musicgen-melody": (48, 1536),
    "facebook/musicgen-large": (48, 2048),
}
SHORT_NAMES = {name.rsplit("-", 1)[1]: name for name in PUBLISHED}

OFFLINE_HINT = ("To run offline, use --model tiny (random weights, a pipeline check) "
                "or --model /path/to/checkpoint_folder holding audiocraft's "
                "state_dict.bin and compression_state_dict.bin.")


class ModelNotFoundError(LookupError):
    """The named model is neither known, nor on disk, nor reachable."""


class UnsafeCheckpointError(ModelNotFoundError):
    """A checkpoint file holds more than tensors and plain data, so it is not read."""


def _unsafe(path: object, err: Exception) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"checkpoint {path} holds objects other than tensors and plain data ({err}); emoprobe reads "
        "checkpoints with torch.load(weights_only=True) and will not run code from them. Re-export it "
        "with audiocraft's export functions, whose output holds only tensors, dicts and strings.")


def safe_torch_load(path: str | Path, **kwargs: Any) -> Any:
    """``torch.load`` that never unpickles code; UnsafeCheckpointError if the file needs it."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, **kwargs)
    except pickle.UnpicklingError as err:
        raise _unsafe(path, str(err).splitlines()[0] if str(err) else type(err).__name__) from None


@contextlib.contextmanager
def _weights_only_loads():
    """Every ``torch.load`` inside (audiocraft's loaders included) runs with weights_only=True,
    whatever the caller or the environment asks."""
    saved = {k: os.environ.pop(k, None) for k in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        os.environ.update({k: v for k, v in saved.items() if v is not None})


@dataclass(frozen=True)
class ModelInfo:
    """What is known about a model before its weights are loaded."""

    name: str  # as the user gave it, after short-name expansion
    kind: str  # "tiny", "checkpoint" (local folder) or "hub"
    n_layers: int
    dim: int
    # What the sample store keys on: a weight change must change it.
    identity: str = ""

    @property
    def is_random(self) -> bool:
        """True for models whose weights were never trained on music."""
        return self.kind in ("tiny", "known-truth")

    @property
    def label(self) -> str:
        if self.kind == "known-truth":
            return f"{self.name} (KNOWN-TRUTH TEST MODEL, random weights: a check of the suite, not evidence)"
        if self.is_random:
            return f"{self.name} (RANDOM WEIGHTS: a pipeline check, not evidence)"
        return self.name


# The tiny model's architecture, written as the training config audiocraft's
# builders read, so the same dicts also make a loadable checkpoint folder.
TINY_DIM = 32
TINY_LAYERS = 4
TINY_VERSION = 2  # bump when the tiny architecture or its seeding changes


@dataclass(frozen=True)
class TinyShape:
    """Transformer and codec sizes of a tiny model.

    The default is the few-microsecond pipeline-check model. The named shapes
    copy a published MusicGen's transformer (audiocraft's
    ``config/model/lm/model_scale/<scale>.yaml`` over ``musicgen_lm.yaml``:
    hidden_scale 4, card 2048, no biases, memory-efficient attention) and its
    32 kHz EnCodec (``encodec_large_nq4_s640``: 50 frames a second), with
    random weights and the lookup-table conditioner, so time and memory can be
    rehearsed at real sizes offline.
    """

    name: str
    n_layers: int
    dim: int
    num_heads: int
    hidden_scale: int
    card: int
    musicgen_sizes: bool  # the published models' biases, attention kernel and codec


TINY_SHAPES = {
    "tiny": TinyShape("tiny", TINY_LAYERS, TINY_DIM, 4, 2, 1024, musicgen_sizes=False),
    "small": TinyShape("small", 24, 1024, 16, 4, 2048, musicgen_sizes=True),
    "large": TinyShape("large", 48, 2048, 32, 4, 2048, musicgen_sizes=True),
}


def tiny_shape(name: str) -> TinyShape | None:
    """``tiny`` or ``tiny:shape=small`` -> its TinyShape; None when ``name`` is not a tiny model.

    ModelNotFoundError names the known shapes when the shape or a parameter is unknown.
    """
    if name.partition(":")[0] != TINY:
        return None
    try:
        _, params = parse_model_spec(name)
    except ValueError as err:
        raise ModelNotFoundError(f"model {err}; e.g. tiny:shape=small") from None
    unknown = set(params) - {"shape"}
    if unknown:
        raise ModelNotFoundError(f"model {name!r}: unknown parameter(s) {sorted(unknown)}; tiny takes shape=...")
    shape = params.get("shape", TINY)
    if shape not in TINY_SHAPES:
        raise ModelNotFoundError(f"model {name!r}: unknown shape {shape!r}; tiny's shapes are "
                                 f"{', '.join(s for s in TINY_SHAPES if s != TINY)} (or plain 'tiny')")
    return TINY_SHAPES[shape]


def tiny_lm_config(n_layers: int = TINY_LAYERS, dim: int = TINY_DIM, device: str = "cpu",
                   shape: TinyShape | None = None) -> dict[str, Any]:
    shape = shape or TINY_SHAPES[TINY]
    if shape.name != TINY:
        n_layers, dim = shape.n_layers, shape.dim
    transformer = {
        "n_q": 4, "card": shape.card, "dim": dim, "num_heads": shape.num_heads, "num_layers": n_layers,
        "hidden_scale": shape.hidden_scale, "norm_first": True, "causal": True, "custom": True, "bias_proj": False,
    }
    if shape.musicgen_sizes:
        transformer.update({"bias_ff": False, "bias_attn": False, "memory_efficient": True})
    return {
        "device": device, "dtype": "float32", "lm_model": "transformer_lm",
        "dataset": {"segment_duration": 30},
        "transformer_lm": transformer,
        "codebooks_pattern": {"modeling": "delay", "delay": {"delays": [0, 1, 2, 3]}},
        "conditioners": {"description": {"model": "lut", "lut": {"n_bins": 4096, "dim": dim, "tokenizer": "noop"}}},
        "fuser": {"cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1,
                  "sum": [], "prepend": [], "cross": ["description"], "input_interpolate": []},
        "classifier_free_guidance": {"training_dropout": 0.1, "inference_coef": 3.0},
        "attribute_dropout": {},
    }


def tiny_compression_config(device: str = "cpu", shape: TinyShape | None = None) -> dict[str, Any]:
    shape = shape or TINY_SHAPES[TINY]
    seanet = {"dimension": 16, "n_filters": 4, "n_residual_layers": 1, "ratios": [10, 8, 16],
              "encoder": {}, "decoder": {}}
    if shape.musicgen_sizes:
        seanet = {"dimension": 128, "n_filters": 64, "n_residual_layers": 1, "ratios": [8, 5, 4, 4], "lstm": 2,
                  "encoder": {}, "decoder": {}}
    return {
        "device": device, "compression_model": "encodec",
        "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": 32000,
                    "channels": 1, "causal": False, "renormalize": False},
        "seanet": seanet,
        "rvq": {"n_q": 4, "bins": shape.card, "q_dropout": False},
    }


# Tiny models already built in this process, by build_tiny's arguments: building one
# runs k-means on the codec's codebooks (seconds), and one run builds the same model
# once per study and model. Real-sized shapes are not kept (gigabytes).
_TINY_BUILDS: dict[tuple, Any] = {}

# A folder where built tiny models' weights are kept between processes (the test
# suite's subprocess runs each build the same few); unset, nothing is written.
TINY_CACHE_ENV = "EMOPROBE_TINY_CACHE"


def build_tiny(seed: int = 0, device: str = "cpu", n_layers: int = TINY_LAYERS, shape: TinyShape | None = None):
    """The tiny random MusicGen; the same ``seed`` gives the same weights.

    ``shape`` (a ``TINY_SHAPES`` entry) gives it a published model's sizes; ``n_layers``
    applies to the default shape only. Each call returns a model of its own (a copy
    of one built before with the same arguments, if any).
    """
    import copy

    key = (seed, device, n_layers, shape)
    kept = shape is None or not shape.musicgen_sizes
    if kept and key in _TINY_BUILDS:
        return copy.deepcopy(_TINY_BUILDS[key])
    model = _build_tiny(seed, device, n_layers, shape, kept)
    if kept:
        _TINY_BUILDS[key] = copy.deepcopy(model)
    return model


def _tiny_weights_file(seed: int, lm_cfg: dict, compression_cfg: dict) -> Path | None:
    folder = os.environ.get(TINY_CACHE_ENV)
    if not folder:
        return None
    import hashlib
    import json

    import audiocraft
    import torch

    what = json.dumps([seed, lm_cfg, compression_cfg, torch.__version__, audiocraft.__version__], sort_keys=True)
    return Path(folder) / f"tiny-{hashlib.sha256(what.encode()).hexdigest()[:20]}.pt"


def _build_tiny(seed: int, device: str, n_layers: int, shape: TinyShape | None, may_keep: bool):
    import torch
    from audiocraft.models import MusicGen, builders
    from omegaconf import OmegaConf

    lm_cfg = tiny_lm_config(n_layers, device=device, shape=shape)
    compression_cfg = tiny_compression_config(device, shape)
    weights = _tiny_weights_file(seed, lm_cfg, compression_cfg) if may_keep else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lm = builders.get_lm_model(OmegaConf.create(lm_cfg)).eval()
        compression = builders.get_compression_model(OmegaConf.create(compression_cfg))
        if weights is not None and weights.is_file():
            # The k-means below, as a process with this seed ran it (its result is all in buffers).
            state = torch.load(weights, map_location=device, weights_only=True)
            lm.load_state_dict(state["lm"])
            compression.load_state_dict(state["compression"])
        else:
            # RVQ codebooks start empty and are filled by k-means on the first
            # training-mode forward; without this every code decodes to the same sound.
            compression.quantizer(torch.randn(8, compression.quantizer.dimension, 128, device=device), 1)
            if weights is not None:
                weights.parent.mkdir(parents=True, exist_ok=True)
                staging = weights.with_name(f"{weights.name}.{os.getpid()}.tmp")
                torch.save({"lm": lm.state_dict(), "compression": compression.state_dict()}, staging)
                os.replace(staging, weights)
        compression = compression.eval()
    lm.cfg = OmegaConf.create(lm_cfg)
    compression.cfg = OmegaConf.create(compression_cfg)
    return MusicGen(TINY, compression, lm, max_duration=30)


def write_checkpoint_folder(model, folder: str | Path) -> Path:
    """Save ``model`` (built by ``build_tiny``) in audiocraft's checkpoint format.

    ``MusicGen.get_pretrained(folder)`` reads it back through the same loaders
    that read the published checkpoints.
    """
    import torch
    from omegaconf import OmegaConf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lm_cfg = OmegaConf.to_container(model.lm.cfg, resolve=True)
    torch.save({"xp.cfg": lm_cfg, "best_state": model.lm.state_dict()}, folder / "state_dict.bin")
    compression_cfg = OmegaConf.to_container(model.compression_model.cfg, resolve=True)
    torch.save({"xp.cfg": compression_cfg, "best_state": model.compression_model.state_dict()},
               folder / "compression_state_dict.bin")
    return folder


@dataclass(frozen=True)
class ModelFamily:
    """Models resolved by name outside this module: ``describe(name)`` gives the
    ModelInfo (None: not this family's name; ValueError: its name, malformed),
    ``build(info, prompt_emotions, device)`` the loaded model."""

    kind: str
    describe: Callable[[str], ModelInfo | None]
    build: Callable[[ModelInfo, dict[str, str], str], Any]


# Filled in by the packages that wrap the tiny model (emoprobe.truth registers
# the known-truth models when emoprobe is imported), so this module imports none
# of them: they build on build_tiny, and a dispatch here would be a cycle.
_FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> None:
    """Let :func:`describe_model` and :func:`load_model` resolve ``family``'s names."""
    _FAMILIES[family.kind] = family


def describe_model(name: str) -> ModelInfo:
    """Resolve ``name`` and read its layer count, without loading weights.

    Raises ModelNotFoundError, naming the model and the offline options, when
    it is neither ``tiny``, a checkpoint folder, nor a published MusicGen whose
    weights are cached or reachable.
    """
    name = SHORT_NAMES.get(name, name)
    for family in _FAMILIES.values():
        try:
            info = family.describe(name)
        except ValueError as err:
            raise ModelNotFoundError(str(err)) from None
        if info is not None:
            return info
    shape = tiny_shape(name)
    if shape is not None:
        identity = f"tiny-v{TINY_VERSION}" + ("" if shape.name == TINY else f":shape={shape.name}")
        return ModelInfo(name, "tiny", shape.n_layers, shape.dim, identity=identity)
    path = Path(name).expanduser()
    if path.is_dir():
        return _describe_checkpoint_folder(path)
    if name in PUBLISHED:
        _require_hub_weights(name)
        n_layers, dim = PUBLISHED[name]
        return ModelInfo(name, "hub", n_layers, dim, identity=name)
    raise ModelNotFoundError(
        f"model {name!r} is not tiny, not a checkpoint folder, and not one of "
        f"{sorted(PUBLISHED)}. {OFFLINE_HINT}")


def _describe_checkpoint_folder(path: Path) -> ModelInfo:
    import torch

    state_file = path / "state_dict.bin"
    if not state_file.is_file() or not (path / "compression_state_dict.bin").is_file():
        raise ModelNotFoundError(
            f"checkpoint folder {path} lacks state_dict.bin or compression_state_dict.bin. {OFFLINE_HINT}")
    # mmap: only the small config is read, not the weights.
    try:
        pkg = safe_torch_load(state_file, mmap=True)
    except (RuntimeError, OSError, EOFError) as err:  # not a torch zip archive, truncated...
        raise ModelNotFoundError(f"checkpoint {state_file} cannot be read ({type(err).__name__}: {err}). "
                                 f"{OFFLINE_HINT}") from None
    cfg = pkg.get("xp.cfg") if isinstance(pkg, dict) else None
    if isinstance(cfg, str):  # audiocraft's exports hold the config as YAML
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(OmegaConf.create(cfg), resolve=True)
    try:
        lm_cfg = cfg["transformer_lm"]
    except (KeyError, TypeError):
        raise ModelNotFoundError(f"checkpoint {state_file} has no xp.cfg.transformer_lm section. {OFFLINE_HINT}") from None
    # Size and modification time stand in for a hash of gigabytes of weights.
    stat = state_file.stat()
    identity = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return ModelInfo(str(path), "checkpoint", int(lm_cfg["num_layers"]), int(lm_cfg["dim"]), identity)


def _require_hub_weights(name: str) -> None:
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "state_dict.bin"), str):
        return
    reason = "HF_HUB_OFFLINE is set" if os.environ.get("HF_HUB_OFFLINE") else None
    if reason is None:
        try:
            from huggingface_hub import file_exists

            if file_exists(name, "state_dict.bin"):
                return
            reason = "the hub has no state_dict.bin for it"
        except Exception as err:  # no network, DNS failure, proxy refusal...
            reason = f"the model hub cannot be reached ({type(err).__name__})"
    raise ModelNotFoundError(
        f"model {name!r}: its weights are not in the local cache and {reason}. {OFFLINE_HINT}")


def check_layers(layers: tuple[int, ...] | None, info: ModelInfo) -> tuple[int, ...]:
    """The layer indices to capture; ConfigError-style ValueError if out of range."""
    from .config import ConfigError

    if layers is None:
        return tuple(range(info.n_layers))
    bad = [i for i in layers if not 0 <= i < info.n_layers]
    if bad:
        raise ConfigError(
            f"layer(s) {bad} do not exist in {info.name}, which has layers 0..{info.n_layers - 1}")
    return tuple(layers)


def load_model(info: ModelInfo, device: str | None = None, prompt_emotions: dict[str, str] | None = None):
    """Load the model ``info`` describes (the expensive step).

    ``prompt_emotions`` (prompt -> emotion) is read by known-truth models only.
    """
    import torch
    from audiocraft.models import MusicGen

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if info.is_random and device == "cpu" and info.dim == TINY_DIM:
        # The tiny model's ops are microseconds long: extra threads only add
        # synchronisation, which costs 5x when xdist workers share the cores.
        # Its real-sized shapes keep torch's threads, as a real model would.
        torch.set_num_threads(1)
    if info.kind in _FAMILIES:
        return _FAMILIES[info.kind].build(info, prompt_emotions or {}, device)
    if info.kind == "tiny":
        return build_tiny(device=device, shape=tiny_shape(info.name))
    # A melody model builds a chroma extractor whose librosa filters compile librosa's cached
    # numba kernels: under the lock, as every emoprobe process compiles them (the reviewer broke
    # the cache 4 times in 7 with that build beside a feature extraction).
    compiled_kernels.import_librosa()
    try:
        with _weights_only_loads():
            return MusicGen.get_pretrained(info.name, device=device)
    except pickle.UnpicklingError as err:
        raise _unsafe(info.name, str(err).splitlines()[0] if str(err) else type(err).__name__) from None
