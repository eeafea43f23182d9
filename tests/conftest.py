"""Shared fixtures of the engineering tests."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The checked-in experiment with few permutations, few extreme samples and short clips, for
# the runs that check the suite's plumbing (cache, record, report, nightly) rather than the
# statistics' power; derived from the real file so that it follows its changes.
SMALL = [("n_permutations = 10000", "n_permutations = 200"), ("n_bootstrap = 2000", "n_bootstrap = 100"),
         ("probe_permutations = 100", "probe_permutations = 5"), ("n_per_prompt = 10", "n_per_prompt = 3")]


@pytest.fixture(scope="session")
def small_experiment_of(tmp_path_factory):
    """The small experiment with clips of ``duration_s`` seconds: a path, one file per length."""
    made = {}

    def make(duration_s: float = 3.0) -> Path:
        if duration_s not in made:
            text = (REPO / "configs" / "experiment.toml").read_text()
            for old, new in [*SMALL, ("duration_s = 10.0", f"duration_s = {duration_s}")]:
                assert old in text
                text = text.replace(old, new)
            made[duration_s] = tmp_path_factory.mktemp("small") / "experiment.toml"
            made[duration_s].write_text(text)
        return made[duration_s]

    return make


@pytest.fixture(scope="session")
def small_experiment(small_experiment_of) -> Path:
    return small_experiment_of()


@pytest.fixture(scope="session")
def tiny_model():
    """The tiny random MusicGen on the CPU (one thread: its ops are tiny)."""
    import torch

    from emoprobe.models import build_tiny

    torch.set_num_threads(1)
    return build_tiny(seed=0)


@pytest.fixture(scope="session", autouse=True)
def kept_tiny_builds(tmp_path_factory):
    """One folder of built tiny models for the session, its subprocess runs included:
    each builds the same few, and a build's k-means takes seconds (models.build_tiny)."""
    from emoprobe.models import TINY_CACHE_ENV

    before = os.environ.get(TINY_CACHE_ENV)
    os.environ[TINY_CACHE_ENV] = str(tmp_path_factory.mktemp("tiny-builds"))
    yield
    if before is None:
        os.environ.pop(TINY_CACHE_ENV, None)
    else:
        os.environ[TINY_CACHE_ENV] = before


@pytest.fixture(scope="session")
def crossed_run(tmp_path_factory):
    """(decision.json, the completed process, its folder) of one run of the suite over every
    known-truth model on the crossed design (tests/test_known_truth.py, test_known_truth_lexical.py)."""
    from test_known_truth import CROSSED_MODELS, run_suite

    out = tmp_path_factory.mktemp("crossed")
    record, result = run_suite(list(CROSSED_MODELS), out)
    return record, result, out
