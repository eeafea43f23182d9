"""The lexical control: calibrated under a bag-of-words null, and firing when emotion is there beyond the words."""

import numpy as np
import pytest

from emoprobe import lexical, stats
from emoprobe.truth import synthetic
from emoprobe.config import REPO_ROOT, load_config

SHIPPED_CONFIG = load_config(REPO_ROOT / "configs" / "experiment.toml")
SHIPPED = SHIPPED_CONFIG.emotions
MAX_SHARE = SHIPPED_CONFIG.thresholds.max_word_same_emotion_share
EVASIVE = load_config(REPO_ROOT / "tests" / "data" / "evasive_wordings.toml").emotions
V1 = load_config(REPO_ROOT / "configs" / "experiment_v1.toml").emotions
ALPHA = 0.05
N_NULL = 500
# An adversary's design: every content word under every emotion, but each emotion's
# wordings share two words of sklearn's stop-word list ("cry", "alone", "fire", ...),
# which a text encoder reads like any other.
_ORDERS = {"happy": ("together", "slow soft dark minor then fast loud bright major", "everything"),
           "sad": ("cry", "fast loud bright major then slow soft dark minor", "alone"),
           "calm": ("down", "fast loud bright major then slow soft dark major", "well"),
           "energetic": ("fire", "slow soft dark major then fast loud bright minor", "up")}
STOP_WORDS_SHARED = {e: [f"{i} {a} {middle} {b}" for i in ("piano", "guitar", "strings", "synth", "drums")]
                     for e, (a, middle, b) in _ORDERS.items()}


def simulate(wordings, n_datasets, *, seed, word_size, emotion_size=0.0, conditioner="pooled"):
    """Wording-level similarity of bag-of-words datasets, the wordings' labels, and their text similarities."""
    X, _, prompt_ids = synthetic.bag_of_words_activations(seed, wordings, n_datasets=n_datasets,
                                                          word_size=word_size, emotion_size=emotion_size)
    ids, index = np.unique(prompt_ids, return_inverse=True)
    texts = [wordings[i.split("/")[0]][int(i.split("/")[1])] for i in ids]
    labels = [i.split("/")[0] for i in ids]
    # Wording-level mean cosine through wording centroids of unit vectors: the
    # same numbers as lexical.wording_similarity off the diagonal, for all datasets at once.
    U = X / np.linalg.norm(X, axis=-1, keepdims=True)
    G = np.zeros((index.size, ids.size))
    G[np.arange(index.size), index] = 1.0
    C = np.einsum("np,knd->kpd", G / G.sum(axis=0), U)
    W = C @ C.transpose(0, 2, 1)
    rng = np.random.default_rng(seed + 1)
    if conditioner == "pooled":  # a conditioner that reads words: mean of per-token embeddings
        E = synthetic.pooled_word_conditioner(rng, texts)
    else:  # tiny's lookup table: one row per whole prompt
        E = rng.standard_normal((len(texts), 32))
    return W, labels, lexical.text_similarities(texts, labels, E)


@pytest.mark.parametrize("design,word_size,conditioner", [
    ("shipped", 0.1, "pooled"), ("shipped", 0.3, "whole-prompt"), ("previous", 0.1, "pooled"),
    ("stop words shared", 0.3, "pooled")])
def test_false_positive_rate_under_the_bag_of_words_null_is_alpha(design, word_size, conditioner):
    wordings = {"shipped": SHIPPED, "previous": V1, "stop words shared": STOP_WORDS_SHARED}[design]
    W, labels, text = simulate(wordings, N_NULL, seed=11, word_size=word_size, conditioner=conditioner)
    if design == "stop words shared":
        # Each emotion's wordings share two words no other emotion uses: same emotion and shared
        # words are the same pairs, so emotion is not identifiable apart from the words, and the
        # control refuses rather than test what is left (rounding noise). It said "emotion" in
        # 1.000 of these datasets when stop words were left out of the text terms.
        with pytest.raises(ValueError, match="span the same-emotion indicator"):
            lexical.lexical_control_many(W, labels, text, n_permutations=999, seed=3)
        return
    out = lexical.lexical_control_many(W, labels, text, n_permutations=999, seed=3)
    rate, raw = np.mean(out["pvalue"] < ALPHA), np.mean(out["pvalue_raw"] < ALPHA)
    se = np.sqrt(ALPHA * (1 - ALPHA) / N_NULL)
    print(f"bag-of-words null, {design} design, word size {word_size}, {conditioner} conditioner: FPR {rate:.3f} "
          f"(band {ALPHA - 3 * se:.3f}-{ALPHA + 3 * se:.3f}); without the control {raw:.3f}")
    assert abs(rate - ALPHA) <= 3 * se, rate
    if design == "previous":
        # The trap the control exists for: with words confined to one emotion, words pass for emotion.
        assert raw > 0.3


def test_fires_when_emotion_is_there_beyond_the_words():
    W, labels, text = simulate(SHIPPED, 100, seed=12, word_size=0.3, emotion_size=0.1)
    out = lexical.lexical_control_many(W, labels, text, n_permutations=999, seed=3)
    power = np.mean(out["pvalue"] < ALPHA)
    print(f"emotion 0.1 beside words 0.3: power {power:.2f}")
    assert power >= 0.9 and np.all(out["effect_controlled"] > 0)


