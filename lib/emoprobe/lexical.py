"""Emotion beyond the words: is "same emotion" more than "shared words"?

Wordings of one emotion tend to share ordinary descriptive words ("fast" in
every energetic wording, "minor" in the sad ones). A model in which each word
of the prompt pushes the activations its own way, with no notion of emotion at
all, then makes same-emotion wordings more alike than different-emotion ones,
and the gap test calls that emotion. This module holds what separates the two:

- text similarity matrices over the wordings: the model's own text
  conditioning (the conditioner's output, mean-pooled over tokens),
  content-word overlap (scikit-learn's TF-IDF cosine, English stop words out),
  and one "both contain W" indicator per word two or more wordings share, so
  that every word gets its own weight;
- the lexical control: on the off-diagonal wording pairs, regress activation
  similarity on a same-emotion indicator plus the text similarities; the
  statistic is the partial correlation of the indicator with the activation
  similarity given the text, and its p comes from permuting the emotion labels
  of whole wordings while the text similarities stay fixed (a wording-level
  partial Mantel test, vectorised over permutations and over datasets);
- the word-overlap audit of a prompt design (:func:`audit_design`): words
  used under only one emotion, words concentrated in one emotion, and whether
  the control's text columns leave anything of "same emotion" to test;
- the cross-wording-type transfer: a classifier trained on the wordings that
  name their emotion, scored on the wordings that only describe it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

# One tokeniser for the control's text terms, TF-IDF and the lexical known-truth
# model: scikit-learn's default, so that "the words" mean the same thing there.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# The audit also reads one-character words: "C major" against "A major" is a key
# a text encoder reads, and an audit that dropped it would pass a design whose
# emotions differ only in the key letter. The control keeps scikit-learn's
# tokens: with "a" and other one-letter words read by the word-only null model
# and given columns in the control, the control's false-positive rate on the
# previous design rose from 0.050 to 0.066 (mean of 4 x 500 datasets,
# bench/RESULTS.md), and a design with a confined or concentrated one-letter
# word cannot reach GO anyway (the audit stops it). One-letter words that lean
# on the emotions only together (chord letters, tests/data/letter_wordings.toml)
# are the audit's simulation's to catch: it runs a word-only model that reads them.
AUDIT_TOKEN_PATTERN = r"(?u)\b\w+\b"


def stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def tokens(text: str, *, one_letter: bool = False) -> list[str]:
    """Every word of ``text``, lower-cased, in order (stop words kept); ``one_letter``: the audit's tokens."""
    return re.findall(AUDIT_TOKEN_PATTERN if one_letter else TOKEN_PATTERN, text.lower())


def content_words(text: str, *, one_letter: bool = False) -> list[str]:
    stop = stop_words()
    return [w for w in tokens(text, one_letter=one_letter) if w not in stop]


# ---------------------------------------------------------------------------
# The word-overlap audit
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    word: str
    emotions: tuple[str, ...]  # the emotions whose wordings use the word
    n_wordings: int
    # Of the wording pairs that share the word, the share whose two wordings have one
    # emotion (None: fewer than two wordings use it, so no pair shares it).
    same_emotion_share: float | None = None
    own_name: bool = False  # an emotion's name used only under that emotion

    @property
    def confined(self) -> bool:
        return len(self.emotions) == 1


def word_audit(emotions: Mapping[str, Sequence[str]], *, include_stop_words: bool = False) -> list[AuditRow]:
    """Every content word of the design (every word with ``include_stop_words``), with the
    emotions that use it and the same-emotion share of the pairs that share it (confined
    words first, then by that share).

    An emotion's name used only under that emotion is its ``own_name``: naming
    the emotion is the point of a name-only wording, and the lexical control
    covers it. A name used under another emotion ("not happy" among the sad
    wordings) is an ordinary word.
    """
    names = {name.lower(): name for name in emotions}
    users: dict[str, Counter[str]] = {}
    words_of = tokens if include_stop_words else content_words
    for emotion, wordings in emotions.items():
        for wording in wordings:
            for word in set(words_of(wording, one_letter=True)):
                users.setdefault(word, Counter())[emotion] += 1
    rows = []
    for word, by_emotion in users.items():
        n = sum(by_emotion.values())
        same_pairs = sum(c * (c - 1) for c in by_emotion.values())
        share = same_pairs / (n * (n - 1)) if n > 1 else None
        own = word in names and set(by_emotion) == {names[word]}
        rows.append(AuditRow(word, tuple(sorted(by_emotion)), n, share, own))
    return sorted(rows, key=lambda r: (r.own_name, not r.confined, -(r.same_emotion_share or 0.0), r.word))


