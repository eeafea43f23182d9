"""Activation capture: the right rows, every step, hooks gone afterwards."""

import numpy as np
import pytest
import torch
from audiocraft.modules.conditioners import ConditioningAttributes

from emoprobe.capture import (ActivationCapture, CaptureError, expected_generation_steps, generate_batch,
                              per_sample_sampling, time_bin_edges)

PROMPTS = ["happy bright pop", "sad slow piano", "calm soft ambient"]
GEN = dict(duration_s=1.0, top_k=250, top_p=0.0, temperature=1.0, cfg_coef=3.0)


def teacher_forced_layer_outputs(model, codes, prompts):
    """Every layer's output when the generated codes are fed back with conditional prompts only."""
    outputs = {}
    layers = model.lm.transformer.layers
    handles = [layer.register_forward_hook(lambda _m, _i, out, i=i: outputs.__setitem__(i, out.detach()))
               for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            # keep_only_valid_steps=False: sequence position j is what generation step j saw.
            model.lm.compute_predictions(
                codes, [ConditioningAttributes(text={"description": p}) for p in prompts],
                keep_only_valid_steps=False)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def capture_generation(model, prompts, seeds, n_time_bins=4, keep_unconditional=True):
    model.set_generation_params(duration=GEN["duration_s"], top_k=GEN["top_k"], cfg_coef=GEN["cfg_coef"])
    n_frames = int(GEN["duration_s"] * model.frame_rate)
    n_steps = expected_generation_steps(model.lm, n_frames)
    capture = ActivationCapture(model.lm, range(len(model.lm.transformer.layers)), len(prompts), n_steps,
                                n_time_bins, keep_unconditional)
    with torch.no_grad(), per_sample_sampling(seeds, "cpu"), capture:
        _, codes = model.generate(prompts, return_tokens=True)
    return capture.result(np.float32), codes, n_steps


def test_conditional_rows_match_teacher_forcing_and_unconditional_rows_do_not(tiny_model):
    pooled, codes, n_steps = capture_generation(tiny_model, PROMPTS, [1, 2, 3])
    forced = teacher_forced_layer_outputs(tiny_model, codes, PROMPTS)
    edges = time_bin_edges(n_steps, 4)
    for layer, out in forced.items():
        steps = out[:, :n_steps].numpy()
        np.testing.assert_allclose(pooled.mean[layer], steps.mean(axis=1), rtol=0, atol=2e-6)
        for k in range(4):
            np.testing.assert_allclose(pooled.bins[layer][:, k], steps[:, edges[k]:edges[k + 1]].mean(axis=1),
                                       rtol=0, atol=2e-6)
        # The unconditional half of the CFG batch is a different computation.
        assert np.abs(pooled.uncond_mean[layer] - steps.mean(axis=1)).max() > 0.1


def test_every_row_of_a_batch_is_kept_not_only_the_first(tiny_model):
    pooled, _, _ = capture_generation(tiny_model, PROMPTS, [1, 2, 3])
    assert pooled.mean[0].shape[0] == 3
    assert not np.allclose(pooled.mean[3][0], pooled.mean[3][1])


def test_shapes_per_layer_and_time_bin(tiny_model):
    batch = generate_batch(tiny_model, PROMPTS, [1, 2, 3], layers=[0, 2], n_time_bins=5, **GEN)
    dim = tiny_model.lm.dim
    assert set(batch.activations.mean) == {0, 2}
    assert batch.activations.mean[0].shape == (3, dim)
    assert batch.activations.bins[2].shape == (3, 5, dim)
    assert batch.activations.mean[0].dtype == np.float16
    assert batch.audio.shape == (3, int(GEN["duration_s"] * tiny_model.sample_rate))


def test_hooks_are_removed_after_generation_and_after_an_error(tiny_model):
    layers = tiny_model.lm.transformer.layers
    generate_batch(tiny_model, PROMPTS[:1], [1], layers=[0, 1], n_time_bins=2, **GEN)
    assert all(len(layer._forward_hooks) == 0 for layer in layers)
    # Too few expected steps: the hook raises mid-generation; hooks still go.
    with pytest.raises(CaptureError):
        with ActivationCapture(tiny_model.lm, [0, 1], 1, n_steps=3, n_time_bins=1):
            tiny_model.set_generation_params(duration=GEN["duration_s"])
            with torch.no_grad():
                tiny_model.generate(PROMPTS[:1])
    assert all(len(layer._forward_hooks) == 0 for layer in layers)


def test_a_sample_depends_on_its_seed_not_on_its_batch(tiny_model):
    alone = generate_batch(tiny_model, PROMPTS[1:2], [2], layers=[3], n_time_bins=1, **GEN)
    batched = generate_batch(tiny_model, PROMPTS, [1, 2, 3], layers=[3], n_time_bins=1, **GEN)
    np.testing.assert_array_equal(alone.codes[0], batched.codes[1])
    other_seed = generate_batch(tiny_model, PROMPTS[1:2], [99], layers=[3], n_time_bins=1, **GEN)
    assert (other_seed.codes[0] != alone.codes[0]).mean() > 0.5


def test_prompts_change_the_tiny_models_generation(tiny_model):
    same_seed = generate_batch(tiny_model, PROMPTS, [7, 7, 7], layers=[3], n_time_bins=1, **GEN)
    assert (same_seed.codes[0] != same_seed.codes[1]).mean() > 0.5
    assert not np.allclose(same_seed.activations.mean[3][0], same_seed.activations.mean[3][1], atol=1e-2)


def test_missing_layer_is_refused(tiny_model):
    with pytest.raises(CaptureError, match="does not exist"):
        with ActivationCapture(tiny_model.lm, [99], 1, n_steps=10, n_time_bins=1):
            pass


def test_auto_batch_size_scales_with_free_memory_and_model_size(tiny_model):
    from emoprobe.capture import DECODER_BYTES_PER_AUDIO_SAMPLE, auto_batch_size, resolve_batch_size

    n_steps = expected_generation_steps(tiny_model.lm, 250)
    per_sample = 4 * 2 * n_steps * 32 * 2 * 4 + 2 * 4 * 32 * n_steps * 4  # kv cache + transient, float32
    assert auto_batch_size(tiny_model.lm, n_steps, free_bytes=10 * per_sample, headroom=1.0) == 10
    assert auto_batch_size(tiny_model.lm, n_steps, free_bytes=10 * per_sample, headroom=0.5) == 5
    assert auto_batch_size(tiny_model.lm, n_steps, free_bytes=0) == 1
    assert auto_batch_size(tiny_model.lm, n_steps, free_bytes=10**15) == 64
    # Decoding 10 s holds more than this LM's cache: the larger phase sets the batch.
    decoder = DECODER_BYTES_PER_AUDIO_SAMPLE * 320_000
    assert decoder > per_sample
    assert auto_batch_size(tiny_model.lm, n_steps, free_bytes=10 * decoder, audio_samples=320_000, headroom=1.0) == 10
    assert resolve_batch_size("auto", tiny_model, 10.0) == 8  # on a CPU
    assert resolve_batch_size(3, tiny_model, 10.0) == 3


def test_activations_float16_cannot_hold_are_refused_naming_layer_prompt_and_seed(tiny_model):
    """A residual-stream outlier beyond ±65504 would be stored as inf (review 30b): capture refuses it."""
    from emoprobe.store import ActivationRangeError

    def outlier(_module, _inputs, output):  # runs before capture's hook: a finite 1e5 in one conditional row
        output = output.clone()
        output[1, :, 0] += 1e5
        return output

    last = tiny_model.lm.transformer.layers[3]
    handle = last.register_forward_hook(outlier)
    try:
        with pytest.raises(ActivationRangeError,
                           match=r"layer 3 time bins: row 1 hold\(s\) .*beyond float16's range.*"
                                 r"row 1: prompt 'sad slow piano' seed 2"):
            generate_batch(tiny_model, PROMPTS, [1, 2, 3], layers=[2, 3], n_time_bins=2, **GEN)
    finally:
        handle.remove()
    assert all(len(layer._forward_hooks) == 0 for layer in tiny_model.lm.transformer.layers)
    # The same batch without the outlier captures as before.
    batch = generate_batch(tiny_model, PROMPTS, [1, 2, 3], layers=[2, 3], n_time_bins=2, **GEN)
    assert all(np.isfinite(values).all() for values in batch.activations.mean.values())
