"""The verdict rule on hand-made outcomes: one test per verdict, and the edges."""

import pytest

from emoprobe.decision import GO, GO_PARTIAL, GO_REDUCED, INCONCLUSIVE, NO_GO, PIVOT, Family, LayerOutcome, Outcome, decide, no_verdict

RULE = dict(alpha=0.05, min_gap=0.02, min_n=20, acoustic_threshold=0.8)


def layers(*rows):
    """Layers whose emotion effect survives the lexical control (its own tests set it)."""
    return tuple(LayerOutcome(i, gap, p, holm, lexical_pvalue_holm=1e-4) for i, (gap, p, holm) in enumerate(rows))


def test_go_needs_a_significant_layer_with_the_gap_and_passing_acoustics():
    decision = decide(Outcome(20, layers((0.001, 0.4, 1.0), (0.05, 0.0001, 0.0002)), True, 0.9), **RULE)
    assert decision.verdict == GO and decision.best_layer == 1 and decision.significant_layers == (1,)


def test_pivot_when_significant_but_below_the_gap():
    decision = decide(Outcome(20, layers((0.01, 0.0001, 0.0002), (0.03, 0.04, 0.08)), True, 0.9), **RULE)
    assert decision.verdict == PIVOT


def test_no_go_when_nothing_survives_correction():
    # Uncorrected p < 0.05 is not enough: Holm decides.
    decision = decide(Outcome(20, layers((0.05, 0.03, 0.06), (0.04, 0.04, 0.08)), True, 0.9), **RULE)
    assert decision.verdict == NO_GO


def test_no_go_even_when_acoustics_fail():
    assert decide(Outcome(20, layers((0.0, 0.5, 1.0)), False, 0.5), **RULE).verdict == NO_GO


def test_inconclusive_with_too_few_samples_whatever_else_passes():
    decision = decide(Outcome(19, layers((0.2, 1e-4, 1e-4)), True, 1.0), **RULE)
    assert decision.verdict == INCONCLUSIVE and "19" in decision.reason


def test_inconclusive_when_activations_differ_but_audio_fails_validation():
    decision = decide(Outcome(20, layers((0.2, 1e-4, 1e-4)), False, 0.6), **RULE)
    assert decision.verdict == INCONCLUSIVE and "acoustic" in decision.reason


def test_a_failed_positive_control_leaves_neither_go_nor_no_go():
    # Review 30b: claim 8 was decisive in the run summary but never read by the rule, so a run
    # whose extreme contrasts separated nowhere could still be a complete GO (or NO-GO).
    go = Outcome(20, layers((0.05, 0.0001, 0.0002)), True, 0.9)
    no_go = Outcome(20, layers((0.0, 0.5, 1.0)), True, 0.9)
    for outcome, verdict in ((go, GO), (no_go, NO_GO)):
        assert decide(outcome, **RULE).verdict == verdict                       # not run: not read
        passed = decide(Outcome(**{**outcome.__dict__, "positive_control": (2, 2)}), **RULE)
        assert passed.verdict == verdict
        failed = decide(Outcome(**{**outcome.__dict__, "positive_control": (1, 2)}), **RULE)
        assert failed.verdict == INCONCLUSIVE and "positive control failed: 1 of 2" in failed.reason
        row = {c.name: c for c in failed.criteria}["positive control: extreme contrasts separate"]
        assert (row.value, row.passed) == ("1 of 2 pairs", False)
        assert {c.name: c for c in passed.criteria}["positive control: extreme contrasts separate"].passed
    # Too few samples is read first, as before.
    few = decide(Outcome(19, layers((0.05, 0.0001, 0.0002)), True, 0.9, positive_control=(0, 2)), **RULE)
    assert few.verdict == INCONCLUSIVE and "19" in few.reason


def test_gap_and_significance_must_hold_in_the_same_layer():
    # Layer 0 is significant with a small gap, layer 1 has a big gap but is not significant.
    decision = decide(Outcome(20, layers((0.005, 1e-4, 2e-4), (0.08, 0.2, 0.4)), True, 0.9), **RULE)
    assert decision.verdict == PIVOT


