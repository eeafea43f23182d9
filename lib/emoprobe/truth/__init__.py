"""Known-truth models and data: inputs whose answer is known, to show the suite honest.

``known_truth``  the tiny MusicGen with an emotion planted at chosen layers, or provably absent;
``synthetic``    synthetic pooled activations (null, planted, seed-like) for calibrating the statistics;
``synth_audio``  audio whose acoustics are known by construction, for the feature extractor;
``residual_readout`` the planted model's audio, read from what its planted layers write (so steering has a known answer).

These wrap the real models and statistics from outside: they import
``emoprobe.models`` and ``emoprobe.stats``, never the other way round. Importing
this package registers the known-truth models with ``emoprobe.models`` (the
``emoprobe`` package does so when it is imported).
"""

from .. import models
from . import known_truth

models.register_family(models.ModelFamily("known-truth", known_truth.describe, known_truth.load))
