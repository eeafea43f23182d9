"""The whole verdict on many simulated datasets: how often does the rule say GO when it must not?

Each dataset is a synthetic experiment (``emoprobe.truth.synthetic``: 4 emotions x
5 wordings x 4 seeds, several layers) run through the same statistics as the
suite (``stats.analyse_layers``: wording-level gap test, hierarchical
bootstrap, Holm and max-T across layers) and the same rule
(``decision.decide``), with the acoustic check assumed passed: the most
GO-prone assumption, so the rates are upper bounds for real runs.

Known truths (``TRUTHS``), each a generator of one dataset's layers:

* ``null``: no emotion, no wording effect.
* ``seed-like``: no emotion; the wording effect tuned to the seed's numbers
  (control 0.9508 against between 0.9461).
* ``paraphrase``: no emotion; a strong wording effect (60% of the noise
  variance shared by a wording's seeds).
* ``planted``: a true gap at every layer (``gap=``), for the winner's-curse check.
* ``lexical``: no emotion; a bag-of-words model of the design's own wordings
  (``wordings=``, emotion -> wordings): each word of a prompt pushes the
  activations its own way, so wordings that share words (an emotion's name)
  are alike. The gap test fires on it; the lexical control must stop the GO.
* ``lexical-weighted``: the same, with each word weighted its own way
  (log-normal, stop words at a tenth), which no text similarity of the
  control matches: the realistic case of a language model's weighting.
* ``lexical-plus-emotion``: the same words, plus an emotion direction
  (``emotion_size=``): emotion beyond the words, where GO must stay reachable.
* ``lexical-subword``: ``lexical-weighted`` reading each word by its character
  n-grams (``synthetic.word_pieces``), as a subword encoder reads "joyful" and
  "joyous" alike: the null of a design whose stems, not words, carry the emotion.
* ``lexical-meaning``: ``lexical-weighted`` reading each word through an
  encoder's embedding of it (``word_vectors=``, word -> vector, e.g.
  ``synthetic.meaning_vectors``), as T5 reads "glad" and "merry" alike: the null
  of a design whose synonyms carry the emotion. The control's conditioner
  reads the same embeddings; that column is all that stands between such a
  model and GO (bench/RESULTS.md, "Synonyms").

A truth whose datasets carry their wordings' texts gets the suite's own
lexical control (``lexical.lexical_control_layers``, Holm across layers, with a
conditioner that reads words) and word-overlap audit (``lexical.audit_design``,
no GO on a design that confines words to one emotion or concentrates them in one); the others, whose
wordings have no text, take both as passed. Other known-truth generators register themselves in ``TRUTHS``
with :func:`register_truth`; the calibration test runs every registered null.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from . import design, lexical, stats
from .truth import synthetic
from .config import Thresholds
from .decision import GO, NO_GO, LayerOutcome, Outcome, decide

__all__ = ["TRUTHS", "NULLS", "register_truth", "SimulatedRun", "VerdictRates", "simulate_verdicts"]


class SimulatedRun(NamedTuple):
    """One simulated experiment: ``activations[layer]`` is [N, D] over samples labelled by emotion and wording."""

    activations: dict[int, np.ndarray]
    emotions: np.ndarray
    prompts: np.ndarray
    texts: Mapping[str, str] | None = None  # wording id -> its text; None: wordings without words
    # The character n-grams the model reads words by (``synthetic.word_pieces``); None: whole words.
    # The conditioner the lexical control is given reads the same: it is the encoder the model reads through.
    subwords: tuple[int, int] | None = None
    # word -> the encoder's embedding the model reads words by meaning through
    # (``synthetic.bag_of_words_activations(word_vectors=)``); None: no meaning. The control's
    # conditioner and the audit are given the same: on MusicGen the LM reads the words only
    # through its text conditioner, whose output the control's conditioner column is.
    word_vectors: Mapping[str, np.ndarray] | None = None


LayerGenerator = Callable[..., SimulatedRun]


def _layers(**fixed) -> LayerGenerator:
    def generate(rng: np.random.Generator, n_layers: int, gap: float = 0.0, **geometry):
        return SimulatedRun(*synthetic.synthetic_layers(rng, n_layers, {k: gap for k in range(n_layers)} if gap
                                                        else None, **{**fixed, **geometry}))
    return generate


def _bag_of_words(**fixed) -> LayerGenerator:
    def generate(rng: np.random.Generator, n_layers: int, gap: float = 0.0, *,
                 wordings: Mapping[str, Sequence[str]], **geometry):
        if gap:
            raise ValueError("a bag-of-words truth sets its emotion effect with emotion_size=, not gap=")
        geometry = {**fixed, **geometry}
        # Each layer its own word (and emotion) directions, as independent "datasets" of one design.
        X, emotions, prompts = synthetic.bag_of_words_activations(rng, wordings, n_datasets=n_layers, **geometry)
        texts = {f"{emotion}/{p}": text for emotion, options in wordings.items() for p, text in enumerate(options)}
        return SimulatedRun({layer: X[layer] for layer in range(n_layers)}, emotions, prompts, texts,
                            geometry.get("subwords"), geometry.get("word_vectors"))
    return generate


# The audit's weighted word-only model, at the truths' own word size (set by ``_bag_of_words``'s defaults).
_WEIGHTED_WORDS = {k: v for k, v in synthetic.WORD_ONLY_WEIGHTED.items() if k != "word_size"}

TRUTHS: dict[str, LayerGenerator] = {
    "null": _layers(prompt_share=0.0),
    "seed-like": _layers(**synthetic.seed_like_geometry()),
    "paraphrase": _layers(prompt_share=0.6),
    "planted": _layers(prompt_share=0.1),
    "lexical": _bag_of_words(emotion_size=0.0),
    "lexical-weighted": _bag_of_words(emotion_size=0.0, **_WEIGHTED_WORDS),
    "lexical-plus-emotion": _bag_of_words(emotion_size=0.6),
    "lexical-subword": _bag_of_words(emotion_size=0.0, **_WEIGHTED_WORDS, subwords=synthetic.SUBWORDS),
    "lexical-meaning": _bag_of_words(emotion_size=0.0, **_WEIGHTED_WORDS),
}
#: The known truths with no emotion effect: the verdict must not say GO on them.
#: ``lexical-meaning`` is one too, but needs its design's word embeddings (``word_vectors=``);
#: its whole verdicts run in tests/test_verdicts.py on the synonym design.
NULLS: list[str] = ["null", "seed-like", "paraphrase", "lexical", "lexical-weighted", "lexical-subword"]


def register_truth(name: str, generator: LayerGenerator, *, null: bool) -> None:
    """Add a known-truth generator ``generator(rng, n_layers, gap=0.0, **geometry)``."""
    TRUTHS[name] = generator
    if null and name not in NULLS:
        NULLS.append(name)


@dataclass(frozen=True)
class VerdictRates:
    truth: str
    n_datasets: int
    n_go: int
    n_not_no_go: int  # some layer significant after correction (the rule's first step failed to stop)
    go_upper_95: float  # Clopper-Pearson upper bound of the GO rate
    n_go_point_gap: int  # GO had the rule taken the point gap (the old, winner's-curse rule)
    n_go_without_lexical: int  # GO had the lexical control been taken as passed and the design as crossed
    n_go_without_audit: int = 0  # GO with the lexical control but the word-overlap audit ignored

    @property
    def go_rate(self) -> float:
        return self.n_go / self.n_datasets

    @property
    def significant_rate(self) -> float:
        return self.n_not_no_go / self.n_datasets


def _upper(k: int, n: int) -> float:
    from scipy.stats import binomtest

    return float(binomtest(k, n).proportion_ci(0.95, method="exact").high)


def simulate_verdicts(truth: str, n_datasets: int, *, n_layers: int = 4, gap: float = 0.0,
                      n_permutations: int = 399, n_boot: int = 200, alpha: float = 0.05, min_gap: float = 0.02,
                      correction: str = "maxt", seed: int = 0,
                      max_word_share: float = Thresholds.max_word_same_emotion_share, **geometry) -> VerdictRates:
    """Verdicts of ``n_datasets`` simulated experiments of one known truth (module docstring)."""
    generate = TRUTHS[truth]
    rng = np.random.default_rng(seed)
    n_go = n_significant = n_go_point = n_go_unchecked = n_go_unaudited = 0
    for _ in range(n_datasets):
        run = generate(rng, n_layers, gap, **geometry)
        analysis = stats.analyse_layers(run.activations, run.emotions, run.prompts, n_permutations=n_permutations,
                                        n_boot=n_boot, alpha=alpha, min_gap=min_gap, control=False,
                                        control_pairs=False, seed=int(rng.integers(2**31)),
                                        bootstrap_method="percentile")
        lexical_p = _lexical_pvalues(run, rng, n_permutations, alpha)
        # The acoustic check is taken as passed (and so is the lexical control where the
        # wordings have no text): the most GO-prone assumption, so the GO rate is an upper bound.
        rows = tuple(LayerOutcome(r.layer, r.statistic, r.pvalue, r.pvalue_holm, r.pvalue_maxt,  # type: ignore[arg-type]
                                  r.ci.standard_error if r.ci else None, lexical_pvalue_holm=lexical_p[r.layer])
                     for r in analysis.layers)
        n_min = min(analysis.layers[0].n_per_emotion.values())
        rule = dict(alpha=alpha, min_gap=min_gap, min_n=n_min, acoustic_threshold=0.8, correction=correction)

        confined = None if run.texts is None else design.audit(
            _wordings_by_emotion(run), Thresholds(alpha=alpha, max_word_same_emotion_share=max_word_share),
            word_vectors=run.word_vectors, seeds_per_wording=_seeds_by_emotion(run)).warning()

        def verdict(layer_rows, words_confined: str | None = confined) -> str:
            return decide(Outcome(n_min, tuple(layer_rows), acoustic_pass=True, acoustic_worst_agreement=1.0,
                                  words_confined=words_confined), **rule).verdict

        decided = verdict(rows)
        n_go += decided == GO
        n_significant += decided != NO_GO
        n_go_point += verdict(LayerOutcome(r.layer, r.gap, r.pvalue, r.pvalue_holm, r.pvalue_maxt,
                                           lexical_pvalue_holm=r.lexical_pvalue_holm) for r in rows) == GO
        n_go_unaudited += verdict(rows, None) == GO
        n_go_unchecked += verdict((LayerOutcome(r.layer, r.gap, r.pvalue, r.pvalue_holm, r.pvalue_maxt, r.gap_se,
                                                lexical_pvalue_holm=0.0) for r in rows), None) == GO
    return VerdictRates(truth, n_datasets, n_go, n_significant, _upper(n_go, n_datasets), n_go_point,
                        n_go_unchecked, n_go_unaudited)


def _wordings_by_emotion(run: SimulatedRun) -> dict[str, list[str]]:
    """emotion -> its wordings' texts, as the experiment file lists them (the audit's input)."""
    out: dict[str, list[str]] = {}
    for emotion, prompt in dict.fromkeys(zip(map(str, run.emotions), map(str, run.prompts))):
        out.setdefault(emotion, []).append(run.texts[prompt])  # type: ignore[index]
    return out


def _seeds_by_emotion(run: SimulatedRun) -> dict[str, list[int]]:
    """emotion -> the samples of each of its wordings, in :func:`_wordings_by_emotion`'s order."""
    counts = Counter(zip(map(str, run.emotions), map(str, run.prompts)))
    out: dict[str, list[int]] = {}
    for emotion, prompt in counts:
        out.setdefault(emotion, []).append(counts[emotion, prompt])
    return out


def _lexical_pvalues(run: SimulatedRun, rng: np.random.Generator, n_permutations: int,
                     alpha: float) -> dict[int, float]:
    """layer -> the lexical control's Holm p, as the suite computes it (0.0: no text, taken as passed)."""
    if run.texts is None:
        return {layer: 0.0 for layer in run.activations}
    W_by_layer = {}
    for layer, X in run.activations.items():
        ids, W_by_layer[layer] = lexical.wording_similarity(stats.similarity_matrix(X, "cosine"), run.prompts)
    texts = [run.texts[i] for i in ids]
    labels = [str(run.emotions[list(run.prompts).index(i)]) for i in ids]
    conditioner = synthetic.pooled_word_conditioner(rng, texts, subwords=run.subwords, word_vectors=run.word_vectors)
    controls = lexical.lexical_control_layers(W_by_layer, labels, lexical.text_similarities(texts, labels, conditioner),
                                              n_permutations=n_permutations, seed=int(rng.integers(2**31)),
                                              alpha=alpha)
    return {layer: float(c.pvalue_holm) for layer, c in controls.items()}


def fwer_bound(alpha: float, n: int) -> float:
    """alpha plus three Monte Carlo standard errors over ``n`` datasets."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / n)
