"""Synonyms: does the lexical control's conditioner column cover a word-only model that reads meaning?

A design whose tell-tales are synonyms that share no stem (``tests/data/synonym_wordings.toml``:
each emotion's five synonyms, one per wording, all five in one wording of the next emotion)
shows nothing to whole words, to subwords or to the per-word audit. A model that reads words
by meaning (``synthetic.bag_of_words_activations(word_vectors=)``, the embeddings of
``synthetic.meaning_vectors``: each synonym group shares a direction of weight W, cosine
W^2 / (1 + W^2) between two synonyms) makes an emotion's wordings alike.

``--control`` (default): the control's false-positive rate (p < 0.05, and Holm's first step
over 4 layers, p < 0.0125) on that model, the conditioner reading the very embeddings the
model reads, or whole words (``conditioner_subwords=False``), over ``--datasets`` datasets in
the audit's blocks of 50.

``--audit``: what ``design.audit`` returns given the word embeddings (``word_vectors=``), on
the synonym design and, as nulls, on the shipped design with embeddings that carry no meaning
(each word its own direction), with meaning groups crossed with the emotions (instruments,
tempo, mode, texture: each group used under every emotion), and, for information, with the
shipped design's affective words grouped by the emotion they suggest.

``--verdicts``: whole verdicts (``verdicts.simulate_verdicts``, the ``lexical-meaning`` truth,
4 layers, 399 permutations, seed 123) on the synonym design at ``--weight``, the weighted and the
unweighted model, the control's conditioner and the audit given the model's embeddings.

    python bench/bench_synonym_null.py [--weights 0.5 1 2] [--datasets 300]
    python bench/bench_synonym_null.py --audit [--seeds 0 1 2]
    python bench/bench_synonym_null.py --verdicts [--datasets 300]

``--vectors words.npz`` (word -> a real text encoder's embedding, every word of the shipped
design; ``bench/embed_words.py`` writes one from a packaged sentence encoder) runs ``--audit``
and ``--verdicts`` on the shipped design with those embeddings instead: how the audit and a
no-emotion model that reads words by meaning fare where the meaning is an encoder's, not planted.
``--sizes`` then gives the model's word effect sizes for ``--verdicts``.

    python bench/bench_synonym_null.py --vectors /tmp/minilm_words.npz --audit --seeds 0 1 2
    python bench/bench_synonym_null.py --vectors /tmp/minilm_words.npz --verdicts --sizes 1.5 4 8
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emoprobe import design, lexical
from emoprobe.config import REPO_ROOT, load_config
from emoprobe.truth import synthetic

SYNONYM = REPO_ROOT / "tests" / "data" / "synonym_wordings.toml"
SHIPPED = REPO_ROOT / "configs" / "experiment.toml"
# Meaning groups of the shipped design's words that cut across its emotions.
CROSSED_GROUPS = {**dict.fromkeys(("piano", "strings", "bells", "synths"), "instrument"),
                  **dict.fromkeys(("slow", "fast"), "tempo"), **dict.fromkeys(("minor", "major", "key"), "mode"),
                  **dict.fromkeys(("chords", "melody", "rhythm", "song"), "texture")}
# The shipped design's affective words by the emotion they suggest (what an encoder may read).
AFFECTIVE_GROUPS = {**dict.fromkeys(("happy", "bright", "bouncy", "sunny", "warm"), "happy"),
                    **dict.fromkeys(("sad", "dark", "heavy"), "sad"),
                    **dict.fromkeys(("calm", "soft", "quiet", "gentle", "steady"), "calm"),
                    **dict.fromkeys(("energetic",), "energetic")}


def synonym_groups(wordings) -> dict[str, str]:
    """word -> the emotion its synonyms name: the first word of each emotion's first five wordings."""
    return {ws[i].split()[0]: e for e, ws in wordings.items() for i in range(5)}


def vocabulary(wordings) -> list[str]:
    return sorted({w for ws in wordings.values() for t in ws for w in lexical.tokens(t, one_letter=True)})