@dataclass(frozen=True)
class DesignAudit:
    """What a prompt design lets the lexical control tell apart (:func:`audit_design`).

    - ``confined``: emotion -> the words only its wordings use (its own name
      excepted): every such non-stop word, and every such stop word that two or
      more of its wordings share. Stop words count when shared: a text encoder
      reads them, and the stop-word list holds words that carry feeling
      ("cry", "alone", "fire").
    - ``concentrated``: emotion -> (word, share) for the words used under
      several emotions whose wording pairs are mostly same-emotion pairs
      (share above ``max_share``). One column per shared word absorbs a word's
      additive effect, but a word-reading model is not additive (cosine
      normalises by the whole prompt, words interact), and what is left over
      follows the word, hence the emotion. On a weighted bag-of-words null over
      4 emotions x 5 wordings, a word in 4 wordings of one emotion and 1 of
      another (share 0.6) took the control's false-positive rate to 0.12-0.14
      at 0.05 (300 datasets), while confined words and shares up to 0.4 kept it
      at or below alpha (bench/RESULTS.md, "lexical control by design").
    - ``separable``: whether the control's own nuisance columns (TF-IDF, one
      column per shared word, one per wording) leave any of the same-emotion
      indicator over the wording pairs. If not, the control cannot run at all.
    - ``word_only_rate``: a word-by-word audit misses words that are each
      below the share but lean on the emotions together (three words per
      emotion, each in 3 of its wordings and 2 of another's, took a word-only
      model to GO in 26 of 200 simulated datasets). So the design itself is
      simulated (``design.word_only_null``) and flagged when the share of
      its datasets on which the gap test and the control both pass (as a GO
      needs them to) exceeds ``word_only_limit``. The simulated
      models read subwords too: a stem spread over word forms ("joyful",
      "joyous") is invisible to whole-word tokens and to every row above;
      one reads one-letter words ("C major"); and, given the conditioner's
      word embeddings, one reads words by meaning (``design.word_only_null``).
    """

    confined: Mapping[str, tuple[str, ...]]
    concentrated: Mapping[str, tuple[tuple[str, float], ...]]
    separable: bool
    max_share: float
    # The share of a word-only model's datasets of this very design that the gap test and the
    # control both pass, and the most it may be (``design.word_only_null``); None where not simulated.
    word_only_rate: float | None = None
    word_only_limit: float | None = None
    # Whether the simulated models included one reading words through the conditioner's own
    # word embeddings (by meaning); False where the run had none to give.
    read_word_embeddings: bool = False
    # The samples of each wording (design order) the word-only null was simulated at: the run's
    # own where known (``config.audited_design``); None where not simulated.
    simulated_samples: tuple[int, ...] | None = None

    def simulation_line(self) -> str | None:
        """What the word-only null found and at what shape, for the decision record; None where
        it was not simulated."""
        if self.word_only_rate is None or self.word_only_limit is None:
            return None
        shape = ""
        if self.simulated_samples:
            low, high = min(self.simulated_samples), max(self.simulated_samples)
            shape = (f", simulated at {low if low == high else f'{low} to {high}'} samples per wording "
                     f"({len(self.simulated_samples)} wordings, {sum(self.simulated_samples)} samples)")
        return (f"word-only models of these wordings pass the gap test and the control in "
                f"{self.word_only_rate:.3f} of simulated datasets (limit {self.word_only_limit:.3f}){shape}")

    @property
    def word_only_fooled(self) -> bool:
        return self.word_only_rate is not None and self.word_only_limit is not None \
            and self.word_only_rate > self.word_only_limit

    @property
    def confounded(self) -> bool:
        return bool(self.confined or self.concentrated) or not self.separable or self.word_only_fooled

    def warning(self) -> str | None:
        """One line naming what confounds words with emotions, or None for a crossed design."""
        parts = []
        if self.confined:
            listed = "; ".join(f"{e}: {', '.join(sorted(words))}" for e, words in sorted(self.confined.items()))
            parts.append(f"{sum(map(len, self.confined.values()))} word(s) occur under only one emotion "
                         f"({listed})")
        if self.concentrated:
            listed = "; ".join(f"{e}: {', '.join(f'{w} {share:.2f}' for w, share in words)}"
                               for e, words in sorted(self.concentrated.items()))
            parts.append(f"{sum(map(len, self.concentrated.values()))} word(s) are concentrated in one emotion, "
                         f"more than {self.max_share:.2f} of the wording pairs sharing them being same-emotion "
                         f"pairs ({listed})")
        if self.word_only_fooled:
            parts.append(f"on a word-only model of these wordings (no emotion) the gap test and the lexical "
                         f"control both pass in {self.word_only_rate:.3f} of simulated datasets (the worst of the "
                         "models simulated), "
                         f"above {self.word_only_limit:.3f}: "
                         "the words, jointly, lean on the emotions")
        if not self.separable:
            parts.append("the shared words and wordings span the same-emotion indicator, so nothing is left to "
                         "tell emotion from the words (use more wordings per emotion, or wordings that share "
                         "fewer words)")
        if not parts:
            return None
        return ("word-overlap audit: " + "; ".join(parts)
                + ", so same-emotion similarity may be shared words, not emotion")


