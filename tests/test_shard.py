"""Sharded generation: splitting the plan, and shards run through submitit's local executor.

The end-to-end tests use the tiny model with 1-second samples and submitit's
LocalExecutor (a separate process per job, as on one machine with several
GPUs): the union of two shards equals an unsharded run bit for bit, a shard
killed with SIGKILL resumes with only the rest, and two launches of one shard
at the same time write each sample once and load the model once.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from emoprobe import launch
from emoprobe.config import DEFAULT_CONFIG_PATH, Overrides, load_config, plan_samples
from emoprobe.dataset import collect_samples
from emoprobe.models import describe_model
from emoprobe.shard import (ShardError, generate_shard, missing_samples, parse_shard,
                            planned_shard, shard_keys, shard_specs)
from emoprobe.store import SampleStore

# --- the split -------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [("0/2", (0, 2)), (" 3 / 4 ", (3, 4)), ("0/1", (0, 1))])
def test_parse_shard_reads_index_and_count(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text, message", [
    ("2/2", r"0\.\.1 \(shards are numbered from 0\)"),
    ("-1/2", "0..1"),
    ("1/0", "at least 1"),
    ("1", "write it as i/n"),
    ("a/b", "write it as i/n"),
    ("", "write it as i/n"),
    ("1/2/3", "write it as i/n"),
])
def test_parse_shard_refuses_what_cannot_be_a_shard(text, message):
    with pytest.raises(ShardError, match=message):
        parse_shard(text)


@pytest.mark.parametrize("n_items", [0, 1, 7, 24, 40])
@pytest.mark.parametrize("count", [1, 2, 3, 5])
@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_shards_are_disjoint_cover_the_plan_and_are_deterministic(n_items, count, batch_size):
    items = list(range(n_items))
    shards = [shard_specs(items, i, count, batch_size) for i in range(count)]
    assert sorted(x for shard in shards for x in shard) == items  # covering, and disjoint
    assert all(shard == sorted(shard) for shard in shards)  # plan order kept
    assert shards == [shard_specs(items, i, count, batch_size) for i in range(count)]
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= batch_size  # balanced to within one batch


def test_a_shard_is_made_of_the_unsharded_runs_batches():
    """What makes the union bit-identical: each sample keeps its batch-mates."""
    items, batch_size = list(range(23)), 4
    unsharded_batches = [items[s:s + batch_size] for s in range(0, len(items), batch_size)]
    for i in range(3):
        shard = shard_specs(items, i, 3, batch_size)
        shard_batches = [shard[s:s + batch_size] for s in range(0, len(shard), batch_size)]
        assert all(batch in unsharded_batches for batch in shard_batches)


def test_batch_size_one_is_index_modulo_count():
    assert shard_specs(list("abcdefgh"), 1, 3) == list("beh")


@pytest.mark.parametrize("args, message", [((2, 2, 1), "0..1"), ((0, 0, 1), "at least 1"),
                                           ((0, 2, 0), "batch_size")])
def test_shard_specs_refuses_bad_arguments(args, message):
    with pytest.raises(ShardError, match=message):
        shard_specs([1, 2, 3], *args)


# --- the launcher's settings -----------------------------------------------


def small_experiment(tmp_path: Path, n_per_emotion=6, n_per_extreme_prompt=2, batch_size=2,
                     cluster: str | None = None) -> Path:
    """configs/experiment.toml with 1-second samples and a small plan (fast on a CPU)."""
    text = DEFAULT_CONFIG_PATH.read_text()
    for old, new in [("duration_s = 10.0", "duration_s = 1.0"), ("batch_size = 8", f"batch_size = {batch_size}"),
                     ("n_per_emotion = 20", f"n_per_emotion = {n_per_emotion}"),
                     ("n_per_prompt = 10", f"n_per_prompt = {n_per_extreme_prompt}")]:
        assert old in text, old
        text = text.replace(old, new)
    if cluster is not None:
        text = text[:text.index("[cluster]")] + cluster
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    return path


def test_cluster_settings_come_from_the_toml_and_options_override_them(tmp_path):
    path = small_experiment(tmp_path, cluster='[cluster]\npartition = "gpu"\ntimeout_min = 30\n')
    args = launch.build_parser().parse_args(
        ["--executor", "slurm", "--shards", "4", "--experiment", str(path), "--timeout-min", "45"])
    settings = launch.cluster_settings(args)
    assert (settings.partition, settings.timeout_min, settings.gpus_per_task) == ("gpu", 45, 1)


def test_the_shipped_cluster_table_is_valid_and_empty_partition_means_default():
    assert launch.read_cluster_settings(None).partition is None


@pytest.mark.parametrize("table, message", [("[cluster]\nqueue = 'x'\n", "unknown key"),
                                            ("[cluster]\ntimeout_min = 0\n", "timeout_min")])
def test_bad_cluster_table_is_one_message(tmp_path, table, message):
    with pytest.raises(launch.ConfigError, match=message):
        launch.read_cluster_settings(small_experiment(tmp_path, cluster=table))


def test_slurm_jobs_get_partition_gpus_time_and_array_parallelism(tmp_path, monkeypatch):
    # submitit's slurm executor only checks that srun exists; nothing is submitted.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    settings = launch.ClusterSettings(partition="gpu", gpus_per_task=2, cpus_per_task=6, mem_gb=40,
                                      timeout_min=90, array_parallelism=3)
    executor = launch.make_executor("slurm", tmp_path / "logs" / "%j", settings)
    sbatch = executor._executor._make_submission_file_text("true", "uid")
    for line in ("--partition=gpu", "--gpus-per-node=2", "--cpus-per-task=6", "--mem=40GB", "--time=90",
                 "--job-name=emoprobe-generate"):
        assert f"#SBATCH {line}" in sbatch, line
    assert executor._executor.parameters["array_parallelism"] == 3


def test_suite_runs_with_the_launchers_experiment_options(tmp_path):
    path = small_experiment(tmp_path)
    args = launch.build_parser().parse_args(
        ["--executor", "local", "--shards", "2", "--experiment", str(path), "--model", "tiny", "--model", "null",
         "--cache-dir", str(tmp_path / "c"), "--seed", "7", "--n-per-emotion", "6", "--", "-x"])
    config = load_config(path, launch.experiment_overrides(args))
    command = launch.suite_command(args, config)
    assert command[1:6] == ["-m", "pytest", "hypotheses/", "-n", "auto"]
    joined = " ".join(command)
    for part in ("--model tiny --model null", f"--cache-dir {tmp_path / 'c'}", "--seed 7", "--n-per-emotion 6",
                 f"--experiment {path}"):
        assert part in joined, part
    assert command[-1] == "-x"


def test_several_models_get_their_own_shards(tmp_path, capsys):
    """One job per model and shard (debug executor: in this process), each model's plan complete."""
    cache = tmp_path / "cache"
    status = launch.main(["--executor", "debug", "--shards", "2", "--model", "tiny", "--model", "null",
                          "--experiment", str(small_experiment(tmp_path)), "--cache-dir", str(cache),
                          "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0, out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["tiny"], ["null"])]
    assert [(row[0], row[1], row[5]) for row in rows] == [
        ("tiny", "0/2", "16"), ("tiny", "1/2", "16"), ("null", "0/2", "16"), ("null", "1/2", "16")]
    assert len(store_entries(cache)) == 64 and SampleStore(cache).model_load_count() == 4


@pytest.mark.parametrize("argv, message", [(["--shards", "0"], "at least 1"),
                                           (["--shards", "2", "--model", "nonesuch"], "nonesuch")])
def test_launcher_refuses_bad_input_before_submitting(tmp_path, capsys, argv, message):
    assert launch.main(["--executor", "local", "--cache-dir", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "submitit").exists()


# --- shards through submitit's local executor ------------------------------


def load_small(tmp_path, cache: Path, **plan):
    config = load_config(small_experiment(tmp_path, **plan), Overrides(model="tiny", cache_dir=str(cache)))
    return config, describe_model("tiny")


def store_entries(root: Path) -> set[str]:
    return {p.name for p in (root / "samples").glob("*/*")}


def test_union_of_shards_equals_an_unsharded_run_bit_for_bit(tmp_path, capsys):
    experiment = small_experiment(tmp_path)
    sharded, unsharded = tmp_path / "sharded", tmp_path / "unsharded"
    status = launch.main(["--executor", "local", "--shards", "2", "--model", "tiny", "--experiment",
                          str(experiment), "--cache-dir", str(sharded), "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "cache complete (32 samples)" in out
    assert SampleStore(sharded).model_load_count() == 2  # one load per shard

    config, info = load_small(tmp_path, unsharded)
    sets, report = collect_samples(config, info, SampleStore(unsharded), progress=False)
    assert report.generated == len(plan_samples(config)) == 32
    assert store_entries(sharded) == store_entries(unsharded)

    merged, merged_report = collect_samples(config, info, SampleStore(sharded), progress=False,
                                            generate_missing=False)
    assert merged_report.generated == 0
    for study, reference in sets.items():
        assert merged[study].keys == reference.keys
        for mine, theirs in zip(merged[study].samples, reference.samples):
            np.testing.assert_array_equal(mine.mean, theirs.mean)
            np.testing.assert_array_equal(mine.bins, theirs.bins)
            np.testing.assert_array_equal(mine.load_audio()[0], theirs.load_audio()[0])
            # The stored activation files are identical byte for byte; the WAV
            # files are not, as libsndfile stamps the write time into a float WAV's PEAK chunk.
            assert mine.meta["checksums"]["activations.npz"] == theirs.meta["checksums"]["activations.npz"]


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _wait_until(condition, timeout_s: float, what: str, poll_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def local_executor(folder: Path):
    return launch.make_executor("local", folder, launch.ClusterSettings(timeout_min=10))


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task").exists(), reason="needs Linux /proc")
def test_shard_killed_midway_resumes_with_only_the_rest(tmp_path):
    cache = tmp_path / "cache"
    # Batches of one and 20 samples per shard: seconds of generation to kill into.
    config, info = load_small(tmp_path, cache, n_per_emotion=8, batch_size=1)
    shard = planned_shard(config, 0, 2)
    job = local_executor(tmp_path / "logs").submit(generate_shard, config, info, 0, 2, None, False)
    task = _wait_until(lambda: _children(job._process.pid), 120, "the shard's task process")[0]
    _wait_until(lambda: store_entries(cache), 120, "the first saved sample")
    os.kill(task, signal.SIGKILL)
    job._process.wait(timeout=60)
    with pytest.raises(Exception):
        job.result()
    made_before_kill = len(store_entries(cache))
    assert 0 < made_before_kill < len(shard), "the kill should land mid-shard"

    report = generate_shard(config, info, 0, 2, progress=False)
    assert report.generated == len(shard) - made_before_kill
    assert report.loaded == made_before_kill and report.damaged == []
    assert store_entries(cache) == set(shard_keys(config, info, shard))
    again = generate_shard(config, info, 0, 2, progress=False)
    assert (again.generated, again.model_loaded) == (0, False)  # a finished shard generates nothing
    assert missing_samples(config, info) == len(planned_shard(config, 1, 2))


def test_two_launches_of_one_shard_write_each_sample_once(tmp_path):
    cache = tmp_path / "cache"
    config, info = load_small(tmp_path, cache)
    shard = planned_shard(config, 0, 2)
    executor = local_executor(tmp_path / "logs")
    # Hold the shard's lock until both launches have found every sample
    # missing, so that both really are after the same samples at once.
    with SampleStore(cache).lock(shard_keys(config, info, shard)):
        jobs = [executor.submit(generate_shard, config, info, 0, 2, None, False) for _ in range(2)]
        announced = f"{len(shard)} samples, {len(shard)} missing"
        _wait_until(lambda: all(job.paths.stderr.exists() and announced in job.paths.stderr.read_text()
                                for job in jobs), 120, "both launches to find the shard missing", 0.1)
        time.sleep(0.5)  # from that line to the lock attempt is a few calls
    reports = [job.result() for job in jobs]
    assert sum(r.generated for r in reports) == len(shard)
    assert sorted(r.model_loaded for r in reports) == [False, True]
    assert SampleStore(cache).model_load_count() == 1
    assert store_entries(cache) == set(shard_keys(config, info, shard))


def test_one_shard_runs_anywhere_without_a_scheduler_and_reruns_generate_nothing(tmp_path, capsys):
    cache = tmp_path / "cache"
    argv = ["--shard", "1/2", "--model", "tiny", "--experiment", str(small_experiment(tmp_path)),
            "--cache-dir", str(cache), "--no-progress"]
    assert launch.main(argv) == 0
    config, info = load_small(tmp_path, cache)
    first = capsys.readouterr().out
    n = len(planned_shard(config, 1, 2))
    assert f"tiny shard 1/2: generated {n}, loaded 0 of {n}" in first
    assert launch.main(argv) == 0
    assert f"tiny shard 1/2: generated 0, loaded {n} of {n}" in capsys.readouterr().out
    assert launch.main(argv[:1] + ["2/2"] + argv[2:]) == 2
