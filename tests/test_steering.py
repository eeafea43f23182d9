"""Steering (emoprobe.steering): directions, controls, the rank p and Holm, the hook, content addressing.

The known-truth runs (planted model supported at a planted layer, not at an
unplanted one, null not supported) are in tests/test_steering_known_truth.py.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from emoprobe import steering
from emoprobe.config import ConfigError, Overrides, load_config

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "tests" / "data" / "steering.toml"


def config_with(tmp_path, table: str, base=EXPERIMENT):
    text = base.read_text()
    text = text[:text.index("\n[steering]\n") + 1] + table
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    return load_config(path, Overrides(cache_dir=str(tmp_path / "cache")))


def test_the_checked_in_experiment_can_reach_alpha_after_holm():
    config = load_config(None)
    rows = steering.feature_rows(config.contrasts)
    n_tests = len(rows) * config.steering.max_layers
    assert 1 / (config.steering.n_random + 1) < config.thresholds.alpha / n_tests
    assert 0 in config.steering.alphas and min(config.steering.alphas) < 0 < max(config.steering.alphas)


@pytest.mark.parametrize("table, message", [
    ("[steering]\nenabled = true\nn_random = 50\n", "n_random >= 160"),
    ("[steering]\nenabled = true\nlayers = [0, 1, 2, 3]\nn_random = 320\n", "only 251 labellings"),
    ("[steering]\nalphas = [-1.0, 1.0]\n", "including 0"),
    ("[steering]\nalphas = [0.0, 1.0]\n", "a negative"),
    ("[steering]\nprompts = []\n", "neutral prompt"),
    ("[steering]\nlayers = \"best\"\n", "must be 'significant'"),
    ("[steering]\nn_randoms = 100\n", "did you mean 'n_random'"),
    ("[steering]\nn_seeds = 0\n", "at least 1"),
    ("[steering]\nprompts = [\"instrumental music\", \"instrumental music\"]\n", "given twice"),
])
def test_a_steering_table_that_cannot_answer_is_refused_at_start_up(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message):
        config_with(tmp_path, table)


def test_steer_override_turns_steering_on_and_leaves_the_design_hash_alone(tmp_path):
    off = config_with(tmp_path, "[steering]\nenabled = false\nn_random = 99\nmax_layers = 1\n")
    on = load_config(off.source, Overrides(cache_dir=str(tmp_path / "cache"), steer=True))
    assert not off.steering.enabled and on.steering.enabled
    assert off.config_hash() == on.config_hash()
    assert steering.feature_rows(on.contrasts) == [
        steering.FeatureRow("happy", "sad", "tempo_bpm", 1), steering.FeatureRow("happy", "sad", "rms", 1),
        steering.FeatureRow("happy", "sad", "centroid_mean_hz", 1), steering.FeatureRow("happy", "sad", "mode", 1)]


def test_direction_is_the_difference_of_the_mean_wordings_and_separates_held_out_wordings():
    rng = np.random.default_rng(0)
    emotions = np.repeat(["happy", "sad"], 20)
    prompts = np.array([f"{e}/{i % 5}" for e, i in zip(emotions, range(40))])
    half = steering.split_wordings(prompts)
    assert sorted({p for p, h in zip(prompts, half) if h}) == ["happy/0", "happy/2", "happy/4", "sad/0", "sad/2",
                                                                 "sad/4"]
    truth = rng.standard_normal(16)
    truth /= np.linalg.norm(truth)
    X = rng.standard_normal((40, 16)) + 3 * np.where(emotions == "happy", 1, -1)[:, None] * truth
    d = steering.emotion_direction(X, emotions, prompts, "happy", "sad", layer=2)
    means = {p: X[prompts == p].mean(axis=0) for p in set(prompts)}
    expected = (np.mean([means[f"happy/{i}"] for i in range(5)], axis=0)
                - np.mean([means[f"sad/{i}"] for i in range(5)], axis=0))
    wording_means = np.stack([means[f"{e}/{i}"] for e in ("happy", "sad") for i in range(5)])
    assert np.allclose(d.vector, expected / steering.typical_difference_norm(wording_means, 5))
    # The emotion's own split separates the wordings far more than a typical split does.
    assert d.vector @ truth / np.linalg.norm(d.vector) > 0.9 and np.linalg.norm(d.vector) > 2
    assert d.heldout_separation > 3
    # Without an emotion effect the held-out wordings are not separated.
    null = steering.emotion_direction(rng.standard_normal((40, 16)), emotions, prompts, "happy", "sad", layer=2)
    assert abs(null.heldout_separation) < 2


@pytest.mark.parametrize("n_first, n_second", [(5, 5), (3, 4), (1, 6)])
def test_the_label_free_divisor_is_the_rms_difference_over_every_labelling(n_first, n_second):
    """typical_difference_norm's closed form against the enumeration of every split of the pool."""
    from itertools import combinations

    rng = np.random.default_rng(n_first)
    means = rng.standard_normal((n_first + n_second, 6)) * rng.uniform(0.5, 3, 6)
    squared = []
    for first in combinations(range(len(means)), n_first):
        labels = -np.ones(len(means), dtype=int)
        labels[list(first)] = 1
        squared.append(np.sum((means[labels == 1].mean(axis=0) - means[labels == -1].mean(axis=0)) ** 2))
    assert steering.typical_difference_norm(means, n_first) == pytest.approx(np.sqrt(np.mean(squared)), rel=1e-12)
    # One divisor for every labelling of the pool: the vectors keep their relative sizes.
    a, b = np.array([1] * n_first + [-1] * n_second), np.array([-1] * n_second + [1] * n_first)
    ratio = np.linalg.norm(steering.class_mean_direction(means, a)) / np.linalg.norm(steering.class_mean_direction(means, b))
    raw = (np.linalg.norm(means[a == 1].mean(0) - means[a == -1].mean(0))
           / np.linalg.norm(means[b == 1].mean(0) - means[b == -1].mean(0)))
    assert ratio == pytest.approx(raw)


