"""Analyses over the samples: computed once, shared through the cache, and never a number from bad input."""

import dataclasses

import numpy as np
import pytest

from emoprobe import analysis
from emoprobe.config import Overrides, SampleSpec, load_config
from emoprobe.dataset import SampleSet
from emoprobe.stats import StatsInputError
from emoprobe.store import StoredSample


def test_memoised_computes_once_per_payload_and_recomputes_a_damaged_entry(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    assert analysis.memoised(tmp_path, "x", {"a": 1}, compute) == {"value": 1}
    assert analysis.memoised(tmp_path, "x", {"a": 1}, compute) == {"value": 1}
    assert analysis.memoised(tmp_path, "x", {"a": 2}, compute) == {"value": 2}
    for entry in (tmp_path / "analysis").glob("x-*.json"):
        entry.write_bytes(b"not a memo")
    assert analysis.memoised(tmp_path, "x", {"a": 1}, compute) == {"value": 3}


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("touch " + str(_RunsCode.marker),))


def test_a_planted_pickle_in_the_analysis_cache_runs_no_code(tmp_path):
    """Anyone who can write to a shared cache must not run code in other users' runs."""
    import pickle

    _RunsCode.marker = tmp_path / "code-ran"
    analysis.memoised(tmp_path / "cache", "x", {"a": 1}, lambda: {"value": 1})
    entries = list((tmp_path / "cache" / "analysis").glob("x-*"))
    entries = [e for e in entries if not e.name.endswith(".lock")]
    assert entries
    for entry in entries:
        entry.write_bytes(pickle.dumps(_RunsCode()))
    assert analysis.memoised(tmp_path / "cache", "x", {"a": 1}, lambda: {"value": 2}) == {"value": 2}
    assert not _RunsCode.marker.exists(), "reading the analysis cache ran code"


def test_memo_stores_result_records_as_data_and_refuses_other_types(tmp_path):
    from emoprobe import datacodec, stats

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 6))
    conditions = np.repeat(EMOTIONS, 8)
    prompts = np.array([f"{c}/{i % 4}" for c, i in zip(conditions, range(24))])
    value = stats.analyse_layers({0: X, 1: X + 1}, conditions, prompts, n_permutations=50, n_boot=50, seed=0)
    back = analysis.memoised(tmp_path, "layers", {"a": 1}, lambda: value)
    again = analysis.memoised(tmp_path, "layers", {"a": 1}, lambda: None)
    assert again == back and again.to_dict() == value.to_dict()
    assert np.array_equal(again.layers[0].test.null_distribution, value.layers[0].test.null_distribution)
    forged = b'{"emoprobe-data": 1, "value": {"__record__": "os.system", "fields": {}}}'
    with pytest.raises(datacodec.CodecError, match="allow-list"):
        datacodec.loads(forged)
    with pytest.raises(datacodec.CodecError):
        datacodec.dumps(object())


def test_memo_key_changes_when_the_computing_code_changes(tmp_path):
    """No hand-bumped version: a code edit invalidates the memo by itself."""
    source = tmp_path / "mod_a.py"
    source.write_text("def compute():\n    return 1\n")
    import importlib.util

    def load(path):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.compute

    first = analysis.code_hash(load(source))
    other = tmp_path / "mod_b.py"
    other.write_text("def compute():\n    return 2\n")
    assert analysis.code_hash(load(other)) != first
    assert analysis.code_hash(load(source)) == first


EMOTIONS = ["happy", "sad", "calm"]


def sample_set(activations, n_per_emotion=8, wordings=4, name="data"):
    """A SampleSet over ``activations``; ``name`` stands in for the content-addressed keys."""
    emotions = EMOTIONS
    samples = []
    for e, emotion in enumerate(emotions):
        for i in range(n_per_emotion):
            spec = SampleSpec("emotion", emotion, f"{emotion} {i % wordings}", f"{emotion}/{i % wordings}", i, 100 * e + i)
            row = activations[e * n_per_emotion + i]
            samples.append(StoredSample(f"{name}-{e}-{i}", spec, None, np.array([0]), row[None, :], row[None, None, :],
                                        None, {}))
    return SampleSet(samples, (0,))


def small_config(tmp_path):
    config = load_config(overrides=Overrides(cache_dir=str(tmp_path), emotions=",".join(EMOTIONS)))
    return dataclasses.replace(config, statistics=dataclasses.replace(config.statistics, n_permutations=99,
                                                                      n_bootstrap=50))


def test_nan_activations_are_an_error_not_a_result(tmp_path):
    X = np.random.default_rng(0).standard_normal((24, 8)).astype(np.float16)
    X[3, 2] = np.nan
    with pytest.raises(StatsInputError, match="(?i)nan|finite"):
        analysis.emotion_layers(sample_set(X), (0,), small_config(tmp_path))


