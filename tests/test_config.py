"""Configuration: overrides apply, and every bad setting fails with one clear message."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from emoprobe.config import (ConfigError, Overrides, derive_seed, load_config, parse_layers,
                             plan_samples)
from emoprobe.models import check_layers, describe_model

REPO = Path(__file__).resolve().parents[1]


def write_experiment(tmp_path, text):
    base = (REPO / "configs" / "experiment.toml").read_text()
    path = tmp_path / "experiment.toml"
    path.write_text(base + "\n" + text if text else base)
    return path


def test_checked_in_experiment_matches_the_seed_plan():
    config = load_config()
    assert set(config.emotions) == {"happy", "sad", "calm", "energetic"}
    assert all(len(prompts) >= 3 for prompts in config.emotions.values())
    assert config.n_per_emotion == 20
    assert config.model == "facebook/musicgen-large"
    assert config.thresholds.min_gap == 0.02 and config.thresholds.acoustic_agreement == 0.80


def test_overrides_win():
    config = load_config(overrides=Overrides(model="tiny", n_per_emotion=6, seed=3, layers="0,2-3",
                                             emotions="happy,sad"))
    assert (config.model, config.n_per_emotion, config.base_seed) == ("tiny", 6, 3)
    assert config.capture.layers == (0, 2, 3)
    assert list(config.emotions) == ["happy", "sad"]
    assert [(c.first, c.second) for c in config.contrasts] == [("happy", "sad")]


@pytest.mark.parametrize("models", [["tiny", "tiny"], ["tiny", "tiny:"], ["tiny", " tiny "],
                                    ["planted:layers=1,3;size=2", "planted:size=2;layers=1,3"]])
def test_one_model_given_twice_is_refused_however_it_is_spelled(models):
    with pytest.raises(ConfigError, match="distinct models"):
        load_config(overrides=Overrides(model=models))


def test_different_models_and_parameters_are_distinct():
    config = load_config(overrides=Overrides(model=["tiny", "tiny:shape=small", "planted:layers=1", "planted:layers=2"]))
    assert len(config.models) == 4


def test_plan_cycles_wordings_and_gives_every_sample_its_own_seed():
    config = load_config(overrides=Overrides(n_per_emotion=12))
    specs = [s for s in plan_samples(config) if s.study == "emotion"]
    assert len(specs) == 12 * 4
    happy = [s for s in specs if s.condition == "happy"]
    assert len({s.prompt_id for s in happy}) == len(config.emotions["happy"])
    assert len({s.seed for s in specs}) == len(specs)
    assert plan_samples(config) == plan_samples(config)
    assert derive_seed(1, "a") != derive_seed(2, "a")


@pytest.mark.parametrize("overrides, message", [
    (Overrides(emotions="happy,furious"), "unknown emotion"),
    (Overrides(n_per_emotion=1), "at least 2 samples"),
    (Overrides(n_per_emotion=5), "no same-prompt control"),
    (Overrides(layers="0,x"), "cannot read"),
])
def test_bad_overrides_fail_clearly(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_empty_prompt_list_fails(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('[emotions]\nhappy = ["a", "b"]\nsad = []\n')
    with pytest.raises(ConfigError, match="empty prompt list"):
        load_config(path)


@pytest.mark.parametrize("wordless", ["!!!", "♪♪", "..."])
def test_a_wording_without_a_word_fails(tmp_path, wordless):
    # The audit and the control compare wordings by their words: "♪♪" crashed the audit's simulation.
    path = tmp_path / "e.toml"
    path.write_text(f'[emotions]\nhappy = ["{wordless}", "a happy song"]\nsad = ["a sad song", "C"]\n')
    with pytest.raises(ConfigError, match=r"hold no word"):
        load_config(path)
    path.write_text('[emotions]\nhappy = ["x y", "a happy song"]\nsad = ["a sad song", "C"]\n')
    assert load_config(path).emotions["sad"] == ("a sad song", "C")  # one-letter words are words


def test_single_wording_fails(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('[emotions]\nhappy = ["a", "b"]\nsad = ["c"]\n')
    with pytest.raises(ConfigError, match="one wording"):
        load_config(path)


def test_contrast_with_unknown_emotion_fails(tmp_path):
    path = write_experiment(tmp_path, '[[acoustics.contrasts]]\nemotions = ["happy", "angry"]\ntempo_bpm = "higher"\n')
    with pytest.raises(ConfigError, match="unknown emotion 'angry'"):
        load_config(path)


def test_layer_index_the_model_lacks_fails():
    info = describe_model("tiny")
    assert check_layers(None, info) == tuple(range(info.n_layers))
    with pytest.raises(ConfigError, match=r"layer\(s\) \[7\] do not exist"):
        check_layers(parse_layers("0,7"), info)


def run_suite(*args, cache):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/", "-p", "no:cacheprovider", "-q", "--cache-dir", str(cache), *args],
        cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--model", "tiny", "--emotions", "happy,furious"], "unknown emotion"),
    (["--model", "tiny", "--n-per-emotion", "1"], "at least 2 samples"),
    (["--model", "tiny", "--layers", "0,40"], "do not exist"),
    (["--model", "no-such/model"], "To run offline, use --model tiny"),
])
def test_suite_stops_at_start_up_and_generates_nothing(tmp_path, args, message):
    result = run_suite(*args, cache=tmp_path / "cache")
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert not (tmp_path / "cache" / "samples").exists()
    assert not (tmp_path / "cache" / "model_loads.log").exists()


def test_unreachable_hub_model_names_itself_and_the_offline_options(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    result = run_suite("--model", "facebook/musicgen-large", cache=tmp_path / "cache")
    assert result.returncode != 0
    out = result.stderr + result.stdout
    assert "facebook/musicgen-large" in out and "--model tiny" in out
    assert not (tmp_path / "cache" / "samples").exists()


def test_batch_size_is_auto_or_a_positive_integer(tmp_path):
    base = (REPO / "configs" / "experiment.toml").read_text()
    for value, ok in (('"auto"', True), ("4", True), ("0", False), ('"big"', False)):
        path = tmp_path / "e.toml"
        path.write_text(base.replace("batch_size = 8", f"batch_size = {value}"))
        if ok:
            assert load_config(path).generation.batch_size in ("auto", 4)
        else:
            with pytest.raises(ConfigError, match="batch_size"):
                load_config(path)


def test_effect_class_defaults_are_what_the_statistics_accept(tmp_path):
    from emoprobe import stats

    base = (REPO / "configs" / "experiment.toml").read_text()
    start = base.index("[thresholds.effect_classes]")
    end = base.index("[statistics]")
    path = tmp_path / "e.toml"
    path.write_text(base[:start] + base[end:])  # an experiment that leaves the classes to the defaults
    config = load_config(path)
    assert dict(config.thresholds.effect_classes) == dict(load_config().thresholds.effect_classes)
    assert stats.effect_class(0.0047, config.thresholds.effect_classes) == "noise"
    assert stats.effect_class(0.03, config.thresholds.effect_classes) == "weak"


def edit_experiment(tmp_path, old, new):
    base = (REPO / "configs" / "experiment.toml").read_text()
    assert old in base, old
    path = tmp_path / "experiment.toml"
    path.write_text(base.replace(old, new, 1))
    return path


BAD_SETTINGS = [
    # A typo'd key, in a table and as a table, is refused with the near miss named.
    ("n_per_emotion = 20", "n_per_emotions = 20", "did you mean 'n_per_emotion'"),
    ("[statistics]", "[statistic]", "did you mean 'statistics'"),
    ("top_k = 250", "topk = 250", "did you mean 'top_k'"),
    # A string where a list of wordings belongs used to become one wording per letter.
    ('calm = [\n    "a calm song",', 'calm = "a calm song"\nx = [', "emotions.calm must be a list of wordings"),
    ('"warm sunny melody with bells",', '"a sad song",', "appears under"),
    ('"warm sunny melody with bells",', '"A  happy song",', "appears twice under 'happy'"),
    ("acoustic_agreement = 0.80", "acoustic_agreement = 5", "acoustic_agreement = 5 must lie in [0, 1]"),
    ("n_bootstrap = 2000", "n_bootstrap = 0", "n_bootstrap = 0 must be at least 100"),
    ("n_bootstrap = 2000", "n_bootstrap = 2", "n_bootstrap = 2 must be at least 100"),
    ("n_permutations = 10000", "n_permutations = 0", "n_permutations = 0 must be at least 1"),
    ('min_gap = 0.02', 'min_gap = "abc"', "min_gap = 'abc': expected a number"),
    ("duration_s = 10.0", 'duration_s = "abc"', "duration_s = 'abc': expected a number"),
    ("top_p = 0.0", "top_p = 1.5", "top_p = 1.5 must lie in [0, 1]"),
    ("keep_unconditional = false", "keep_unconditional = 1", "expected true or false"),
    ('metric = "cosine"', 'metric = "cosin"', "must be one of"),
    ("happy = [", '"<img src=x onerror=alert(1)>" = [', "use letters, digits"),
    ('tempo_bpm = "higher"\nrms', 'tempo_bmp = "higher"\nrms', "did you mean 'tempo_bpm'"),
    ('layers = "all"', 'layers = "5-2"', "runs backwards"),
    ('layers = "all"', 'layers = ""', "names no layer"),
    ('layers = "all"', 'layers = []', "names no layer"),
]


@pytest.mark.parametrize("old, new, message", BAD_SETTINGS, ids=[m for *_, m in BAD_SETTINGS])
def test_every_bad_setting_is_refused_with_one_message(tmp_path, old, new, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(edit_experiment(tmp_path, old, new))


@pytest.mark.parametrize("layers", ["5-2", "", " , "])
def test_layers_option_that_names_no_layer_is_refused(layers):
    with pytest.raises(ConfigError, match="runs backwards|names no layer"):
        load_config(overrides=Overrides(layers=layers))


@pytest.mark.parametrize("old, new, message", [
    ("duration_s = 10.0", 'duration_s = "abc"', "expected a number"),
    ("top_k = 250", "topk = 250", "did you mean 'top_k'"),
    ("n_permutations = 10000", "n_permutations = 0", "must be at least 1"),
    ('min_gap = 0.02', 'min_gap = "abc"', "expected a number"),
])
def test_bad_setting_stops_the_suite_with_exit_code_4_before_any_model_loads(tmp_path, old, new, message):
    path = edit_experiment(tmp_path, old, new)
    result = run_suite("--model", "tiny", "--experiment", str(path), cache=tmp_path / "cache")
    out = result.stdout + result.stderr
    assert result.returncode == 4, out[-3000:]
    assert message in out and "INTERNALERROR" not in out and "Traceback" not in out
    assert out.count("emoprobe:") == 1
    assert not (tmp_path / "cache" / "model_loads.log").exists()


def test_cache_dir_that_is_a_file_or_not_writable_stops_at_start_up(tmp_path):
    a_file = tmp_path / "cache-file"
    a_file.write_text("not a folder")
    for cache, message in ((a_file, "is a file, not a folder"), (Path("/proc/self/emoprobe-cache"), "cannot be created"),
                           (Path("/proc/self"), "is not writable")):
        result = run_suite("--model", "tiny", cache=cache)
        out = result.stdout + result.stderr
        assert result.returncode == 4, out[-3000:]
        assert message in out and str(cache) in out and "Traceback" not in out


def test_the_audit_reads_the_wordings_the_plan_generates():
    """With fewer samples than wordings the plan uses the first n of each list; the audit must read those.
    On the shipped design the full lists pass it, and the first four of each do not."""
    import dataclasses

    from emoprobe import design
    from emoprobe.config import planned_wordings

    config = load_config(None)
    assert planned_wordings(config) == {e: tuple(w) for e, w in config.emotions.items()}
    four = dataclasses.replace(config, n_per_emotion=4)
    assert planned_wordings(four) == {e: tuple(w[:4]) for e, w in config.emotions.items()}
    assert design.audit(planned_wordings(config), config.thresholds).warning() is None
    assert design.audit(planned_wordings(four), config.thresholds).warning() is not None


def test_the_start_up_audit_runs_on_the_controller_only_at_the_plans_seeds(monkeypatch):
    # Review 29: each xdist worker simulated the word-only null again and threw it away.
    import dataclasses
    import types

    from emoprobe import design
    from emoprobe.lexical import audit_design
    from fixtures import options

    experiment = dataclasses.replace(load_config(REPO / "configs" / "experiment.toml"), n_per_emotion=22)
    seen = []

    def audit(emotions, thresholds, *, seeds_per_wording=None, **_):
        seen.append(seeds_per_wording)
        return audit_design(emotions, thresholds.max_word_same_emotion_share)

    monkeypatch.setattr(design, "audit", audit)
    options._warn_of_confined_words(types.SimpleNamespace(workerinput={}), experiment)
    assert seen == []
    options._warn_of_confined_words(types.SimpleNamespace(), experiment)
    assert seen == [{e: (5, 5, 4, 4, 4) for e in experiment.emotions}]


def test_every_threshold_has_a_direction_and_deviations_are_marked_looser_or_stricter():
    import dataclasses

    from emoprobe.config import DEFAULT_CONFIG_PATH, LOOSER_WHEN, StatisticsParams, Thresholds, load_config, \
        verdict_deviations

    fields = {f.name for f in dataclasses.fields(Thresholds)} - {"effect_classes"}
    assert set(LOOSER_WHEN) == fields   # a new threshold cannot escape the comparison
    shipped = load_config(DEFAULT_CONFIG_PATH)
    # The standard is the seed's numbers in code; the shipped file must say the same, so that an
    # edit of it shows as a deviation rather than moving the standard (review 32b).
    assert shipped.thresholds == Thresholds()
    assert (shipped.statistics.metric, shipped.statistics.correction) == \
        (StatisticsParams().metric, StatisticsParams().correction)
    assert shipped.extreme_pairs and verdict_deviations(shipped) == ()
    # A GO is easier with a larger alpha or word share, and with a smaller gap, agreement,
    # decided share, sample gate or audit simulation count.
    easier = {"alpha": 0.2, "min_gap": 0.005, "acoustic_agreement": 0.6, "mode_min_decided": 0.2,
              "min_n_per_emotion": 5, "max_word_same_emotion_share": 0.9, "word_only_null_datasets": 50}
    harder = {"alpha": 0.01, "min_gap": 0.05, "acoustic_agreement": 0.9, "mode_min_decided": 0.8,
              "min_n_per_emotion": 40, "max_word_same_emotion_share": 0.3, "word_only_null_datasets": 1000}
    # Which can make a NO-GO or PIVOT: alpha and the gap line either way, the gates when looser.
    moves_when_easier = {"alpha", "min_gap", "acoustic_agreement", "mode_min_decided", "min_n_per_emotion"}
    moves_when_harder = {"alpha", "min_gap"}
    assert set(easier) == set(harder) == fields
    for name in fields:
        for value, looser, moves in ((easier[name], True, name in moves_when_easier),
                                     (harder[name], False, name in moves_when_harder)):
            edited = dataclasses.replace(shipped, thresholds=dataclasses.replace(shipped.thresholds, **{name: value}))
            (deviation,) = verdict_deviations(edited)
            assert (deviation.name, deviation.looser, deviation.moves_no_go) == (name, looser, moves), deviation
            assert deviation.describe() == f"{name} {value!r} (standard {getattr(Thresholds(), name)!r})"
    # Any change is seen, however small.
    nudged = dataclasses.replace(shipped, thresholds=dataclasses.replace(shipped.thresholds, alpha=0.0500000000000001))
    assert verdict_deviations(nudged)[0].describe() == "alpha 0.0500000000000001 (standard 0.05)"
    # Any other metric is looser (review 32c: a pearson gap is centred first, not on the line's
    # scale); Holm can only make a NO-GO; no extreme pairs leaves a NO-GO without its control.
    for metric in ("euclidean", "pearson"):
        edited = dataclasses.replace(shipped, statistics=dataclasses.replace(shipped.statistics, metric=metric))
        (deviation,) = verdict_deviations(edited)
        assert (deviation.name, deviation.value, deviation.looser, deviation.moves_no_go) == \
            ("statistics.metric", metric, True, True)
    holm = dataclasses.replace(shipped, statistics=dataclasses.replace(shipped.statistics, correction="holm"))
    assert [(d.name, d.looser, d.moves_no_go) for d in verdict_deviations(holm)] == \
        [("statistics.correction", False, True)]
    no_pairs = dataclasses.replace(shipped, extreme_pairs=())
    assert [(d.name, d.looser, d.moves_no_go) for d in verdict_deviations(no_pairs)] == \
        [("extreme_contrasts.pairs", False, True)]