def test_criteria_table_reports_each_number_and_partial_runs_say_so():
    decision = decide(Outcome(None, layers((0.05, 1e-4, 1e-4)), True, 0.9), partial=True, **RULE)
    assert decision.partial and decision.verdict == GO_PARTIAL
    by_name = {c.name: c for c in decision.criteria}
    assert by_name["samples per emotion"].passed is None
    assert by_name["family tested"].value == "not known"


def test_go_needs_the_acoustic_check_to_have_run():
    # No acoustic contrast among the analysed emotions (or the claims deselected): never GO.
    decision = decide(Outcome(20, layers((0.05, 1e-4, 1e-4)), None), **RULE)
    assert decision.verdict == INCONCLUSIVE and "acoustic" in decision.reason
    assert {c.name: c for c in decision.criteria}["acoustic agreement (worst contrast)"].value == "not run"


FULL = Family(48, 48, ("happy", "sad", "calm", "energetic"), ("happy", "sad", "calm", "energetic"))


@pytest.mark.parametrize("family", [Family(6, 48, FULL.emotions_total, FULL.emotions_total),
                                    Family(48, 48, ("happy", "calm"), FULL.emotions_total)])
def test_go_on_a_reduced_family_is_not_a_full_go(family):
    decision = decide(Outcome(20, layers((0.05, 1e-4, 1e-4)), True, 0.9, family), **RULE)
    assert decision.verdict == GO_REDUCED and decision.verdict != GO and decision.reduced_family
    assert decision.family == family.describe() and "reduced family" in decision.reason
    assert decide(Outcome(20, layers((0.05, 1e-4, 1e-4)), True, 0.9, FULL), **RULE).verdict == GO


def test_go_in_a_partial_run_is_not_a_full_go():
    decision = decide(Outcome(20, layers((0.05, 1e-4, 1e-4)), True, 0.9, FULL), **RULE, partial=True)
    assert decision.verdict == GO_PARTIAL and decision.partial and "partial run" in decision.reason
    # Anything short of GO keeps its name: only a GO could be misread.
    assert decide(Outcome(20, layers((0.05, 0.5, 0.5)), True, 0.9, FULL), **RULE, partial=True).verdict == NO_GO


def test_no_go_when_the_wordings_confine_words_to_one_emotion():
    audit = "word-overlap audit: 2 word(s) occur under only one emotion, ... (energetic: fast, loud)"
    decision = decide(Outcome(20, layers((0.05, 1e-4, 1e-4)), True, 0.9, FULL, words_confined=audit), **RULE)
    assert decision.verdict == INCONCLUSIVE and "confounds words with emotions" in decision.reason
    row = {c.name: c for c in decision.criteria}["wordings cross words with emotions"]
    assert row.passed is False and "2 word(s)" in row.value
    # The same numbers on a crossed design: GO.
    assert decide(Outcome(20, layers((0.05, 1e-4, 1e-4)), True, 0.9, FULL), **RULE).verdict == GO


def test_no_go_when_the_audit_could_not_read_the_conditioners_word_embeddings():
    # A run whose store lost the model's text conditioning of a word: the audit could not
    # simulate a model that reads words by meaning, so a synonym design is not ruled out.
    blind = decide(Outcome(20, layers((0.05, 1e-4, 1e-4)), True, 0.9, FULL, audit_read_word_embeddings=False),
                   **RULE)
    assert blind.verdict == INCONCLUSIVE and "text conditioning of each word" in blind.reason
    row = {c.name: c for c in blind.criteria}["wordings cross words with emotions"]
    assert row.passed is None and "not by meaning" in row.value
    read = decide(Outcome(20, layers((0.05, 1e-4, 1e-4)), True, 0.9, FULL, audit_read_word_embeddings=True), **RULE)
    assert read.verdict == GO and "by meaning" in {c.name: c for c in read.criteria}[row.name].value
    # Below GO nothing changes: the audit only ever stands between a gap and a GO.
    assert decide(Outcome(20, layers((0.05, 0.5, 0.5)), True, 0.9, FULL, audit_read_word_embeddings=False),
                  **RULE).verdict == NO_GO


def test_family_names_layers_and_emotions():
    assert Family(6, 48, ("happy", "sad"), FULL.emotions_total).describe() == "6 of 48 layers, 2 of 4 emotions"