def test_controls_are_the_emotion_directions_own_function_under_relabellings_of_its_wordings(monkeypatch):
    """Exchangeability: each control is class_mean_direction of the same wording means as the emotion
    direction, under a distinct relabelling of the pool that keeps the group sizes and is not the observed one."""
    rng = np.random.default_rng(2)
    emotions = np.repeat(["happy", "sad", "calm"], 10)
    prompts = np.array([f"{e}/{i % 5}" for e, i in zip(emotions, range(30))])
    X = rng.standard_normal((30, 8))
    calls = []
    real = steering.class_mean_direction
    monkeypatch.setattr(steering, "class_mean_direction",
                        lambda means, labels: calls.append((means, np.array(labels))) or real(means, labels))
    emotion, controls = steering.contrast_directions(X, emotions, prompts, "happy", "sad", 3, 60, seed=4)
    assert len(calls) == 61 and len(controls) == 60
    observed_means, observed = calls[0]
    # The pool is the contrast's own two emotions' wordings; calm's are not in it.
    design = steering.contrast_design(emotions, prompts, "happy", "sad")
    assert design.wordings == tuple(f"{e}/{i}" for e in ("happy", "sad") for i in range(5))
    assert np.allclose(observed_means, steering.wording_means(X, prompts, design.wordings))
    assert np.array_equal(observed, design.labels) and np.array_equal(emotion.vector, real(*calls[0]))
    labellings = {labels.tobytes() for _, labels in calls[1:]}
    assert len(labellings) == 60 and observed.tobytes() not in labellings
    for (means, labels), control in zip(calls[1:], controls):
        assert means is observed_means and sorted(labels) == sorted(observed)
        assert np.array_equal(control.vector, real(means, labels)) and control.layer == 3 and control.is_random
        assert control.name.endswith("/happy-sad")
    # Reproducible from the seed; another seed, other relabellings.
    again = steering.contrast_directions(X, emotions, prompts, "happy", "sad", 3, 60, seed=4)[1]
    assert all(np.array_equal(a.vector, b.vector) for a, b in zip(controls, again))
    assert not np.allclose(steering.contrast_directions(X, emotions, prompts, "happy", "sad", 3, 60, seed=5)[1][0]
                           .vector, controls[0].vector)
    # The relabelling group is C(10, 5) = 252: 251 controls at most.
    assert len(steering.relabellings(design.labels, 251, 0)) == 251
    with pytest.raises(ValueError, match="only 251 other labellings"):
        steering.relabellings(design.labels, 252, 0)


