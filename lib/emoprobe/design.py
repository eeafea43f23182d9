"""Can this run's design reach GO at all? The smallest attainable p, and detection power.

The gap test permutes the emotion labels of whole wordings, so the number of
distinct relabellings is fixed by the design: with E emotions of G_e wordings
it is the multinomial ``(sum G_e)! / prod G_e!``. The gap depends only on
which wordings share an emotion, not on the emotion names, so relabellings
that only swap the names of equally large emotions give the same statistic:
the smallest p a perfect separation can reach is ``symmetries / arrangements``
when they are enumerated, and never below ``1 / (n_permutations + 1)``.

A layer is significant when its corrected p is below alpha. Holm's first step
needs ``p < alpha / n_layers``. Step-down max-T's adjusted p is at least the
raw p, and can equal it when the layers are perfectly correlated, so the best
it can need is ``p < alpha``. If the smallest attainable p cannot pass, NO-GO
is certain whatever the data; :func:`design_check` says so before any model
loads (``--emotions happy,sad``: 252 arrangements, smallest p 2/252 = 0.0079;
Holm over 48 layers needs 0.00104).

GO also needs the lexical control (``lexical.lexical_control_layers``) to
pass at some layer. It permutes the same wording labels, by random shuffles
(never enumerated, so never below ``1 / (n_permutations + 1)``), and is
always Holm-corrected across the layers, so it needs ``p < alpha / n_layers``
whatever the gap's correction. A design whose lexical control cannot pass
would otherwise end in PIVOT "explained by wording" for an effect the words
do not explain: the check stops that run too.

:func:`detection_power` simulates the chance that one layer with a true gap
reaches corrected significance, with the run's own permutation count and
correction threshold, on synthetic activations of the seed's geometry.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

__all__ = ["DesignCheck", "n_arrangements", "smallest_pvalue", "smallest_lexical_pvalue", "corrected_threshold",
           "design_check", "positive_control_floor", "positive_control_n_needed",
           "detection_power", "n_for_power"]


def n_arrangements(wordings_per_emotion: Sequence[int]) -> int:
    """Distinct assignments of emotion labels to wordings that keep each emotion's wording count."""
    total = math.factorial(sum(wordings_per_emotion))
    for g in wordings_per_emotion:
        total //= math.factorial(g)
    return total


def _symmetries(wordings_per_emotion: Sequence[int]) -> int:
    """Relabellings that only swap emotions of equal size: they leave the gap unchanged."""
    out = 1
    for count in Counter(wordings_per_emotion).values():
        out *= math.factorial(count)
    return out


def smallest_pvalue(wordings_per_emotion: Sequence[int], n_permutations: int) -> float:
    """The smallest p the wording-level gap test can return for this design."""
    arrangements = n_arrangements(wordings_per_emotion)
    if arrangements <= n_permutations:  # enumerated: exact p
        return _symmetries(wordings_per_emotion) / arrangements
    return max(1.0 / (n_permutations + 1), _symmetries(wordings_per_emotion) / arrangements)


def corrected_threshold(alpha: float, n_layers: int, correction: str) -> float:
    """The largest raw p that can be significant after ``correction`` over ``n_layers``."""
    return alpha if correction == "maxt" else alpha / n_layers


def smallest_lexical_pvalue(wordings_per_emotion: Sequence[int], n_permutations: int) -> float:
    """The smallest p the lexical control can be expected to return on a perfect separation.

    Random shuffles: ``1 / (n_permutations + 1)`` plus the expected share of
    shuffles that only swap equal-sized emotions and tie the observed labelling.
    """
    arrangements = n_arrangements(wordings_per_emotion)
    return 1.0 / (n_permutations + 1) + _symmetries(wordings_per_emotion) / arrangements


def positive_control_floor(n_per_prompt: int, n_permutations: int) -> float:
    """The smallest p an extreme contrast (the positive control) can reach: its two prompts' samples
    are permuted one by one, two groups of ``n_per_prompt`` (the smallest p of a two-"emotion"
    design of that many "wordings" each)."""
    return smallest_pvalue([n_per_prompt, n_per_prompt], n_permutations)