def test_the_gap_must_clear_the_line_by_its_lower_bound():
    # Point gap 0.025 over the line, but with SE 0.004 over 10 layers the simultaneous
    # lower bound is 0.025 - 2.81 * 0.004 = 0.0138: PIVOT. A tight SE gives GO.
    wide = tuple(LayerOutcome(k, 0.025, 1e-4, 1e-3, gap_se=0.004, lexical_pvalue_holm=1e-4) for k in range(10))
    tight = tuple(LayerOutcome(k, 0.025, 1e-4, 1e-3, gap_se=0.001, lexical_pvalue_holm=1e-4) for k in range(10))
    assert decide(Outcome(20, wide, True, 0.9), **RULE).verdict == PIVOT
    assert decide(Outcome(20, tight, True, 0.9), **RULE).verdict == GO


def test_the_config_names_the_correction_that_decides():
    rows = (LayerOutcome(0, 0.05, 1e-3, 0.06, pvalue_maxt=0.01, lexical_pvalue_holm=1e-4),)
    assert decide(Outcome(20, rows, True, 0.9), **RULE).verdict == NO_GO
    maxt = decide(Outcome(20, rows, True, 0.9), correction="maxt", **RULE)
    assert maxt.verdict == GO and maxt.correction == "maxt" and "max-T" in maxt.reason
    with pytest.raises(ValueError):
        decide(Outcome(20, layers((0.05, 1e-4, 1e-4)), True, 0.9), correction="maxt", **RULE)


def lexical_layers(*rows):
    return tuple(LayerOutcome(i, gap, p, holm, lexical_pvalue_holm=lexical)
                 for i, (gap, p, holm, lexical) in enumerate(rows))


def test_go_needs_the_emotion_effect_to_survive_the_lexical_control_in_a_reaching_layer():
    # Layer 0 reaches the gap but its effect is the words; layer 1 reaches it beyond the words.
    decision = decide(Outcome(20, lexical_layers((0.08, 1e-4, 2e-4, 0.4), (0.03, 1e-4, 2e-4, 0.001)), True, 0.9),
                      **RULE)
    assert decision.verdict == GO and "layer 1" in decision.reason and not decision.explained_by_wording
    by_name = {c.name: c for c in decision.criteria}
    assert by_name["significant layers whose emotion effect survives the lexical control"].value == "1 of 2"


def test_pivot_explained_by_wording_when_the_text_accounts_for_every_significant_gap():
    decision = decide(Outcome(20, lexical_layers((0.08, 1e-4, 2e-4, 0.3), (0.05, 1e-3, 2e-3, 0.06)), True, 0.9),
                      **RULE)
    assert decision.verdict == PIVOT and decision.explained_by_wording
    assert decision.reason.startswith("explained by wording") and "layer 0" in decision.reason
    assert {c.name: c for c in decision.criteria}[
        "significant layers whose emotion effect survives the lexical control"].passed is False


def test_explained_by_wording_comes_before_failing_acoustics():
    # Audio that follows the words fails validation too; the wording is the more specific diagnosis.
    decision = decide(Outcome(20, lexical_layers((0.08, 1e-4, 2e-4, 0.5)), False, 0.5), **RULE)
    assert decision.verdict == PIVOT and decision.explained_by_wording


def test_gap_reached_only_by_a_wording_explained_layer_is_pivot_explained_by_wording():
    # Layer 1 survives the lexical control but is below the line; the layer over the line is the words.
    decision = decide(Outcome(20, lexical_layers((0.08, 1e-4, 2e-4, 0.5), (0.005, 1e-4, 2e-4, 0.01)), True, 0.9),
                      **RULE)
    assert decision.verdict == PIVOT and decision.explained_by_wording
    weak = decide(Outcome(20, lexical_layers((0.005, 1e-4, 2e-4, 0.5), (0.005, 1e-4, 2e-4, 0.01)), True, 0.9),
                  **RULE)
    assert weak.verdict == PIVOT and not weak.explained_by_wording and "weak signal" in weak.reason


def test_no_go_is_untouched_by_the_lexical_control():
    decision = decide(Outcome(20, lexical_layers((0.05, 0.03, 0.06, 0.001)), True, 0.9), **RULE)
    assert decision.verdict == NO_GO and not decision.explained_by_wording