def test_a_layer_that_was_not_captured_is_named_in_the_error(tmp_path):
    X = np.random.default_rng(0).standard_normal((24, 8)).astype(np.float16)
    with pytest.raises(KeyError, match="layer 5 was not captured"):
        analysis.emotion_layers(sample_set(X), (5,), small_config(tmp_path))


def test_emotion_layers_finds_a_planted_difference_and_not_noise(tmp_path):
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((24, 16)) + 5.0
    planted = noise.copy()
    planted[:8, 0] += 6.0  # happy rows shifted along one axis
    config = small_config(tmp_path)
    assert analysis.emotion_layers(sample_set(planted, name="planted"), (0,), config).layer(0).pvalue < 0.05
    assert analysis.emotion_layers(sample_set(noise, name="noise"), (0,), config).layer(0).pvalue > 0.05


def test_memoised_analyses_are_computed_on_one_blas_thread(tmp_path):
    """Whichever process computes a memo first fixes it for the run, so it must not
    depend on that process's thread count (see emoprobe.threads)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})

    with threadpool_limits(limits=2, user_api="blas"):
        seen = analysis.memoised(tmp_path, "threads", {"k": 1}, blas_threads)
    assert seen == [1]


def _stored_set(store, params, activations, n_per_emotion=8, wordings=4):
    """``activations`` saved in ``store`` as the generator would and loaded back: a SampleSet of store entries."""
    from emoprobe.store import sample_key

    keys = []
    for e, emotion in enumerate(EMOTIONS):
        for i in range(n_per_emotion):
            spec = SampleSpec("emotion", emotion, f"{emotion} {i % wordings}", f"{emotion}/{i % wordings}", i, 100 * e + i)
            key = sample_key(spec, params)
            row = activations[e * n_per_emotion + i]
            store.save(key, spec, params, np.zeros(800, np.float32), 8000, [0], row[None, :], row[None, None, :])
            keys.append(key)
    return SampleSet([store.load(k) for k in keys], (0,))


def test_an_entry_regenerated_under_the_same_key_is_analysed_again_and_the_record_says_so(tmp_path):
    """Review 30 F4: the memo was keyed by the sample keys, which hash the inputs (prompt,
    seed, parameters), so an entry regenerated with other data (GPUs are not
    bit-reproducible, another shard's copy, an edit) kept the old numbers, and the record
    named the same samples as if the new data had been analysed."""
    from emoprobe import run_record
    from emoprobe.store import ActivationRangeError, KeyParams, SampleStore

    store, params = SampleStore(tmp_path), KeyParams("fake-model", 1.0, 250, 0.0, 1.0, 3.0, 1, False)
    config = small_config(tmp_path)
    X = np.random.default_rng(2).standard_normal((24, 8)) + 5.0
    X[:8, 0] += 6.0
    before = _stored_set(store, params, X)
    first = analysis.emotion_layers(before, (0,), config)
    recorded = run_record.content_digest(tmp_path, before.keys)
    assert analysis.emotion_layers(before, (0,), config).to_dict() == first.to_dict()  # the memo answers

    # One entry regenerated under the same key with other data, checksums consistent, as the store writes it.
    changed = before.samples[3]
    store.quarantine(changed.key, "regenerated")
    other = X.copy()
    other[3] = np.random.default_rng(3).standard_normal(8) * 40.0
    after = _stored_set(store, params, other)
    assert after.keys == before.keys and after.content_digest != before.content_digest
    assert run_record.digest(after.keys) == run_record.digest(before.keys)
    assert run_record.content_digest(tmp_path, after.keys) != recorded
    assert analysis.emotion_layers(after, (0,), config).to_dict() != first.to_dict()

    # Data no analysis may accept, under the same key: never stored (review 30b F2), so never
    # answered with the old numbers either.
    store.quarantine(changed.key, "regenerated")
    poisoned = X.copy()
    poisoned[3, 2] = np.nan
    with pytest.raises(ActivationRangeError, match="(?i)nan|finite"):
        _stored_set(store, params, poisoned)


def test_the_content_digest_follows_each_entrys_checksums_in_order(tmp_path):
    from emoprobe.store import content_digest

    a = {"audio.wav": "1" * 64, "activations.npz": "2" * 64}
    b = {**a, "activations.npz": "3" * 64}
    assert content_digest([("k1", a), ("k2", a)]) == content_digest([("k1", dict(a)), ("k2", dict(a))])
    assert content_digest([("k1", a), ("k2", a)]) != content_digest([("k1", a), ("k2", b)])
    assert content_digest([("k1", a), ("k2", a)]) != content_digest([("k2", a), ("k1", a)])
    assert content_digest([("k1", a), ("k2", None)]) != content_digest([("k1", a), ("k2", a)])
    # Samples built in memory, with no checksum table, are named by their arrays.
    X = np.random.default_rng(0).standard_normal((24, 8))
    Y = X.copy()
    Y[5, 1] += 1.0
    assert sample_set(X).content_digest == sample_set(X.copy()).content_digest != sample_set(Y).content_digest
