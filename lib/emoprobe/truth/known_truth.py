"""Known-truth models: the tiny MusicGen with an answer planted, or provably absent.

The suite is only worth its report if it says GO when the signal is there and
NO-GO when it is not. These models make the truth known. Each is the tiny
audiocraft MusicGen plus forward hooks (no fork of audiocraft) that add a
vector to the conditional rows of chosen layers' outputs. The vector is taken
out again at the next layer's input, so only the chosen layers carry it and
the truth is "these layers, and no others".

- ``planted:layers=1,3;size=2.0``: an emotion-specific random direction of norm
  ``size`` at the chosen layers, for rows whose prompt carries that emotion
  (per the experiment's emotion table). Its audio is synthesised from the
  emotion's expected acoustics (tempo, mode, brightness, energy), as read from
  what the planted layers write into the residual stream (``emoprobe.truth.residual_readout``),
  so the acoustic claims, and steering those layers, have a truth too.
- ``null``: no emotion dependence; activations vary with seed and wording only.
- any kind with ``wording=off``: the LM is given one fixed description, so
  prompts differ only by what was planted (seed-like defaults to this).
- ``seed-like``: a null model tuned to the seed's numbers: a shared offset at
  every layer lifts baseline cosine to about 0.95, and a small per-wording
  offset makes same-prompt pairs slightly closer (control about 0.951,
  between about 0.946). It must be classed as noise.
- ``paraphrase:size=4.0``: a direction per exact prompt wording, none per
  emotion: the trap of comparing one happy prompt with one sad prompt.
- ``lexical:size=2.0``: pure wording. Every word of the prompt (stop words
  too) adds a fixed random direction of its own, seeded by the word, at the
  chosen layers (all by default); a prompt's offset is ``size`` times the sum of
  its words' directions over the square root of its length. No emotion
  direction: same-emotion wordings are alike only through the words they
  share. Its audio follows the words as well ("fast" faster, "minor" minor).
- ``planted+lexical:layers=1,3;size=2;words=2``: the planted emotion direction
  at ``layers`` plus word directions of size ``words`` at every layer; audio
  from the emotion, as under ``planted``. The emotion is there beyond the
  words at ``layers`` only.

Prompts outside the emotion table (the extreme contrasts) get no emotion
direction; under ``planted`` they get a direction of their own, so the positive
control separates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..models import TINY_DIM, TINY_LAYERS, ModelInfo, build_tiny
from ..modelspec import parse_model_spec

KINDS = ("planted", "null", "seed-like", "paraphrase", "lexical", "planted+lexical")
LEXICAL_KINDS = ("lexical", "planted+lexical")

# What the lexical model's audio does with a word: "fast" makes it faster,
# "minor" minor, and so on. Words are applied in prompt order over the neutral
# acoustics; a word absent here changes nothing.
WORD_ACOUSTICS = {
    "fast": ("tempo_bpm", 150.0), "slow": ("tempo_bpm", 70.0),
    "major": ("mode", "major"), "minor": ("mode", "minor"),
    "bright": ("brightness_hz", 2600.0), "dark": ("brightness_hz", 900.0),
    "loud": ("rms", 0.10), "heavy": ("rms", 0.10), "soft": ("rms", 0.03), "quiet": ("rms", 0.03),
}

# Expected acoustics of each emotion under the planted model, consistent with
# the experiment's direction table (happy > sad and energetic > calm in tempo,
# energy and brightness; happy major, sad minor).
EMOTION_ACOUSTICS = {
    "happy": dict(tempo_bpm=132.0, mode="major", brightness_hz=2600.0, rms=0.09),
    "sad": dict(tempo_bpm=72.0, mode="minor", brightness_hz=900.0, rms=0.03),
    "calm": dict(tempo_bpm=70.0, mode="major", brightness_hz=800.0, rms=0.03),
    "energetic": dict(tempo_bpm=150.0, mode="minor", brightness_hz=2800.0, rms=0.10),
}
NEUTRAL_ACOUSTICS = dict(tempo_bpm=100.0, mode="major", brightness_hz=1500.0, rms=0.06)


@dataclass(frozen=True)
class KnownTruthSpec:
    kind: str
    layers: tuple[int, ...] = ()
    size: float = 0.0
    weights_seed: int = 0
    hears_wording: bool = True  # False: the LM is given one fixed description
    params: Mapping[str, str] = field(default_factory=dict)
    words: float = 0.0  # size of the word directions (lexical kinds)

    @property
    def identity(self) -> str:
        """Canonical text: what the sample store keys on."""
        layers = ",".join(map(str, self.layers))
        words = f";words={self.words:g}" if self.kind in LEXICAL_KINDS else ""
        return (f"known-truth-v2:{self.kind}:layers={layers};size={self.size:g};weights={self.weights_seed};"
                f"wording={'on' if self.hears_wording else 'off'}{words}")


def parse(name: str) -> KnownTruthSpec | None:
    """``planted:layers=1,3;size=2`` -> spec; None when ``name`` is not a known-truth model."""
    if name.partition(":")[0] not in KINDS:
        return None
    kind, params = parse_model_spec(name)
    allowed = {"layers", "size", "weights", "wording"} | ({"words"} if kind == "planted+lexical" else set())
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"{name!r}: unknown parameter(s) {sorted(unknown)}; use {', '.join(sorted(allowed))}")
    wording = params.get("wording", "off" if kind == "seed-like" else "on")
    if wording not in ("on", "off"):
        raise ValueError(f"{name!r}: wording must be on or off, got {wording!r}")
    try:
        layers = tuple(sorted(int(x) for x in params.get("layers", "").split(",") if x.strip()))
    except ValueError:
        raise ValueError(f"{name!r}: layers must be integers, got {params['layers']!r}") from None
    outside = [layer for layer in layers if not 0 <= layer < TINY_LAYERS]
    if outside:
        # A layer the model lacks would plant nothing (a negative index) or fail mid-generation.
        raise ValueError(f"{name!r}: layer(s) {outside} do not exist; the model has layers 0-{TINY_LAYERS - 1}")
    default_size = {"planted": 2.0, "paraphrase": 4.0, "lexical": 2.0, "planted+lexical": 2.0}.get(kind, 0.0)
    size = float(params.get("size", default_size))
    if kind in ("planted", "planted+lexical") and not layers:
        raise ValueError(f"{name!r}: a planted model needs layers=..., e.g. planted:layers=1,3;size=2")
    words = {"lexical": size, "planted+lexical": float(params.get("words", 2.0))}.get(kind, 0.0)
    return KnownTruthSpec(kind, layers, size, int(params.get("weights", 0)), wording == "on", params, words)


def describe(name: str) -> ModelInfo | None:
    """What ``models.describe_model`` reports for a known-truth name (None: not one)."""
    spec = parse(name)
    if spec is None:
        return None
    return ModelInfo(name, "known-truth", TINY_LAYERS, TINY_DIM, identity=spec.identity)


def load(info: ModelInfo, prompt_emotions: Mapping[str, str], device: str = "cpu"):
    """What ``models.load_model`` returns for a known-truth model."""
    return build(parse(info.name), prompt_emotions, device=device)


def _unit_vector(dim: int, *parts: object) -> np.ndarray:
    seed = int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)
    v = np.random.default_rng(seed).standard_normal(dim)
    return v / np.linalg.norm(v)


class ResidualPlanter:
    """Adds a per-row vector to chosen layers' outputs, and removes it at the next layer's input.

    ``offsets_for(prompt) -> {layer: vector}`` says what each prompt's
    conditional row carries. Unconditional rows (``[B:]`` under classifier-free
    guidance) are left alone.
    """

    def __init__(self, lm, offsets_for):
        self.lm = lm
        self.offsets_for = offsets_for
        self.rows: dict[int, object] | None = None  # layer -> [B, D] tensor for this batch
        self.handles = []
        layers = lm.transformer.layers
        for index, layer in enumerate(layers):
            self.handles.append(layer.register_forward_hook(self._add_hook(index)))
            following = layers[index + 1] if index + 1 < len(layers) else getattr(lm, "out_norm", None)
            if following is not None:
                self.handles.append(following.register_forward_pre_hook(self._remove_hook(index)))

    def set_prompts(self, prompts: Sequence[str], device) -> None:
        import torch

        per_prompt = [self.offsets_for(p) for p in prompts]
        layers = {layer for offsets in per_prompt for layer in offsets}
        dim = self.lm.dim
        self.rows = {}
        for layer in layers:
            stacked = np.stack([offsets.get(layer, np.zeros(dim)) for offsets in per_prompt])
            self.rows[layer] = torch.as_tensor(stacked, dtype=torch.float32, device=device)

    def clear(self) -> None:
        self.rows = None

    def _shift(self, x, layer: int, sign: float):
        if not self.rows or layer not in self.rows:
            return None
        offsets = self.rows[layer].to(x.dtype)
        B = offsets.shape[0]
        if x.shape[0] not in (B, 2 * B):
            return None
        x = x.clone()
        x[:B] += sign * offsets[:, None, :]
        return x

    def _add_hook(self, layer: int):
        def hook(_module, _inputs, output):
            return self._shift(output, layer, +1.0)
        return hook

    def _remove_hook(self, layer: int):
        def hook(_module, inputs):
            shifted = self._shift(inputs[0], layer, -1.0)
            return None if shifted is None else (shifted, *inputs[1:])
        return hook


def offsets_function(spec: KnownTruthSpec, prompt_emotions: Mapping[str, str], n_layers: int, dim: int):
    """The ``prompt -> {layer: vector}`` map that defines each known-truth model."""
    all_layers = range(n_layers)
    if spec.kind == "planted":
        def offsets(prompt):
            label = prompt_emotions.get(prompt, f"prompt:{prompt}")
            return {layer: spec.size * _unit_vector(dim, "planted", spec.weights_seed, label, layer)
                    for layer in spec.layers}
    elif spec.kind == "paraphrase":
        def offsets(prompt):
            return {layer: spec.size * _unit_vector(dim, "wording", spec.weights_seed, prompt, layer)
                    for layer in all_layers}
    elif spec.kind in LEXICAL_KINDS:
        word_layers = spec.layers if spec.kind == "lexical" and spec.layers else tuple(all_layers)
        emotion_layers = spec.layers if spec.kind == "planted+lexical" else ()

        def offsets(prompt):
            from ..lexical import tokens

            words = tokens(prompt)
            out = {layer: spec.words / np.sqrt(max(len(words), 1))
                   * sum((_unit_vector(dim, "word", spec.weights_seed, w, layer) for w in words), np.zeros(dim))
                   for layer in word_layers}
            label = prompt_emotions.get(prompt, f"prompt:{prompt}")
            for layer in emotion_layers:
                out[layer] = out[layer] + spec.size * _unit_vector(dim, "planted", spec.weights_seed, label, layer)
            return out
    elif spec.kind == "seed-like":
        # Sizes measured on the tiny model with wording off and 2 s clips: the
        # shared offset lifts between-sample cosine to 0.946-0.955 by layer; the
        # wording offset adds about 0.005 for same-prompt pairs, as in the seed.
        shared = {layer: SEED_LIKE_SHARED * _unit_vector(dim, "shared", layer) for layer in all_layers}

        def offsets(prompt):
            return {layer: shared[layer] + SEED_LIKE_WORDING * _unit_vector(dim, "wording", prompt, layer)
                    for layer in all_layers}
    else:
        def offsets(prompt):
            return {}
    return offsets


SEED_LIKE_SHARED = 6.0
SEED_LIKE_WORDING = 0.5


# Kinds whose clips are synthesised (synthesised_audio), not decoded from their tokens.
SYNTHESISED_KINDS = ("planted", "planted+lexical", "lexical")


def synthesised_audio(spec: KnownTruthSpec, prompts: Sequence[str], codes, prompt_emotions: Mapping[str, str],
                      duration_s: float, sample_rate: int,
                      weights: Sequence[Mapping[str, float]] | None = None) -> np.ndarray | None:
    """Planted models' audio: each clip synthesised from its emotion's expected acoustics.

    The lexical model's clips follow the prompt's words instead (``WORD_ACOUSTICS``).
    Jitter comes from the row's generated codes, so clips vary with the seed.
    Other known-truth models keep the tiny decoder's audio (None). ``weights``
    (per row, emotion -> weight read from the residual stream, see
    ``emoprobe.truth.residual_readout``) replace the label's acoustics of ``planted``.
    """
    if spec.kind not in SYNTHESISED_KINDS:
        return None
    from .synth_audio import synthesise_emotion_audio

    clips = []
    for prompt, row_codes in zip(prompts, np.asarray(codes)):
        seed = int(hashlib.sha256(row_codes.tobytes()).hexdigest()[:8], 16)
        rng = np.random.default_rng(seed)
        if spec.kind == "lexical":
            target = word_acoustics(prompt)
        elif weights is not None:
            from .residual_readout import target_acoustics

            target = target_acoustics(weights[len(clips)], EMOTION_ACOUSTICS, NEUTRAL_ACOUSTICS)
        else:
            target = EMOTION_ACOUSTICS.get(prompt_emotions.get(prompt, ""), NEUTRAL_ACOUSTICS)
        clips.append(synthesise_emotion_audio(
            tempo_bpm=target["tempo_bpm"] * rng.uniform(0.95, 1.05), mode=target["mode"],
            brightness_hz=target["brightness_hz"] * rng.uniform(0.9, 1.1), rms=target["rms"] * rng.uniform(0.85, 1.15),
            duration_s=duration_s, sample_rate=sample_rate, seed=seed))
    return np.stack(clips)


def emotion_audio(emotion: str, duration_s: float, sample_rate: int, *, seed: int, tonic: int | None = None):
    """A clip at ``emotion``'s expected acoustics (``EMOTION_ACOUSTICS``) exactly, no spread:
    what the planted models' audio is centred on, for the extractor's fits and tests."""
    from .synth_audio import synthesise_emotion_audio

    target = EMOTION_ACOUSTICS[emotion]
    return synthesise_emotion_audio(target["tempo_bpm"], target["mode"], target["brightness_hz"], target["rms"],
                                    duration_s, sample_rate, seed=seed, tonic=tonic)


def word_acoustics(prompt: str) -> dict:
    """The lexical model's acoustics of ``prompt``: the neutral ones, changed word by word."""
    from ..lexical import tokens

    target = dict(NEUTRAL_ACOUSTICS)
    for word in tokens(prompt):
        if word in WORD_ACOUSTICS:
            feature, value = WORD_ACOUSTICS[word]
            target[feature] = value
    return target


