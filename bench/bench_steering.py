"""Cost of the causal-evidence claim: steered samples against plain ones, in the same run.

Generates the same batch (neutral prompt, seeds, capture of every layer, as
the suite does) plain and steered (a vector added at one layer at every step),
interleaved, and extracts the acoustic features of one batch of clips, which
every steered sample also needs. Prints the number of extra samples the
experiment file's [steering] table asks for (with max_layers layers), the
time per extra sample and its ratio to a plain sample, and the extra time
that makes; the last line is the ratio alone.

    python bench/bench_steering.py [--model tiny] [--duration 10] [--batch 8] [--repeats 3]
"""

import argparse
import statistics
import time

import numpy as np
import torch

from emoprobe import acoustics, steering
from emoprobe.capture import generate_batch
from emoprobe.config import load_config
from emoprobe.models import describe_model, load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--experiment", default=None)
    args = parser.parse_args()

    config = load_config(args.experiment)
    info = describe_model(args.model)
    model = load_model(info)
    prompts = [config.steering.prompts[0]] * args.batch
    seeds = list(range(args.batch))
    layers = list(range(info.n_layers))
    common = dict(duration_s=args.duration, top_k=250, top_p=0.0, temperature=1.0, cfg_coef=3.0, n_time_bins=4,
                  layers=layers)
    direction = np.random.default_rng(0).standard_normal(info.dim)
    vector = 4.0 * direction / np.linalg.norm(direction)  # alpha 1 at a typical tiny residual norm

    def timed(steered):
        hooks = steering.SteeringHooks(model.lm, [(1, vector)] * args.batch if steered else [None] * args.batch)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        with hooks:
            batch = generate_batch(model, prompts, seeds, **common)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - start, batch

    timed(False)  # warm-up
    plain, steered = [], []
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        plain.append(timed(False)[0])
        seconds, batch = timed(True)
        steered.append(seconds)
    start = time.perf_counter()
    for clip in batch.audio:
        acoustics.extract_features(clip, batch.sample_rate)
    features = (time.perf_counter() - start) / args.batch
    p, s = statistics.median(plain) / args.batch, statistics.median(steered) / args.batch
    n_extra = steering.n_extra_samples(config)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    print(f"model={info.label} device={device} batch={args.batch} duration={args.duration}s")
    print(f"per sample: plain generate {p:.3f}s, steered {s:.3f}s (medians of {args.repeats}); "
          f"acoustic features {features:.3f}s per clip")
    print(f"extra samples ({config.steering.max_layers} layers x {len(config.contrasts)} contrasts x (1 + "
          f"{config.steering.n_random} controls) x {sum(a != 0 for a in config.steering.alphas)} nonzero alphas x "
          f"{len(config.steering.prompts)} prompts x {config.steering.n_seeds} seeds + alpha 0): {n_extra}")
    print(f"per extra sample {s + features:.3f}s (generate + features); extra time {n_extra * (s + features):.0f}s")
    print(f"steered / plain generation ratio: {s / p:.3f}")
    print(f"{s / p:.3f}")


if __name__ == "__main__":
    main()
