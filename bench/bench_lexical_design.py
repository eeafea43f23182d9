"""Which prompt designs can the lexical control be trusted on? Its false-positive rate by design.

A word-only model (``truth.synthetic.bag_of_words_activations``: each word of a
prompt pushes the activations its own way, words weighted log-normally with
sigma 1.5, stop words at a tenth, word size 1.5, no emotion) over designs of 4
emotions x 5 wordings. In each design every emotion has a tell-tale word,
spread over the wordings of one or more emotions by ``split`` (``(4, 1)``:
4 of its own wordings and 1 of the next emotion's), beside instrument words
that every emotion uses once. For each design: the largest same-emotion share
of the pairs sharing a word (what the audit reads), whether the audit flags
it, and the rate at which the lexical control's p falls below 0.05 and below
0.0125 (Holm's first step over 4 layers), over independent datasets. The
control must hold alpha wherever the audit lets a design through.

    python bench/bench_lexical_design.py [--datasets 300]
"""

from __future__ import annotations

import argparse

import numpy as np

from emoprobe import lexical, stats
from emoprobe.config import REPO_ROOT, load_config
from emoprobe.truth import synthetic

EMOTIONS = ("happy", "sad", "calm", "energetic")
TELL_TALE = {"happy": "joyful", "sad": "mournful", "calm": "serene", "energetic": "fierce"}
INSTRUMENTS = ("piano", "strings", "guitar", "synth", "flute")
SPLITS = [(4, 1), (3, 1), (3, 2), (2, 1), (2, 2), (3, 1, 1), (2, 2, 1), (2, 1, 1, 1), (1, 1, 1, 1), (3,), (2,)]


def design(split: tuple[int, ...]) -> dict[str, list[str]]:
    words: dict[str, list[str]] = {e: [] for e in EMOTIONS}
    for i, emotion in enumerate(EMOTIONS):
        for k, count in enumerate(split):
            words[EMOTIONS[(i + k) % 4]] += [TELL_TALE[emotion]] * count
    return {e: [" ".join(filter(None, (w, instrument, "music"))) for w, instrument in
                zip(words[e] + [""] * (5 - len(words[e])), INSTRUMENTS)] for e in EMOTIONS}


def false_positive_rates(wordings, n_datasets: int, seed: int) -> tuple[float, float]:
    X, _, prompts = synthetic.bag_of_words_activations(seed, wordings, n_datasets=n_datasets, word_size=1.5,
                                                       word_weight_sigma=1.5, stop_word_weight=0.1)
    W = []
    for k in range(n_datasets):
        ids, Wk = lexical.wording_similarity(stats.similarity_matrix(X[k], "cosine"), prompts)
        W.append(Wk)
    texts = [wordings[i.split("/")[0]][int(i.split("/")[1])] for i in ids]
    labels = [i.split("/")[0] for i in ids]
    conditioner = synthetic.pooled_word_conditioner(seed + 1, texts)
    out = lexical.lexical_control_many(np.stack(W), labels, lexical.text_similarities(texts, labels, conditioner),
                                       n_permutations=199, seed=3)
    return float(np.mean(out["pvalue"] < 0.05)), float(np.mean(out["pvalue"] < 0.0125))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=300)
    args = parser.parse_args()
    max_share = load_config(REPO_ROOT / "configs" / "experiment.toml").thresholds.max_word_same_emotion_share
    print(f"audit threshold (thresholds.max_word_same_emotion_share): {max_share}; {args.datasets} datasets each")
    print("| split | largest same-emotion share | audit | control p < 0.05 | p < 0.0125 |")
    print("|---|---|---|---|---|")
    for seed, split in enumerate(SPLITS):
        wordings = design(split)
        rows = [r for r in lexical.word_audit(wordings) if not r.own_name and r.same_emotion_share is not None]
        share = max(r.same_emotion_share for r in rows)
        flagged = lexical.audit_design(wordings, max_share).confounded
        fpr05, fpr_holm = false_positive_rates(wordings, args.datasets, seed)
        print(f"| {split} | {share:.2f} | {'flags' if flagged else 'passes'} | {fpr05:.3f} | {fpr_holm:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
