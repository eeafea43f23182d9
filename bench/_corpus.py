"""What the acoustic benchmarks share: the rendered corpus' manifest, and the planted models' audio.

The corpus is built by ``scripts/build_acoustic_corpus.py``; the planted audio is
``synth_audio.synthesise_emotion_audio`` at ``known_truth.EMOTION_ACOUSTICS``, the
clips the mode weights are fitted on (``fit_mode.py``) and the gates measured on.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SR = 32000
PLANTED_SEED0 = 100            # seeds PLANTED_SEED0 + i: the clips fit_mode.py trains on
PLANTED_DURATION_S = 10.0


def read_manifest(corpus: Path, split: str = "all", batches: str | set[str] = "all") -> list[dict]:
    """The corpus' clip records of ``split`` ("train", "test" or "all") and ``batches``
    ("all", or batch numbers as strings; clips from before batches are batch 1)."""
    manifest = json.loads((Path(corpus) / "manifest.json").read_text())
    return [m for m in manifest if (split == "all" or m["split"] == split)
            and (batches == "all" or str(m.get("batch", 1)) in batches)]


def planted_clip(emotion: str, seed: int) -> tuple[np.ndarray, str, str]:
    """(audio at ``SR``, tonic name, mode) of the planted models' audio for ``emotion``: tonic seed mod 12."""
    from emoprobe.tonality import PITCH_CLASSES
    from emoprobe.truth.known_truth import EMOTION_ACOUSTICS
    from emoprobe.truth.synth_audio import synthesise_emotion_audio

    target = EMOTION_ACOUSTICS[emotion]
    y = synthesise_emotion_audio(target["tempo_bpm"], target["mode"], target["brightness_hz"], target["rms"],
                                 PLANTED_DURATION_S, SR, seed=seed, tonic=seed % 12)
    return y, PITCH_CLASSES[seed % 12], target["mode"]


def planted_items(per_emotion: int) -> list[tuple[str, int]]:
    """(emotion, seed) of ``per_emotion`` planted clips per emotion, seeds from ``PLANTED_SEED0``."""
    from emoprobe.truth.known_truth import EMOTION_ACOUSTICS

    return [(e, PLANTED_SEED0 + i) for e in EMOTION_ACOUSTICS for i in range(per_emotion)]
