"""A rehearsal at real sizes: the tiny model built as musicgen-small or -large, on the CPU.

One shape per process, so that its peak memory is its own. In one run it measures:

- the memory one more sample adds while generating (peak resident set size of
  a batch of ``--batch`` minus that of a batch of 1, over ``batch - 1``), against
  ``capture.generation_bytes_per_sample``, the figure ``batch_size = "auto"``
  divides free memory by (same accounting: weights aside, the model's dtype);
- capture overhead: plain ``generate`` against ``generate`` with every layer
  captured, same prompts, seeds and duration, interleaved, median of
  ``--repeats``, in wall and CPU time, and the time spent inside the hooks as a
  share of plain ``generate`` (the figure a shared box blurs least);
- seconds of wall time per generated second of audio;
- the store's size per sample: the batch written to a temporary SampleStore,
  as the pipeline writes it.

``--decoder-seconds S`` measures only EnCodec's decoding memory per sample at
clips of S seconds (the decoder term of the formula).

    python bench/bench_shapes.py --model tiny:shape=small [--duration 1] [--batch 4] [--repeats 3]
    python bench/bench_shapes.py --model tiny:shape=small --decoder-seconds 2 --batch 3
"""

import argparse
import os
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from _timing import TIMERS, timed
from emoprobe.capture import ActivationCapture, expected_generation_steps, generate_batch, generation_bytes_per_sample
from emoprobe.config import SampleSpec
from emoprobe.models import describe_model, load_model
from emoprobe.store import KeyParams, SampleStore, sample_key

PAGE = os.sysconf("SC_PAGE_SIZE")
GB = 1e9
MB = 1e6


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRss:
    """Highest resident set size while the block runs, sampled every 5 ms.

    ``ru_maxrss`` cannot be reset, so a later, smaller call would be hidden
    under an earlier peak; sampling /proc gives each call its own.
    """

    def __enter__(self):
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())
        return False


