"""The whole verdict on hundreds of simulated experiments (``emoprobe.verdicts``).

Not repeated pytest runs: each dataset goes through ``stats.analyse_layers``
and ``decision.decide`` in-process, with the acoustic check assumed passed
(the most GO-prone case).
"""

import pytest

from emoprobe import verdicts
from emoprobe.config import REPO_ROOT, load_config

ALPHA = 0.05
N_NULL_DATASETS = 500
# The lexical null on the previous design, whose wordings share words within an emotion
# ("fast" in every energetic one): a model that only matches words passes the gap test
# there, and only the lexical control and the word-overlap audit stand between it and GO.
WORD_MATCHING = dict(wordings=load_config(REPO_ROOT / "configs" / "experiment_v1.toml").emotions, word_size=1.5)
# The shipped crossed design, where GO is possible: a word-only model whose words each
# weigh their own way (as a language model's do), which no text similarity matches.
CROSSED = dict(wordings=load_config(REPO_ROOT / "configs" / "experiment.toml").emotions, word_size=1.5)
GEOMETRY = {"lexical": WORD_MATCHING, "lexical-weighted": CROSSED, "lexical-subword": CROSSED}
# A design that evades an audit of confined words (tests/data/evasive_wordings.toml): each
# emotion's tell-tale word in 4 of its wordings and 1 of another emotion's.
EVASIVE = dict(wordings=load_config(REPO_ROOT / "tests" / "data" / "evasive_wordings.toml").emotions, word_size=1.5)
# One that evades a word-by-word audit too (tests/data/joint_wordings.toml): three tell-tale
# words per emotion, each under the share threshold, that lean on the emotions together.
JOINT = dict(wordings=load_config(REPO_ROOT / "tests" / "data" / "joint_wordings.toml").emotions, word_size=1.5)
# One that evades every whole-word audit (tests/data/stem_wordings.toml): each emotion's stem spread
# over word forms, read by a model that reads words by their character n-grams as a subword encoder
# does, every word alike (the weighted model reaches GO too, less often).
STEM = dict(wordings=load_config(REPO_ROOT / "tests" / "data" / "stem_wordings.toml").emotions, word_size=1.5,
            word_weight_sigma=0.0)
N_EVASIVE_DATASETS = 200
# One that evades every tokenisation (tests/data/synonym_wordings.toml): each emotion's synonyms share
# no stem, read alike by a model that reads words by meaning, every word alike (cosine 0.8 between
# synonyms); the control's conditioner and the audit are given the embeddings the model reads.
SYNONYM_WORDINGS = load_config(REPO_ROOT / "tests" / "data" / "synonym_wordings.toml").emotions


@pytest.mark.parametrize("truth", verdicts.NULLS)
def test_null_truths_rarely_give_go(truth):
    rates = verdicts.simulate_verdicts(truth, N_NULL_DATASETS, n_layers=4, seed=100 + verdicts.NULLS.index(truth),
                                       **GEOMETRY.get(truth, {}))
    print(f"{truth}: GO {rates.n_go}/{rates.n_datasets} (upper 95% {rates.go_upper_95:.4f}), "
          f"some layer significant {rates.significant_rate:.3f}, "
          f"GO without the lexical control {rates.n_go_without_lexical}/{rates.n_datasets}")
    assert rates.go_upper_95 <= ALPHA, f"{truth}: {rates.n_go} GO in {rates.n_datasets}, upper bound {rates.go_upper_95:.3f}"
    if truth == "lexical":
        # The gap test is fooled by shared words (the reason for the control), and without the
        # control and the audit the rule would say GO often: the check has teeth.
        assert rates.significant_rate > 0.9 and rates.n_go_without_lexical / rates.n_datasets > 0.2, rates
        return
    if truth in ("lexical-weighted", "lexical-subword"):
        return  # the gap test may fire on words: the lexical control, not the correction, must stop GO
    # The first step of the rule (significance after max-T) holds the family-wise error rate.
    bound = verdicts.fwer_bound(ALPHA, rates.n_datasets)
    assert rates.significant_rate <= bound, f"{truth}: some layer significant in {rates.significant_rate:.3f} > {bound:.3f}"


@pytest.mark.parametrize("name,truth,design", [("evasive", "lexical-weighted", EVASIVE),
                                               ("joint", "lexical-weighted", JOINT),
                                               ("stem", "lexical-subword", STEM)])
