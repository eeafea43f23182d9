"""Synthetic pooled activations with known truth, for calibrating the statistics.

The statistics engine (:mod:`emoprobe.stats`) has to be shown honest on data
whose answer is known: no emotion structure at all (the null), an emotion
effect of a chosen size (planted), and the seed's own numbers (seed-like).
These generators give such data with the geometry the seed reports for
MusicGen's pooled activations, so that a calibration on them means something:

* a shared mean direction, so that two unrelated samples have cosine near
  0.95 (the seed's "control 0.9508, happy-sad 0.9461");
* anisotropic noise (eigenvalues decaying as ``k ** -spectrum_decay``),
  because real activations are far from isotropic;
* the experiment's nesting: each emotion has several prompt wordings, each
  wording is generated with several seeds. A wording may shift its samples
  (``prompt_share`` of the noise variance is shared by all seeds of one
  wording), which is the trap a one-prompt-per-emotion design falls into.

Model, one sample of emotion ``e``, wording ``p``, seed ``s``::

    x = u + sigma * (sqrt(1 - rho) * eps_s + sqrt(rho) * eta_p) + a * v_e

``u`` is a unit mean direction, ``eps`` and ``eta`` are independent draws of
the anisotropic noise (covariance trace 1), ``v_e`` are orthonormal emotion
directions orthogonal to ``u``. Then, to first order in the norm fluctuations,

* between-emotion cosine  = 1 / (1 + sigma^2 + a^2)
* within-emotion cosine   = (1 + a^2) / (1 + sigma^2 + a^2)   (different wordings)
* same-wording cosine     = (1 + rho sigma^2 + a^2) / (1 + sigma^2 + a^2)

so ``sigma^2 = (1 - c) / c`` sets the baseline cosine ``c`` and
``a^2 = g (1 + sigma^2) / (1 - g)`` plants an expected within-minus-between gap
``g`` (the engine's ``gap``). The first-order formulas are checked against
measured gaps in ``tests/test_stats.py``.

Plain library code, no pytest: the end-to-end known-truth tests reuse it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DEFAULT_EMOTIONS",
    "SyntheticSamples",
    "design_labels",
    "synthetic_activations",
    "null_activations",
    "planted_activations",
    "seed_like_activations",
    "seed_like_geometry",
    "synthetic_layers",
    "SEED_CONTROL_SIMILARITY",
    "SEED_BETWEEN_SIMILARITY",
]

DEFAULT_EMOTIONS = ("happy", "sad", "calm", "energetic")

# The seed's measurements (cosine, layer 12 of MusicGen large, N=1).
SEED_CONTROL_SIMILARITY = 0.9508
SEED_BETWEEN_SIMILARITY = 0.9461


@dataclass(frozen=True)
class SyntheticSamples:
    """One synthetic layer: activations plus the labels the engine needs.

    ``X`` is ``[N, dim]``; ``emotions``, ``prompts`` and ``seeds`` have length N.
    ``prompts`` are globally unique wording ids such as ``"happy/p0"``.
    ``planted_gap`` is the expected within-minus-between cosine gap the
    generator planted (0 for the null); ``geometry`` records every parameter.
    """

    X: np.ndarray = field(repr=False)
    emotions: np.ndarray
    prompts: np.ndarray
    seeds: np.ndarray
    planted_gap: float
    geometry: dict


def design_labels(
    n_emotions: int = 4,
    n_prompts_per_emotion: int = 5,
    n_seeds_per_prompt: int = 4,
    emotion_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels of the nested design: emotion > wording > seed.

    Returns ``(emotions, prompts, seeds)``, each of length
    ``n_emotions * n_prompts_per_emotion * n_seeds_per_prompt``, ordered by
    emotion, then wording, then seed. The default is the seed's 20 samples
    per emotion (5 wordings x 4 seeds) for its four emotions.
    """
    if emotion_names is None:
        if n_emotions <= len(DEFAULT_EMOTIONS):
            emotion_names = DEFAULT_EMOTIONS[:n_emotions]
        else:
            emotion_names = tuple(f"emotion{k}" for k in range(n_emotions))
    emotion_names = tuple(str(name) for name in emotion_names)
    if len(emotion_names) != n_emotions:
        raise ValueError(f"got {len(emotion_names)} emotion names for n_emotions={n_emotions}")
    if min(n_emotions, n_prompts_per_emotion, n_seeds_per_prompt) < 1:
        raise ValueError("every design count must be at least 1")
    emotions, prompts, seeds = [], [], []
    for name in emotion_names:
        for p in range(n_prompts_per_emotion):
            for s in range(n_seeds_per_prompt):
                emotions.append(name)
                prompts.append(f"{name}/p{p}")
                seeds.append(s)
    return np.array(emotions), np.array(prompts), np.array(seeds)


