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


def add_corpus_arguments(parser, *, batches: str, batches_help: str = "corpus batches to read (or all)",
                         jobs: bool = True) -> None:
    """The options every corpus benchmark takes: --corpus, --split, --batches (and --jobs).  The
    ``batches`` default is the one a script's figures in bench/RESULTS.md were measured on."""
    parser.add_argument("--corpus", default=".cache/acoustic_corpus")
    parser.add_argument("--split", default="train", choices=["train", "test", "all"])
    parser.add_argument("--batches", default=batches, help=batches_help)
    if jobs:
        parser.add_argument("--jobs", type=int, default=2)


def corpus_records(args) -> list[dict]:
    """The clip records that ``add_corpus_arguments``' options select."""
    return read_manifest(Path(args.corpus), args.split,
                         args.batches if args.batches == "all" else set(args.batches.split(",")))


def planted_clip(emotion: str, seed: int) -> tuple[np.ndarray, str, str]:
    """(audio at ``SR``, tonic name, mode) of the planted models' audio for ``emotion``: tonic seed mod 12."""
    from emoprobe.tonality import PITCH_CLASSES
    from emoprobe.truth.known_truth import EMOTION_ACOUSTICS, emotion_audio

    y = emotion_audio(emotion, PLANTED_DURATION_S, SR, seed=seed, tonic=seed % 12)
    return y, PITCH_CLASSES[seed % 12], EMOTION_ACOUSTICS[emotion]["mode"]


def planted_items(per_emotion: int) -> list[tuple[str, int]]:
    """(emotion, seed) of ``per_emotion`` planted clips per emotion, seeds from ``PLANTED_SEED0``."""
    from emoprobe.truth.known_truth import EMOTION_ACOUSTICS

    return [(e, PLANTED_SEED0 + i) for e in EMOTION_ACOUSTICS for i in range(per_emotion)]
