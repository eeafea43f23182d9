"""Models: the tiny model is deterministic, and the real loading path works offline."""

import numpy as np
import pytest
import torch
from audiocraft.models import MusicGen
from audiocraft.quantization import core_vq

from emoprobe import models
from emoprobe.capture import generate_batch
from emoprobe.config import ConfigError
from emoprobe.models import (SHORT_NAMES, ModelNotFoundError, build_tiny, check_layers, describe_model, load_model,
                             write_checkpoint_folder)

GEN = dict(duration_s=0.5, top_k=250, top_p=0.0, temperature=1.0, cfg_coef=3.0, layers=[0], n_time_bins=1)


def test_tiny_weights_are_seeded(monkeypatch):
    # Built afresh each time (no copy of an earlier build in this process or on disk).
    monkeypatch.delenv(models.TINY_CACHE_ENV, raising=False)
    builds = []
    for seed in (0, 0, 1):
        monkeypatch.setattr(models, "_TINY_BUILDS", {})
        builds.append(build_tiny(seed=seed))
    wa, wb, wc = (m.lm.transformer.layers[0].linear1.weight for m in builds)
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def _weights(model) -> dict:
    return {**model.lm.state_dict(), **{f"codec.{k}": v for k, v in model.compression_model.state_dict().items()}}


def test_a_kept_tiny_build_is_the_fresh_one(monkeypatch, tmp_path):
    """build_tiny's copies (of this process's build, or read from the folder) equal the fresh build."""
    monkeypatch.setenv(models.TINY_CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(models, "_TINY_BUILDS", {})
    fresh = build_tiny(seed=2)  # k-means runs, and its result is written to the folder
    assert len(list(tmp_path.glob("tiny-*.pt"))) == 1

    def no_kmeans(*_args, **_kwargs):
        raise AssertionError("k-means ran again: the kept build was not used")

    monkeypatch.setattr(core_vq, "kmeans", no_kmeans)
    copied = build_tiny(seed=2)
    monkeypatch.setattr(models, "_TINY_BUILDS", {})
    read = build_tiny(seed=2)
    assert copied is not fresh and copied.lm is not fresh.lm and read.lm is not fresh.lm
    expected = _weights(fresh)
    for model in (copied, read):
        weights = _weights(model)
        assert weights.keys() == expected.keys()
        assert all(torch.equal(weights[k], expected[k]) for k in expected)
    # The codebooks were filled (k-means ran, or its result was read), not left empty.
    assert all(bool(layer._codebook.inited) for layer in read.compression_model.quantizer.vq.layers)
    runs = [generate_batch(m, ["x", "a happy song"], [5, 6], **GEN) for m in (fresh, copied, read)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.codes, runs[0].codes)
        np.testing.assert_array_equal(run.audio, runs[0].audio)
    # Another seed or size is another file.
    lm_cfg, codec_cfg = models.tiny_lm_config(), models.tiny_compression_config()
    names = {models._tiny_weights_file(seed, cfg, codec_cfg)
             for seed, cfg in ((2, lm_cfg), (3, lm_cfg), (2, models.tiny_lm_config(n_layers=2)))}
    assert len(names) == 3 and models._tiny_weights_file(2, lm_cfg, codec_cfg) in set(tmp_path.glob("tiny-*.pt"))


def test_tiny_is_labelled_random():
    info = describe_model("tiny")
    assert info.is_random and "RANDOM" in info.label


def test_checkpoint_folder_loads_through_get_pretrained(tmp_path, tiny_model):
    folder = write_checkpoint_folder(tiny_model, tmp_path / "ckpt")
    info = describe_model(str(folder))
    assert (info.kind, info.n_layers, info.is_random) == ("checkpoint", len(tiny_model.lm.transformer.layers), False)
    loaded = MusicGen.get_pretrained(str(folder), device="cpu")
    original = generate_batch(tiny_model, ["x"], [5], **GEN)
    reloaded = generate_batch(loaded, ["x"], [5], **GEN)
    np.testing.assert_array_equal(original.codes, reloaded.codes)
    np.testing.assert_allclose(original.audio, reloaded.audio, atol=1e-6)
    with pytest.raises(ConfigError):
        check_layers((info.n_layers,), info)


def test_incomplete_checkpoint_folder_is_refused(tmp_path):
    (tmp_path / "state_dict.bin").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="compression_state_dict.bin"):
        describe_model(str(tmp_path))


def test_short_names_expand_to_published_checkpoints():
    assert SHORT_NAMES == {"small": "facebook/musicgen-small", "medium": "facebook/musicgen-medium",
                           "melody": "facebook/musicgen-melody", "large": "facebook/musicgen-large"}


class _RunsCode:
    marker = None

    def __reduce__(self):
        import os

        return (os.system, ("touch " + str(_RunsCode.marker),))


@pytest.mark.parametrize("poisoned", ["state_dict.bin", "compression_state_dict.bin"])
def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path, tiny_model, poisoned, monkeypatch):
    from emoprobe.models import UnsafeCheckpointError, load_model

    # A user's environment asking torch for unsafe loads changes nothing.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    _RunsCode.marker = tmp_path / "code-ran"
    folder = write_checkpoint_folder(tiny_model, tmp_path / "ckpt")
    pkg = torch.load(folder / poisoned, weights_only=True)
    torch.save({**pkg, "extra": _RunsCode()}, folder / poisoned)
    with pytest.raises(UnsafeCheckpointError, match="weights_only=True"):
        load_model(describe_model(str(folder)), device="cpu")
    assert not _RunsCode.marker.exists(), "loading a checkpoint ran code"