def _anisotropic_noise(rng: np.random.Generator, n: int, scales: np.ndarray) -> np.ndarray:
    """``n`` draws with covariance ``diag(scales**2)`` (trace 1).

    The noise axes are the coordinate axes: the mean and emotion directions are
    uniformly random, so rotating the noise basis as well would change no
    similarity's distribution, only cost a ``dim x dim`` QR per layer.
    """
    return rng.standard_normal((n, scales.size)) * scales


def synthetic_activations(
    rng: np.random.Generator | int | None = None,
    *,
    planted_gap: float = 0.0,
    n_emotions: int = 4,
    n_prompts_per_emotion: int = 5,
    n_seeds_per_prompt: int = 4,
    dim: int = 64,
    baseline_cosine: float = 0.95,
    prompt_share: float = 0.1,
    spectrum_decay: float = 1.0,
    emotion_names: Sequence[str] | None = None,
) -> SyntheticSamples:
    """Draw one layer of synthetic pooled activations (see the module docstring).

    Parameters
    ----------
    planted_gap:
        Expected within-minus-between cosine gap to plant (0: no emotion
        structure). Must lie in ``[0, 1)``.
    baseline_cosine:
        Expected cosine between samples of different emotions and wordings
        when nothing is planted (the seed's ~0.95).
    prompt_share:
        Share of the noise variance shared by all seeds of one wording (0: the
        wording has no effect; 0.5: a strong wording effect).
    spectrum_decay:
        Noise eigenvalues fall as ``k ** -spectrum_decay`` (0: isotropic).
    """
    rng = np.random.default_rng(rng)
    if not 0.0 <= planted_gap < 1.0:
        raise ValueError(f"planted_gap must be in [0, 1), got {planted_gap}")
    if not 0.0 < baseline_cosine < 1.0:
        raise ValueError(f"baseline_cosine must be in (0, 1), got {baseline_cosine}")
    if not 0.0 <= prompt_share <= 1.0:
        raise ValueError(f"prompt_share must be in [0, 1], got {prompt_share}")
    if dim < n_emotions + 1:
        raise ValueError(f"dim must exceed n_emotions (emotion directions are orthogonal), got {dim}")

    emotions, prompts, seeds = design_labels(n_emotions, n_prompts_per_emotion, n_seeds_per_prompt, emotion_names)
    n = emotions.size

    noise_var = (1.0 - baseline_cosine) / baseline_cosine
    emotion_var = planted_gap * (1.0 + noise_var) / (1.0 - planted_gap)

    # One orthonormal frame: column 0 is the shared mean direction, the next
    # n_emotions columns are the emotion directions (orthogonal to it and to
    # each other, so a between-emotion pair gains no similarity from them).
    frame, _ = np.linalg.qr(rng.standard_normal((dim, n_emotions + 1)))
    mean_direction = frame[:, 0]
    emotion_directions = frame[:, 1:]

    eigen = np.arange(1, dim + 1, dtype=float) ** (-spectrum_decay)
    scales = np.sqrt(eigen / eigen.sum())

    prompt_ids, prompt_index = np.unique(prompts, return_inverse=True)
    emotion_ids, emotion_index = np.unique(emotions, return_inverse=True)
    sample_noise = _anisotropic_noise(rng, n, scales)
    prompt_noise = _anisotropic_noise(rng, prompt_ids.size, scales)[prompt_index]

    X = (
        mean_direction[None, :]
        + np.sqrt(noise_var) * (np.sqrt(1.0 - prompt_share) * sample_noise + np.sqrt(prompt_share) * prompt_noise)
        + np.sqrt(emotion_var) * emotion_directions[:, emotion_index].T
    )
    geometry = {
        "dim": dim,
        "n_emotions": n_emotions,
        "n_prompts_per_emotion": n_prompts_per_emotion,
        "n_seeds_per_prompt": n_seeds_per_prompt,
        "baseline_cosine": baseline_cosine,
        "prompt_share": prompt_share,
        "spectrum_decay": spectrum_decay,
        "noise_var": noise_var,
        "emotion_var": emotion_var,
    }
    return SyntheticSamples(X, emotions, prompts, seeds, float(planted_gap), geometry)


