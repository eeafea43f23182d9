"""The design check: the smallest attainable p, the stop at start-up, the power warning."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emoprobe import design, stats

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("wordings", [[5, 5], [3, 3, 3], [4, 3]])
def test_smallest_pvalue_is_what_a_perfect_separation_gets(wordings):
    # Every wording of an emotion sits on its own far-apart point: the labelling separates perfectly.
    rng = np.random.default_rng(0)
    emotions, prompts, rows = [], [], []
    centres = rng.standard_normal((len(wordings), 32)) * 10
    for e, g in enumerate(wordings):
        for w in range(g):
            for _ in range(2):
                emotions.append(f"e{e}")
                prompts.append(f"w{w}")
                rows.append(centres[e] + 0.01 * rng.standard_normal(32))
    S = stats.similarity_matrix(np.array(rows))
    result = stats.permutation_gap_test(S, emotions, prompts, n_permutations=100_000, seed=0)
    assert result.exact and result.pvalue == pytest.approx(design.smallest_pvalue(wordings, 100_000))


def test_two_emotions_of_five_wordings_cannot_pass_holm_over_48_layers():
    check = design.design_check([5, 5], 10_000, 48, 0.05, "holm")
    assert check.arrangements == 252 and check.smallest_p == pytest.approx(2 / 252)
    assert not check.can_pass
    message = check.message([5, 5])
    assert "252" in message and "0.00794" in message and "--layers" in message
    assert design.design_check([5, 5, 5, 5], 10_000, 48, 0.05, "holm").can_pass
    # Too few permutations: 959 gives 1/960 = alpha/48 exactly, which is not below it.
    assert not design.design_check([5, 5, 5, 5], 959, 48, 0.05, "holm").can_pass
    assert design.design_check([5, 5, 5, 5], 960, 48, 0.05, "holm").can_pass


@pytest.mark.parametrize("wordings, n_permutations, n_layers", [([5, 5], 10_000, 48), ([5, 5, 5, 5], 500, 48)])
def test_a_design_whose_lexical_control_cannot_pass_is_stopped_even_under_maxt(wordings, n_permutations, n_layers):
    check = design.design_check(wordings, n_permutations, n_layers, 0.05, "maxt")
    # The gap passes under max-T, but the lexical control is Holm over the layers: GO is out of reach.
    assert check.gap_can_pass and not check.lexical_can_pass and not check.can_pass
    message = check.message(wordings)
    assert "lexical control" in message and f"{check.lexical_threshold:.3g}" in message, message
    assert check.lexical_threshold == pytest.approx(0.05 / n_layers)


def test_the_lexical_floor_is_what_the_control_returns_on_a_perfect_separation():
    from emoprobe import lexical

    labels = np.repeat(["happy", "sad", "calm", "energetic"], 5)
    W = (labels[:, None] == labels[None, :]).astype(float)  # same emotion alike, nothing else
    text = {"tfidf": np.random.default_rng(0).random((20, 20))}
    text["tfidf"] = (text["tfidf"] + text["tfidf"].T) / 2
    p = lexical.lexical_control(W, labels, text, n_permutations=499, seed=0).pvalue
    assert p == pytest.approx(design.smallest_lexical_pvalue([5, 5, 5, 5], 499), rel=1e-5)


def test_detection_power_has_both_ends():
    kwargs = dict(n_permutations=999, alpha=0.05, n_layers=4, correction="holm", n_sim=60, seed=1)
    none, _ = design.detection_power(0.0, 4, 5, 4, **kwargs)
    strong, _ = design.detection_power(0.02, 4, 5, 4, **kwargs)
    assert none <= 0.1 and strong >= 0.9


def test_n_for_power_finds_the_sample_size():
    kwargs = dict(n_permutations=499, alpha=0.05, n_layers=4, correction="holm", n_sim=40, seed=2)
    n = design.n_for_power(0.006, 4, 5, **kwargs)
    assert n is not None and n % 5 == 0
    assert design.detection_power(0.006, 4, 5, n // 5, **kwargs)[0] >= 0.8
    if n > 5:
        assert design.detection_power(0.006, 4, 5, n // 5 - 1, **kwargs)[0] < 0.8


def test_suite_stops_before_the_model_loads_when_no_data_could_give_go(tmp_path):
    text = (REPO / "configs" / "experiment.toml").read_text()
    text = text.replace("n_permutations = 10000", "n_permutations = 10").replace('correction = "maxt"',
                                                                                 'correction = "holm"')
    output = _stopped_at_start_up(tmp_path, text)
    assert "design check" in output and "smallest attainable p is 0.0909" in output, output[-3000:]


@pytest.mark.parametrize("n_per_prompt", [4, 7])
def test_the_positive_controls_floor_is_what_two_separated_prompts_get(n_per_prompt):
    # Two prompts, each of n far-apart samples, permuted sample by sample (as claim 8 does).
    rng = np.random.default_rng(n_per_prompt)
    centres = rng.standard_normal((2, 32)) * 10
    rows = [centres[side] + 0.01 * rng.standard_normal(32) for side in (0, 1) for _ in range(n_per_prompt)]
    labels = [side for side in ("a", "b") for _ in range(n_per_prompt)]
    result = stats.permutation_gap_test(stats.similarity_matrix(np.array(rows)), labels, None,
                                        n_permutations=100_000, seed=0)
    assert result.exact and result.pvalue == pytest.approx(design.positive_control_floor(n_per_prompt, 100_000))


def test_positive_control_n_needed_known_answers():
    # 2 / C(2n, n): n = 4 gives 0.0286, n = 5 0.0079, n = 6 0.0022, n = 7 0.00058.
    assert design.positive_control_n_needed(10_000, 4, 0.05) == 5       # needs < 0.0125
    assert design.positive_control_n_needed(10_000, 48, 0.05) == 7      # needs < 0.00104
    assert design.positive_control_n_needed(200, 24, 0.05) is None      # 1/201 is above 0.05 / 24


def test_suite_stops_when_the_positive_control_could_not_pass(tmp_path):
    # Review 30c: with the positive control deciding, 4 samples per extreme prompt on the tiny
    # model's 4 layers would make every verdict INCONCLUSIVE whatever the data.
    text = (REPO / "configs" / "experiment.toml").read_text().replace("n_per_prompt = 10", "n_per_prompt = 4")
    output = _stopped_at_start_up(tmp_path, text)
    assert "positive control (extreme contrasts) cannot pass" in output and "at least 5" in output, output[-3000:]


def _stopped_at_start_up(tmp_path, experiment_text: str) -> str:
    """Run the suite on ``experiment_text``; it must stop with a usage error before any model loads."""
    experiment = tmp_path / "experiment.toml"
    experiment.write_text(experiment_text)
    cache = tmp_path / "cache"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/", "--model", "tiny", "--experiment", str(experiment),
         "--cache-dir", str(cache), "-p", "no:cacheprovider", "-q", "--html", str(tmp_path / "r.html")],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 4, output[-3000:]
    assert not (cache / "model_loads.log").exists()
    return output


def test_power_curve_uses_the_runs_permutations_and_correction():
    from emoprobe.truth.synthetic import planted_activations, seed_like_geometry

    common = dict(effects=(0.002,), n_sim=60, seed=5, **seed_like_geometry())
    uncorrected = stats.power_curve(planted_activations, n_permutations=199, n_layers=1, **common)
    honest = stats.power_curve(planted_activations, n_permutations=1999, n_layers=48, **common)
    assert honest.n_layers == 48 and honest.n_permutations == 1999
    # A single test at alpha overstates what a layer of 48 can show after correction.
    assert honest.power[0] < uncorrected.power[0] - 0.2, (honest.power, uncorrected.power)


def test_config_names_a_known_correction(tmp_path):
    from emoprobe.config import ConfigError, Overrides, load_config

    experiment = tmp_path / "experiment.toml"
    experiment.write_text((REPO / "configs" / "experiment.toml").read_text()
                          .replace('correction = "maxt"', 'correction = "bonferroni"'))
    with pytest.raises(ConfigError, match="statistics.correction 'bonferroni'"):
        load_config(experiment, Overrides())
    assert load_config(REPO / "configs" / "experiment.toml", Overrides()).statistics.correction == "maxt"


def test_suite_stops_before_the_model_loads_when_the_words_span_same_emotion(tmp_path):
    # Every wording names its emotion: the shared-name columns are the same-emotion indicator,
    # so the lexical control has nothing left to test and no data could give GO.
    import tomllib

    text = (REPO / "configs" / "experiment.toml").read_text()
    emotions = tomllib.loads(text)["emotions"]
    start = text.index("[emotions]")
    end = text.index("\n[", start + 1)
    block = "[emotions]\n" + "".join(
        f'{e} = [{", ".join(repr(f"{e} {w}") for w in ws)}]\n' for e, ws in emotions.items()).replace("'", '"')
    output = _stopped_at_start_up(tmp_path, text[:start] + block + text[end:])
    assert "design check: the lexical control" in output and "span the same-emotion indicator" in output, output[-3000:]


def test_the_audit_simulates_the_design_and_flags_words_that_lean_on_emotions_together():
    from emoprobe import lexical
    from emoprobe.config import load_config

    shipped = load_config(REPO / "configs" / "experiment.toml")
    joint = load_config(REPO / "tests" / "data" / "joint_wordings.toml").emotions
    max_share = shipped.thresholds.max_word_same_emotion_share
    # Word by word, the joint design passes: each tell-tale word stays under the share.
    assert not lexical.audit_design(joint, max_share).confounded
    audit = design.audit(joint, shipped.thresholds)
    assert audit.word_only_fooled and audit.confounded, audit
    assert "word-only model" in audit.warning()
    # The same design with stop words as the tell-tale words: the weighted model barely reads
    # stop words, the unweighted one does (the fourth hostile review).
    stop = dict(zip("bright bouncy joyful grey weeping mournful soft gentle serene loud driving fierce".split(),
                    "over through about under across after behind beyond along among around toward".split()))
    stop_joint = {e: [" ".join(stop.get(t, t) for t in w.split()) for w in ws] for e, ws in joint.items()}
    assert not lexical.audit_design(stop_joint, max_share).confounded
    assert design.audit(stop_joint, shipped.thresholds).word_only_fooled
    crossed = design.audit(shipped.emotions, shipped.thresholds)
    assert not crossed.confounded and crossed.word_only_rate < crossed.word_only_limit, crossed


def test_the_audit_reads_stems_spread_over_word_forms():
    # Each emotion's stem in five word forms, each form in one wording of its emotion and one of
    # another's (tests/data/stem_wordings.toml): whole words show nothing, a subword encoder reads
    # the stem. Only the word-only models read by subwords see it.
    from emoprobe import lexical
    from emoprobe.config import load_config
    from emoprobe.truth import synthetic

    shipped = load_config(REPO / "configs" / "experiment.toml")
    stem = load_config(REPO / "tests" / "data" / "stem_wordings.toml").emotions
    assert not lexical.audit_design(stem, shipped.thresholds.max_word_same_emotion_share).confounded
    whole_words = [m for m, geometry in synthetic.WORD_ONLY_MODELS.items() if "subwords" not in geometry]
    assert whole_words and len(whole_words) < len(synthetic.WORD_ONLY_MODELS)
    limit = design.word_only_null(stem, shipped.thresholds.alpha, 300)[1]
    for model in whole_words:  # the blind spot: no whole-word model fools the control here
        assert np.mean(design.word_only_pvalues(stem, 100, model=model) < shipped.thresholds.alpha) < limit
    audit = design.audit(stem, shipped.thresholds)
    assert audit.word_only_fooled and audit.word_only_rate > 0.5, audit
    assert "word-only model" in audit.warning()
    crossed = design.audit(shipped.emotions, shipped.thresholds)
    assert not crossed.confounded, crossed


def test_a_design_of_stop_words_only_is_audited_not_crashed():
    from emoprobe import lexical

    stop_only = {"happy": ["the", "a", "an"], "sad": ["it", "is", "on"]}
    assert lexical.tfidf_similarity(["the", "a"]).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    # No word is shared, so only the wording terms are nuisance: "same emotion" is not additive in them.
    audit = lexical.audit_design(stop_only, 0.45)
    assert audit.separable and not audit.confined and audit.warning() is None


def test_a_design_the_conditioner_column_would_span_is_refused_by_the_audit_not_by_a_crash():
    # Two wordings per emotion leave one dimension of the wording pairs after the audit's own
    # columns; the run's conditioner column takes it, so the control cannot run. The audit used
    # to call it separable and then crash in its simulation (review 22).
    from emoprobe import lexical
    from emoprobe.config import load_config

    thresholds = load_config(REPO / "configs" / "experiment.toml").thresholds
    for two_by_two in ({"happy": ["the", "a happy song"], "sad": ["a sad song", "it is"]},
                       {"happy": [" ".join(f"word{i}" for i in range(300)), "a happy song"],
                        "sad": ["a sad song", "slow music"]}):
        audit = design.audit(two_by_two, thresholds)
        assert not audit.separable and audit.confounded and "span the same-emotion" in audit.warning()
        assert lexical._separable(lexical.text_similarities(
            [w for ws in two_by_two.values() for w in ws], [e for e, ws in two_by_two.items() for _ in ws]),
            [e for e, ws in two_by_two.items() for _ in ws], conditioner=False)
    three = {"happy": ["the", "a happy song", "bright tune"], "sad": ["a sad song", "it is", "dark tune"]}
    assert design.audit(three, thresholds).separable  # the null: room for the conditioner


def test_a_design_of_one_letter_words_only_is_audited_not_crashed():
    from emoprobe.config import load_config

    thresholds = load_config(REPO / "configs" / "experiment.toml").thresholds
    letters = {"happy": ["a b c", "x y", "b x"], "sad": ["d e f", "z", "d z"]}
    audit = design.audit(letters, thresholds)
    assert audit.separable and audit.word_only_rate is not None
    assert audit.confined  # every letter is under one emotion


def test_the_audit_reads_one_letter_words_as_a_text_encoder_does():
    # Chord letters as tell-tales, each letter in 3 wordings of its emotion and 2 of another's
    # (tests/data/letter_wordings.toml, review 22): the per-word audit passes it, and so did every
    # word-only model reading words of two or more letters; one that reads letters fools the control.
    from emoprobe import lexical
    from emoprobe.config import load_config
    from emoprobe.truth import synthetic

    shipped = load_config(REPO / "configs" / "experiment.toml")
    letter = load_config(REPO / "tests" / "data" / "letter_wordings.toml").emotions
    assert not lexical.audit_design(letter, shipped.thresholds.max_word_same_emotion_share).confounded
    readers = [m for m, geometry in synthetic.WORD_ONLY_MODELS.items() if geometry.get("one_letter")]
    assert readers and len(readers) < len(synthetic.WORD_ONLY_MODELS)
    limit = design.word_only_null(letter, shipped.thresholds.alpha, 300)[1]
    for model in set(synthetic.WORD_ONLY_MODELS) - set(readers):  # the blind spot
        assert np.mean(design.word_only_pvalues(letter, 100, model=model) < shipped.thresholds.alpha) < limit
    audit = design.audit(letter, shipped.thresholds)
    assert audit.word_only_fooled and audit.word_only_rate > 2 * limit, audit
    # The null: the shipped design, full of "a", is not flagged by the letter reader.
    shipped_rate = np.mean(design.word_only_pvalues(shipped.emotions, 300, model=readers[0]) < shipped.thresholds.alpha)
    assert shipped_rate < limit, shipped_rate


def _synonym_vectors(wordings, groups, weight):
    from emoprobe.truth import synthetic

    return synthetic.meaning_vectors(groups, design.conditioner_words(wordings), weight)


def test_the_conditioner_column_is_what_stops_a_model_that_reads_synonyms():
    # tests/data/synonym_wordings.toml (review 22): each emotion's synonyms share no stem, so no word,
    # stem or per-word rule sees them. A word-only model that reads them alike (weighted words) fools
    # the control when its conditioner reads whole words, and not when it reads the model's embeddings.
    from emoprobe.config import load_config
    from emoprobe.truth import synthetic

    thresholds = load_config(REPO / "configs" / "experiment.toml").thresholds
    synonym = load_config(REPO / "tests" / "data" / "synonym_wordings.toml").emotions
    groups = {ws[i].split()[0]: e for e, ws in synonym.items() for i in range(5)}
    model = {**synthetic.WORD_ONLY_MODELS["weighted"], "word_vectors": _synonym_vectors(synonym, groups, 2.0)}
    limit = thresholds.alpha + 3 * np.sqrt(thresholds.alpha * (1 - thresholds.alpha) / 100)
    reads_meaning = [design.word_only_pvalues(synonym, 50, model=model, seed=10 * b) for b in range(2)]
    reads_words = [design.word_only_pvalues(synonym, 50, model=model, seed=10 * b, conditioner_subwords=False)
                   for b in range(2)]
    assert np.mean(np.concatenate(reads_meaning) < thresholds.alpha) < limit
    assert np.mean(np.concatenate(reads_words) < thresholds.alpha) > 0.5


def test_the_audit_reads_synonyms_through_the_conditioners_word_embeddings():
    # Even with the conditioner reading them, a model that weighs every word alike leaves the control
    # at 0.20-0.27 on the synonym design: given the conditioner's word embeddings, the audit
    # simulates such a model and flags it; without them (start-up, no model loaded) it cannot.
    import dataclasses

    from emoprobe import lexical
    from emoprobe.config import load_config

    shipped = load_config(REPO / "configs" / "experiment.toml")
    thresholds = dataclasses.replace(shipped.thresholds, word_only_null_datasets=100)
    synonym = load_config(REPO / "tests" / "data" / "synonym_wordings.toml").emotions
    groups = {ws[i].split()[0]: e for e, ws in synonym.items() for i in range(5)}
    assert not lexical.audit_design(synonym, thresholds.max_word_same_emotion_share).confounded
    assert not design.audit(synonym, thresholds).confounded  # the blind spot
    flagged = design.audit(synonym, thresholds, word_vectors=_synonym_vectors(synonym, groups, 2.0))
    assert flagged.word_only_fooled and "word-only model" in flagged.warning(), flagged
    # The nulls: embeddings without meaning, and the shipped design with meaning groups that cut
    # across its emotions (instruments, tempo, mode, texture) at cosine 0.5. (At cosine 0.8 the
    # control's rate there, 0.053-0.090 over six seeds, touches the limit: bench/RESULTS.md.)
    assert not design.audit(synonym, thresholds, word_vectors=_synonym_vectors(synonym, {}, 2.0)).confounded
    crossed = {**dict.fromkeys(("piano", "strings", "bells", "synths"), "instrument"),
               **dict.fromkeys(("slow", "fast"), "tempo"), **dict.fromkeys(("minor", "major", "key"), "mode"),
               **dict.fromkeys(("chords", "melody", "rhythm", "song"), "texture")}
    audit = design.audit(shipped.emotions, thresholds, word_vectors=_synonym_vectors(shipped.emotions, crossed, 1.0))
    assert not audit.confounded, audit


@pytest.mark.parametrize("emotion_size", [0.0, 0.3])
def test_the_word_only_gap_pvalue_is_the_suites_gap_test(emotion_size):
    # design.word_only_tests reads the gap test's p off the control's intercept-only permutations
    # (lexical_control_many's pvalue_raw); it must be the p the suite's own gap engine gives under
    # the same shuffles of whole wordings, with and without a planted emotion.
    from emoprobe import lexical, stats
    from emoprobe.config import load_config
    from emoprobe.truth import synthetic

    wordings = load_config(REPO / "tests" / "data" / "joint_wordings.toml").emotions
    X, emotions, prompts = synthetic.bag_of_words_activations(3, wordings, emotion_size=emotion_size)
    S = stats.similarity_matrix(X[0], "cosine")
    ids, W = lexical.wording_similarity(S, prompts)
    labels = [i.split("/")[0] for i in ids]
    texts = [wordings[i.split("/")[0]][int(i.split("/")[1])] for i in ids]
    n_permutations = 199
    raw = lexical.lexical_control_many(W, labels, lexical.text_similarities(texts, labels),
                                       n_permutations=n_permutations, seed=5)["pvalue_raw"][0]
    names = np.unique(labels)
    wording_of_sample = [ids.index(p) for p in prompts]
    labellings = [names[codes[wording_of_sample]] for codes in lexical.permuted_labelings(labels, n_permutations, 5)]
    gaps = stats.gaps_under_labellings([S], emotions, prompts, labellings)[:, 0]
    assert gaps[0] == pytest.approx(stats.gap(S, emotions, prompts).gap)
    engine_p = (1 + np.sum(gaps[1:] >= gaps[0] - 1e-12)) / (1 + n_permutations)
    assert raw == pytest.approx(engine_p)
    if emotion_size:  # the planted side, so that the equality is not met by two p-values of 1
        assert raw < 0.05


def _engine_gap_pvalues_by_hand(wordings, seeds, model, n_datasets, n_permutations, seed):
    # The recipe of the test above, dataset by dataset: the gap engine under the control's own shuffles.
    from emoprobe import lexical
    from emoprobe.truth import synthetic

    X, emotions, prompts = synthetic.bag_of_words_activations(seed, wordings, n_datasets=n_datasets,
                                                              n_seeds_per_wording=seeds,
                                                              **synthetic.WORD_ONLY_MODELS[model])
    out, raw = [], []
    for k in range(n_datasets):
        S = stats.similarity_matrix(X[k], "cosine")
        ids, W = lexical.wording_similarity(S, prompts)
        labels = [i.split("/")[0] for i in ids]
        names = np.unique(labels)
        wording_of_sample = [ids.index(p) for p in prompts]
        labellings = [names[codes[wording_of_sample]]
                      for codes in lexical.permuted_labelings(labels, n_permutations, seed + 2)]
        gaps = stats.gaps_under_labellings([S], emotions, prompts, labellings)[:, 0]
        assert gaps[0] == pytest.approx(stats.gap(S, emotions, prompts).gap)
        out.append((1 + np.sum(gaps[1:] >= gaps[0] - 1e-12)) / (1 + n_permutations))
        texts = [wordings[i.split("/")[0]][int(i.split("/")[1])] for i in ids]
        raw.append(lexical.lexical_control_many(W, labels, lexical.text_similarities(texts, labels),
                                                n_permutations=n_permutations, seed=seed + 2)["pvalue_raw"][0])
    return np.array(out), np.array(raw)


def test_with_unequal_seeds_the_word_only_gap_pvalue_is_still_the_suites_gap_test():
    # A plan of 22 samples over 5 wordings gives 5/5/4/4/4 seeds; failed samples give any counts. The
    # sample-pair gap then weighs wording pairs by their samples, and the control's intercept-only p
    # is no longer the gap test's (review 26: decisions differed in 8 of 40 datasets at 6/2/2/2/2).
    from emoprobe.config import load_config

    wordings = load_config(REPO / "tests" / "data" / "joint_wordings.toml").emotions
    seeds = {e: [6, 2, 2, 2, 2] for e in wordings}
    n_datasets, n_permutations, seed = 10, 199, 3
    engine, raw = _engine_gap_pvalues_by_hand(wordings, seeds, "weighted", n_datasets, n_permutations, seed)
    got = design.word_only_tests(wordings, n_datasets, model="weighted", n_permutations=n_permutations, seed=seed,
                                 seeds_per_wording=seeds)["gap_pvalue"]
    assert got == pytest.approx(engine)
    # The case matters: the intercept-only p differs from the engine's on most of these datasets.
    assert np.sum(~np.isclose(raw, engine)) >= n_datasets // 2, (raw, engine)


def test_the_audit_simulates_the_runs_own_seeds_per_wording(monkeypatch):
    # The word-only null must be simulated at the shape the run will have, not at 4 seeds a wording.
    from emoprobe.config import audited_design, load_config

    config = load_config(REPO / "tests" / "data" / "joint_wordings.toml")
    seen = []

    def tests(wordings, n_datasets, *, seeds_per_wording=None, **_):
        seen.append(seeds_per_wording)
        return {"gap_pvalue": np.ones(n_datasets), "control_pvalue": np.ones(n_datasets)}

    monkeypatch.setattr(design, "word_only_tests", tests)
    design._word_only_rate.cache_clear()
    try:
        counts = audited_design(dataclasses.replace(config, n_per_emotion=22))[1]
        assert set(counts.values()) == {(5, 5, 4, 4, 4)}
        result = design.audit(config.emotions, config.thresholds, seeds_per_wording=counts)
        assert seen and all(s == {e: (5, 5, 4, 4, 4) for e in config.emotions} for s in seen)
        # The record says what shape was audited (review 29's carried finding).
        assert result.simulated_samples == (5, 5, 4, 4, 4) * len(config.emotions)
        assert "4 to 5 samples per wording" in result.simulation_line()
        seen.clear()
        result = design.audit(config.emotions, config.thresholds)
        assert seen and all(s is None for s in seen)   # the default: DEFAULT_SEEDS_PER_WORDING each
        assert set(result.simulated_samples) == {design.DEFAULT_SEEDS_PER_WORDING}
        assert f"at {design.DEFAULT_SEEDS_PER_WORDING} samples per wording" in result.simulation_line()
    finally:
        design._word_only_rate.cache_clear()


@pytest.mark.parametrize("seeds", [{"happy": [4, 4]}, {"happy": [4, 4, 4, 4, 0]}, {"happy": [4.9, 4, 4, 4, 4]},
                                   {"happy": "44444"}, {"happy": [True, 4, 4, 4, 4]}, {"angry": [4] * 5},
                                   {"happy": 4}, {"happy": bytearray(b"\x04" * 5)}, {"happy": {4: 4}}])
def test_seed_counts_that_do_not_match_the_wordings_are_refused(seeds):
    # Review 29: extra emotions were ignored, 4.9 read as 4 and "44444" as five fours.
    from emoprobe.config import load_config
    from emoprobe.truth import synthetic

    emotions = load_config(REPO / "tests" / "data" / "joint_wordings.toml").emotions
    with pytest.raises(ValueError, match="seed counts"):
        design.word_only_null(emotions, 0.05, 50, seeds_per_wording={**{e: [4] * 5 for e in emotions}, **seeds})
    with pytest.raises(ValueError, match="n_seeds_per_wording"):
        synthetic.seed_counts(emotions, 4.0)


def test_two_wordings_with_the_same_text_are_audited_as_two(tmp_path):
    # Review 29: the audit keyed wordings by text and merged repeats into one wording with their
    # seeds summed, a smaller design than the run's (which keys by prompt id): a design the
    # word-only null flags at the run's shape passed. An experiment file cannot repeat a wording
    # (the schema refuses it), a configuration built in code can. One entry per prompt id now.
    from emoprobe.config import audited_design, load_config, plan_samples, planned_wordings

    config = load_config(REPO / "configs" / "experiment.toml")
    repeated = {e: tuple(ws) + tuple(ws[:3]) for e, ws in config.emotions.items()}
    config = dataclasses.replace(config, emotions=repeated, n_per_emotion=32)
    wordings, seeds = audited_design(config)
    specs = [s for s in plan_samples(config, include_extremes=False)]
    for emotion in repeated:
        ids = list(dict.fromkeys(s.prompt_id for s in specs if s.condition == emotion))
        assert len(wordings[emotion]) == len(ids) == 8
        assert seeds[emotion] == tuple(sum(s.prompt_id == i for s in specs) for i in ids) == (4,) * 8
    assert planned_wordings(config) == wordings


def test_the_audit_reads_the_samples_the_run_has_not_the_plan():
    # Review 29: a run that lost samples may still reach GO, and its counts are unequal.
    from emoprobe.config import audited_design, load_config

    config = load_config(REPO / "configs" / "experiment.toml")
    wordings, seeds = audited_design(config, {"happy/0": 4, "happy/1": 2, "happy/2": 4, "happy/3": 3,
                                              "sad/0": 4, "sad/1": 4, "sad/2": 4, "sad/3": 4, "sad/4": 4,
                                              "calm/0": 4, "calm/1": 4, "calm/2": 4, "calm/3": 4, "calm/4": 4,
                                              "energetic/0": 4, "energetic/1": 4, "energetic/2": 4,
                                              "energetic/3": 4, "energetic/4": 4})
    assert seeds["happy"] == (4, 2, 4, 3)   # happy/4 lost every sample: not a wording of this run
    assert wordings["happy"] == tuple(config.emotions["happy"][:4])
    assert seeds["sad"] == (4,) * 5
    with pytest.raises(ValueError, match="the plan does not have"):
        audited_design(config, {"happy/9": 3})
    # Review 29b: recorded counts were passed through int(), so 4.9 read as 4 and -3 dropped a wording.
    for bad in (4.9, "4", True, -3, 5, None):
        with pytest.raises(ValueError, match="happy/0"):
            audited_design(config, {"happy/0": bad})


@pytest.mark.parametrize("gap_p, control_p, rate", [(0.5, 0.01, 0.0), (0.01, 0.5, 0.0), (0.01, 0.01, 1.0)])
def test_a_word_only_dataset_counts_against_the_design_only_when_both_tests_a_go_needs_pass(
        monkeypatch, gap_p, control_p, rate):
    # The control firing on a dataset whose gap test does not (the words give no gap) cannot lead to
    # GO; counting it flagged the shipped design on a coin flip of the audit's seed (bench/RESULTS.md).
    def tests(wordings, n_datasets, **_):
        return {"gap_pvalue": np.full(n_datasets, gap_p), "control_pvalue": np.full(n_datasets, control_p)}

    monkeypatch.setattr(design, "word_only_tests", tests)
    design._word_only_rate.cache_clear()
    try:
        wordings = (("happy", ("a happy song", "bright tune")), ("sad", ("a sad song", "dark tune")))
        assert design._word_only_rate(wordings, 0.05, 120, 199, 0, "weighted", None) == rate
    finally:
        design._word_only_rate.cache_clear()


def test_the_audit_never_runs_below_the_standard_alpha(monkeypatch):
    """Review 32c: the word-only null's 199 permutations cannot resolve a p under 1/200, so at
    alpha 0.005 no word-only model could pass and a confounded design read as crossed, letting a
    stricter alpha reach GO.  A stricter run is audited at the standard alpha; a looser one at its own."""
    from emoprobe.config import Thresholds, load_config

    config = load_config(REPO / "tests" / "data" / "joint_wordings.toml")
    seen = []
    monkeypatch.setattr(design, "audit", lambda wordings, thresholds, **_: seen.append(thresholds.alpha))
    for alpha, audited in ((0.004, Thresholds().alpha), (0.05, 0.05), (0.1, 0.1)):
        design.audit_experiment(dataclasses.replace(config, thresholds=dataclasses.replace(config.thresholds,
                                                                                           alpha=alpha)))
        assert seen[-1] == audited, (alpha, seen)