# Kinds whose audio is read from what the planted layers write into the residual stream.
READOUT_KINDS = ("planted",)


def planted_directions(spec: KnownTruthSpec, emotions: Sequence[str], dim: int) -> dict[int, dict[str, np.ndarray]]:
    """layer -> emotion -> the planted unit direction (as ``offsets_function`` plants it)."""
    return {layer: {e: _unit_vector(dim, "planted", spec.weights_seed, e, layer) for e in emotions}
            for layer in spec.layers}


def _planted_readout(spec: KnownTruthSpec, lm):
    import contextlib

    if spec.kind not in READOUT_KINDS:
        return contextlib.nullcontext()
    from .residual_readout import ResidualReadout

    return ResidualReadout(lm, spec.layers)


def build(spec: KnownTruthSpec, prompt_emotions: Mapping[str, str], device: str = "cpu"):
    """The tiny MusicGen wrapped to carry ``spec``'s truth."""
    import torch
    from audiocraft.models import MusicGen


    base = build_tiny(seed=spec.weights_seed, device=device)

    class KnownTruthMusicGen(MusicGen):
        def generate(self, descriptions, progress=False, return_tokens=False):
            self.planter.set_prompts(descriptions, self.device)
            # With wording=off the LM hears one fixed description: only the planted
            # offsets tell prompts apart, so the truth is exactly what was planted.
            heard = descriptions if spec.hears_wording else ["music"] * len(descriptions)
            # The planted model's audio follows its residual stream (so steering has a known answer).
            readout = _planted_readout(spec, self.lm)
            try:
                with readout:
                    audio, tokens = super().generate(heard, progress=progress, return_tokens=True)
            finally:
                self.planter.clear()
            weights = None
            if spec.kind in READOUT_KINDS:
                from . import residual_readout

                directions = planted_directions(
                    spec, sorted(set(prompt_emotions.values()) & set(EMOTION_ACOUSTICS)), self.lm.dim)
                weights = residual_readout.emotion_weights(readout.result(), directions, spec.size)
            synthetic = synthesised_audio(spec, descriptions, tokens.cpu().numpy(), prompt_emotions,
                                          self.duration, self.sample_rate, weights)
            if synthetic is not None:
                audio = torch.as_tensor(synthetic, device=audio.device)[:, None, :]
            return (audio, tokens) if return_tokens else audio

        def generate_audio(self, gen_tokens):
            if spec.kind in SYNTHESISED_KINDS:
                # generate replaces the codec's audio with the synthesised clips: decoding
                # the tokens (a third of the tiny model's generation time) would be thrown away.
                return torch.zeros(gen_tokens.shape[0], 1, 0, device=gen_tokens.device)
            return super().generate_audio(gen_tokens)

    model = KnownTruthMusicGen(spec.kind, base.compression_model, base.lm, max_duration=base.max_duration)
    model.planter = ResidualPlanter(base.lm, offsets_function(spec, prompt_emotions, len(base.lm.transformer.layers),
                                                              base.lm.dim))
    return model
