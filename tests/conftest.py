"""Shared fixtures of the engineering tests."""

import pytest


@pytest.fixture(scope="session")
def tiny_model():
    """The tiny random MusicGen on the CPU (one thread: its ops are tiny)."""
    import torch

    from emoprobe.models import build_tiny

    torch.set_num_threads(1)
    return build_tiny(seed=0)
