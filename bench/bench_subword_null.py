"""Does the word-only null see stems? The lexical control's false-positive rate under a subword model.

The design audit simulates word-only models of the design's own wordings
(``design.word_only_null``), each reading whole words. A subword encoder (T5's
sentencepiece, MusicGen's conditioner) reads "joyful" and "joyous" alike
through "joy", so a design whose tell-tale stems are spread over different word
forms (``tests/data/stem_wordings.toml``) shows nothing to whole-word tokens.
Here every whole-word model of ``truth.synthetic.WORD_ONLY_MODELS`` runs as is
(whole words) and with ``subwords`` (each word the sum of its character
n-grams, ``synthetic.word_pieces``), on the shipped design, the joint design
and the stem design, in blocks of ``design.WORD_ONLY_BLOCK`` datasets as the
audit runs them. Printed: the share of datasets whose control p is below alpha
(0.05) and below Holm's first step over 4 layers (0.0125), for each seed.
``--word-conditioner`` makes the control's conditioner read whole words under
the subword models too (by default it reads what the model reads).

``--audit`` prints instead what the audit itself returns (``design.word_only_null``,
every model of ``WORD_ONLY_MODELS``, the subword ones included, with the
audit's own seeds): each model's rate at alpha, the worst, the limit, the time.

    python bench/bench_subword_null.py [--datasets 300] [--seeds 0 1 2 3 4 5] [--ngrams 3 5]
    python bench/bench_subword_null.py --audit [--designs shipped stem]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emoprobe import design
from emoprobe.config import REPO_ROOT, load_config
from emoprobe.truth import synthetic

DESIGNS = {"shipped": REPO_ROOT / "configs" / "experiment.toml",
           "joint": REPO_ROOT / "tests" / "data" / "joint_wordings.toml",
           "stem": REPO_ROOT / "tests" / "data" / "stem_wordings.toml",
           "letter": REPO_ROOT / "tests" / "data" / "letter_wordings.toml",
           "steering": REPO_ROOT / "tests" / "data" / "steering.toml"}


def pvalues(wordings, model: dict, n_datasets: int, seed: int, word_conditioner: bool) -> np.ndarray:
    """The audit's blocks: each ``WORD_ONLY_BLOCK`` datasets their own conditioner and permutations."""
    block = design.WORD_ONLY_BLOCK
    return np.concatenate([design.word_only_pvalues(wordings, min(block, n_datasets - start), model=model,
                                                    seed=seed + 10 * b, conditioner_subwords=not word_conditioner)
                           for b, start in enumerate(range(0, n_datasets, block))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--ngrams", type=int, nargs=2, default=[3, 5])
    parser.add_argument("--word-conditioner", action="store_true")
    parser.add_argument("--audit", action="store_true")
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    args = parser.parse_args()
    if args.audit:
        return audit_rates(args.designs, args.datasets, args.seeds)
    alpha, holm = 0.05, 0.05 / 4
    print(f"{args.datasets} datasets per cell, char_wb n-grams {tuple(args.ngrams)}, conditioner reads "
          f"{'whole words' if args.word_conditioner else 'what the model reads'}; "
          f"limit alpha + 3 SE = {alpha + 3 * np.sqrt(alpha * (1 - alpha) / args.datasets):.3f}")
    print("| design | model | view | p < 0.05 by seed | max | p < 0.0125 by seed | max |")
    print("|---|---|---|---|---|---|---|")
    for name in args.designs:
        wordings = load_config(DESIGNS[name]).emotions
        for model_name, model in synthetic.WORD_ONLY_MODELS.items():
            if "subwords" in model:  # the audit's own subword models: each whole-word model gets its view below
                continue
            for view, extra in (("words", {}), ("subwords", {"subwords": tuple(args.ngrams)})):
                start = time.perf_counter()
                rates = [pvalues(wordings, {**model, **extra}, args.datasets, 1000 * s, args.word_conditioner)
                         for s in args.seeds]
                at_alpha = [float(np.mean(p < alpha)) for p in rates]
                at_holm = [float(np.mean(p < holm)) for p in rates]
                print(f"| {name} | {model_name} | {view} | {' '.join(f'{r:.3f}' for r in at_alpha)} | "
                      f"{max(at_alpha):.3f} | {' '.join(f'{r:.3f}' for r in at_holm)} | {max(at_holm):.3f} |"
                      f"  <!-- {time.perf_counter() - start:.1f} s -->", flush=True)


def audit_rates(designs, n_datasets: int, seeds) -> None:
    alpha = 0.05
    models = list(synthetic.WORD_ONLY_MODELS)
    print(f"design.word_only_null, {n_datasets} datasets per model; rate at alpha {alpha} by model: "
          + ", ".join(f"{m} [{i}]" for i, m in enumerate(models)))
    print("| design | seed | " + " | ".join(f"[{i}]" for i in range(len(models))) + " | worst | limit | flagged | s |")
    print("|---|---|" + "---|" * len(models) + "---|---|---|---|")
    for name in designs:
        wordings = load_config(DESIGNS[name]).emotions
        for seed in seeds:
            start = time.perf_counter()
            rate, limit = design.word_only_null(wordings, alpha, n_datasets, seed=seed)
            took = time.perf_counter() - start
            # The same draws as the audit's (design._word_only_null's seeds), model by model.
            by_model = [float(np.mean(np.concatenate([
                design.word_only_pvalues(wordings, min(design.WORD_ONLY_BLOCK, n_datasets - s0), model=m,
                                         seed=seed + 1000 * k + 10 * b)
                for b, s0 in enumerate(range(0, n_datasets, design.WORD_ONLY_BLOCK))]) < alpha))
                for k, m in enumerate(models)]
            assert max(by_model) == rate
            print(f"| {name} | {seed} | " + " | ".join(f"{r:.3f}" for r in by_model)
                  + f" | {rate:.3f} | {limit:.3f} | {'yes' if rate > limit else 'no'} | {took:.1f} |", flush=True)


if __name__ == "__main__":
    main()