def audit_design(emotions: Mapping[str, Sequence[str]], max_share: float,
                 word_only: tuple[float, float] | None = None) -> DesignAudit:
    """The word-overlap audit of a design (emotion -> its wordings), see :class:`DesignAudit`.

    ``max_share`` is the experiment's ``thresholds.max_word_same_emotion_share``;
    ``word_only`` the (rate, limit) of ``design.word_only_null`` on this design.
    """
    stop = stop_words()
    confined: dict[str, list[str]] = {}
    concentrated: dict[str, list[tuple[str, float]]] = {}
    for row in word_audit(emotions, include_stop_words=True):
        if row.own_name:
            continue
        if row.confined:
            if row.word not in stop or row.n_wordings > 1:
                confined.setdefault(row.emotions[0], []).append(row.word)
        elif row.same_emotion_share is not None and row.same_emotion_share > max_share:
            counts = Counter(e for e, ws in emotions.items() for w in ws if row.word in tokens(w, one_letter=True))
            concentrated.setdefault(counts.most_common(1)[0][0], []).append((row.word, row.same_emotion_share))
    texts = [w for ws in emotions.values() for w in ws]
    labels = [e for e, ws in emotions.items() for _ in ws]
    separable = len(set(labels)) > 1 and _separable(text_similarities(texts, labels), labels)
    return DesignAudit({e: tuple(ws) for e, ws in confined.items()},
                       {e: tuple(ws) for e, ws in concentrated.items()}, separable, max_share,
                       *(word_only if word_only is not None and separable else (None, None)))


