"""The steering claim's false-positive rate on the null known-truth model, through the real pipeline.

Each base seed is an independent null dataset: new emotion samples (new
activations, so a new emotion direction and new controls) and new seeds for
the steered samples. Per seed this runs what ``pytest hypotheses/ --steer``
runs for the claim (``collect_samples``, ``analysis.emotion_layers``,
``steering.run``) and records whether any row is supported after Holm, and
each row's rank p. The fast, vectorised calibration of the same test is
``tests/test_steering_calibration.py``.

    PYTHONPATH=lib python bench/bench_steering_null.py --seeds 20241007,1,2,3 --out null.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from emoprobe import analysis, steering
from emoprobe.config import Overrides, load_config
from emoprobe.dataset import collect_samples
from emoprobe.models import check_layers, describe_model
from emoprobe.store import SampleStore

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(REPO / "tests" / "data" / "steering.toml"))
    parser.add_argument("--model", default="null")
    parser.add_argument("--seeds", default="20241007")
    parser.add_argument("--cache-dir", default=str(REPO / ".cache" / "steering_null"))
    parser.add_argument("--out", default=None, help="append one JSON line per seed here")
    args = parser.parse_args()
    for seed in [int(s) for s in args.seeds.split(",")]:
        start = time.perf_counter()
        config = load_config(args.experiment, Overrides(model=args.model, seed=seed, cache_dir=args.cache_dir,
                                                        steer=True))
        info = describe_model(args.model)
        store = SampleStore(config.cache_dir)
        emotion = collect_samples(config, info, store, progress=False)[0]["emotion"]
        layers = check_layers(config.capture.layers, info)
        result, _, _ = steering.run(config, info, store, emotion, analysis.emotion_layers(emotion, layers, config),
                                    layers)
        line = {"model": args.model, "seed": seed, "verdict": result.verdict, "layers": list(result.layers),
                "rows": {f"L{r.layer}/{r.feature}": [r.pvalue, r.pvalue_holm, r.slope] for r in result.rows},
                "seconds": round(time.perf_counter() - start, 1)}
        print(json.dumps(line), flush=True)
        if args.out:
            with open(args.out, "a") as handle:
                handle.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