def test_every_direction_at_a_layer_is_made_the_same_way_and_scaled_alike(tmp_path):
    """labelled_directions at a fixed layer: the emotion direction and its K controls; one scale for all."""
    config = config_with(tmp_path, "[steering]\nn_random = 5\nlayers = [2]\n")
    rng = np.random.default_rng(3)

    class Samples:
        conditions = np.repeat(["happy", "sad"], 10)
        prompt_ids = np.array([f"{e}/{i % 5}" for e, i in zip(conditions, range(20))])

        @staticmethod
        def layer(_):
            return X

    X = rng.standard_normal((20, 16))
    directions = steering.labelled_directions(config, Samples, None, (0, 1, 2), "happy", "sad")
    assert [d.name for d in directions] == ["happy-sad"] + [steering.control_name("happy-sad", j) for j in range(5)]
    assert all(d.layer == 2 and d.slot == 0 for d in directions)
    design = steering.contrast_design(Samples.conditions, Samples.prompt_ids, "happy", "sad")
    typical = steering.typical_difference_norm(steering.wording_means(X, Samples.prompt_ids, design.wordings), 5)
    scale = steering.residual_scale(X)
    plan = steering.plan_steering(config, directions, {2: scale})
    steered = [item for item in plan if item.layer is not None]
    by_direction = {}
    for item in steered:
        by_direction.setdefault(item.direction, []).append((item.alpha, item.spec.seed, item.spec.prompt))
    # The same alphas, seeds and prompts for every direction; one shared alpha-0 sample per unit.
    assert len(by_direction) == 6 and len({tuple(v) for v in by_direction.values()}) == 1
    units = {(item.spec.seed, item.spec.prompt) for item in steered}
    assert sorted((i.spec.seed, i.spec.prompt) for i in plan if i.layer is None) == sorted(units)
    # alpha x the layer's residual norm x the class-mean difference over the one label-free divisor.
    size = {d.name: np.linalg.norm(d.vector) * typical for d in directions}
    for item in steered:
        assert np.isclose(np.linalg.norm(item.vector), abs(item.alpha) * scale * size[item.direction] / typical)
    assert np.mean([np.linalg.norm(d.vector) for d in directions]) < 2  # random splits: about 1


