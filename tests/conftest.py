"""Shared fixtures of the engineering tests."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The checked-in experiment with few permutations, few extreme samples and short clips, for
# the runs that check the suite's plumbing (cache, record, report, nightly) rather than the
# statistics' power; derived from the real file so that it follows its changes.  Six samples per
# extreme prompt let the positive control pass Holm over the tiny models' 4 layers at 200
# permutations (fixtures/options.check_design refuses fewer than 5, where no data could).
SMALL = [("n_permutations = 10000", "n_permutations = 200"), ("n_bootstrap = 2000", "n_bootstrap = 100"),
         ("probe_permutations = 100", "probe_permutations = 5"), ("n_per_prompt = 10", "n_per_prompt = 6")]


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


# `make test` runs these files on two xdist workers, each file's tests on one worker so that
# its module fixtures are built once (--dist loadfile). A worker builds its own session
# fixtures, so the files that share a heavy one count as one file: crossed_run's.
SAME_WORKER = {"test_known_truth_lexical": "test_known_truth"}
# Longest first (by make test's durations of 2026-11-26), so that no worker is left with a
# long file at the end; the files not named follow in collection order.
LONGEST_FIRST = ("test_steering_known_truth", "test_known_truth", "test_steering_calibration", "test_run_record",
                 "test_suite_smoke", "test_nightly", "test_verdicts", "test_report", "test_shard", "test_stats",
                 "test_listen")


def _file_group(path: str) -> str:
    stem = Path(path).stem
    return SAME_WORKER.get(stem, stem)


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        # Two workers on two cores: a worker's BLAS or OpenMP threads, or those of the suite
        # runs it starts, would only wait for each other's cores (numbers that must not depend
        # on the thread count are pinned to one BLAS thread anyway: emoprobe.threads).
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = "1"
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):  # the order in which the controller hands out the files
        rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(_file_group(str(item.path)), len(rank)))


@pytest.hookimpl(tryfirst=True)  # before xdist's own choice
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    # xdist's loadgroup would do, but under pytest 9 its groups are silently lost (it renames
    # Item._nodeid, which pytest 9 no longer reads: pytest-xdist issue 1386). So: loadfile,
    # with SAME_WORKER's files as one.
    from xdist.scheduler import LoadFileScheduling

    class LoadFileGroups(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _file_group(nodeid.split("::", 1)[0])

    return LoadFileGroups(config, log)
