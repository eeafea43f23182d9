"""Capture overhead: the same model, prompts and seeds, with and without capture.

Prints the ratio (capture / plain) of median wall times, measured in this run;
the last line is the ratio alone. Target: <= 1.10 for the tiny model on a CPU,
<= 1.05 for a real model on a GPU. Also prints throughput in samples per
minute, the figure bench/RESULTS.md records per model and card.

    python bench/bench_capture.py [--model tiny] [--duration 10] [--batch 8|auto] [--repeats 5]
"""

import argparse
import statistics
import time

import torch

from emoprobe.capture import generate_batch, resolve_batch_size
from emoprobe.models import describe_model, load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--batch", default="8", help="an integer, or auto (fit free GPU memory)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    info = describe_model(args.model)
    model = load_model(info)
    batch = resolve_batch_size(args.batch if args.batch == "auto" else int(args.batch), model, args.duration)
    prompts = [f"benchmark prompt {i}" for i in range(batch)]
    seeds = list(range(batch))
    common = dict(duration_s=args.duration, top_k=250, top_p=0.0, temperature=1.0, cfg_coef=3.0, n_time_bins=4)
    layers = list(range(info.n_layers))

    def timed(capture_layers):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        generate_batch(model, prompts, seeds, layers=capture_layers, **common)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter() - start

    timed(None)  # warm-up
    plain, captured = [], []
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        plain.append(timed(None))
        captured.append(timed(layers))
    p, c = statistics.median(plain), statistics.median(captured)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    print(f"model={info.label} device={device} batch={batch} duration={args.duration}s layers={len(layers)}")
    print(f"plain generate median {p:.3f}s, with capture median {c:.3f}s over {args.repeats} repeats")
    print(f"throughput: {60 * batch / p:.1f} samples/min plain, {60 * batch / c:.1f} samples/min with capture")
    print(f"capture overhead ratio: {c / p:.3f}")
    print(f"{c / p:.3f}")


if __name__ == "__main__":
    main()