def test_checkpoint_with_audiocraft_yaml_config_is_described(tmp_path, tiny_model):
    """audiocraft's exports store xp.cfg as YAML text: described without unpickling anything but data."""
    from omegaconf import OmegaConf

    folder = write_checkpoint_folder(tiny_model, tmp_path / "ckpt")
    pkg = torch.load(folder / "state_dict.bin", weights_only=True)
    torch.save({**pkg, "xp.cfg": OmegaConf.to_yaml(OmegaConf.create(pkg["xp.cfg"]))}, folder / "state_dict.bin")
    assert describe_model(str(folder)).n_layers == len(tiny_model.lm.transformer.layers)
    (folder / "state_dict.bin").write_bytes(b"not a torch archive")
    with pytest.raises(ModelNotFoundError, match="cannot be read"):
        describe_model(str(folder))


@pytest.mark.parametrize("shape, layers, dim, heads, ffn", [("small", 24, 1024, 16, 4096), ("large", 48, 2048, 32, 8192)])
def test_tiny_shapes_have_the_published_transformer_sizes(shape, layers, dim, heads, ffn):
    """Built on the meta device: the sizes are checked without allocating gigabytes."""
    from audiocraft.models import builders
    from omegaconf import OmegaConf

    from emoprobe.models import PUBLISHED, tiny_compression_config, tiny_lm_config, tiny_shape

    info = describe_model(f"tiny:shape={shape}")
    assert (info.kind, info.n_layers, info.dim, info.is_random) == ("tiny", layers, dim, True)
    assert (info.n_layers, info.dim) == PUBLISHED[SHORT_NAMES[shape]]
    assert info.identity != describe_model("tiny").identity
    lm = builders.get_lm_model(OmegaConf.create(tiny_lm_config(device="meta", shape=tiny_shape(info.name))))
    block = lm.transformer.layers[0]
    assert len(lm.transformer.layers) == layers and lm.dim == dim
    assert (block.self_attn.num_heads, block.linear1.out_features) == (heads, ffn)
    assert block.cross_attention is not None and block.linear1.bias is None
    assert (lm.n_q, lm.card) == (4, 2048)
    assert type(lm.condition_provider.conditioners["description"]).__name__ == "LUTConditioner"
    codec = tiny_compression_config(shape=tiny_shape(info.name))
    assert np.prod(codec["seanet"]["ratios"]) == 640 and codec["rvq"]["bins"] == 2048  # 50 frames a second


@pytest.mark.parametrize("name, message", [("tiny:shape=huge", "unknown shape 'huge'.*small, large"),
                                           ("tiny:layers=3", "unknown parameter"),
                                           ("tiny:shape", "expected key=value"),
                                           ("tiny:shape=small;shape=large", "'shape' is given twice"),
                                           ("planted:layers=1;layers=3", "'layers' is given twice"),
                                           ("planted:layers=-1", r"layer\(s\) \[-1\] do not exist"),
                                           ("planted:layers=1,4", r"layer\(s\) \[4\] do not exist"),
                                           ("planted:layers=one", "layers must be integers")])
def test_a_malformed_model_spec_is_a_clear_error(name, message):
    with pytest.raises(ModelNotFoundError, match=message):
        describe_model(name)


def test_plain_tiny_keeps_its_identity_and_size():
    """The default shape is the store's existing tiny model: its key must not move."""
    info = describe_model("tiny")
    assert (info.n_layers, info.dim, info.identity) == (4, 32, "tiny-v2")


@pytest.mark.parametrize("name, decodes", [("planted:layers=1;size=2", False), ("lexical:size=2", False),
                                           ("null", True)])
def test_known_truth_models_decode_tokens_only_when_they_keep_the_decoders_audio(name, decodes):
    """Planted and lexical clips are synthesised (truth.known_truth.synthesised_audio): their tokens go undecoded."""
    model = load_model(describe_model(name), device="cpu", prompt_emotions={"a happy song": "happy"})
    decoded = []
    decode = model.compression_model.decode
    model.compression_model.decode = lambda *args, **kwargs: decoded.append(1) or decode(*args, **kwargs)
    batch = generate_batch(model, ["a happy song", "x"], [5, 6], **{**GEN, "duration_s": 1.0})
    assert bool(decoded) == decodes
    assert batch.audio.shape == (2, model.sample_rate) and np.all(np.abs(batch.audio).max(axis=1) > 0)


def test_a_real_model_is_built_only_after_librosas_kernels_are_compiled_under_the_lock(tmp_path, tiny_model,
                                                                                       monkeypatch):
    # A melody model's chroma extractor compiles librosa's kernels as it is built; built beside a
    # feature extraction without the lock, it left a cache that crashed every later process.
    from emoprobe import compiled_kernels, models

    folder = write_checkpoint_folder(tiny_model, tmp_path / "ckpt")
    order = []
    monkeypatch.setattr(compiled_kernels, "import_librosa", lambda: order.append("kernels compiled"))
    original = MusicGen.get_pretrained
    monkeypatch.setattr(MusicGen, "get_pretrained", lambda *a, **k: order.append("model built") or original(*a, **k))
    models.load_model(describe_model(str(folder)), device="cpu")
    assert order == ["kernels compiled", "model built"]