def test_go_needs_the_lexical_control_to_have_run():
    # A layer over the line whose lexical control is missing cannot give GO (as with acoustics).
    rows = (LayerOutcome(0, 0.05, 1e-4, 1e-4),)
    decision = decide(Outcome(20, rows, True, 0.9), **RULE)
    assert decision.verdict == INCONCLUSIVE and "lexical control" in decision.reason
    assert not decision.explained_by_wording


def test_the_decision_reads_layers_in_layer_order_whatever_order_they_arrive_in():
    """Under xdist claim rows arrive as workers finish: the record must not follow that order."""
    rows = layers((0.05, 0.0001, 0.0002), (0.001, 0.4, 1.0), (0.06, 0.0001, 0.0002), (0.04, 0.0001, 0.0002))
    forward = decide(Outcome(20, rows, True, 0.9), **RULE)
    backward = decide(Outcome(20, tuple(reversed(rows)), True, 0.9), **RULE)
    assert forward.significant_layers == backward.significant_layers == (0, 2, 3)
    assert forward == backward


def test_a_decision_that_could_not_be_made_is_recorded_as_no_verdict_not_as_a_result():
    record = no_verdict("ValueError: bad row", correction="maxt")
    assert record.verdict == INCONCLUSIVE and record.partial
    assert record.reason == "no verdict: the decision could not be made (ValueError: bad row)"
    assert record.criteria == () and record.significant_layers == () and record.best_layer is None
    assert record.correction == "maxt"


def test_settings_other_than_the_standard_refuse_the_verdicts_they_could_make():
    """A config edit must not turn the verdict: alpha 0.5 or min_n_per_emotion = 5 would
    otherwise reach GO on evidence the standard rejects (review 30b: "thresholds are checked only
    loosely"), and a looser sample gate or stricter alpha a NO-GO (reviews 32b, 32c)."""
    go = Outcome(20, layers((0.05, 0.0001, 0.0002)), True, 0.9)
    no_go = Outcome(20, layers((0.0, 0.5, 1.0)), True, 0.9)
    pivot = Outcome(20, layers((0.01, 0.0001, 0.0002)), True, 0.9)
    with_ = lambda outcome, *deviations: Outcome(**{**outcome.__dict__, "threshold_deviations": deviations})  # noqa: E731
    row = lambda d: {c.name: c for c in d.criteria}["thresholds and settings against the standard"]  # noqa: E731
    looser = ("alpha 0.5 (standard 0.05)", True, True)
    stricter_alpha = ("alpha 0.001 (standard 0.05)", False, True)
    harmless = ("word_only_null_datasets 1000 (standard 300)", False, False)

    assert row(decide(go, **RULE)).passed is None and row(decide(go, **RULE)).value == "not compared"
    for outcome, expected in ((go, GO), (no_go, NO_GO), (pivot, PIVOT)):
        assert decide(outcome, **RULE).verdict == expected                    # not compared: not read
        as_standard = decide(with_(outcome), **RULE)
        assert as_standard.verdict == expected and row(as_standard).passed is True
        assert row(as_standard).value == "the standard's"
        # One that can make none of them leaves each standing.
        assert decide(with_(outcome, harmless), **RULE).verdict == expected
    refused = decide(with_(go, looser), **RULE)
    assert refused.verdict == INCONCLUSIVE and "alpha 0.5 (standard 0.05)" in refused.reason, refused.reason
    assert row(refused).passed is False and row(refused).value == "looser: alpha 0.5 (standard 0.05)"
    # A stricter alpha leaves a GO standing (a stronger GO) but can make a NO-GO or PIVOT.
    assert decide(with_(go, stricter_alpha), **RULE).verdict == GO
    for outcome, name in ((no_go, NO_GO), (pivot, PIVOT)):
        for deviation in (looser, stricter_alpha):
            decision = decide(with_(outcome, deviation), **RULE)
            assert decision.verdict == INCONCLUSIVE, decision
            assert decision.reason.startswith(f"{name} by the rule") and deviation[0] in decision.reason
            assert decision.explained_by_wording is False
