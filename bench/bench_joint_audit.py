"""The word-overlap audit's rate: the control alone, or the gap test and the control together?

``design.audit`` simulates word-only models (no emotion) of a design and flags it when too
many of their datasets would pass. It used to count a dataset when the lexical control alone
gave p < alpha; a GO needs the gap test to pass as well, so it now counts a dataset only when
both do (the joint rate). This prints both rates, from the very same simulated datasets, for
each model on designs the audit must flag (tests/data: joint, stop-word joint, stems, letters,
synonyms read by meaning) and on designs it must pass (the shipped one, with no embeddings,
with embeddings without meaning and with meaning groups crossed with the emotions; synonyms
read without meaning), at audit seeds ``--seeds``.

    PYTHONPATH=lib .venv/bin/python bench/bench_joint_audit.py [--seeds 0 1 2] [--datasets 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emoprobe import design
from emoprobe.config import REPO_ROOT, load_config
from emoprobe.truth import synthetic

DATA = REPO_ROOT / "tests" / "data"
SHIPPED = REPO_ROOT / "configs" / "experiment.toml"
# Meaning groups of the shipped design's words that cut across its emotions (as in
# tests/test_design.py and bench/bench_synonym_null.py).
CROSSED_GROUPS = {**dict.fromkeys(("piano", "strings", "bells", "synths"), "instrument"),
                  **dict.fromkeys(("slow", "fast"), "tempo"), **dict.fromkeys(("minor", "major", "key"), "mode"),
                  **dict.fromkeys(("chords", "melody", "rhythm", "song"), "texture")}
STOP = dict(zip("bright bouncy joyful grey weeping mournful soft gentle serene loud driving fierce".split(),
                "over through about under across after behind beyond along among around toward".split()))


def designs() -> list[tuple[str, bool, dict, dict | None]]:
    """(name, must the audit flag it, emotion -> wordings, word vectors or None)."""
    shipped = load_config(SHIPPED).emotions
    joint = load_config(DATA / "joint_wordings.toml").emotions
    synonym = load_config(DATA / "synonym_wordings.toml").emotions
    groups = {ws[i].split()[0]: e for e, ws in synonym.items() for i in range(5)}

    def vectors(wordings, meaning, weight):
        return synthetic.meaning_vectors(meaning, design.conditioner_words(wordings), weight)

    return [
        ("joint", True, joint, None),
        ("stop-word joint", True, {e: [" ".join(STOP.get(t, t) for t in w.split()) for w in ws]
                                   for e, ws in joint.items()}, None),
        ("stems", True, load_config(DATA / "stem_wordings.toml").emotions, None),
        ("letters", True, load_config(DATA / "letter_wordings.toml").emotions, None),
        ("synonyms, meaning 2.0", True, synonym, vectors(synonym, groups, 2.0)),
        ("synonyms, no meaning", False, synonym, vectors(synonym, {}, 2.0)),
        ("shipped", False, shipped, None),
        ("shipped, no meaning", False, shipped, vectors(shipped, {}, 2.0)),
        ("shipped, crossed meaning 1.0", False, shipped, vectors(shipped, CROSSED_GROUPS, 1.0)),
    ]


def rates(wordings, vectors, n_datasets: int, alpha: float, seed: int) -> dict[str, tuple[float, float, float]]:
    """model -> (control-only rate, joint rate, gap-only rate) on the audit's own datasets."""
    passes = design.word_only_passes(wordings, alpha, n_datasets, seed=seed, word_vectors=vectors)
    return {name: (float(control.mean()), float((gap & control).mean()), float(gap.mean()))
            for name, (gap, control) in passes.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", type=int, default=300)
    args = parser.parse_args()
    alpha = load_config(SHIPPED).thresholds.alpha
    limit = alpha + 3 * np.sqrt(alpha * (1 - alpha) / args.datasets)
    print(f"alpha {alpha}, limit {limit:.4f}, {args.datasets} datasets per model; worst model's rate "
          "(control alone / gap and control / gap alone), flagged when above the limit")
    print("| design | must flag | seed | control alone | joint | gap alone | flagged before | flagged now |")
    print("|---|---|---|---|---|---|---|---|")
    for name, must_flag, wordings, vectors in designs():
        for seed in args.seeds:
            start = time.perf_counter()
            by_model = rates(wordings, vectors, args.datasets, alpha, seed)
            before = max(r[0] for r in by_model.values())
            now = max(r[1] for r in by_model.values())
            gap_alone = max(r[2] for r in by_model.values())
            print(f"| {name} | {'yes' if must_flag else 'no'} | {seed} | {before:.3f} | {now:.3f} | {gap_alone:.3f} "
                  f"| {'yes' if before > limit else 'no'} | {'yes' if now > limit else 'no'} |"
                  f"  <!-- {time.perf_counter() - start:.0f} s; "
                  + ", ".join(f"{k} {r[0]:.3f}/{r[1]:.3f}" for k, r in by_model.items()) + " -->", flush=True)


if __name__ == "__main__":
    main()