def positive_control_n_needed(n_permutations: int, n_layers: int, alpha: float, largest: int = 1000) -> int | None:
    """The fewest samples per prompt with which an extreme contrast can pass Holm over ``n_layers``
    (the positive control is Holm-corrected whatever the gap's correction); None if none up to ``largest``
    (too few permutations)."""
    threshold = corrected_threshold(alpha, n_layers, "holm")
    return next((n for n in range(1, largest + 1) if positive_control_floor(n, n_permutations) < threshold), None)


@dataclass(frozen=True)
class DesignCheck:
    arrangements: int
    smallest_p: float
    threshold: float
    n_layers: int
    n_permutations: int
    correction: str
    alpha: float
    lexical_smallest_p: float = 0.0
    lexical_threshold: float = 1.0  # Holm across the layers, whatever the gap's correction

    @property
    def gap_can_pass(self) -> bool:
        return self.smallest_p < self.threshold

    @property
    def lexical_can_pass(self) -> bool:
        return self.lexical_smallest_p < self.lexical_threshold

    @property
    def can_pass(self) -> bool:
        return self.gap_can_pass and self.lexical_can_pass

    def message(self, wordings_per_emotion: Sequence[int]) -> str:
        design = (f"design check: {len(wordings_per_emotion)} emotions with {list(wordings_per_emotion)} wordings "
                  f"give {self.arrangements} distinct wording arrangements, and {self.n_permutations} permutations")
        if not self.gap_can_pass:
            name = "max-T" if self.correction == "maxt" else "Holm"
            need = math.ceil(1.0 / self.threshold)  # n_permutations + 1 > 1 / threshold
            return (
                f"{design}; the smallest attainable p is {self.smallest_p:.3g}, but {name} over {self.n_layers} "
                f"layers needs p < {self.threshold:.3g} at alpha {self.alpha}. No data could give GO. Way out: "
                f"analyse fewer layers (--layers), add emotions (--emotions) or wordings per emotion, raise "
                f"statistics.n_permutations to at least {need}, or use statistics.correction = \"maxt\"")
        need = math.ceil(1.0 / self.lexical_threshold)
        return (
            f"{design}; the gap test can pass, but GO also needs the lexical control (emotion beyond the words), "
            f"Holm-corrected over {self.n_layers} layers: it needs p < {self.lexical_threshold:.3g} at alpha "
            f"{self.alpha}, and its smallest attainable p is {self.lexical_smallest_p:.3g}. No data could give GO; "
            f"a real effect would be reported as explained by wording. Way out: analyse fewer layers (--layers), "
            f"add emotions (--emotions) or wordings per emotion, or raise statistics.n_permutations to at least "
            f"{need}")


def design_check(wordings_per_emotion: Sequence[int], n_permutations: int, n_layers: int, alpha: float,
                 correction: str) -> DesignCheck:
    """Whether a perfect separation could pass the gap's correction and the lexical control at all."""
    return DesignCheck(n_arrangements(wordings_per_emotion), smallest_pvalue(wordings_per_emotion, n_permutations),
                       corrected_threshold(alpha, n_layers, correction), n_layers, n_permutations, correction, alpha,
                       smallest_lexical_pvalue(wordings_per_emotion, n_permutations),
                       corrected_threshold(alpha, n_layers, "holm"))


def detection_power(gap: float, n_emotions: int, n_wordings: int, n_seeds: int, *, n_permutations: int,
                    alpha: float, n_layers: int, correction: str, n_sim: int = 100, seed: int = 0,
                    **geometry) -> tuple[float, float]:
    """(power, its Monte Carlo SE): one layer with true ``gap`` reaches corrected significance.

    The gap test runs with the run's permutation count against the run's
    correction threshold for a single true layer (Holm: ``alpha / n_layers``;
    max-T: the same, as with independent layers, the conservative case).
    ``geometry`` goes to ``synthetic.planted_activations`` (default: the
    seed's numbers, ``synthetic.seed_like_activations``).
    """
    from . import stats
    from .truth import synthetic

    threshold = alpha / n_layers
    del correction  # both need alpha / n_layers for one true layer among independent ones
    rng = np.random.default_rng(seed)
    emotions, prompts, _ = synthetic.design_labels(n_emotions, n_wordings, n_seeds)
    engine = stats.permutation.gap_engine(stats.pairs.make_design(emotions, prompts, emotions.size), n_permutations, rng)
    params = {**synthetic.seed_like_geometry(), **geometry}
    hits = 0
    for _ in range(n_sim):
        data = synthetic.planted_activations(rng, gap, n_emotions=n_emotions, n_prompts_per_emotion=n_wordings,
                                             n_seeds_per_prompt=n_seeds, **params)
        hits += engine.run(stats.similarity_matrix(data.X)).pvalue < threshold
    power = hits / n_sim
    return power, math.sqrt(power * (1 - power) / n_sim)


