"""The word-only null at the run's own seeds per wording against 4 a wording (review 26, 1c).

    PYTHONPATH=lib .venv/bin/python bench/audit_unequal_seeds.py [--datasets 300] [--n 20,22,13]

For each design and ``n_per_emotion`` (``config.audited_design``: 22 samples over 5
wordings give 5/5/4/4/4), prints per word-only model the share of datasets where the gap
test passes and where the gap test and the lexical control both pass (the audit's rate),
simulated at the plan's seed counts and at ``design.DEFAULT_SEEDS_PER_WORDING`` each.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from emoprobe import design  # noqa: E402
from emoprobe.config import audited_design, load_config  # noqa: E402

DESIGNS = ("configs/experiment.toml", "tests/data/joint_wordings.toml")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=int, default=300)
    ap.add_argument("--n", default="20,22,13", help="n_per_emotion values")
    args = ap.parse_args(argv)
    for path in DESIGNS:
        config = load_config(path)
        for n in map(int, args.n.split(",")):
            counts = audited_design(dataclasses.replace(config, n_per_emotion=n))[1]
            start = time.perf_counter()
            own = design.word_only_passes(config.emotions, config.thresholds.alpha, args.datasets,
                                          seeds_per_wording=counts)
            seconds = time.perf_counter() - start
            fixed = design.word_only_passes(config.emotions, config.thresholds.alpha, args.datasets)
            print(f"{path} n_per_emotion {n}, seeds {next(iter(counts.values()))} ({seconds:.1f} s at the plan's seeds)")
            for label, (gap, control) in own.items():
                gap4, control4 = fixed[label]
                print(f"   {label:34s} plan's seeds: gap {gap.mean():.3f} both {(gap & control).mean():.3f}"
                      f" | 4 each: gap {gap4.mean():.3f} both {(gap4 & control4).mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