def null_activations(rng: np.random.Generator | int | None = None, **geometry) -> SyntheticSamples:
    """No emotion structure: emotion labels carry no information (wordings may, see ``prompt_share``)."""
    return synthetic_activations(rng, planted_gap=0.0, **geometry)


def planted_activations(rng: np.random.Generator | int | None, gap: float, **geometry) -> SyntheticSamples:
    """An emotion effect whose expected within-minus-between cosine gap is ``gap``."""
    return synthetic_activations(rng, planted_gap=gap, **geometry)


def seed_like_activations(rng: np.random.Generator | int | None = None, **geometry) -> SyntheticSamples:
    """A null tuned to the seed's numbers: between ~0.9461, same-wording ~0.9508.

    No emotion structure; the 0.0047 control gap comes from the wording alone
    (``prompt_share`` chosen from the first-order formulas), which is the
    seed's situation read charitably.
    """
    return synthetic_activations(rng, planted_gap=0.0, **{**seed_like_geometry(), **geometry})


def seed_like_geometry() -> dict:
    """``baseline_cosine`` and ``prompt_share`` that reproduce the seed's between and same-wording cosines."""
    c = SEED_BETWEEN_SIMILARITY
    noise_var = (1.0 - c) / c
    # same-wording minus between = prompt_share * noise_var / (1 + noise_var)
    share = (SEED_CONTROL_SIMILARITY - SEED_BETWEEN_SIMILARITY) * (1.0 + noise_var) / noise_var
    return {"baseline_cosine": c, "prompt_share": share}


def synthetic_layers(
    rng: np.random.Generator | int | None,
    n_layers: int,
    planted: Mapping[int, float] | None = None,
    **geometry,
) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """Several independent layers sharing one design; ``planted`` maps layer -> gap.

    Returns ``(activations, emotions, prompts)`` with ``activations[layer]`` of
    shape ``[N, dim]``, ready for :func:`emoprobe.stats.analyse_layers`.
    """
    rng = np.random.default_rng(rng)
    planted = dict(planted or {})
    unknown = set(planted) - set(range(n_layers))
    if unknown:
        raise ValueError(f"planted layers {sorted(unknown)} are outside 0..{n_layers - 1}")
    activations: dict[int, np.ndarray] = {}
    emotions = prompts = None
    for layer in range(n_layers):
        sample = synthetic_activations(rng, planted_gap=planted.get(layer, 0.0), **geometry)
        activations[layer] = sample.X
        emotions, prompts = sample.emotions, sample.prompts
    return activations, emotions, prompts