def n_for_power(gap: float, n_emotions: int, n_wordings: int, *, target: float = 0.8, max_seeds: int = 40,
                **power_kwargs) -> int | None:
    """The smallest samples per emotion (``n_wordings`` x seeds) whose detection power reaches ``target``.

    Seeds per wording are searched by doubling, then bisection; None when even
    ``max_seeds`` seeds per wording fall short.
    """
    def power(seeds: int) -> float:
        return detection_power(gap, n_emotions, n_wordings, seeds, **power_kwargs)[0]

    if power(1) >= target:
        return n_wordings
    low, high = 1, 2
    while power(high) < target:
        low, high = high, high * 2
        if high > max_seeds:
            return None if power(max_seeds) < target else n_wordings * max_seeds
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if power(middle) >= target else (middle, high)
    return n_wordings * high


def word_only_null(emotions, alpha: float, n_datasets: int, *, n_permutations: int = 199,
                   seed: int = 0, word_vectors: Mapping[str, np.ndarray] | None = None,
                   seeds_per_wording: Mapping[str, Sequence[int]] | None = None) -> tuple[float, float]:
    """(rate, limit): how often a word-only model of this design gets past both tests a GO needs.

    Each model of ``truth.synthetic.WORD_ONLY_MODELS`` (every word of a wording
    pushes the activations its own way, no emotion: words weighted
    log-normally with stop words at a tenth, unweighted, or weighted with stop
    words like the rest; the first two reading words by their character
    n-grams, as a subword encoder does; and an unweighted one that reads
    one-letter words, as a text encoder reads "C" in "C major") runs on the design's own wordings for ``n_datasets``
    independent datasets, each through the gap test and ``lexical.lexical_control_many``
    with a conditioner that reads what the model reads (:func:`word_only_tests`). The datasets come in blocks of
    ``WORD_ONLY_BLOCK``, each with its own conditioner and permutations: one
    draw of those for all datasets made the rate swing across seeds more than
    a binomial SE (a design passed at seeds 0-4 and failed at 5). ``rate`` is
    the largest share, over the models, of datasets where both the gap test and
    the control give p < ``alpha``; ``limit`` is alpha plus three Monte Carlo
    standard errors.

    Why both: a GO needs a significant gap and a passed control, so the share
    passing both bounds a word-only model's GO rate at one layer, and the control
    alone is not the event to bound. Counting the control alone flagged designs
    whose words give no gap at all: on the shipped design read through tiny's
    conditioner the control alone fired in 0.087 of datasets (the limit is
    0.088, so the flag was a coin flip of the audit's seed), the gap test and
    the control together in 0.007-0.020; every design the control alone
    flagged in tests/data is still flagged, at the same worst rate
    (bench/bench_joint_audit.py, bench/RESULTS.md "The joint rate").

    No model above reads meaning: synonyms that share no stem ("glad", "merry")
    are unrelated words to all of them. Against a model that reads them alike
    the suite relies on the control's conditioner column (the model's own text
    conditioning, which reads them alike too): where it carries the very
    embeddings the model reads, it holds a model that weighs words its own way
    at alpha, but not one that weighs every word alike, and a conditioner that
    reads whole words holds neither (bench/RESULTS.md, "Synonyms").
    ``word_vectors`` (word -> the text conditioner's embedding of it; every word
    of the design, one-letter words included) adds the models of
    ``MEANING_MODELS`` read through them
    (``synthetic.bag_of_words_activations(word_vectors=)``, the conditioner
    reading the same embeddings). Without them the audit cannot see a design
    whose tell-tales are synonyms: it has no lexicon, and the model is not
    loaded at start-up.

    ``seeds_per_wording`` (emotion -> the samples of each wording, as
    ``config.audited_design`` gives them) makes each dataset the run's own
    shape; without it every wording has ``DEFAULT_SEEDS_PER_WORDING``.
    """
    key, vectors = _design_key(emotions, word_vectors)
    return _word_only_null(key, float(alpha), int(n_datasets), int(n_permutations), int(seed), vectors,
                           _seed_key(emotions, seeds_per_wording))


