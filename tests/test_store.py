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


# -- activations the store does not write (review 30b): checksums made consistent with tampered data --------

def _rewrite_activations(entry, **arrays):
    """Replace arrays of an entry's activations.npz (None drops one) and make its checksum agree again."""
    import io

    from emoprobe.fileio import sha256_file

    with np.load(entry / "activations.npz") as stored:
        data = {name: stored[name] for name in stored.files}
    data.update(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: value for name, value in data.items() if value is not None})
    (entry / "activations.npz").write_bytes(buffer.getvalue())
    meta = json.loads((entry / "meta.json").read_text())
    meta["checksums"]["activations.npz"] = sha256_file(entry / "activations.npz")
    (entry / "meta.json").write_text(json.dumps(meta))


def _nan_at(shape, index):
    values = np.ones(shape, np.float16)
    values[index] = np.nan
    return values


# fake_generate writes 3 layers of width 8 and 2 time bins; the "model" below has n_layers=3, dim=8.
TAMPERED = {
    "NaN in mean": (dict(mean=_nan_at((3, 8), (2, 5))), "mean holds NaN or inf at layer"),
    "inf in bins": (dict(bins=np.full((3, 2, 8), np.inf, np.float16)), "bins holds NaN or inf"),
    "NaN in uncond_mean": (dict(uncond_mean=_nan_at((3, 8), (0, 0))), "uncond_mean holds NaN or inf"),
    "layers reversed": (dict(layers=np.array([2, 1, 0], np.int32)), r"stores layers \[2, 1, 0\]"),
    "layers not from 0": (dict(layers=np.array([1, 2, 3], np.int32)), r"stores layers \[1, 2, 3\]"),
    "layers as floats": (dict(layers=np.arange(3, dtype=np.float64)), "not 0..L-1"),
    "4 layers, model has 3": (dict(layers=np.arange(4, dtype=np.int32), mean=np.ones((4, 8), np.float16),
                                   bins=np.ones((4, 2, 8), np.float16)), "stores 4 layers; the model has 3"),
    "2 layers, model has 3": (dict(layers=np.arange(2, dtype=np.int32), mean=np.ones((2, 8), np.float16),
                                   bins=np.ones((2, 2, 8), np.float16)), "stores 2 layers; the model has 3"),
    "width 5, model's 8": (dict(mean=np.ones((3, 5), np.float16), bins=np.ones((3, 2, 5), np.float16)),
                           "stores width 5; the model's is 8"),
    "layers and mean disagree": (dict(mean=np.ones((4, 8), np.float16)), r"mean has shape \(4, 8\)"),
    "float32 mean": (dict(mean=np.ones((3, 8), np.float32)), "mean is float32, not float16"),
    "int8 bins": (dict(bins=np.ones((3, 2, 8), np.int8)), "bins is int8, not float16"),
    "5 time bins, key says 2": (dict(bins=np.ones((3, 5, 8), np.float16)), r"bins has shape \(3, 5, 8\)"),
    "uncond_mean of another width": (dict(uncond_mean=np.ones((3, 4), np.float16)), "uncond_mean has shape"),
    "an array the store never writes": (dict(extra=np.ones(3, np.float16)), "never writes"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_activations_the_store_never_writes_are_damaged_and_regenerated(tmp_path, case):
    arrays, reason = TAMPERED[case]
    store = SampleStore(tmp_path)
    samples, report = ensure_samples(store, specs(2), PARAMS, Loader(), fake_generate, 4, progress=False,
                                     n_layers=3, dim=8)
    victim = samples[1]
    _rewrite_activations(victim.path, **arrays)
    with pytest.raises(DamagedEntryError, match=reason):
        store.load(victim.key, n_layers=3, dim=8)
    again, report = ensure_samples(store, specs(2), PARAMS, Loader(), fake_generate, 4, progress=False,
                                   n_layers=3, dim=8)
    assert report.generated == 1 and "happy/1 seed 1001" in _entry_reasons(report)
    assert len(list(store.damaged_dir.iterdir())) == 1
    np.testing.assert_array_equal(again[1].layers, [0, 1, 2])
    np.testing.assert_array_equal(again[1].mean, victim.mean)
    np.testing.assert_array_equal(again[1].bins, victim.bins)


def test_the_models_shape_is_checked_only_where_it_is_known(tmp_path):
    store = SampleStore(tmp_path)
    samples, _, _ = ensure(store, 1)
    store.load(samples[0].key)  # no model given: whole as the store wrote it
    store.load(samples[0].key, n_layers=3, dim=8)
    with pytest.raises(DamagedEntryError, match="the model has 4"):
        store.load(samples[0].key, n_layers=4)
    with pytest.raises(DamagedEntryError, match="the model's is 16"):
        store.load(samples[0].key, dim=16)


# -- values float16 cannot hold are refused when saving, never stored as inf (review 30b) ------------------

def _save(store, spec, mean, bins, uncond_mean=None):
    key = sample_key(spec, PARAMS)
    return store.save(key, spec, PARAMS, np.zeros(80, np.float32), 8000, [0, 1, 2], mean, bins, uncond_mean)


@pytest.mark.parametrize("damage, array, layer, reason", [
    ("70000 in mean", "mean", 1, r"1 finite value\(s\) beyond float16's range \(largest \|x\| 70000 > 65504\)"),
    ("-1e5 in bins", "bins", 2, r"largest \|x\| 100000 > 65504"),
    ("NaN in bins", "bins", 0, "1 NaN or inf"),
    ("inf in uncond_mean", "uncond_mean", 2, "1 NaN or inf"),
])
def test_save_refuses_values_float16_cannot_hold_naming_sample_and_layer(tmp_path, damage, array, layer, reason):
    from emoprobe.store import ActivationRangeError

    store = SampleStore(tmp_path)
    spec = specs(1)[0]
    arrays = {"mean": np.ones((3, 8)), "bins": np.ones((3, 2, 8)), "uncond_mean": np.ones((3, 8))}
    arrays[array][layer].flat[3] = {"70000 in mean": 7e4, "-1e5 in bins": -1e5, "NaN in bins": np.nan,
                                    "inf in uncond_mean": np.inf}[damage]
    with pytest.raises(ActivationRangeError,
                       match=rf"sample happy/0 seed 1000 \(key {sample_key(spec, PARAMS)[:12]}\), {array}: "
                             rf"layer {layer} hold\(s\) .*{reason}"):
        _save(store, spec, **arrays)
    assert not list(store.samples_dir.glob("*/*")) and not list(store.tmp_dir.iterdir())  # nothing kept


def test_a_generation_float16_cannot_hold_stops_the_run_and_stores_nothing(tmp_path):
    from emoprobe.store import ActivationRangeError

    def outlier(model, batch):
        out = fake_generate(model, batch)
        out[1]["mean"][2, 0] = 1e5  # a residual-stream outlier dimension
        return out

    store = SampleStore(tmp_path)
    with pytest.raises(ActivationRangeError, match=r"sample happy/1 seed 1001 .*mean: layer 2 "):
        ensure_samples(store, specs(2), PARAMS, Loader(), outlier, 4, progress=False)
    assert len(list(store.samples_dir.glob("*/*"))) == 1  # the sample before it was kept; never an inf entry


def test_values_float16_holds_are_saved_exactly_as_before(tmp_path):
    store = SampleStore(tmp_path)
    spec = specs(1)[0]
    mean = np.ones((3, 8)) * np.array([0.1, -3.0, 65504.0])[:, None]
    mean[0, 0] = 65519.0  # rounds to 65504, float16's largest finite value, not to inf
    bins = np.full((3, 2, 8), -65504.0)
    _save(store, spec, mean, bins)
    loaded = store.load(sample_key(spec, PARAMS), n_layers=3, dim=8)
    np.testing.assert_array_equal(loaded.mean, mean.astype(np.float16))
    np.testing.assert_array_equal(loaded.bins, bins.astype(np.float16))
    assert loaded.mean.dtype == np.float16 and loaded.layers.dtype == np.int32


def test_samples_carry_the_plans_labels_not_those_of_the_config_that_generated_them(tmp_path):
    """The key hashes the prompt, seed and parameters, not the labels: a cache filled under
    another wording order hands back entries whose meta names other prompt ids (review 32)."""
    import dataclasses

    store = SampleStore(tmp_path)
    ensure(store, 4)
    relabelled = [dataclasses.replace(s, prompt_id=f"happy/{9 - int(s.prompt_id[-1])}", condition="joyful")
                  for s in specs(4)]
    samples, report = ensure_samples(store, relabelled, PARAMS, Loader(), fake_generate, 4, progress=False)
    assert report.generated == 0
    assert [s.spec for s in samples] == relabelled
    # The stored meta still says what the first config wrote: only the returned spec is the plan's.
    assert {s.meta["spec"]["prompt_id"] for s in samples} == {"happy/0", "happy/1"}