def test_words_concentrated_in_one_emotion_do_not_give_go(name, truth, design):
    rates = verdicts.simulate_verdicts(truth, N_EVASIVE_DATASETS, n_layers=4, seed=123, **design)
    without_audit = verdicts._upper(rates.n_go_without_audit, rates.n_datasets)
    print(f"{name} design: GO {rates.n_go}/{rates.n_datasets} (upper 95% {rates.go_upper_95:.4f}); without the "
          f"audit {rates.n_go_without_audit} (upper 95% {without_audit:.4f}); without the lexical control and the "
          f"audit {rates.n_go_without_lexical}")
    assert rates.go_upper_95 <= ALPHA, rates
    # The audit's teeth: with the lexical control alone this null could not be shown to hold alpha.
    assert without_audit > ALPHA, rates


def test_emotion_beyond_shared_words_still_gives_go():
    rates = verdicts.simulate_verdicts("lexical-plus-emotion", 40, n_layers=4, seed=9, emotion_size=0.8, **CROSSED)
    assert rates.go_rate >= 0.9, f"GO in {rates.n_go} of 40 datasets with an emotion direction beside the words"


# A noisy geometry (16 effective dimensions, a wording effect) where the winner's curse bites.
NOISY = dict(n_layers=8, prompt_share=0.3, dim=16)


def test_a_true_gap_below_the_line_rarely_gives_go():
    rates = verdicts.simulate_verdicts("planted", 200, gap=0.015, seed=7, **NOISY)
    print(f"true gap 0.015: GO {rates.n_go}/200 by the lower bound, {rates.n_go_point_gap}/200 by the point gap")
    assert rates.go_rate <= 0.05, f"GO in {rates.n_go} of 200 datasets with a true gap of 0.015 at every layer"
    # The check's teeth: the largest point gap among significant layers would say GO far more often.
    assert rates.n_go_point_gap / 200 > 0.05


def test_a_true_gap_above_the_line_gives_go():
    rates = verdicts.simulate_verdicts("planted", 40, gap=0.04, seed=8, **NOISY)
    assert rates.go_rate >= 0.9, f"GO in {rates.n_go} of 40 datasets with a true gap of 0.04"


def test_a_registered_truth_joins_the_nulls():
    before = list(verdicts.NULLS)
    try:
        verdicts.register_truth("copy-of-null", verdicts.TRUTHS["null"], null=True)
        assert "copy-of-null" in verdicts.NULLS
        assert verdicts.simulate_verdicts("copy-of-null", 3, n_layers=2).n_datasets == 3
    finally:
        verdicts.NULLS[:] = before
        verdicts.TRUTHS.pop("copy-of-null", None)


def test_synonyms_read_alike_do_not_give_go():
    from emoprobe import lexical
    from emoprobe.truth import synthetic

    groups = {ws[i].split()[0]: e for e, ws in SYNONYM_WORDINGS.items() for i in range(5)}
    vocabulary = sorted({w for ws in SYNONYM_WORDINGS.values() for t in ws for w in lexical.tokens(t, one_letter=True)})
    rates = verdicts.simulate_verdicts("lexical-meaning", 40, n_layers=4, seed=123, wordings=SYNONYM_WORDINGS,
                                       word_size=1.5, word_weight_sigma=0.0, stop_word_weight=1.0,
                                       word_vectors=synthetic.meaning_vectors(groups, vocabulary, 2.0))
    print(f"synonym design: GO {rates.n_go}/{rates.n_datasets}; without the audit {rates.n_go_without_audit}; "
          f"without the lexical control and the audit {rates.n_go_without_lexical}")
    assert rates.n_go == 0, rates
    # The audit's teeth: the control alone lets this null through.
    assert rates.n_go_without_audit / rates.n_datasets > 0.1, rates


def test_the_audit_of_a_simulated_run_is_given_its_own_seeds_per_wording():
    # The whole-verdict simulation audits each run at the shape the run has (unequal where
    # samples are missing), in the order its wordings are listed.
    import numpy as np

    run = verdicts.SimulatedRun({0: np.zeros((7, 2))}, np.array(["a"] * 4 + ["b"] * 3),
                                np.array(["a/0", "a/0", "a/0", "a/1", "b/1", "b/0", "b/1"]),
                                texts={"a/0": "x", "a/1": "y", "b/0": "z", "b/1": "w"})
    assert verdicts._wordings_by_emotion(run) == {"a": ["x", "y"], "b": ["w", "z"]}
    assert verdicts._seeds_by_emotion(run) == {"a": [3, 1], "b": [2, 1]}
