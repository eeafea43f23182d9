"""emoprobe: does MusicGen encode emotion in its internal activations?

Plain library code, one module per concern (config, models, capture, store,
stats, acoustics, decision, report). Nothing here imports pytest: the pytest
side lives in ``fixtures/`` and ``hypotheses/``.
"""

__version__ = "0.1.0"

# Registers the known-truth models with emoprobe.models, which resolves model
# names without importing them (they build on it).
from . import truth  # noqa: E402,F401
