"""The sample store: bit-for-bit round trips, resumption, damage detection, one writer."""

import json
import multiprocessing
import os
import shutil

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


def _entry_reasons(report):
    return " | ".join(report.damaged)


def test_entry_copied_into_another_samples_folder_is_refused_and_regenerated(tmp_path):
    store = SampleStore(tmp_path)
    samples, _, _ = ensure(store, 2)
    a, b = samples
    shutil.rmtree(b.path)
    shutil.copytree(a.path, b.path)
    with pytest.raises(DamagedEntryError, match="names key"):
        store.load(b.key)
    # The same copy with its key rewritten is still caught: the spec does not hash to the folder.
    meta = json.loads((b.path / "meta.json").read_text())
    (b.path / "meta.json").write_text(json.dumps({**meta, "key": b.key}))
    with pytest.raises(DamagedEntryError, match="foreign or altered"):
        store.load(b.key)
    again, report, _ = ensure(store, 2)
    assert report.generated == 1 and "happy/1 seed 1001" in _entry_reasons(report)
    np.testing.assert_array_equal(again[1].mean, b.mean)


@pytest.mark.parametrize("table", [{}, {"audio.wav": None}, "none"])
def test_checksum_table_must_cover_every_data_file(tmp_path, table):
    store = SampleStore(tmp_path)
    samples, _, _ = ensure(store, 1)
    meta_path = samples[0].path / "meta.json"
    meta = json.loads(meta_path.read_text())
    if isinstance(table, dict) and table:
        table = {"audio.wav": meta["checksums"]["audio.wav"]}
    meta_path.write_text(json.dumps({**meta, "checksums": table}))
    with pytest.raises(DamagedEntryError, match="checksum table covers"):
        store.load(samples[0].key)


def test_a_file_no_checksum_covers_is_refused(tmp_path):
    store = SampleStore(tmp_path)
    samples, _, _ = ensure(store, 1)
    (samples[0].path / "extra.npy").write_bytes(b"planted")
    with pytest.raises(DamagedEntryError, match="no checksum covers"):
        store.load(samples[0].key)


@pytest.mark.parametrize("damage", ["deleted", "incomplete"])
def test_missing_or_incomplete_metadata_is_moved_aside_and_regenerated_every_run(tmp_path, damage, caplog):
    """One deleted meta.json used to make every later run fail with an unnamed sample."""
    store = SampleStore(tmp_path)
    samples, _, _ = ensure(store, 2)
    meta_path = samples[1].path / "meta.json"
    if damage == "deleted":
        meta_path.unlink()
    else:
        meta = json.loads(meta_path.read_text())
        del meta["spec"]
        meta_path.write_text(json.dumps(meta))
    with caplog.at_level("WARNING"):
        again, report, _ = ensure(store, 2)
    assert report.generated == 1
    message = _entry_reasons(report)
    assert "happy/1 seed 1001" in message
    assert ("meta.json is missing" if damage == "deleted" else "lacks spec") in message
    moved = list(store.damaged_dir.iterdir())
    assert len(moved) == 1 and moved[0].is_dir() and str(moved[0]) in caplog.text
    assert f"moved to {moved[0]}" in message  # the path named is the one that exists now
    _, report, _ = ensure(store, 2)
    assert report.generated == 0 and not report.damaged
    np.testing.assert_array_equal(again[1].mean, samples[1].mean)


def test_staging_folders_of_killed_writers_are_removed(tmp_path):
    import socket
    import subprocess

    store = SampleStore(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = store.tmp_dir / f"{socket.gethostname()}-{dead.pid}-0123456789ab.xyz"
    orphan.mkdir()
    (orphan / "audio.wav").write_bytes(b"half")
    alive = store.tmp_dir / f"{socket.gethostname()}-{os.getpid()}-0123456789ab.abc"
    alive.mkdir()
    ensure(store, 1)
    assert not orphan.exists() and alive.exists()


def test_full_disk_stops_with_device_and_path_and_leaves_no_partial_entry(tmp_path, monkeypatch):
    import errno

    from emoprobe import store as store_module

    store = SampleStore(tmp_path)
    writes = []

    def fills_up(path, data):
        writes.append(path.name)
        if len(writes) == 2:  # audio written, activations hit the full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        path.write_bytes(data)

    monkeypatch.setattr(store_module, "_write_bytes", fills_up)
    with pytest.raises(store_module.StoreFullError, match=r"no space left on .* at " + str(tmp_path)):
        ensure(store, 1)
    assert not list(store.samples_dir.glob("*/*")) and not list(store.tmp_dir.iterdir())


def test_derived_data_is_kept_under_its_source_checksum_version_and_parameters(tmp_path):
    store = SampleStore(tmp_path)
    checksum = "ab" * 32
    assert store.load_derived("acoustics", "v1", checksum) is None
    store.save_derived("acoustics", "v1", checksum, {"rms": 0.5, "mode": "minor"}, {"window": (1, 2)})
    assert store.load_derived("acoustics", "v1", checksum, {"window": (1, 2)}) == {"rms": 0.5, "mode": "minor"}
    # Another version, another source or other parameters are other keys.
    assert store.load_derived("acoustics", "v2", checksum, {"window": (1, 2)}) is None
    assert store.load_derived("acoustics", "v1", "cd" * 32, {"window": (1, 2)}) is None
    assert store.load_derived("acoustics", "v1", checksum, {"window": (1, 3)}) is None
    # An entry that is unreadable, or names another key, is not used.
    path = store.derived_path("acoustics", "v1", checksum, {"window": [1, 2]})
    record = json.loads(path.read_text())
    record["key"]["checksum"] = "cd" * 32
    path.write_text(json.dumps(record))
    assert store.load_derived("acoustics", "v1", checksum, {"window": (1, 2)}) is None
    path.write_text("{half")
    assert store.load_derived("acoustics", "v1", checksum, {"window": (1, 2)}) is None
