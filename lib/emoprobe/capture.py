"""Capture per-layer activations while MusicGen generates, reduced on the fly.

Method. A forward hook on each chosen ``lm.transformer.layers[i]`` sees the
layer's output. Under audiocraft's KV cache the hook fires once per generation
step with one position, shape ``[R, 1, D]``. With classifier-free guidance
(``cfg_coef`` != 1, audiocraft's default path) the batch is doubled: rows
``[:B]`` are conditional and ``[B:]`` unconditional. We keep the conditional
rows of the whole batch, and optionally the unconditional ones as a
prompt-free control.

Nothing holds every step of every layer: each hook adds the step into running
sums, per layer, for the mean over all steps and for ``K`` equal time bins over
the generation steps (for early-versus-late analysis). Sums are float32 on the
model's device; results are stored as float16, and a value float16 cannot
hold (beyond ±65504, or NaN or inf) is refused, never stored as inf. Hooks are removed when the
context exits, also on error.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .store import ActivationRangeError, as_float16


class CaptureError(RuntimeError):
    """Capture saw something other than the generation it was set up for."""


@dataclass
class PooledActivations:
    """Per-layer pooled activations of one batch (conditional rows).

    ``mean[layer]``: [B, D] mean over generation steps; ``bins[layer]``:
    [B, K, D] mean within each of K equal time bins; ``uncond_mean``: the
    unconditional rows' mean, when kept.
    """

    mean: dict[int, np.ndarray]
    bins: dict[int, np.ndarray]
    uncond_mean: dict[int, np.ndarray] | None
    n_steps: int


def expected_generation_steps(lm, n_frames: int) -> int:
    """How many times each layer's hook fires while generating ``n_frames``.

    The delay pattern adds one step per codebook delay; generation starts at the
    first sequence step holding timestep 0.
    """
    pattern = lm.pattern_provider.get_pattern(n_frames)
    return len(pattern.layout) - pattern.get_first_step_with_timesteps(0)


def time_bin_edges(n_steps: int, n_bins: int) -> np.ndarray:
    """Step index where each of ``n_bins`` equal bins starts (plus the end)."""
    if n_bins > n_steps:
        raise CaptureError(f"{n_bins} time bins need at least as many steps, got {n_steps}")
    return np.linspace(0, n_steps, n_bins + 1).round().astype(int)


class LayerHooks(contextlib.AbstractContextManager):
    """Hooks registered on entry by ``hooks()`` (``(layer, "pre" | "post", fn)`` triples), removed on exit."""

    def __init__(self, lm):
        self.lm = lm
        self._handles: list = []

    def hooks(self):
        return ()

    def __enter__(self):
        try:
            for layer, kind, fn in self.hooks():
                module = self.lm.transformer.layers[layer]
                register = module.register_forward_pre_hook if kind == "pre" else module.register_forward_hook
                self._handles.append(register(fn))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        return False


class ActivationCapture(contextlib.AbstractContextManager):
    """Context manager hooking ``layers`` of ``lm`` for one generation call.

    ``batch_size`` is B, the number of prompts (conditional rows). ``n_steps``
    is the number of hook calls expected per layer; the bin a step falls in is
    known from its index, which is why reduction can happen on the fly.
    """

    def __init__(self, lm, layers: Sequence[int], batch_size: int, n_steps: int,
                 n_time_bins: int, keep_unconditional: bool = False):
        self.lm = lm
        self.layers = tuple(layers)
        self.batch_size = batch_size
        self.n_steps = n_steps
        self.n_time_bins = n_time_bins
        self.keep_unconditional = keep_unconditional
        self._bin_of_step = np.searchsorted(time_bin_edges(n_steps, n_time_bins)[1:], np.arange(n_steps),
                                            side="right")
        self._handles: list = []
        self._bin_sums: dict[int, object] = {}
        self._uncond_sums: dict[int, object] = {}
        self._steps_seen: dict[int, int] = {}

    def __enter__(self):
        transformer_layers = self.lm.transformer.layers
        for layer in self.layers:
            if not 0 <= layer < len(transformer_layers):
                raise CaptureError(f"layer {layer} does not exist (model has {len(transformer_layers)})")
        try:
            for layer in self.layers:
                self._steps_seen[layer] = 0
                self._handles.append(transformer_layers[layer].register_forward_hook(self._hook_for(layer)))
        except BaseException:
            self._remove_hooks()
            raise
        return self

    def __exit__(self, *exc_info):
        self._remove_hooks()
        return False

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook_for(self, layer: int):
        def hook(_module, _inputs, output):
            self._accumulate(layer, output)
        return hook

    def _accumulate(self, layer: int, output) -> None:
        import torch

        rows, positions, dim = output.shape
        B = self.batch_size
        if rows not in (B, 2 * B):
            raise CaptureError(f"layer {layer}: expected {B} or {2 * B} rows, got {rows}")
        start = self._steps_seen[layer]
        if start + positions > self.n_steps:
            raise CaptureError(f"layer {layer}: more than the expected {self.n_steps} generation steps")
        if layer not in self._bin_sums:
            self._bin_sums[layer] = torch.zeros(B, self.n_time_bins, dim, dtype=torch.float32, device=output.device)
            if self.keep_unconditional:
                self._uncond_sums[layer] = torch.zeros(B, dim, dtype=torch.float32, device=output.device)
        values = output.detach().float()
        for offset in range(positions):  # 1 under the KV cache; more without it
            step = start + offset
            self._bin_sums[layer][:, self._bin_of_step[step]] += values[:B, offset]
            if self.keep_unconditional and rows == 2 * B:
                self._uncond_sums[layer] += values[B:, offset]
        self._steps_seen[layer] = start + positions

    def result(self, dtype=np.float16) -> PooledActivations:
        """Means over steps and bins; CaptureError if any step went missing.

        float16 is the storage type; tests ask for float32 to compare exactly.
        Values float16 cannot hold (NaN, inf, beyond ±65504) raise
        ActivationRangeError naming the layer, its batch rows in ``rows``.
        """
        def cast(values, what):
            return as_float16(values, what) if np.dtype(dtype) == np.float16 else values.astype(dtype)

        missing = {layer: seen for layer, seen in self._steps_seen.items() if seen != self.n_steps}
        if missing:
            raise CaptureError(f"expected {self.n_steps} steps per layer, saw {missing}")
        counts = np.diff(time_bin_edges(self.n_steps, self.n_time_bins)).astype(np.float32)
        mean, bins, uncond = {}, {}, {}
        for layer, sums in self._bin_sums.items():
            sums = sums.cpu().numpy()
            bins[layer] = cast(sums / counts[None, :, None], f"layer {layer} time bins")
            mean[layer] = cast(sums.sum(axis=1) / self.n_steps, f"layer {layer} mean")
            if self.keep_unconditional and layer in self._uncond_sums:
                uncond[layer] = cast(self._uncond_sums[layer].cpu().numpy() / self.n_steps,
                                     f"layer {layer} unconditional mean")
        return PooledActivations(mean, bins, uncond if self.keep_unconditional else None, self.n_steps)


@contextlib.contextmanager
def per_sample_sampling(seeds: Sequence[int], device):
    """Make each row's token sampling depend on its own seed alone.

    audiocraft samples the whole batch from torch's global generator, so a
    sample would depend on which other samples share its batch (and a resumed
    run batches differently). Within this context, ``multinomial`` draws row
    ``b`` from a generator seeded with ``seeds[b]``. What remains batch-
    dependent is floating-point reduction order in the network itself.
    """
    import torch
    from audiocraft.utils import utils as ac_utils

    generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
    library_multinomial = ac_utils.multinomial

    def multinomial(input, num_samples, replacement=False, *, generator=None):
        if input.shape[0] != len(generators):
            return library_multinomial(input, num_samples, replacement, generator=generator)
        rows = [torch.multinomial(input[b].reshape(-1, input.shape[-1]), num_samples, replacement,
                                  generator=generators[b]).reshape(*input.shape[1:-1], -1)
                for b in range(len(generators))]
        return torch.stack(rows)

    ac_utils.multinomial = multinomial
    try:
        yield
    finally:
        ac_utils.multinomial = library_multinomial


# What MusicGen's 32 kHz EnCodec decoder holds per clip, per audio sample it
# writes: float32 activations of its 64-filter layers, about 7 buffers deep.
# Measured on a CPU (bench/bench_shapes.py --decoder-seconds 2: 120 MB more per
# extra 2 s clip, 1,877 B per audio sample); every published MusicGen uses this codec.
DECODER_BYTES_PER_AUDIO_SAMPLE = 1_900


def generation_bytes_per_sample(lm, n_steps: int, audio_samples: int = 0) -> int:
    """Memory one more sample adds while generating ``n_steps`` and decoding ``audio_samples``, weights aside.

    Two phases, one after the other, so the larger counts. The LM's: the
    key-value cache dominates; every layer keeps keys and values for every
    step, for both halves of the classifier-free-guidance batch, in the model's
    dtype, and attention scores and the feed-forward block add a transient of
    about ``hidden_scale`` times one step's width per row (the capture sums,
    float32 ``[layers, bins, dim]``, are small beside it). The decoder's, once
    the LM has released its cache: ``DECODER_BYTES_PER_AUDIO_SAMPLE`` per audio
    sample, which is the larger of the two for musicgen-small at any duration.
    """
    dim = lm.dim
    n_layers = len(lm.transformer.layers)
    element = next(lm.parameters()).element_size()
    kv_cache = n_layers * 2 * n_steps * dim * 2 * element
    transient = 2 * 4 * dim * n_steps * element
    return max(kv_cache + transient, DECODER_BYTES_PER_AUDIO_SAMPLE * audio_samples)


def auto_batch_size(lm, n_steps: int, free_bytes: int, *, audio_samples: int = 0, headroom: float = 0.6,
                    cap: int = 64) -> int:
    """The largest batch whose generation state fits ``headroom`` of ``free_bytes``.

    ``cap`` keeps batches where GPU throughput has stopped growing.
    """
    per_sample = generation_bytes_per_sample(lm, n_steps, audio_samples)
    return int(max(1, min(cap, headroom * free_bytes // per_sample)))


def resolve_batch_size(batch_size: int | str, model, duration_s: float) -> int:
    """``"auto"``: fit free GPU memory (8 on a CPU); an integer is used as given."""
    if batch_size != "auto":
        return int(batch_size)
    import torch

    if model.device.type != "cuda":
        return 8
    free, _ = torch.cuda.mem_get_info(model.device)
    return auto_batch_size(model.lm, expected_generation_steps(model.lm, int(duration_s * model.frame_rate)), free,
                           audio_samples=int(duration_s * model.sample_rate))


@dataclass
class GeneratedBatch:
    audio: np.ndarray  # [B, samples] float32, mono
    sample_rate: int
    codes: np.ndarray  # [B, K, frames] int64
    activations: PooledActivations | None


def generate_batch(model, prompts: Sequence[str], seeds: Sequence[int], *, duration_s: float,
                   top_k: int, top_p: float, temperature: float, cfg_coef: float,
                   layers: Sequence[int] | None, n_time_bins: int,
                   keep_unconditional: bool = False) -> GeneratedBatch:
    """Generate one batch, capturing ``layers`` (None: generate without capture)."""
    import torch

    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    model.set_generation_params(use_sampling=True, top_k=top_k, top_p=top_p, temperature=temperature,
                                duration=duration_s, cfg_coef=cfg_coef)
    n_frames = int(duration_s * model.frame_rate)
    capture = contextlib.nullcontext()
    if layers is not None:
        capture = ActivationCapture(model.lm, layers, len(prompts),
                                    expected_generation_steps(model.lm, n_frames), n_time_bins,
                                    keep_unconditional)
    with torch.no_grad(), per_sample_sampling(seeds, model.device), capture:
        audio, codes = model.generate(list(prompts), progress=False, return_tokens=True)
    try:
        activations = capture.result() if layers is not None else None
    except ActivationRangeError as err:  # name the samples, not only their batch rows
        named = "; ".join(f"row {r}: prompt {prompts[r]!r} seed {seeds[r]}" for r in err.rows if r < len(prompts))
        raise ActivationRangeError(f"{err} ({named})", err.rows) from None
    return GeneratedBatch(
        audio=audio[:, 0].float().cpu().numpy(),
        sample_rate=model.sample_rate,
        codes=codes.cpu().numpy(),
        activations=activations,
    )