def test_wording_similarity_is_the_mean_over_sample_pairs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((9, 5))
    ids = np.array(["b/0", "a/1", "b/0", "a/0", "a/1", "b/0", "a/0", "a/1", "a/0"])
    S = stats.similarity_matrix(X, "cosine")
    order, W = lexical.wording_similarity(S, ids)
    assert order == ["a/0", "a/1", "b/0"]
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            pairs = [S[p, q] for p in np.flatnonzero(ids == a) for q in np.flatnonzero(ids == b) if p != q]
            assert W[i, j] == pytest.approx(np.mean(pairs))


def test_statistic_and_coefficients_agree_with_pingouin_and_least_squares():
    import pandas as pd
    import pingouin

    rng = np.random.default_rng(4)
    labels = np.repeat(["x", "y", "z"], 4)
    A = rng.standard_normal((12, 12))
    W = A + A.T
    T = rng.random((12, 12))
    text = {"t": T + T.T}
    out = lexical.lexical_control_many(W, labels, text, n_permutations=99, seed=0, wording_effects=False)
    iu = np.triu_indices(12, 1)
    frame = pd.DataFrame({"y": W[iu], "same": (labels[iu[0]] == labels[iu[1]]).astype(float), "t": text["t"][iu]})
    assert out["partial_r"][0] == pytest.approx(pingouin.partial_corr(frame, x="same", y="y", covar=["t"])["r"].iloc[0])
    design = np.column_stack([np.ones(len(frame)), frame["t"], frame["same"]])
    assert out["effect_controlled"][0] == pytest.approx(np.linalg.lstsq(design, frame["y"], rcond=None)[0][-1])
    # The p of the vectorised engine is the share of wording-label shuffles at least as large.
    shuffled = lexical.permuted_labelings(labels, 99, 0)[1:]
    null = [pingouin.partial_corr(frame.assign(same=(s[iu[0]] == s[iu[1]]).astype(float)), x="same", y="y",
                                  covar=["t"])["r"].iloc[0] for s in shuffled]
    assert out["pvalue"][0] == pytest.approx((1 + np.sum(np.array(null) >= out["partial_r"][0] - 1e-12)) / 100)


def test_audit_names_the_words_confined_to_one_emotion():
    confined = lexical.confined_words(V1)
    assert "fast" in confined["energetic"] and "major" in confined["happy"] and "minor" in confined["sad"]
    assert "slow" not in sum(confined.values(), [])  # sad and calm share it
    assert "fast" in lexical.audit_warning(V1, MAX_SHARE)
    # The shipped crossed design: nothing but the emotions' names is confined, nothing concentrated.
    assert lexical.confined_words(SHIPPED) == {} and lexical.audit_warning(SHIPPED, MAX_SHARE) is None
    assert {r.word for r in lexical.word_audit(SHIPPED) if r.confined} == set(SHIPPED)
    assert {r.word for r in lexical.word_audit(SHIPPED) if r.own_name} == set(SHIPPED)


def test_audit_flags_a_word_concentrated_in_one_emotion_though_not_confined_to_it():
    # The evasive design: each emotion's tell-tale word in 4 of its wordings and in 1 of the next emotion's.
    assert lexical.confined_words(EVASIVE) == {}
    audit = lexical.audit_design(EVASIVE, MAX_SHARE)
    assert audit.concentrated["happy"] == (("joyful", pytest.approx(0.6)),) and audit.separable
    assert "joyful 0.60" in audit.warning() and audit.confounded
    # Spread 3 and 2 (share 0.4): the lexical control held there, so the audit passes it.
    instruments = ["piano", "strings", "guitar", "synth", "flute"]
    spread = {e: [f"{sig} {i} music" for sig, i in zip(words, instruments)] for e, words in {
        "happy": ["joyful"] * 3 + ["mournful"] * 2, "sad": ["mournful"] * 3 + ["serene"] * 2,
        "calm": ["serene"] * 3 + ["fierce"] * 2, "energetic": ["fierce"] * 3 + ["joyful"] * 2}.items()}
    rows = {r.word: r for r in lexical.word_audit(spread)}
    assert rows["joyful"].same_emotion_share == pytest.approx(0.4)
    assert lexical.audit_design(spread, MAX_SHARE).concentrated == {}


def test_audit_reads_one_letter_words_and_names_used_under_another_emotion():
    # The key letter is the only word that differs.
    keys = {"happy": ["piano in C major", "strings in C major"], "sad": ["piano in A major", "strings in A major"]}
    assert lexical.confined_words(keys) == {"happy": ["c"], "sad": ["a"]}
    # "happy" in every sad wording and nowhere else is an ordinary confined word, not a name.
    borrowed = {"happy": ["bright piano", "bright strings"], "sad": ["not happy piano", "not happy strings"]}
    audit = lexical.audit_design(borrowed, MAX_SHARE)
    assert "happy" in audit.confined["sad"]
    assert not next(r for r in lexical.word_audit(borrowed) if r.word == "happy").own_name