def confined_words(emotions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """emotion -> the words (its own name excepted) that only its wordings use (see :class:`DesignAudit`)."""
    return {e: list(ws) for e, ws in audit_design(emotions, max_share=1.0).confined.items()}


def audit_warning(emotions: Mapping[str, Sequence[str]], max_share: float) -> str | None:
    """One line naming what confounds words with emotions in the design, or None (see :class:`DesignAudit`)."""
    return audit_design(emotions, max_share).warning()


# ---------------------------------------------------------------------------
# Wording types of the crossed design
# ---------------------------------------------------------------------------

NAMED, DESCRIBED = "named", "described"


def wording_type(wording: str, emotion_names: Sequence[str]) -> str:
    """``named`` when the wording contains an emotion's name, else ``described``."""
    words = set(tokens(wording))
    return NAMED if words & {n.lower() for n in emotion_names} else DESCRIBED


# ---------------------------------------------------------------------------
# Text similarity matrices
# ---------------------------------------------------------------------------


def tfidf_similarity(wordings: Sequence[str]) -> np.ndarray:
    """[P, P] cosine of the wordings' TF-IDF vectors over content words."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    if not any(content_words(w) for w in wordings):  # nothing to weigh: no two wordings share a content word
        return np.eye(len(wordings))
    vectors = TfidfVectorizer(stop_words="english", token_pattern=TOKEN_PATTERN).fit_transform(list(wordings))
    return cosine_similarity(vectors)


def cosine_matrix(E: np.ndarray) -> np.ndarray:
    E = np.asarray(E, dtype=np.float64)
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    U = E / np.where(norms > 0, norms, 1.0)
    return U @ U.T


def conditioner_embeddings(model, wordings: Sequence[str]) -> np.ndarray:
    """[P, D] the model's text conditioning of each wording, mean-pooled over its tokens.

    What the LM's cross-attention reads: T5 (projected) for the published
    MusicGens, the lookup table for tiny. The padding mask keeps padded
    positions out of the mean.
    """
    import torch
    from audiocraft.modules.conditioners import ConditioningAttributes

    provider = model.lm.condition_provider
    attributes = [ConditioningAttributes(text={"description": w}) for w in wordings]
    with torch.no_grad():
        conditions = provider(provider.tokenize(attributes))
    embedding, mask = conditions["description"]
    mask = mask.to(embedding.dtype)[..., None]
    pooled = (embedding * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return pooled.float().cpu().numpy().astype(np.float64)


def shared_words(wordings: Sequence[str]) -> dict[str, np.ndarray]:
    """``word:W`` -> [P, P] 1.0 where both wordings contain W, for every word in two or more wordings.

    A model that reads words weighs each its own way (a language model makes
    far more of "happy" than of "a"). One cosine over all the words fits a
    single weighting, and what it misses is concentrated on the pairs that
    share words, mostly same-emotion pairs: it would pass for emotion. With a
    coefficient per shared word (stop words included: a text encoder reads
    them too), the emotion effect is read from what no shared word explains.
    On a bag-of-words null with log-normal word weights (sigma 1.5, stop words
    at a tenth) over the previous design, the control's false-positive rate
    fell from 0.145 (one column per confined word) to 0.06.
    """
    sets = [set(tokens(w)) for w in wordings]
    out = {}
    for word in sorted(set().union(*sets)):
        has = np.array([word in s for s in sets], dtype=np.float64)
        if has.sum() > 1:
            out[f"word:{word}"] = np.outer(has, has)
    return out


def text_similarities(wordings: Sequence[str], labels: Sequence[str],
                      conditioner: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The text side of the lexical control, each [P, P] over the wordings in order.

    ``conditioner`` (the model's mean-pooled text conditioning, [P, D]) gives
    the cosine of what the model read; ``tfidf`` the content-word overlap;
    ``word:...`` each word two or more wordings share (see ``shared_words``).
    ``labels`` (each wording's emotion) must match ``wordings``.
    """
    if len(labels) != len(wordings):
        raise ValueError(f"{len(labels)} labels for {len(wordings)} wordings")
    text = {"tfidf": tfidf_similarity(wordings), **shared_words(wordings)}
    if conditioner is not None:
        text["conditioner"] = cosine_matrix(conditioner)
    return text


# ---------------------------------------------------------------------------
# Wording-level similarity
# ---------------------------------------------------------------------------


def wording_similarity(S: np.ndarray, prompt_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(wording ids, [P, P]) mean sample similarity between wordings.

    Off the diagonal: the mean over every pair of one sample of wording i and
    one of wording j. The diagonal is left as the mean over distinct same-wording
    pairs (the control); the lexical control never reads it.
    """
    ids, index = np.unique(np.asarray(prompt_ids), return_inverse=True)
    G = np.zeros((len(index), len(ids)))
    G[np.arange(len(index)), index] = 1.0
    n = G.sum(axis=0)
    S = np.asarray(S, dtype=np.float64)
    totals = G.T @ S @ G
    W = totals / np.outer(n, n)
    same = np.diag(totals) - G.T @ np.diag(S)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.fill_diagonal(W, np.where(n > 1, same / (n * (n - 1)), np.nan))
    return [str(i) for i in ids], W


# ---------------------------------------------------------------------------
# The lexical control
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LexicalControl:
    """Emotion effect on wording-pair similarity, before and after the text.

    ``effect_raw``: same-emotion minus different-emotion mean wording-pair
    similarity (the gap at the wording level). ``effect_controlled``: the
    same-emotion coefficient once the text similarities are in the regression.
    ``partial_r``: the statistic tested (partial correlation of same-emotion
    with activation similarity given the text). ``text_r2``: the share of the
    pair similarities' variance the text similarities explain on their own.
    """

    effect_raw: float
    pvalue_raw: float
    effect_controlled: float
    partial_r: float
    pvalue: float
    text_r2: float
    text_coefficients: Mapping[str, float]
    n_wordings: int
    n_pairs: int
    n_permutations: int
    layer: int | None = None
    pvalue_holm: float | None = None


def _design_matrix(text: Mapping[str, np.ndarray], iu: tuple[np.ndarray, np.ndarray],
                   wording_effects: bool) -> tuple[list[str], np.ndarray]:
    """Nuisance columns: intercept, the text similarities, and (optionally) one column per wording.

    A wording column is 1 on every pair the wording is in: a wording whose
    samples sit closer to everything (a longer prompt, a larger norm) would
    otherwise leak into the same-emotion term once the text is partialled out.
    """
    names = sorted(text)
    columns = [np.ones(iu[0].size)] + [np.asarray(text[name], dtype=np.float64)[iu] for name in names]
    if wording_effects:
        P = int(max(iu[1].max(), iu[0].max())) + 1
        membership = np.zeros((iu[0].size, P))
        membership[np.arange(iu[0].size), iu[0]] = 1.0
        membership[np.arange(iu[0].size), iu[1]] = 1.0
        columns += list(membership.T)
    return names, np.column_stack(columns)


def _residualiser(Z: np.ndarray):
    """Rows of A projected off span(Z), through an orthonormal basis of Z's column space.

    Rank-revealing (SVD with a tolerance): the columns are often dependent (two
    words that always occur together), and a plain QR would keep directions of
    rounding noise.
    """
    U, singular, _ = np.linalg.svd(Z, full_matrices=False)
    Q = U[:, singular > singular[0] * max(Z.shape) * np.finfo(float).eps]
    return lambda A: A - (A @ Q) @ Q.T


class NotSeparable(ValueError):
    """The control's nuisance columns span the same-emotion indicator: nothing is left to test."""


def _leaves_same_emotion(residualise, same: np.ndarray) -> bool:
    """Whether projecting the nuisance columns off leaves any of the same-emotion indicator."""
    return bool(np.linalg.norm(residualise(same)) > 1e-8 * np.linalg.norm(same - same.mean()))


def _separable(text: Mapping[str, np.ndarray], labels: Sequence[str], wording_effects: bool = True,
               conditioner: bool = True) -> bool:
    """Whether the control's nuisance columns over ``text`` leave any of the same-emotion indicator.

    ``conditioner``: ``text`` lacks the conditioner column the run adds (the
    model is not loaded at start-up). That column takes one more dimension of
    the wording pairs, so one left over is not enough: a generic column in a
    one-dimensional remainder spans the indicator's residual, and the run's
    control would refuse what the audit passed.
    """
    codes = np.unique(np.asarray(labels), return_inverse=True)[1]
    iu = np.triu_indices(codes.size, k=1)
    Z = _design_matrix(text, iu, wording_effects)[1]
    residualise = _residualiser(Z)
    if not _leaves_same_emotion(residualise, _same_emotion_rows(codes[None, :], iu)):
        return False
    left = iu[0].size - np.linalg.matrix_rank(Z)
    return left >= (2 if conditioner else 1)


def _same_emotion_rows(labels: np.ndarray, iu: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """[n_labelings, n_pairs] 1.0 where a pair's two wordings share a label."""
    return (labels[:, iu[0]] == labels[:, iu[1]]).astype(np.float64)


def _partial_r(residualise, same: np.ndarray, y_res: np.ndarray) -> np.ndarray:
    """[n_labelings, n_datasets] correlation of residualised same-emotion rows with residualised y."""
    s_res = residualise(same)
    s_norm = np.linalg.norm(s_res, axis=1, keepdims=True)
    y_norm = np.linalg.norm(y_res, axis=1, keepdims=True)
    return (s_res / np.where(s_norm > 0, s_norm, np.inf)) @ (y_res / np.where(y_norm > 0, y_norm, np.inf)).T


def permuted_labelings(labels: Sequence[str], n_permutations: int,
                       seed: int | np.random.Generator | None) -> np.ndarray:
    """[1 + n, P] the observed labelling first, then ``n`` shuffles of whole wordings' labels."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    codes = np.unique(labels, return_inverse=True)[1]
    shuffled = rng.permuted(np.broadcast_to(codes, (n_permutations, codes.size)), axis=1)
    return np.vstack([codes[None, :], shuffled])


def lexical_control_many(W: np.ndarray, labels: Sequence[str], text: Mapping[str, np.ndarray], *,
                         n_permutations: int = 999, seed: int | np.random.Generator | None = 0,
                         batch: int = 2000, wording_effects: bool = True) -> dict[str, np.ndarray]:
    """The lexical control of many datasets sharing one design: ``W`` is [n_datasets, P, P].

    Returns arrays over datasets (``partial_r``, ``pvalue``, ``pvalue_raw``,
    ``effect_raw``, ``effect_controlled``, ``text_r2``) and the text coefficients
    ``[n_datasets, n_text]``. The same permutations serve every dataset, so a
    calibration over hundreds of datasets costs one pass over the permutations.
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim == 2:
        W = W[None]
    P = W.shape[1]
    labels = np.asarray(labels)
    if labels.size != P or W.shape[2] != P:
        raise ValueError(f"W is {W.shape[1:]} but there are {labels.size} wording labels")
    if len(np.unique(labels)) < 2:
        raise ValueError("the lexical control needs wordings of at least two emotions")
    iu = np.triu_indices(P, k=1)
    y = W[:, iu[0], iu[1]]  # [n_ds, n_pairs]
    names, Z = _design_matrix(text, iu, wording_effects)
    intercept = Z[:, :1]
    residualise, residualise_raw = _residualiser(Z), _residualiser(intercept)
    n_text = len(names)
    y_res, y_res_raw = residualise(y), residualise_raw(y)
    y_res_text = _residualiser(Z[:, :1 + n_text])(y)

    labelings = permuted_labelings(labels, n_permutations, seed)
    observed_same = _same_emotion_rows(labelings[:1], iu)
    if not _leaves_same_emotion(residualise, observed_same):
        raise NotSeparable(
            f"the text columns ({len(names)} text similarities and shared words, plus one column per wording) "
            f"span the same-emotion indicator over the {iu[0].size} wording pairs: nothing is left to tell emotion "
            "from the words. Use more wordings per emotion, or wordings that share fewer words")
    ge = np.zeros((2, y.shape[0]))
    observed = raw_observed = None
    for start in range(0, labelings.shape[0], batch):
        same = _same_emotion_rows(labelings[start:start + batch], iu)
        r = _partial_r(residualise, same, y_res)
        r_raw = _partial_r(residualise_raw, same, y_res_raw)
        if start == 0:
            observed, raw_observed = r[0], r_raw[0]
        ge[0] += (r[1 if start == 0 else 0:] >= observed - 1e-12).sum(axis=0)
        ge[1] += (r_raw[1 if start == 0 else 0:] >= raw_observed - 1e-12).sum(axis=0)
    pvalue, pvalue_raw = (1.0 + ge) / (1.0 + n_permutations)

    # Effects in similarity units: OLS coefficients of the same-emotion indicator.
    full = np.column_stack([Z, observed_same[0]])
    coef = np.linalg.lstsq(full, y.T, rcond=None)[0]  # [columns of Z, then same-emotion; n_ds]
    same_mask = observed_same[0].astype(bool)
    effect_raw = y[:, same_mask].mean(axis=1) - y[:, ~same_mask].mean(axis=1)
    total = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    text_r2 = 1.0 - (y_res_text ** 2).sum(axis=1) / np.where(total > 0, total, np.inf)
    return {"partial_r": observed, "pvalue": pvalue, "pvalue_raw": pvalue_raw, "effect_raw": effect_raw,
            "effect_controlled": coef[-1], "text_r2": text_r2, "text_coefficients": coef[1:1 + n_text].T,
            "text_names": np.array(names), "n_pairs": np.full(y.shape[0], iu[0].size)}


def lexical_control(W: np.ndarray, labels: Sequence[str], text: Mapping[str, np.ndarray], *,
                    n_permutations: int = 999, seed: int | np.random.Generator | None = 0,
                    layer: int | None = None) -> LexicalControl:
    """The lexical control of one wording-by-wording similarity matrix (see the module docstring)."""
    out = lexical_control_many(W, labels, text, n_permutations=n_permutations, seed=seed)
    return LexicalControl(
        effect_raw=float(out["effect_raw"][0]), pvalue_raw=float(out["pvalue_raw"][0]),
        effect_controlled=float(out["effect_controlled"][0]), partial_r=float(out["partial_r"][0]),
        pvalue=float(out["pvalue"][0]), text_r2=float(out["text_r2"][0]),
        text_coefficients={str(n): float(c) for n, c in zip(out["text_names"], out["text_coefficients"][0])},
        n_wordings=len(labels), n_pairs=int(out["n_pairs"][0]), n_permutations=n_permutations, layer=layer)


def lexical_control_layers(W_by_layer: Mapping[int, np.ndarray], labels: Sequence[str],
                           text: Mapping[str, np.ndarray], *, n_permutations: int = 999,
                           seed: int | np.random.Generator | None = 0, alpha: float = 0.05) -> dict[int, LexicalControl]:
    """The lexical control of each layer's wording similarity, its p Holm-corrected across the layers.

    Every layer uses the same seed, hence the same wording permutations, like the gap test.
    """
    import dataclasses

    from . import stats

    out = {layer: lexical_control(W, labels, text, n_permutations=n_permutations, seed=seed, layer=layer)
           for layer, W in W_by_layer.items()}
    holm = stats.correct_across_layers([r.pvalue for r in out.values()], alpha).pvalues_holm
    return {layer: dataclasses.replace(r, pvalue_holm=float(h)) for (layer, r), h in zip(out.items(), holm)}


# ---------------------------------------------------------------------------
# Cross-wording-type transfer (exploratory)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferResult:
    layer: int
    accuracy: float
    chance: float
    pvalue: float
    n_train_wordings: int
    n_test_wordings: int
    n_permutations: int


def cross_wording_transfer(X: np.ndarray, emotions: Sequence[str], prompt_ids: Sequence[str],
                           types: Sequence[str], *, n_permutations: int, seed: int, layer: int) -> TransferResult:
    """Train on the samples of named wordings, score on those of described wordings.

    The p permutes the emotion labels of whole wordings (every wording, named
    and described alike), refits and rescores: a classifier that only learnt
    wordings cannot transfer, because the test wordings are new.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    emotions, prompt_ids, types = map(np.asarray, (emotions, prompt_ids, types))
    train, test = types == NAMED, types == DESCRIBED
    if len(set(emotions[train])) < 2 or not test.any():
        raise ValueError("the transfer needs named wordings of at least two emotions and some described wordings")
    ids, index = np.unique(prompt_ids, return_inverse=True)
    wording_emotion = np.empty(len(ids), dtype=object)
    wording_emotion[index] = emotions

    def score(y: np.ndarray) -> float:
        if len(set(y[train])) < 2:
            return 0.0
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        model.fit(X[train], y[train])
        return float(np.mean(model.predict(X[test]) == y[test]))

    observed = score(emotions)
    rng = np.random.default_rng(seed)
    null = np.array([score(rng.permutation(wording_emotion)[index]) for _ in range(n_permutations)])
    chance = max(float(np.mean(emotions[test] == e)) for e in set(emotions[test]))
    return TransferResult(layer, observed, chance, float((1 + np.sum(null >= observed)) / (1 + n_permutations)),
                          len(set(prompt_ids[train])), len(set(prompt_ids[test])), n_permutations)
