"""Suite level: a fresh cache generates once; a warm cache never loads the model.

On the small experiment (tests/conftest.py): what is checked is the cache and the
workers, which short clips and few permutations show as well as the full one.
"""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_hypotheses(experiment, cache, *extra):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/", "-n", "2", "--model", "tiny", "--n-per-emotion", "6",
         "--experiment", str(experiment), "--cache-dir", str(cache), "-p", "no:cacheprovider", "-q", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=900)


def model_loads(cache):
    journal = cache / "model_loads.log"
    return len(journal.read_text().splitlines()) if journal.exists() else 0


def test_fresh_cache_generates_and_warm_cache_loads_without_the_model(tmp_path, small_experiment):
    cache = tmp_path / "cache"
    first = run_hypotheses(small_experiment, cache)
    assert first.returncode in (0, 1), first.stdout[-3000:] + first.stderr[-3000:]
    assert model_loads(cache) == 1, "two workers must not both load the model"
    n_entries = len(list((cache / "samples").glob("*/*")))
    assert n_entries > 0

    second = run_hypotheses(small_experiment, cache)
    assert second.returncode == first.returncode
    assert model_loads(cache) == 1, "a warm cache must not load the model"
    assert len(list((cache / "samples").glob("*/*"))) == n_entries

    meta = json.loads(next((cache / "samples").glob("*/*/meta.json")).read_text())
    assert meta["model_is_random"] is True and "RANDOM WEIGHTS" in meta["model"]
    duration_s = tomllib.loads(small_experiment.read_text())["generation"]["duration_s"]
    assert meta["generation"]["duration_s"] == duration_s and meta["spec"]["condition"]
    assert {"prompt", "seed"} <= set(meta["spec"]) and {"torch", "audiocraft"} <= set(meta["versions"])


def test_new_samples_draws_one_fresh_seed_for_all_workers(tmp_path, small_experiment):
    cache = tmp_path / "cache"
    html = tmp_path / "report.html"
    result = run_hypotheses(small_experiment, cache, "--new-samples", f"--html={html}")
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    record = json.loads((tmp_path / "decision.json").read_text())
    assert record["provenance"]["base_seed"] != 20241007
    # Had each worker drawn its own seed, the store would hold two sample sets.
    assert len(list((cache / "samples").glob("*/*"))) == record["provenance"]["n_samples"]
    assert model_loads(cache) == 1
