"""The dataset's text records: what the model's conditioner makes of each wording and word."""

import numpy as np
import pytest

from emoprobe import dataset, design, lexical
from emoprobe.config import Overrides, load_config, planned_wordings
from emoprobe.models import describe_model

from conftest import REPO


@pytest.fixture
def tiny_run(tmp_path):
    config = load_config(REPO / "configs" / "experiment.toml", Overrides(cache_dir=str(tmp_path)))
    return config, describe_model("tiny")


def test_the_word_embeddings_the_audit_reads_are_read_from_the_store_and_never_computed(tiny_run, tiny_model,
                                                                                          monkeypatch):
    config, info = tiny_run
    words = design.conditioner_words(planned_wordings(config))
    assert "happy" in words and "a" in words  # the design's words, stop words included
    # The controller that decides has no model: before the samples' generation stored them, none.
    monkeypatch.setattr(dataset, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    assert dataset.conditioner_word_vectors(config, info) is None
    dataset.text_conditioning(config, info, words, model=tiny_model)
    vectors = dataset.conditioner_word_vectors(config, info)
    assert sorted(vectors) == words
    expected = lexical.conditioner_embeddings(tiny_model, ["melody", "happy"])
    np.testing.assert_allclose(np.stack([vectors["melody"], vectors["happy"]]), expected, rtol=1e-5, atol=1e-6)


def _claims_more_than_it_holds(path):
    with open(path, "wb") as out:  # a 100-odd byte file whose header claims 64 GiB
        np.lib.format.write_array_header_1_0(out, {"descr": "<f8", "fortran_order": False, "shape": (2**33,)})


def _damaged(path, row, damage):
    if damage == "missing":
        path.unlink()
    elif damage == "claims 64 GiB":
        _claims_more_than_it_holds(path)
    elif damage == "a pickle":
        np.save(path, np.array([object()] * 2, dtype=object), allow_pickle=True)
    else:
        np.save(path, {"nan": np.full_like(row, np.nan), "zeros": np.zeros_like(row), "other width": row[:-1],
                       "not numbers": np.array(["x"] * row.size), "2-D": row[None, :],
                       # Values float32 cannot hold: their norm under- or overflows downstream.
                       "1e-200": row * 1e-200, "1e200": row * 1e200}[damage])


@pytest.mark.parametrize("damage", ["missing", "nan", "zeros", "other width", "not numbers", "2-D", "1e-200",
                                    "1e200", "claims 64 GiB", "a pickle"])
def test_a_damaged_word_record_is_not_read(tiny_run, tiny_model, damage):
    config, info = tiny_run
    words = design.conditioner_words(planned_wordings(config))
    dataset.text_conditioning(config, info, words, model=tiny_model)
    before = set((config.cache_dir / "text").glob("*.npy"))
    dataset.text_conditioning(config, info, ["melody"], model=tiny_model)  # already there: nothing new
    assert set((config.cache_dir / "text").glob("*.npy")) == before
    path = next(p for p in before if np.allclose(np.load(p), dataset.text_conditioning(config, info, ["melody"])[0]))
    row = np.load(path)
    _damaged(path, row, damage)
    assert dataset.conditioner_word_vectors(config, info) is None
    # Where the model is at hand, what was damaged is computed again.
    again = dataset.text_conditioning(config, info, words, model=tiny_model)
    np.testing.assert_allclose(again[words.index("melody")], row, rtol=1e-5, atol=1e-6)
    assert sorted(dataset.conditioner_word_vectors(config, info)) == words


@pytest.mark.parametrize("damage", ["text is a file", "its lock is a folder"])
def test_a_text_folder_that_is_not_the_stores_reads_as_missing(tiny_run, damage):
    config, info = tiny_run
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    if damage == "text is a file":
        (config.cache_dir / "text").write_text("not a folder")
    else:
        (config.cache_dir / "text" / "text.lock").mkdir(parents=True)
    assert dataset.conditioner_word_vectors(config, info) is None  # the decision goes on, and says so


def _stored(seed, layers, rows):
    from emoprobe.config import SampleSpec
    from emoprobe.store import StoredSample

    spec = SampleSpec("emotion", "happy", "a happy song", "happy/0", 0, seed)
    mean = np.array(rows, np.float16)[:, None] * np.ones((1, 3), np.float16)
    return StoredSample(f"key{seed}", spec, None, np.array(layers), mean, mean[:, None, :], None, {})


def test_a_sample_sets_rows_are_read_by_the_stored_layer_index_not_by_position():
    # Layer l holds the value 10 + l in both samples; the second stores its layers in reverse order.
    samples = dataset.SampleSet([_stored(1, [0, 1, 2], [10, 11, 12]), _stored(2, [2, 1, 0], [12, 11, 10])],
                                (0, 1, 2))
    for layer in (0, 1, 2):
        np.testing.assert_array_equal(samples.layer(layer), np.full((2, 3), 10 + layer))
        np.testing.assert_array_equal(samples.layer_bins(layer), np.full((2, 1, 3), 10 + layer))


@pytest.mark.parametrize("layers", [[0, 1], [0, 1, 1]])
def test_a_sample_that_lacks_a_layer_or_stores_it_twice_is_refused_not_read_by_position(layers):
    samples = dataset.SampleSet([_stored(1, [0, 1, 2], [10, 11, 12]), _stored(2, layers, [10, 11, 12][:len(layers)])],
                                (0, 1, 2))
    with pytest.raises(KeyError, match=r"happy/0 seed 2 \(key key2\) stores layer \d \d times"):
        samples.layer(1 if len(layers) == 3 else 2)


def test_the_store_is_told_the_models_layer_count_and_width(tiny_run, monkeypatch):
    """So that an entry of another layer count or width is regenerated, not analysed (review 30b)."""
    from emoprobe import steering, store

    config, info = tiny_run
    seen = []

    def ensure_samples(store_, specs, *args, **kwargs):
        seen.append((kwargs.get("n_layers"), kwargs.get("dim")))
        return [], store.EnsureReport()

    monkeypatch.setattr(dataset, "ensure_samples", ensure_samples)
    monkeypatch.setattr(store, "ensure_samples", ensure_samples)  # steering imports it when it runs
    sample_store = store.SampleStore(config.cache_dir)
    dataset.collect_samples(config, info, sample_store, progress=False, generate_missing=False)
    steering.collect_steered(config, info, sample_store, [], generate_missing=False)
    assert seen == [(info.n_layers, info.dim)] * 2