def test_shipped_design_has_named_and_described_wordings_of_every_emotion():
    for emotion, wordings in SHIPPED.items():
        types = {lexical.wording_type(w, list(SHIPPED)) for w in wordings}
        assert types == {lexical.NAMED, lexical.DESCRIBED}, emotion
    assert lexical.wording_type("a happy song", ["happy", "sad"]) == lexical.NAMED
    assert lexical.wording_type("bright major chords, bouncy rhythm", ["happy", "sad"]) == lexical.DESCRIBED


@pytest.mark.parametrize("emotion_size,fires", [(0.3, True), (0.0, False)])
def test_wording_transfer_fires_on_emotion_and_not_on_words_alone(emotion_size, fires):
    X, emotions, prompt_ids = synthetic.bag_of_words_activations(5, SHIPPED, word_size=0.3, emotion_size=emotion_size)
    text = {f"{e}/{p}": w for e, ws in SHIPPED.items() for p, w in enumerate(ws)}
    types = [lexical.wording_type(text[i], list(SHIPPED)) for i in prompt_ids]
    result = lexical.cross_wording_transfer(X[0], emotions, prompt_ids, types, n_permutations=29, seed=0, layer=0)
    assert (result.pvalue < ALPHA and result.accuracy > result.chance) == fires, result


def test_start_up_audit_warns_naming_the_confined_words():
    import subprocess
    import sys

    def collect(experiment):
        return subprocess.run([sys.executable, "-m", "pytest", "hypotheses/", "--collect-only", "-q", "--model", "tiny",
                               "--experiment", str(experiment), "-p", "no:cacheprovider"],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)

    previous = collect(REPO_ROOT / "configs" / "experiment_v1.toml")
    assert previous.returncode == 0, previous.stdout[-2000:] + previous.stderr[-2000:]
    assert "word-overlap audit" in previous.stdout and "energetic: " in previous.stdout and "fast" in previous.stdout
    shipped = collect(REPO_ROOT / "configs" / "experiment.toml")
    assert shipped.returncode == 0 and "word-overlap audit" not in shipped.stdout


def test_audit_names_stop_words_that_one_emotion_shares():
    confined = lexical.confined_words(STOP_WORDS_SHARED)
    assert sorted(confined["sad"]) == ["alone", "cry"] and sorted(confined["energetic"]) == ["fire", "up"]
    assert "cry" in lexical.audit_warning(STOP_WORDS_SHARED, MAX_SHARE)


def test_a_design_whose_words_span_same_emotion_is_refused_not_tested_on_rounding_noise():
    # Every wording names its emotion: "shares the name" and "same emotion" are the same pairs.
    labels = np.repeat(["happy", "sad", "calm"], 3)
    wordings = ["bright happy tune", "sunny happy song", "glad happy piano", "dark sad tune", "grey sad song",
                "blue sad piano", "soft calm tune", "slow calm song", "still calm piano"]
    W = np.random.default_rng(0).random((9, 9))
    by_emotion = {e: [w for w, label in zip(wordings, labels) if label == e] for e in ("happy", "sad", "calm")}
    assert not lexical.audit_design(by_emotion, MAX_SHARE).separable  # the start-up check sees it too
    with pytest.raises(ValueError, match="span the same-emotion indicator"):
        lexical.lexical_control((W + W.T) / 2, labels, lexical.text_similarities(wordings, labels), n_permutations=99)


def test_weighted_bag_of_words_runs_from_the_truth_package():
    X, emotions, _ = synthetic.bag_of_words_activations(0, SHIPPED, word_weight_sigma=1.5, stop_word_weight=0.1)
    assert X.shape[1] == emotions.size and np.isfinite(X).all()


def test_a_subword_model_reads_word_forms_alike_and_a_whole_word_model_does_not():
    # Three one-word wordings: two forms of one stem and an unrelated word. Whole words share
    # nothing; character n-grams share the stem.
    forms = {"a": ["melancholy"], "b": ["melancholic"], "c": ["piano"]}
    pieces = synthetic.word_pieces(["melancholy", "melancholic", "piano"], synthetic.SUBWORDS)
    assert np.allclose(np.linalg.norm(pieces, axis=1), 1.0) and (pieces @ pieces.T)[0, 2] == 0.0
    excess = {}
    for view, subwords in (("words", None), ("subwords", synthetic.SUBWORDS)):
        X, _, _ = synthetic.bag_of_words_activations(0, forms, n_seeds_per_wording=1, n_datasets=200,
                                                     subwords=subwords)
        C = np.mean([lexical.cosine_matrix(x) for x in X], axis=0)
        excess[view] = C[0, 1] - C[0, 2]  # how much closer the two forms are than a form and "piano"
    assert excess["subwords"] > 0.03 and abs(excess["words"]) < 0.01, excess
    conditioner = synthetic.pooled_word_conditioner(0, ["melancholy", "melancholic"], dim=512,
                                                    subwords=synthetic.SUBWORDS)
    assert lexical.cosine_matrix(conditioner)[0, 1] > 0.5