def test_each_control_repeats_the_layer_choice_on_its_own_labelling(tmp_path):
    """The emotion direction goes to the most significant layer; a relabelling that separates another
    layer's wordings best is steered there, by the same rule (gap, its p against the layer's own null, Holm)."""
    from emoprobe import stats

    rng = np.random.default_rng(8)
    conditions = np.repeat(["happy", "sad"], 20)
    prompt_ids = np.array([f"{e}/{i % 5}" for e, i in zip(conditions, range(40))])
    wording = np.array([int(p[-1]) + (5 if p.startswith("sad") else 0) for p in prompt_ids])
    # Layer 1 separates happy from sad; layer 3 separates wordings 0-2 of each emotion from 3-4.
    X = {layer: rng.standard_normal((40, 12)) for layer in range(4)}
    X[1][:, 0] += 4 * np.where(conditions == "happy", 1, -1)
    X[3][:, 1] += 4 * np.where(wording % 5 < 3, 1, -1)

    class Samples:
        pass

    Samples.conditions, Samples.prompt_ids, Samples.layer = conditions, prompt_ids, staticmethod(lambda layer: X[layer])
    for correction in ("holm", "maxt"):
        config = config_with(tmp_path, "[steering]\nn_random = 40\nmax_layers = 1\n")
        config = dataclasses.replace(config, statistics=dataclasses.replace(config.statistics, correction=correction))
        analysis = stats.analyse_layers(X, conditions, prompt_ids, n_permutations=500, n_boot=0, control=False,
                                        control_pairs=False, seed=1)
        chosen, why = steering.choose_layers(config, analysis, tuple(range(4)))
        assert chosen == (1,) and "each control repeats" in why
        design = steering.contrast_design(conditions, prompt_ids, "happy", "sad")
        relabelled = np.array([1, 1, 1, -1, -1, 1, 1, 1, -1, -1])  # wordings 0-2 of each emotion against 3-4
        layers = steering.labelling_layers(config, Samples, analysis, tuple(range(4)), design,
                                           np.vstack([design.labels, relabelled]), "happy", "sad")
        assert layers == [(1,), (3,)], correction
        directions = steering.labelled_directions(config, Samples, analysis, tuple(range(4)), "happy", "sad")
        assert {d.layer for d in directions if not d.is_random} == {1}
        assert len({d.layer for d in directions if d.is_random}) > 1  # controls go where their labellings point


def test_gaps_under_labellings_are_the_gap_tests_own_numbers():
    from emoprobe import stats

    rng = np.random.default_rng(4)
    emotions = np.repeat(["happy", "sad", "calm"], 8)
    prompts = np.array([f"{e}/{i % 4}" for e, i in zip(emotions, range(24))])
    matrices = [stats.similarity_matrix(rng.standard_normal((24, 6)), "cosine") for _ in range(3)]
    swapped = np.where(np.isin(prompts, ["happy/0", "happy/1"]), "sad",
                       np.where(np.isin(prompts, ["sad/0", "sad/1"]), "happy", emotions))
    gaps = stats.gaps_under_labellings(matrices, emotions, prompts, [emotions, swapped])
    for k, S in enumerate(matrices):
        assert gaps[0, k] == pytest.approx(stats.gap(S, emotions, prompts).gap, abs=1e-12)
        assert gaps[1, k] == pytest.approx(stats.gap(S, swapped, prompts).gap, abs=1e-12)
        test = stats.permutation_gap_test(S, emotions, prompts, 300, seed=2)
        assert stats.pvalue_against_null(test, test.statistic, float(np.abs(S).max())) == test.pvalue
    split = emotions.copy()
    split[0] = "sad"  # one seed of happy/0 moved alone
    with pytest.raises(stats.StatsInputError, match="splits a wording"):
        stats.gaps_under_labellings(matrices, emotions, prompts, [split])


def test_slope_and_rank_p():
    alphas = (-1.0, -0.5, 0.0, 0.5, 1.0)
    values = np.outer(np.array(alphas), [2.0, 4.0]) + 10  # [alphas, units], slopes 2 and 4
    assert np.allclose(steering.unit_slopes(values, alphas), [2.0, 4.0])
    null = np.arange(99) / 100
    assert steering.rank_pvalue(5.0, null, +1) == pytest.approx(1 / 100)
    assert steering.rank_pvalue(5.0, null, -1) == pytest.approx(1.0)
    assert steering.rank_pvalue(-5.0, null, -1) == pytest.approx(1 / 100)
    assert steering.rank_pvalue(0.5, null, +1) == pytest.approx(50 / 100)  # ties count against
    assert steering.rank_pvalue(float("nan"), null, +1) == 1.0
    assert steering.rank_pvalue(5.0, np.append(null[:-1], np.nan), +1) == pytest.approx(2 / 100)