def _design_key(emotions, word_vectors: Mapping[str, np.ndarray] | None) -> tuple[tuple, tuple | None]:
    """The design and its word vectors as hashable tuples (the simulations' cache keys)."""
    key = tuple((str(e), tuple(map(str, ws))) for e, ws in dict(emotions).items())
    vectors = None if word_vectors is None else tuple(
        (str(w), tuple(np.asarray(v, dtype=np.float64).ravel().tolist())) for w, v in sorted(word_vectors.items()))
    return key, vectors


def _seed_key(emotions, seeds_per_wording: Mapping[str, Sequence[int]] | None) -> tuple | None:
    """The seed counts as a hashable tuple, checked against the design (None: the default)."""
    if seeds_per_wording is None:
        return None
    from .truth.synthetic import seed_counts

    counts = seed_counts(dict(emotions), seeds_per_wording)
    if all(n == DEFAULT_SEEDS_PER_WORDING for per in counts.values() for n in per):
        return None   # the same datasets as the default: one cached rate for both
    return tuple(counts.items())


WORD_ONLY_BLOCK = 50
# Seeds per wording where the audit is not given the run's plan (4 = the shipped plan's
# 20 samples per emotion over 5 wordings).
DEFAULT_SEEDS_PER_WORDING = 4
# The word-only models read through the conditioner's word embeddings (``word_only_null(word_vectors=)``).
# Only the unweighted one: with the conditioner reading the same embeddings the control held the
# weighted one at 0.000-0.007 on the synonym design, the unweighted one not (0.05-0.21, by how alike
# synonyms are), and each model adds to the simulation (bench/RESULTS.md, "Synonyms").
MEANING_MODELS = ("unweighted",)


def _models(vectors: tuple | None) -> list[tuple[str, str, tuple | None]]:
    """(label, model name, word vectors or None) of each word-only model the audit simulates."""
    from .truth import synthetic

    models = [(name, name, None) for name in synthetic.WORD_ONLY_MODELS]
    if vectors is not None:
        models += [(f"{name}, by meaning", name, vectors) for name in MEANING_MODELS]
    return models


def _word_only_null(design: tuple, alpha: float, n_datasets: int, n_permutations: int,
                    seed: int, vectors: tuple | None = None, seeds: tuple | None = None) -> tuple[float, float]:
    # One cached rate per model, so that the verdict's audit with the conditioner's embeddings
    # simulates only the models that read them, not again the ones the start-up audit ran.
    rates = [_word_only_rate(design, alpha, n_datasets, n_permutations, seed + 1000 * m, name, model_vectors, seeds)
             for m, (_, name, model_vectors) in enumerate(_models(vectors))]
    return max(rates), alpha + 3 * math.sqrt(alpha * (1 - alpha) / n_datasets)