def control(weights, n_datasets: int) -> None:
    wordings = load_config(SYNONYM).emotions
    print(f"synonym design, {n_datasets} datasets per cell, 199 permutations; control's rate at p < 0.05 / 0.0125")
    print("| W | model | conditioner reads the embeddings | conditioner reads whole words |")
    print("|---|---|---|---|")
    for w in weights:
        vectors = synthetic.meaning_vectors(synonym_groups(wordings), vocabulary(wordings), w)
        for name in design.MEANING_MODELS:
            model = {**synthetic.WORD_ONLY_MODELS[name], "word_vectors": vectors}
            cells = []
            for meaning in (True, False):
                p = np.concatenate([design.word_only_pvalues(wordings, design.WORD_ONLY_BLOCK, model=model,
                                                             seed=10 * b, conditioner_subwords=meaning)
                                    for b in range(n_datasets // design.WORD_ONLY_BLOCK)])
                cells.append(f"{np.mean(p < 0.05):.3f} / {np.mean(p < 0.0125):.3f}")
            print(f"| {w} | {name} | {cells[0]} | {cells[1]} |", flush=True)


def audit(seeds, weight: float) -> None:
    shipped = load_config(SHIPPED)
    synonym = load_config(SYNONYM).emotions
    cases = {"synonym, synonyms read alike": (synonym, synonym_groups(synonym)),
             "synonym, no meaning": (synonym, {}),
             "shipped, no meaning": (shipped.emotions, {}),
             "shipped, crossed meaning groups": (shipped.emotions, CROSSED_GROUPS),
             "shipped, affective groups": (shipped.emotions, AFFECTIVE_GROUPS)}
    audit_table(f"design.audit(word_vectors=synthetic.meaning_vectors(groups, W={weight}))",
                {name: (wordings, synthetic.meaning_vectors(groups, vocabulary(wordings), weight))
                 for name, (wordings, groups) in cases.items()}, seeds)


def audit_table(title: str, cases, seeds) -> None:
    """One row per case (name -> (wordings, word_vectors)) and seed: what ``design.audit`` returns."""
    thresholds = load_config(SHIPPED).thresholds
    print(f"{title}, {thresholds.word_only_null_datasets} datasets per model")
    print("| design, embeddings | seed | rate (worst model) | limit | flagged | s |")
    print("|---|---|---|---|---|---|")
    for name, (wordings, vectors) in cases.items():
        for seed in seeds:
            start = time.perf_counter()
            result = design.audit(wordings, thresholds, seed=seed, word_vectors=vectors)
            print(f"| {name} | {seed} | {result.word_only_rate:.3f} | {result.word_only_limit:.3f} | "
                  f"{'yes' if result.word_only_fooled else 'no'} | {time.perf_counter() - start:.1f} |", flush=True)


def encoder_vectors(path) -> dict[str, np.ndarray]:
    """word -> embedding from an ``.npz`` (no pickles), checked to cover the shipped design."""
    with np.load(path, allow_pickle=False) as stored:
        vectors = {w: stored[w] for w in stored.files}
    missing = sorted(set(vocabulary(load_config(SHIPPED).emotions)) - set(vectors))
    if missing:
        raise SystemExit(f"{path} lacks the embeddings of {missing}")
    return vectors


def audit_with_encoder(vectors, seeds) -> None:
    audit_table("design.audit(word_vectors=the encoder's)",
                {"shipped, the encoder's embeddings": (load_config(SHIPPED).emotions, vectors)}, seeds)


def verdicts_with_encoder(vectors, n_datasets: int, sizes) -> None:
    from emoprobe import verdicts

    wordings = load_config(SHIPPED).emotions
    for size in sizes:
        start = time.perf_counter()
        r = verdicts.simulate_verdicts("lexical-meaning", n_datasets, n_layers=4, seed=123, wordings=wordings,
                                       word_size=size, word_vectors=vectors, word_weight_sigma=0.0,
                                       stop_word_weight=1.0)
        print_verdicts(f"shipped design, encoder's embeddings, unweighted, word size {size}", r, start)


def print_verdicts(label: str, r, start: float) -> None:
    print(f"{label}: GO {r.n_go}/{r.n_datasets} (upper 95% {r.go_upper_95:.3f}); without the audit "
          f"{r.n_go_without_audit}; without the control and the audit {r.n_go_without_lexical}; some layer "
          f"significant {r.significant_rate:.3f} [{time.perf_counter() - start:.0f} s]", flush=True)


def whole_verdicts(n_datasets: int, weight: float) -> None:
    from emoprobe import verdicts

    wordings = load_config(SYNONYM).emotions
    vectors = synthetic.meaning_vectors(synonym_groups(wordings), vocabulary(wordings), weight)
    for name, weighting in (("weighted", {}), ("unweighted", {"word_weight_sigma": 0.0, "stop_word_weight": 1.0})):
        start = time.perf_counter()
        r = verdicts.simulate_verdicts("lexical-meaning", n_datasets, n_layers=4, seed=123, wordings=wordings,
                                       word_size=1.5, word_vectors=vectors, **weighting)
        print_verdicts(f"synonym design, W={weight}, {name}", r, start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit", action="store_true")
    parser.add_argument("--verdicts", action="store_true")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--weight", type=float, default=2.0, help="W of the audit's embeddings")
    parser.add_argument("--datasets", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--vectors", help="a real encoder's word embeddings (.npz) for the shipped design")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.5, 4.0, 8.0])
    args = parser.parse_args()
    if args.vectors:
        vectors = encoder_vectors(args.vectors)
        if args.verdicts:
            verdicts_with_encoder(vectors, args.datasets, args.sizes)
        else:
            audit_with_encoder(vectors, args.seeds)
    elif args.audit:
        audit(args.seeds, args.weight)
    elif args.verdicts:
        whole_verdicts(args.datasets, args.weight)
    else:
        control(args.weights, args.datasets)


if __name__ == "__main__":
    main()