def simulated_values(rng, effect: float, n_random=99, alphas=(-1.0, 0.0, 1.0), n_units=3, layers=(1, 2)):
    """Features of the emotion and random directions: noise, plus ``effect`` x alpha along the emotion direction."""
    a = np.array(alphas)[:, None]
    features = ("tempo_bpm", "rms")
    values = {}
    for layer in range(len(layers)):  # slots
        for name in ["happy-sad", *[steering.control_name("happy-sad", j) for j in range(n_random)]]:
            slope = rng.normal(0, 1, size=len(features)) + (effect if name == "happy-sad" else 0)
            values[(layer, name)] = {f: slope[k] * a + rng.normal(0, 0.5, (len(alphas), n_units))
                                     for k, f in enumerate(features)}
    rows = [steering.FeatureRow("happy", "sad", f, 1) for f in features]
    return values, rows, alphas


def test_a_planted_slope_is_supported_and_the_holm_family_holds_under_the_null():
    rng = np.random.default_rng(3)
    values, rows, alphas = simulated_values(rng, effect=6.0)
    tested = steering.steering_test(values, rows, (1, 2), alphas, 99, 0.05)
    assert len(tested) == 4 and steering.verdict(tested) == steering.SUPPORTED
    assert all(r.pvalue == pytest.approx(0.01) and r.supported for r in tested)
    assert all(r.dose.band_low[0] <= r.dose.band_high[0] for r in tested)
    # Null: the emotion direction is one more random direction. Family-wise "supported" at most alpha (+3 SE).
    n_sim, supported = 300, 0
    for _ in range(n_sim):
        values, rows, alphas = simulated_values(rng, effect=0.0)
        supported += steering.verdict(steering.steering_test(values, rows, (1, 2), alphas, 99, 0.05)) == \
            steering.SUPPORTED
    assert supported / n_sim <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / n_sim), supported
    # A planted slope the wrong way is not support.
    wrong = steering.steering_test(simulated_values(rng, effect=-6.0)[0], rows, (1, 2), alphas, 99, 0.05)
    assert steering.verdict(wrong) == steering.NOT_SUPPORTED


def test_steering_hook_adds_the_vector_to_the_conditional_rows_of_its_layer_only():
    import torch

    from emoprobe.capture import generate_batch
    from emoprobe.models import build_tiny

    model = build_tiny()
    first_outputs = {}

    def record(layer):
        def hook(_module, _inputs, output):
            first_outputs.setdefault(layer, output.detach().clone())
        return hook

    def first_step(rows):
        first_outputs.clear()
        with steering.SteeringHooks(model.lm, rows):
            handles = [model.lm.transformer.layers[i].register_forward_hook(record(i)) for i in range(4)]
            try:
                generate_batch(model, ["instrumental music"] * 2, [5, 6], duration_s=0.2, top_k=250, top_p=0.0,
                               temperature=1.0, cfg_coef=3.0, layers=None, n_time_bins=1)
            finally:
                for h in handles:
                    h.remove()
        return dict(first_outputs)

    vector = np.linspace(-1, 1, model.lm.dim)
    plain = first_step([None, None])
    steered = first_step([(1, vector), None])
    diff = {i: (steered[i] - plain[i]).numpy() for i in range(4)}
    assert np.allclose(diff[0], 0)
    assert np.allclose(diff[1][0, 0], vector, atol=1e-5)  # conditional row 0 of layer 1
    assert np.allclose(diff[1][1:], 0)  # row 1 unsteered, unconditional rows untouched
    assert not np.allclose(diff[2][0], 0)  # the vector flows on down the residual stream
    assert torch.is_tensor(steered[1])