def word_only_passes(emotions, alpha: float, n_datasets: int, *, n_permutations: int = 199, seed: int = 0,
                     word_vectors: Mapping[str, np.ndarray] | None = None,
                     seeds_per_wording: Mapping[str, Sequence[int]] | None = None,
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """model -> (gap test passes, control passes), [n_datasets] booleans each: the very datasets
    :func:`word_only_null` simulates (same models, seeds and blocks), for a look inside its rate."""
    design, vectors = _design_key(emotions, word_vectors)
    seeds = _seed_key(emotions, seeds_per_wording)
    return {label: _word_only_passes(design, alpha, n_datasets, n_permutations, seed + 1000 * m, name, model_vectors,
                                     seeds)
            for m, (label, name, model_vectors) in enumerate(_models(vectors))}


@functools.lru_cache(maxsize=64)
def _word_only_rate(design: tuple, alpha: float, n_datasets: int, n_permutations: int, seed: int,
                    name: str, vectors: tuple | None, seeds: tuple | None = None) -> float:
    gap, control = _word_only_passes(design, alpha, n_datasets, n_permutations, seed, name, vectors, seeds)
    # A GO needs both tests to pass, so a dataset counts against the design only where both do.
    return float(np.mean(gap & control))


def _word_only_passes(design: tuple, alpha: float, n_datasets: int, n_permutations: int, seed: int,
                      name: str, vectors: tuple | None, seeds: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    from .truth import synthetic

    model = dict(synthetic.WORD_ONLY_MODELS[name])
    if vectors is not None:
        model["word_vectors"] = {w: np.array(v) for w, v in vectors}
    wordings = {e: list(ws) for e, ws in design}
    blocks = [word_only_tests(wordings, min(WORD_ONLY_BLOCK, n_datasets - start), model=model,
                              n_permutations=n_permutations, seed=seed + 10 * b,
                              seeds_per_wording=None if seeds is None else dict(seeds))
              for b, start in enumerate(range(0, n_datasets, WORD_ONLY_BLOCK))]
    return (np.concatenate([t["gap_pvalue"] for t in blocks]) < alpha,
            np.concatenate([t["control_pvalue"] for t in blocks]) < alpha)


def word_only_pvalues(wordings, n_datasets: int, *, model: str | Mapping = "weighted", n_permutations: int = 199,
                      seed: int = 0, conditioner_subwords: bool = True,
                      seeds_per_wording: Mapping[str, Sequence[int]] | None = None) -> np.ndarray:
    """[n_datasets] the lexical control's p on independent datasets of one word-only model of this design.

    ``model``: a name in ``truth.synthetic.WORD_ONLY_MODELS`` or the keywords of
    ``synthetic.bag_of_words_activations``. The conditioner reads what the model
    reads (its ``subwords`` or ``word_vectors``, as MusicGen's conditioner is the encoder the model
    reads through), unless ``conditioner_subwords`` is False: then it reads whole words.
    ``seeds_per_wording``: emotion -> samples of each wording (default ``DEFAULT_SEEDS_PER_WORDING`` each).
    """
    return word_only_tests(wordings, n_datasets, model=model, n_permutations=n_permutations, seed=seed,
                           conditioner_subwords=conditioner_subwords,
                           seeds_per_wording=seeds_per_wording)["control_pvalue"]


def word_only_tests(wordings, n_datasets: int, *, model: str | Mapping = "weighted", n_permutations: int = 199,
                    seed: int = 0, conditioner_subwords: bool = True,
                    seeds_per_wording: Mapping[str, Sequence[int]] | None = None) -> dict[str, np.ndarray]:
    """The gap test's and the lexical control's p ([n_datasets] each) on datasets of one word-only model.

    ``gap_pvalue`` is the wording-level permutation test of within- against
    between-emotion similarity, the suite's gap test at one layer: with the
    same number of seeds per wording, the gap over sample pairs is the gap
    over the wording-by-wording mean similarities, and the correlation that
    ``lexical.lexical_control_many`` permutes with only an intercept removed
    (its ``pvalue_raw``) orders the shuffles as that gap does
    (tests/test_design.py checks it against the gap engine, ``stats.gaps_under_labellings``).
    With unequal seeds (``seeds_per_wording``) the sample-pair gap weighs wording pairs by
    their samples and that equality fails (review 26: decisions differed in 8 of 40
    datasets, the engine's p the smaller), so there the gap's p comes from the engine itself,
    on the very shuffles the control permutes.
    ``control_pvalue`` is the control's. See :func:`word_only_pvalues` for the arguments.
    """
    from . import lexical, stats
    from .truth import synthetic

    geometry = dict(synthetic.WORD_ONLY_MODELS[model] if isinstance(model, str) else model)
    seeds = synthetic.seed_counts(wordings, DEFAULT_SEEDS_PER_WORDING if seeds_per_wording is None
                                  else seeds_per_wording)
    X, emotions, prompts = synthetic.bag_of_words_activations(seed, wordings, n_datasets=n_datasets,
                                                              n_seeds_per_wording=seeds, **geometry)
    W, S = [], []
    for k in range(n_datasets):
        S.append(stats.similarity_matrix(X[k], "cosine"))
        ids, W_k = lexical.wording_similarity(S[-1], prompts)
        W.append(W_k)
    texts = [wordings[i.split("/")[0]][int(i.split("/")[1])] for i in ids]
    labels = [i.split("/")[0] for i in ids]
    conditioner = synthetic.pooled_word_conditioner(
        seed + 1, texts, subwords=geometry.get("subwords") if conditioner_subwords else None,
        one_letter=geometry.get("one_letter", False),
        word_vectors=geometry.get("word_vectors") if conditioner_subwords else None)
    control = lexical.lexical_control_many(np.stack(W), labels, lexical.text_similarities(texts, labels, conditioner),
                                           n_permutations=n_permutations, seed=seed + 2)
    gap_pvalue = control["pvalue_raw"]
    if len({n for counts in seeds.values() for n in counts}) > 1:
        gap_pvalue = _engine_gap_pvalues(S, emotions, prompts, ids, labels, n_permutations, seed + 2)
    return {"gap_pvalue": gap_pvalue, "control_pvalue": control["pvalue"]}


def _engine_gap_pvalues(matrices: list, emotions, prompts, ids: list[str], labels: list[str], n_permutations: int,
                        seed: int) -> np.ndarray:
    """[datasets] the suite's gap test's p, through its own engine, under the shuffles of whole
    wordings that ``lexical.lexical_control_many`` draws with ``seed`` (the observed labelling first)."""
    from . import lexical, stats

    names = np.unique(labels)
    wording_of_sample = [ids.index(p) for p in prompts]
    labellings = [names[codes[wording_of_sample]] for codes in lexical.permuted_labelings(labels, n_permutations, seed)]
    gaps = stats.gaps_under_labellings(matrices, emotions, prompts, labellings)
    # The same tolerance as the gap test's own count of permuted gaps at least the observed one.
    return (1 + np.sum(gaps[1:] >= gaps[0] - 1e-12, axis=0)) / (1 + n_permutations)


def audit(emotions, thresholds, *, seed: int = 0, word_vectors: Mapping[str, np.ndarray] | None = None,
          seeds_per_wording: Mapping[str, Sequence[int]] | None = None):
    """The word-overlap audit (``lexical.audit_design``) with this design's word-only null simulated.

    ``word_vectors``: the text conditioner's embedding of each word of the design, where the
    model is at hand; the null then reads words by meaning too (``word_only_null``).
    ``seeds_per_wording``: the run's samples of each wording (``config.audited_design``),
    so that the null is simulated at the run's own shape.
    """
    from . import lexical

    emotions = dict(emotions)
    words = lexical.audit_design(emotions, thresholds.max_word_same_emotion_share)
    if not words.separable:  # the control cannot run, so there is nothing to simulate
        return words
    try:
        rate, limit = word_only_null(emotions, thresholds.alpha, thresholds.word_only_null_datasets, seed=seed,
                                     word_vectors=word_vectors, seeds_per_wording=seeds_per_wording)
    except lexical.NotSeparable:  # the simulated conditioner took the last dimension the audit left
        return dataclasses.replace(words, separable=False)
    from .truth.synthetic import seed_counts

    shape = seed_counts(emotions, DEFAULT_SEEDS_PER_WORDING if seeds_per_wording is None else seeds_per_wording)
    return dataclasses.replace(words, word_only_rate=rate, word_only_limit=limit,
                               read_word_embeddings=word_vectors is not None,
                               simulated_samples=tuple(n for per in shape.values() for n in per))


def audit_experiment(experiment, samples_per_wording: Mapping[str, int] | None = None, *,
                     word_vectors: Mapping[str, np.ndarray] | None = None):
    """(wordings, :func:`audit`) of the design an experiment's run has (``config.audited_design``):
    its wordings with the samples each has, ``samples_per_wording`` (prompt id -> count) where the
    run's are known, the plan's otherwise.  What the start-up warning, the verdict, the evidence
    page and the steering verdict all audit."""
    import dataclasses

    from .config import Thresholds, audited_design

    wordings, seeds = audited_design(experiment, samples_per_wording)
    # Never below the standard alpha: the word-only null's few permutations cannot resolve a p
    # under 1/200, so at alpha 0.005 no word-only model could pass and the audit would see no
    # confound (review 32c); a design a word-only model passes at the standard alpha is confounded
    # whatever alpha the run tests at.
    thresholds = experiment.thresholds
    if thresholds.alpha < Thresholds().alpha:
        thresholds = dataclasses.replace(thresholds, alpha=Thresholds().alpha)
    return wordings, audit(wordings, thresholds, word_vectors=word_vectors, seeds_per_wording=seeds)


def conditioner_words(emotions) -> list[str]:
    """Every word of the design the audit's word-only models may read, one-letter words included.

    The words whose text-conditioner embeddings ``audit(word_vectors=)`` needs.
    """
    from .lexical import tokens

    return sorted({w for wordings in dict(emotions).values() for text in wordings
                   for w in tokens(text, one_letter=True)})