def decoder_memory(model_name: str, seconds: float, batch: int) -> None:
    """Peak RSS of EnCodec's decoding alone (the step after the LM, when its cache is gone), batch 1 against ``batch``."""
    from audiocraft.models import builders
    from omegaconf import OmegaConf

    from emoprobe.models import tiny_compression_config, tiny_shape

    torch.set_num_threads(1)
    codec = builders.get_compression_model(OmegaConf.create(tiny_compression_config(shape=tiny_shape(model_name))))
    codec.quantizer(torch.randn(8, codec.quantizer.dimension, 128), 1)
    codec = codec.eval()
    frames = int(seconds * codec.frame_rate)
    peaks = {}
    with torch.no_grad():
        codec.decode(torch.zeros(1, codec.num_codebooks, 2, dtype=torch.long))  # warm-up
        for b in (1, batch):
            codes = torch.randint(0, codec.cardinality, (b, codec.num_codebooks, frames))
            with PeakRss() as peak:
                codec.decode(codes)
            peaks[b] = peak.peak
    per_sample = (peaks[batch] - peaks[1]) / (batch - 1)
    print(f"decoder alone, {seconds:g} s: peak RSS batch 1 {peaks[1] / GB:.3f} GB, batch {batch} {peaks[batch] / GB:.3f} GB; "
          f"per extra sample {per_sample / MB:.1f} MB = {per_sample / (seconds * codec.sample_rate):.0f} B per audio sample")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny:shape=small")
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    # One thread: on a shared box, torch's threads spin at every op's barrier
    # waiting for a core (a 0.2 s clip took 107 s with 2 threads at load 12).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-time-bins", type=int, default=4)
    parser.add_argument("--decoder-seconds", type=float, default=0.0,
                        help="only measure the decoder's memory per sample at this clip length, then stop")
    args = parser.parse_args()
    if args.decoder_seconds:
        decoder_memory(args.model, args.decoder_seconds, args.batch)
        return

    info = describe_model(args.model)
    start = time.perf_counter()
    model = load_model(info, device="cpu")
    build_s = time.perf_counter() - start
    torch.set_num_threads(args.threads)
    weights = sum(p.numel() * p.element_size() for p in model.lm.parameters())
    codec = sum(p.numel() * p.element_size() for p in model.compression_model.parameters())
    loaded_rss = rss()
    print(f"model={info.label} layers={info.n_layers} dim={info.dim} threads={torch.get_num_threads()} "
          f"frame_rate={model.frame_rate} Hz")
    print(f"built in {build_s:.1f}s; LM weights {weights / GB:.2f} GB ({weights // 4 / 1e9:.2f} B params), "
          f"codec {codec / MB:.0f} MB, RSS after build {loaded_rss / GB:.2f} GB")

    layers = list(range(info.n_layers))
    common = dict(duration_s=args.duration, top_k=250, top_p=0.0, temperature=1.0, cfg_coef=3.0,
                  n_time_bins=args.n_time_bins)

    # The hooks' own time, summed: on a shared box the wall times of two runs
    # differ by more than the whole capture costs, so the share spent inside
    # the hooks is the figure that load does not blur.
    ActivationCapture._accumulate = timed("capture hooks", ActivationCapture._accumulate)

    def run(batch, capture_layers):
        prompts = [f"benchmark prompt {i}" for i in range(batch)]
        TIMERS.clear()
        start, cpu = time.perf_counter(), time.process_time()
        result = generate_batch(model, prompts, list(range(batch)), layers=capture_layers, **common)
        return time.perf_counter() - start, time.process_time() - cpu, TIMERS["capture hooks"], result

    generate_batch(model, ["warm-up"], [0], layers=None, **{**common, "duration_s": 0.1})
    peaks = {}
    for batch in (1, args.batch):  # smaller first: the allocator keeps what it got, peaks only grow
        with PeakRss() as peak:
            *_, result = run(batch, layers)
        peaks[batch] = peak.peak
    n_steps = expected_generation_steps(model.lm, int(args.duration * model.frame_rate))
    measured = (peaks[args.batch] - peaks[1]) / (args.batch - 1)
    predicted = generation_bytes_per_sample(model.lm, n_steps, int(args.duration * model.sample_rate))
    print(f"peak RSS generating with capture: batch 1 {peaks[1] / GB:.3f} GB, batch {args.batch} "
          f"{peaks[args.batch] / GB:.3f} GB ({n_steps} steps)")
    print(f"memory per extra sample: measured {measured / MB:.1f} MB, auto formula {predicted / MB:.1f} MB "
          f"(ratio measured/formula {measured / predicted:.2f})")

    with tempfile.TemporaryDirectory() as tmp:
        store = SampleStore(tmp)
        params = KeyParams(info.identity, args.duration, 250, 0.0, 1.0, 3.0, args.n_time_bins, False)
        acts = result.activations
        for b in range(args.batch):
            spec = SampleSpec("emotion", "happy", f"benchmark prompt {b}", "p0", b, b)
            store.save(sample_key(spec, params), spec, params, result.audio[b], result.sample_rate, layers,
                       np.stack([acts.mean[layer][b] for layer in layers]),
                       np.stack([acts.bins[layer][b] for layer in layers]))
        sizes = {}
        for entry in Path(tmp).rglob("meta.json"):
            for f in entry.parent.iterdir():
                sizes.setdefault(f.name, []).append(f.stat().st_size)
    per = {name: statistics.mean(v) for name, v in sizes.items()}
    audio_10s = (per["audio.wav"] - 4 * args.duration * model.sample_rate) + 4 * 10 * model.sample_rate
    print("store per sample: " + ", ".join(f"{name} {size:,.0f} B" for name, size in sorted(per.items()))
          + f"; total {sum(per.values()):,.0f} B at {args.duration:g} s; with 10 s of audio "
          f"{(sum(per.values()) - per['audio.wav'] + audio_10s) / MB:.3f} MB")

    plain, captured = [], []
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        plain.append(run(args.batch, None)[:3])
        captured.append(run(args.batch, layers)[:3])
    p_wall, p_cpu = (statistics.median(x[k] for x in plain) for k in (0, 1))
    c_wall, c_cpu, hooks = (statistics.median(x[k] for x in captured) for k in (0, 1, 2))
    print(f"batch {args.batch}, {args.duration:g} s, wall (CPU) seconds: plain generate "
          f"{[f'{w:.2f} ({c:.2f})' for w, c, _ in plain]}, with capture {[f'{w:.2f} ({c:.2f})' for w, c, _ in captured]}")
    print(f"seconds per generated second (plain, wall): {p_wall / args.duration:.2f} per batch of {args.batch}, "
          f"{p_wall / args.duration / args.batch:.2f} per sample; CPU {p_cpu / args.duration / args.batch:.2f} per sample")
    print(f"capture overhead: wall ratio {c_wall / p_wall:.3f}, CPU-time ratio {c_cpu / p_cpu:.3f}, "
          f"time inside the hooks {hooks:.3f} s = {hooks / p_wall:.4f} of plain generate")
    print(f"peak RSS of the process (ru_maxrss) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB:.2f} GB; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