def test_steered_samples_are_content_addressed_and_a_rerun_generates_nothing(tmp_path):
    from emoprobe.models import describe_model
    from emoprobe.store import SampleStore, sample_key

    config = config_with(tmp_path, "[steering]\nprompts = [\"instrumental music\"]\nalphas = [-1.0, 0.0, 1.0]\n"
                                   "n_seeds = 2\nn_random = 2\nmax_layers = 1\n")
    config = dataclasses.replace(config, generation=dataclasses.replace(config.generation, duration_s=0.5))
    info = describe_model("tiny")
    rng = np.random.default_rng(0)
    units = rng.standard_normal((3, info.dim))
    directions = [steering.Direction(layer, name, v / np.linalg.norm(v))
                  for layer in (1, 2) for name, v in zip(("happy-sad", "random000", "random001"), units)]
    plan = steering.plan_steering(config, directions, {1: 3.0, 2: 4.0})
    # 6 directions x 2 nonzero alphas x 2 seeds, plus one alpha-0 sample per seed.
    assert len(plan) == 6 * 2 * 2 + 2 == steering.n_extra_samples(config, n_layers=2)
    params_for = steering.steered_params(config, info.identity)
    keys = {sample_key(item.spec, params_for(item)) for item in plan}
    assert len(keys) == len(plan)
    # The key covers the layer, the direction's hash and alpha.
    item = plan[-1]
    for changed in (dataclasses.replace(item, layer=3), dataclasses.replace(item, direction_hash="0" * 16),
                    dataclasses.replace(item, alpha=2.0)):
        assert sample_key(changed.spec, params_for(changed)) != sample_key(item.spec, params_for(item))
    # ... and the layer's scale: the same direction at another residual norm is other samples.
    rescaled = steering.plan_steering(config, directions, {1: 3.0, 2: 4.5})
    assert {sample_key(i.spec, params_for(i)) for i in rescaled if i.layer == 2}.isdisjoint(keys)
    assert {sample_key(i.spec, params_for(i)) for i in rescaled if i.layer != 2} <= keys
    store = SampleStore(tmp_path / "cache")
    stored, report = steering.collect_steered(config, info, store, plan)
    assert report.generated == len(plan) and report.model_loaded
    assert [s.key for s in stored] == [sample_key(i.spec, params_for(i)) for i in plan]
    again, report = steering.collect_steered(config, info, store, plan)
    assert report.generated == 0 and not report.model_loaded
    # Steering changed the music; alpha 0 is the plain sample of the prompt and seed.
    audio = {(i.direction, i.alpha, i.spec.seed): s.load_audio()[0] for i, s in zip(plan, stored)}
    seed = plan[0].spec.seed
    assert not np.allclose(audio[("happy-sad", 1.0, seed)], audio[("none", 0.0, seed)])


def test_steered_samples_are_sharded_after_the_emotion_study_and_the_shards_cover_the_plan(tmp_path):
    from emoprobe.dataset import collect_samples
    from emoprobe.models import describe_model
    from emoprobe.store import SampleStore

    config = config_with(tmp_path, "[steering]\nalphas = [-1.0, 0.0, 1.0]\nn_seeds = 1\nlayers = [1]\n")
    # Three random directions: too few to pass Holm, enough to check the split (the check runs at start-up only).
    config = dataclasses.replace(config, generation=dataclasses.replace(config.generation, duration_s=0.5),
                                 steering=dataclasses.replace(config.steering, enabled=True, n_random=3))
    info = describe_model("tiny")
    store = SampleStore(config.cache_dir)
    collect_samples(config, info, store, progress=False)
    assert steering.missing_samples(config, info, store) == (1 + 3) * 2 + 1
    reports = [steering.generate_steering_shard(config, info, index, 2, store, progress=False) for index in (0, 1)]
    assert sum(r.generated for r in reports) == (1 + 3) * 2 + 1
    assert steering.missing_samples(config, info, store) == 0
    assert steering.generate_steering_shard(config, info, 0, 2, store, progress=False).generated == 0