# The word-only null the calibration and the design audit share: words weighted
# log-normally (sigma 1.5, as a language model weighs "happy" far above "a"),
# stop words at a tenth, words as large as the rest of the prompt's pull.
WORD_ONLY_WEIGHTED = {"word_size": 1.5, "word_weight_sigma": 1.5, "stop_word_weight": 0.1}
# The subword view of a word-only model (``bag_of_words_activations(subwords=)``): character
# n-grams within words, 3 to 5 long, scikit-learn's ``char_wb``.
SUBWORDS = (3, 5)
# The word-only models the design audit simulates: the weighted one above sees little of
# stop words, so a design whose tell-tale words are stop words ("over", "through") hid from
# it; a model that reads every word alike, and one that weighs stop words like the rest, do not.
WORD_ONLY_MODELS = {"weighted": WORD_ONLY_WEIGHTED, "unweighted": {"word_size": 1.5},
                    "stop words weighed like the rest": {"word_size": 1.5, "word_weight_sigma": 1.5}}
# A subword encoder (T5's sentencepiece, MusicGen's conditioner) reads "joyful" and "joyous" alike:
# a design whose tell-tale stems are spread over word forms (tests/data/stem_wordings.toml) hid
# from the whole-word models (the control at 0.010-0.057 under them, seeds 0-5) and took the same
# models read by character n-grams to 0.61-1.00 (bench/RESULTS.md, "Morphology"). The stop-word
# model is not doubled: stop words hardly vary in form, and each model adds to the start-up.
WORD_ONLY_MODELS.update({f"{name}, read by subwords": {**WORD_ONLY_MODELS[name], "subwords": SUBWORDS}
                         for name in ("weighted", "unweighted")})
# A text encoder reads one-letter words ("C major" against "A major"); the models above do not
# (scikit-learn's tokens), so a design whose tell-tales are chord letters
# (tests/data/letter_wordings.toml) passed them all while a letter-reading model took the control
# to 0.39 (bench/RESULTS.md, "One-letter words"). Unweighted: letters are short, not weak.
WORD_ONLY_MODELS["unweighted, one-letter words read"] = {"word_size": 1.5, "one_letter": True}


