"""Known-answer runs for wording: a model of pure words never gives GO; emotion beyond the words does.

Both run through ``pytest hypotheses/ --model ...`` on the crossed design (the
shipped experiment's wordings, short clips), in one run of the suite with the
other known-truth models (``crossed_run``, tests/conftest.py).
"""

import numpy as np
import pytest

from emoprobe.truth import known_truth
from emoprobe.decision import GO

from test_known_truth import CROSSED_MODELS, LEXICAL, PLANTED_LEXICAL, claim_outcomes


@pytest.fixture(scope="module")
def lexical_run(crossed_run):
    return crossed_run


def test_pure_wording_never_gives_go(lexical_run):
    record, _, _ = lexical_run
    lexical = record["models"][LEXICAL]
    assert lexical["verdict"] != GO, lexical["reason"]
    passed = {r["layer"] for r in claim_outcomes(lexical, "lexical").values() if r["outcome"] == "passed"}
    assert not passed, f"the emotion effect survived the lexical control at layers {passed} of a model of words"


def test_emotion_beyond_the_words_gives_go_at_the_planted_layers(lexical_run):
    record, _, _ = lexical_run
    planted = record["models"][PLANTED_LEXICAL]
    assert planted["verdict"] == GO, planted["reason"]
    assert {1, 3} <= set(planted["significant_layers"])
    rows = claim_outcomes(planted, "lexical").values()
    assert {r["layer"] for r in rows if r["outcome"] == "passed"} == {1, 3}, \
        {r["layer"]: (r["pvalue_holm"], r["effect_raw"], r["effect_controlled"]) for r in rows}


def test_the_report_shows_the_effect_before_and_after_the_text_and_the_audit(lexical_run):
    record, _, out = lexical_run
    assert all("explained_by_wording" in r for r in record["models"].values())
    html = (out / "report.html").read_text()
    # One of each per model's section.
    n = len(CROSSED_MODELS)
    assert html.count('class="emoprobe-lexical"') == n and html.count('class="emoprobe-audit"') == n


def test_lexical_offsets_follow_the_words_and_nothing_else():
    spec = known_truth.parse(LEXICAL)
    offsets = known_truth.offsets_function(spec, {"slow sad piano": "sad", "piano slow sad": "happy"}, 4, 32)
    a, b, c = offsets("slow sad piano"), offsets("piano slow sad"), offsets("slow sad guitar")
    assert set(a) == {0, 1, 2, 3}
    # Same words, other order and other emotion: the same offset. One word changed: another.
    assert all(np.allclose(a[layer], b[layer]) for layer in a)
    cosine = a[2] @ c[2] / np.linalg.norm(a[2]) / np.linalg.norm(c[2])
    assert 0.3 < cosine < 0.95


def test_planted_lexical_adds_the_emotion_at_its_layers_only():
    spec = known_truth.parse(PLANTED_LEXICAL)
    emotions = {"slow piano": "sad", "slow piano ": "happy"}
    offsets = known_truth.offsets_function(spec, emotions, 4, 32)
    sad, happy = offsets("slow piano"), offsets("slow piano ")
    assert np.allclose(sad[0], happy[0]) and np.allclose(sad[2], happy[2])
    assert not np.allclose(sad[1], happy[1]) and not np.allclose(sad[3], happy[3])


def test_lexical_audio_follows_the_words():
    fast, slow = known_truth.word_acoustics("fast sad piano in a major key"), known_truth.word_acoustics("slow happy")
    assert fast["tempo_bpm"] > slow["tempo_bpm"] and fast["mode"] == "major"
    assert known_truth.word_acoustics("a happy song in a minor key")["mode"] == "minor"


def test_strong_words_of_the_previous_design_pass_for_emotion_until_the_lexical_control(tmp_path):
    """The issue's trap, on known truth: with the old wordings a model of words alone gets every layer
    significant and a gap over the line (GO under the old rule). The suite's rule, given the control
    and the word-overlap audit as the suite gives them, does not say GO.

    The control alone is not enough on a design that confounds words with emotions: with one
    column per shared word it passed this model at one layer (Holm p 0.004), hence the audit."""
    import dataclasses

    from emoprobe import analysis
    from emoprobe.config import Overrides, load_config
    from emoprobe.dataset import collect_samples, text_conditioning
    from emoprobe.decision import INCONCLUSIVE, PIVOT, LayerOutcome, Outcome, decide
    from emoprobe.lexical import audit_warning
    from emoprobe.models import describe_model
    from emoprobe.store import SampleStore

    from test_known_truth import PREVIOUS_DESIGN

    model = "lexical:size=6"
    config = load_config(PREVIOUS_DESIGN, Overrides(model=model, cache_dir=str(tmp_path)))
    config = dataclasses.replace(
        config, extreme_pairs=(), generation=dataclasses.replace(config.generation, duration_s=2.0),
        statistics=dataclasses.replace(config.statistics, n_permutations=999, n_bootstrap=0))
    info = describe_model(model)
    samples = collect_samples(config, info, SampleStore(config.cache_dir), progress=False)[0]["emotion"]
    layers = tuple(range(info.n_layers))
    gaps = analysis.emotion_layers(samples, layers, config)
    controls = analysis.lexical_controls(samples, layers, config,
                                         text_conditioning(config, info, analysis.wording_table(samples)[1]))
    t = config.thresholds
    rule = dict(alpha=t.alpha, min_gap=t.min_gap, min_n=t.min_n_per_emotion, acoustic_threshold=t.acoustic_agreement)
    audit = audit_warning(config.emotions, t.max_word_same_emotion_share)

    def verdict(with_checks):
        return decide(Outcome(config.n_per_emotion, tuple(
            # Without the checks, the rule before them: as if the text explained nothing.
            LayerOutcome(r.layer, r.statistic, r.pvalue, r.pvalue_holm,
                         lexical_pvalue_holm=controls[r.layer].pvalue_holm if with_checks else 0.0)
            for r in gaps.layers),
            acoustic_pass=True, words_confined=audit if with_checks else None), **rule)

    assert verdict(with_checks=False).verdict == GO
    decision = verdict(with_checks=True)
    assert decision.verdict in (PIVOT, INCONCLUSIVE), decision.reason
    assert decision.explained_by_wording or "confounds words with emotions" in decision.reason, decision.reason
