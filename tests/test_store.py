"""The sample store: bit-for-bit round trips, resumption, damage detection, one writer."""

import json
import multiprocessing

import numpy as np
import pytest

from emoprobe.config import SampleSpec
from emoprobe.store import DamagedEntryError, KeyParams, SampleStore, ensure_samples, sample_key

PARAMS = KeyParams("fake-model", 1.0, 250, 0.0, 1.0, 3.0, 2, False)


def specs(n):
    return [SampleSpec("emotion", "happy", f"prompt {i % 2}", f"happy/{i % 2}", i, 1000 + i) for i in range(n)]


def fake_generate(model, batch):
    """Deterministic stand-in for MusicGen: content depends on the seed only."""
    model.append(len(batch))
    out = []
    for spec in batch:
        rng = np.random.default_rng(spec.seed)
        out.append({"audio": rng.standard_normal(800).astype(np.float32) * 0.1, "sample_rate": 8000,
                    "layers": [0, 1, 2], "mean": rng.standard_normal((3, 8)), "bins": rng.standard_normal((3, 2, 8))})
    return out


class Loader:
    def __init__(self):
        self.loads = 0
        self.batches = []

    def __call__(self):
        self.loads += 1
        return self.batches


def ensure(store, n, loader=None, batch_size=4):
    loader = loader or Loader()
    samples, report = ensure_samples(store, specs(n), PARAMS, loader, fake_generate, batch_size, progress=False)
    return samples, report, loader


def test_round_trip_is_bit_for_bit(tmp_path):
    store = SampleStore(tmp_path)
    first, report, _ = ensure(store, 6)
    assert report.generated == 6
    again, report, loader = ensure(store, 6)
    assert report.generated == 0 and loader.loads == 0
    for a, b in zip(first, again):
        assert a.key == b.key
        np.testing.assert_array_equal(a.mean, b.mean)
        np.testing.assert_array_equal(a.bins, b.bins)
        np.testing.assert_array_equal(a.load_audio()[0], b.load_audio()[0])
    expected = fake_generate([], specs(1))[0]
    np.testing.assert_array_equal(first[0].load_audio()[0], expected["audio"])
    np.testing.assert_array_equal(first[0].mean, expected["mean"].astype(np.float16))


def test_key_covers_every_parameter():
    spec = specs(1)[0]
    base = sample_key(spec, PARAMS)
    for field, value in [("model_identity", "other"), ("duration_s", 2.0), ("top_k", 50), ("cfg_coef", 1.0),
                         ("n_time_bins", 3), ("temperature", 0.5), ("keep_unconditional", True)]:
        assert sample_key(spec, KeyParams(**{**PARAMS.__dict__, field: value})) != base, field
    assert sample_key(SampleSpec(**{**spec.__dict__, "seed": 1}), PARAMS) != base
    assert sample_key(SampleSpec(**{**spec.__dict__, "prompt": "other"}), PARAMS) != base


def test_interrupted_run_generates_only_the_rest(tmp_path):
    store = SampleStore(tmp_path)
    calls = []

    def dies_after_two_batches(model, batch):
        calls.append(len(batch))
        if len(calls) > 2:
            raise KeyboardInterrupt("killed")
        return fake_generate(model, batch)

    with pytest.raises(KeyboardInterrupt):
        ensure_samples(store, specs(10), PARAMS, Loader(), dies_after_two_batches, 2, progress=False)
    _, report, loader = ensure(store, 10, batch_size=2)
    assert report.generated == 10 - 4
    assert sum(loader.batches) == 6


def test_corrupted_file_is_detected_and_regenerated(tmp_path):
    store = SampleStore(tmp_path)
    samples, _, _ = ensure(store, 3)
    victim = samples[1]
    data = bytearray((victim.path / "activations.npz").read_bytes())
    data[-100] ^= 0xFF
    (victim.path / "activations.npz").write_bytes(bytes(data))
    with pytest.raises(DamagedEntryError, match="checksum"):
        store.load(victim.key)
    again, report, _ = ensure(store, 3)
    assert report.generated == 1 and len(report.damaged) == 1
    np.testing.assert_array_equal(again[1].mean, samples[1].mean)
    assert any(store.damaged_dir.iterdir())


def test_truncated_metadata_is_damage_not_a_crash(tmp_path):
    store = SampleStore(tmp_path)
    samples, _, _ = ensure(store, 1)
    (samples[0].path / "meta.json").write_text("{not json")
    _, report, _ = ensure(store, 1)
    assert report.generated == 1


def _worker(root, n, out_queue):
    loader = Loader()
    _, report, _ = ensure(SampleStore(root), n, loader)
    out_queue.put((report.generated, loader.loads))


def test_two_processes_started_together_generate_each_sample_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), 8, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(g for g, _ in results) == [0, 8]
    assert sorted(loads for _, loads in results) == [0, 1]
    assert len(list((tmp_path / "samples").glob("*/*"))) == 8


def test_metadata_names_prompt_seed_and_versions(tmp_path):
    samples, _, _ = ensure(SampleStore(tmp_path), 1)
    meta = json.loads((samples[0].path / "meta.json").read_text())
    assert meta["spec"]["prompt"] == "prompt 0" and meta["spec"]["seed"] == 1000
    assert {"python", "numpy", "torch", "audiocraft"} <= set(meta["versions"])