def test_the_launcher_passes_steering_on_to_its_shards_and_to_the_suite(tmp_path):
    from emoprobe import launch

    args = launch.build_parser().parse_args(["--executor", "local", "--shards", "2", "--experiment", str(EXPERIMENT),
                                             "--model", "tiny", "--steer", "--cache-dir", str(tmp_path / "c")])
    config = load_config(EXPERIMENT, launch.experiment_overrides(args))
    assert config.steering.enabled
    assert launch.suite_command(args, config)[-1] == "--steer"
    plain = launch.build_parser().parse_args(["--executor", "local", "--shards", "2", "--experiment", str(EXPERIMENT)])
    assert "--steer" not in launch.suite_command(plain, load_config(EXPERIMENT, launch.experiment_overrides(plain)))


def test_the_causal_evidence_word():
    """Supported only when a row passes and the audit is clean; an error is never "not run"."""
    passed = {"supported": True, "design_flagged": False}
    failed = {"supported": False, "design_flagged": False}
    assert steering.causal_evidence([]) == steering.NOT_RUN
    assert steering.causal_evidence([], ["skipped"]) == steering.NOT_RUN
    assert steering.causal_evidence([], ["error in setup"]) == steering.ERRORED
    assert steering.causal_evidence([passed, failed], ["passed", "error in setup"]) == steering.ERRORED
    assert steering.causal_evidence([failed]) == steering.NOT_SUPPORTED
    assert steering.causal_evidence([failed, passed]) == steering.SUPPORTED
    assert steering.causal_evidence([passed, {**failed, "design_flagged": True}]) == steering.INCONCLUSIVE
    rows = steering.steering_test(*simulated_values(np.random.default_rng(3), effect=6.0)[::2][:1],
                                  [steering.FeatureRow("happy", "sad", f, 1) for f in ("tempo_bpm", "rms")],
                                  (1, 2), (-1.0, 0.0, 1.0), 99, 0.05)
    assert steering.verdict(rows) == steering.SUPPORTED
    assert steering.verdict(rows, "word-overlap audit: ...") == steering.INCONCLUSIVE


def test_a_steered_layer_that_is_not_captured_stops_the_run_at_start_up(tmp_path):
    import subprocess
    import sys

    config = config_with(tmp_path, "[steering]\nenabled = true\nlayers = [99]\nn_random = 99\n")
    with pytest.raises(ConfigError, match=r"layer\(s\) \[99\] are not captured"):
        steering.check_steered_layers(config, (0, 1, 2, 3), "tiny")
    steering.check_steered_layers(dataclasses.replace(config, steering=dataclasses.replace(
        config.steering, layers=(2,))), (0, 1, 2, 3), "tiny")
    result = subprocess.run([sys.executable, "-m", "pytest", "hypotheses/", "--model", "tiny", "--experiment",
                             str(config.source), "--cache-dir", str(tmp_path / "cache"), "-p", "no:cacheprovider",
                             "-q"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 4 and "are not captured for tiny" in result.stderr + result.stdout, result.stderr[-2000:]


def test_the_audit_reads_the_wordings_the_run_generated(tmp_path):
    """Two wordings per emotion out of four listed: the generated ones confine words, the full lists do not."""
    from emoprobe import design
    from emoprobe.config import planned_wordings

    config = config_with(tmp_path, "[steering]\n")
    emotions = {"happy": ("fast bright song", "fast bright tune", "slow dark melody", "slow dark track"),
                "sad": ("slow dark song", "slow dark tune", "fast bright melody", "fast bright track")}
    config = dataclasses.replace(config, emotions=emotions, n_per_emotion=2)
    used = planned_wordings(config)
    assert used == {"happy": emotions["happy"][:2], "sad": emotions["sad"][:2]}
    assert design.audit(used, config.thresholds).warning() is not None
    assert design.audit(emotions, config.thresholds).warning() is None


def test_the_launcher_refuses_an_uncaptured_steered_layer_before_the_emotion_study(tmp_path, capsys):
    from emoprobe import launch

    config = config_with(tmp_path, "[steering]\nenabled = true\nlayers = [99]\nn_random = 99\n")
    status = launch.main(["--executor", "local", "--shards", "1", "--model", "tiny", "--experiment",
                          str(config.source), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert status == 2 and "are not captured for tiny" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npz"))
