"""Which prompt designs can the lexical control be trusted on? Its false-positive rate by design.

A word-only model (``design.word_only_pvalues``, the audit's own simulation:
each word of a prompt pushes the activations its own way, words weighted
log-normally with sigma 1.5, stop words at a tenth, word size 1.5, no emotion) over designs of 4
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

from emoprobe import design as design_check
from emoprobe import lexical
from emoprobe.config import REPO_ROOT, load_config

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
    pvalues = design_check.word_only_pvalues(wordings, n_datasets, seed=seed)
    return float(np.mean(pvalues < 0.05)), float(np.mean(pvalues < 0.0125))


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