def bag_of_words_activations(
    rng: np.random.Generator | int | None,
    wordings: Mapping[str, Sequence[str]],
    *,
    n_seeds_per_wording: int | Mapping[str, Sequence[int]] = 4,
    n_datasets: int = 1,
    dim: int = 64,
    baseline_cosine: float = 0.95,
    word_size: float = 0.3,
    emotion_size: float = 0.0,
    word_weight_sigma: float = 0.0,
    stop_word_weight: float = 1.0,
    subwords: tuple[int, int] | None = None,
    one_letter: bool = False,
    word_vectors: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activations of a bag-of-words model: each word of a wording adds its own direction.

    Per dataset, every distinct word (stop words too, as a tokeniser would
    keep them) gets an independent random direction; a wording's offset is
    ``word_size`` times the sum of its words' directions over the square root
    of its length, so offsets have about the same norm and two wordings' offsets
    have inner product about ``word_size**2`` times their word-count cosine.
    ``emotion_size`` adds an emotion direction as well (0: the null, where
    emotion matters only through the words). ``word_weight_sigma`` > 0 weighs
    each word by a log-normal draw per dataset, and ``stop_word_weight`` scales
    scikit-learn's stop words, as a language model makes more of "happy" than
    of "a": no text similarity then matches the model's own weighting. ``subwords`` (an
    ``ngram_range``) makes each word's direction the normalised sum of random directions of
    its character n-grams (:func:`word_pieces`), as a subword encoder reads "joyful" and
    "joyous" alike through "joy". ``word_vectors`` (word -> a text encoder's embedding of it)
    reads words by meaning instead: each word's direction is a random linear read of its
    normalised embedding, so word effects are correlated as the embeddings are ("glad" and
    "merry" alike where the encoder has them alike). ``one_letter`` reads one-letter words too
    ("C" in "C major").
    Seeds add isotropic noise that
    sets the baseline cosine between unrelated samples. ``n_seeds_per_wording`` is one
    count for every wording, or emotion -> one count per wording (a plan whose sample
    count does not divide by its wordings gives some wordings a seed more).

    Returns ``(X [n_datasets, N, dim], emotions [N], prompt_ids [N])``, ordered by
    emotion, wording, seed.
    """
    from ..lexical import tokens

    rng = np.random.default_rng(rng)
    emotions, prompt_ids, rows, texts = [], [], [], []
    seeds = seed_counts(wordings, n_seeds_per_wording)
    for emotion, options in wordings.items():
        for p, text in enumerate(options):
            texts.append(text)
            for _ in range(seeds[emotion][p]):
                emotions.append(emotion)
                prompt_ids.append(f"{emotion}/{p}")
                rows.append(len(texts) - 1)
    rows = np.array(rows)
    vocabulary = sorted({w for t in texts for w in tokens(t, one_letter=one_letter)})
    counts = np.zeros((len(texts), len(vocabulary)))
    for i, text in enumerate(texts):
        for w in tokens(text, one_letter=one_letter):
            counts[i, vocabulary.index(w)] += 1.0
    counts /= np.sqrt(np.maximum(counts.sum(axis=1, keepdims=True), 1.0))
    emotion_names, emotion_index = np.unique(np.array(emotions), return_inverse=True)

    def unit(shape):
        v = rng.standard_normal(shape)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    mean = unit((n_datasets, 1, dim))
    if subwords is None and word_vectors is None:
        words = unit((n_datasets, len(vocabulary), dim))
    else:
        pieces = _word_features(vocabulary, subwords, word_vectors)
        words = np.einsum("vg,kgd->kvd", pieces, unit((n_datasets, pieces.shape[1], dim)))
    if word_weight_sigma or stop_word_weight != 1.0:
        from ..lexical import stop_words

        stop = np.array([w in stop_words() for w in vocabulary])
        weights = np.exp(word_weight_sigma * rng.standard_normal((n_datasets, len(vocabulary), 1)))
        words = words * np.where(stop[None, :, None], stop_word_weight, 1.0) * weights
    offsets = word_size * np.einsum("pv,kvd->kpd", counts, words)[:, rows]
    noise_sd = np.sqrt((1.0 - baseline_cosine) / baseline_cosine / dim)
    X = mean + offsets + noise_sd * rng.standard_normal((n_datasets, rows.size, dim))
    if emotion_size:
        X = X + emotion_size * unit((n_datasets, len(emotion_names), dim))[:, emotion_index]
    return X, np.array(emotions), np.array(prompt_ids)


def seed_counts(wordings: Mapping[str, Sequence[str]],
                n_seeds_per_wording: int | Mapping[str, Sequence[int]]) -> dict[str, tuple[int, ...]]:
    """emotion -> the number of seeds of each of its wordings: one whole count for every wording,
    or a mapping with exactly the design's emotions, each to one whole count per wording.
    ValueError otherwise, or where a count is under 1 (nothing is rounded or guessed)."""
    def whole(n) -> bool:
        return isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1

    if not isinstance(n_seeds_per_wording, Mapping):
        if not whole(n_seeds_per_wording):
            raise ValueError(f"n_seeds_per_wording = {n_seeds_per_wording!r}: give a whole number of at least 1, "
                             "or emotion -> one such count per wording")
        return {e: (int(n_seeds_per_wording),) * len(ws) for e, ws in wordings.items()}
    if set(n_seeds_per_wording) != set(wordings):
        raise ValueError(f"seed counts for emotions {sorted(map(str, n_seeds_per_wording))}, but the design has "
                         f"{sorted(wordings)}")
    counts = {}
    for emotion, options in wordings.items():
        given = n_seeds_per_wording[emotion]
        if not (isinstance(given, (list, tuple)) or (isinstance(given, np.ndarray) and given.ndim == 1)) \
                or len(given) != len(options) or not all(whole(n) for n in given):
            raise ValueError(f"{emotion!r} has {len(options)} wordings but seed counts {given!r}: "
                             "give one whole count of at least 1 per wording")
        counts[emotion] = tuple(int(n) for n in given)
    return counts


def _word_features(vocabulary: Sequence[str], subwords: tuple[int, int] | None,
                   word_vectors: Mapping[str, np.ndarray] | None) -> np.ndarray:
    """[V, G] what a word is read by: its character n-grams, or its embedding (rows of unit norm)."""
    if word_vectors is None:
        return word_pieces(vocabulary, subwords)
    missing = [w for w in vocabulary if w not in word_vectors]
    if missing:
        raise ValueError(f"word_vectors lacks {missing}")
    E = np.array([np.asarray(word_vectors[w], dtype=np.float64) for w in vocabulary]).reshape(len(vocabulary), -1)
    return E / np.linalg.norm(E, axis=1, keepdims=True)


def meaning_vectors(groups: Mapping[str, str], vocabulary: Sequence[str], weight: float) -> dict[str, np.ndarray]:
    """word -> a known-truth encoder's embedding that reads synonyms alike.

    Each word is its own direction plus ``weight`` times its group's (``groups``: word ->
    meaning, e.g. the emotion its synonyms name; words not in ``groups`` have none), so two
    words of one group have cosine ``weight**2 / (1 + weight**2)``. A stand-in for T5 reading
    "glad" and "merry" alike, which no tokenisation sees.
    """
    names = sorted(set(groups.values()))
    vocabulary = sorted(set(vocabulary))
    out = {}
    for i, word in enumerate(vocabulary):
        v = np.zeros(len(vocabulary) + len(names))
        v[i] = 1.0
        if word in groups:
            v[len(vocabulary) + names.index(groups[word])] = weight
        out[word] = v / np.linalg.norm(v)
    return out


def word_pieces(vocabulary: Sequence[str], ngram_range: tuple[int, int]) -> np.ndarray:
    """[V, G] each word's character n-grams (scikit-learn's ``char_wb``), rows of unit norm.

    A stand-in for a subword tokeniser (T5's sentencepiece vocabulary, whose
    pieces a word's forms share): words that share a stem share n-grams, words
    that do not share few.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    if not len(vocabulary):  # a design of one-letter words has no word to a model that reads two or more
        return np.zeros((0, 0))
    counts = CountVectorizer(analyzer="char_wb", ngram_range=tuple(ngram_range), lowercase=True) \
        .fit_transform(list(vocabulary)).toarray().astype(np.float64)
    return counts / np.linalg.norm(counts, axis=1, keepdims=True)


def pooled_word_conditioner(rng: np.random.Generator | int | None, texts: Sequence[str], dim: int = 32,
                            subwords: tuple[int, int] | None = None, one_letter: bool = False,
                            word_vectors: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """[P, dim] a text conditioner that reads words: the mean of per-word random embeddings.

    Like a text encoder's mean-pooled output, two wordings are alike as far as
    they share words (with ``subwords``, as far as their words share character
    n-grams, :func:`word_pieces`); the embeddings are independent of any
    activation model's word directions, as a real encoder's are of the music model's.
    With ``word_vectors`` the table is those embeddings themselves: the conditioner is the
    encoder whose embeddings a meaning-reading model reads (``bag_of_words_activations``).
    ``one_letter`` reads one-letter words too. A wording with no word of two or more letters
    ("x y") is read by its one-letter words whatever ``one_letter`` says: an encoder reads
    something of every prompt, and a mean over no words would be no embedding at all.
    """
    from ..lexical import tokens

    rng = np.random.default_rng(rng)
    words = [tokens(t, one_letter=one_letter) or tokens(t, one_letter=True) for t in texts]
    if not all(words):
        raise ValueError(f"wordings without a word: {[t for t, ws in zip(texts, words) if not ws]}")
    vocabulary = sorted({w for ws in words for w in ws})
    if word_vectors is not None:
        table = _word_features(vocabulary, None, word_vectors)
    elif subwords is None:
        table = rng.standard_normal((len(vocabulary), dim))
    else:
        pieces = word_pieces(vocabulary, subwords)
        table = pieces @ rng.standard_normal((pieces.shape[1], dim))
    return np.stack([table[[vocabulary.index(w) for w in ws]].mean(axis=0) for ws in words])
