"""Probe speed: 48 layers x 2048 dims x 80 samples, 1,000 wording-level permutations.

The dual-form leave-one-wording-out ridge probe (``emoprobe.probe``) on
synthetic activations (4 emotions x 5 wordings x 4 seeds), every layer through
the same permutations. Target (issue 12): <= 10 s on the 2-core box.
Prints the median of 3 runs last.
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

import numpy as np  # noqa: E402

from emoprobe import probe  # noqa: E402
from emoprobe.truth import synthetic  # noqa: E402

N_LAYERS, DIM, N_PERMUTATIONS = 48, 2048, 1000


def main() -> None:
    rng = np.random.default_rng(0)
    layers = {}
    for layer in range(N_LAYERS):
        data = synthetic.planted_activations(rng, 0.01 if layer % 4 == 0 else 0.0, dim=DIM, prompt_share=0.3)
        layers[layer] = data.X.astype(np.float16)  # as stored
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = probe.probe_test(layers, data.emotions, data.prompts, N_PERMUTATIONS, seed=1)
        times.append(time.perf_counter() - start)
    assert len(result) == N_LAYERS and all(r.n_permutations == N_PERMUTATIONS for r in result.values())
    print(f"runs: {', '.join(f'{t:.2f} s' for t in times)}")
    print(f"probe, {N_LAYERS} layers x {DIM} dims x {len(data.X)} samples x {N_PERMUTATIONS} wording-level "
          f"permutations: median {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
