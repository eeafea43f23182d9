"""Calibration of the steering claim's rank p: many null datasets, vectorised, no generation.

A full null run (``tests/test_steering_known_truth.py``, ``bench/bench_steering_null.py``)
is one draw of minutes. Here each draw is synthetic: wordings whose pooled
activations vary mostly along a few directions (with no emotion in them, or
with a planted one), and a model whose feature slopes along a steering
direction are a fixed linear-plus-quadratic function of that direction plus
generation noise. The model is made as hostile as the measured failure: it is
most sensitive exactly where the wordings vary most, so any direction
estimated from the wordings moves the music more than a typical direction
does. The directions, controls, layer choice, rank p and Holm are the
library's own (``steering.contrast_directions``, ``choose_layers`` on the
real gap test, ``steering_test``).

The rank p is exact at a layer fixed before the data. When the layers are
the ones the gap test finds most significant (the default), the choice used
the same labels and the controls do not repeat it; on this hostile model
that raises the false-positive rate to about 0.07 (an open problem, kept as
a strict xfail so that a fix shows).

It must fail in the right places: orthogonalised controls (what the issue
asked for, and what the known-truth null rejected at rank 1 of 99 twice) and
isotropic controls must be caught rejecting far more often than alpha.

``pytest tests/test_steering_calibration.py -s`` prints the rates (bench/RESULTS.md).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from emoprobe import stats, steering
from emoprobe.config import Overrides, load_config

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "tests" / "data" / "steering.toml"
FEATURES = ("tempo_bpm", "rms", "centroid_mean_hz", "mode")
N_WORDINGS, N_SEEDS, DIM, N_LAYERS = 5, 2, 32, 4  # the known-truth runs' design on the tiny model
ALPHAS = (-0.7, 0.0, 0.7)
CONTROLS = ("relabelled", "orthogonalised", "isotropic")


def upper_bound(k: int, n: int, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen k times in n."""
    return 1.0 if k == n else float(scipy_stats.beta.ppf(level, k + 1, n - k))


class SyntheticSteering:
    """One null (``planted = 0``) or planted dataset and the model's response to steering.

    Wording means at layer l: ``sum_k lam_k z_wk e_kl`` with steeply falling
    ``lam``; each sample adds isotropic noise. The feature slope along a unit
    direction d at layer l is ``b (g_fl . d) + c (h_fl . d)^2`` plus noise,
    with ``g_fl`` and ``h_fl`` close to the wordings' dominant direction
    ``e_0l``. A planted emotion adds ``+-planted * u`` to the happy and sad
    samples at layer 1, and, as the planted known-truth model's audio follows
    what its planted layer writes, makes every feature follow ``u . d`` there
    and the rest of the network a fifth as much as under the null.
    """

    def __init__(self, rng: np.random.Generator, planted: float = 0.0, layer_coupling: float = 0.7):
        self.rng = rng
        self.emotions = np.repeat(["happy", "sad"], N_WORDINGS * N_SEEDS)
        self.prompt_ids = np.array([f"{e}/{w}" for e in ("happy", "sad") for w in range(N_WORDINGS)
                                    for _ in range(N_SEEDS)])
        lam = 3.0 / np.arange(1, 9) ** 1.5
        shared = rng.standard_normal((2 * N_WORDINGS, lam.size))
        self.X, self.g, self.h, self.u = {}, {}, {}, {}
        for layer in range(N_LAYERS):
            basis = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0]
            # Layers share their wordings' structure in part, as a residual stream does.
            z = layer_coupling * shared + math.sqrt(1 - layer_coupling ** 2) * rng.standard_normal(shared.shape)
            means = (z * lam) @ basis[:, :lam.size].T
            X = np.repeat(means, N_SEEDS, axis=0) + 0.3 * rng.standard_normal((2 * N_WORDINGS * N_SEEDS, DIM))
            self.u[layer] = basis[:, -1]
            if planted and layer == 1:
                X += planted * np.where(self.emotions == "happy", 1.0, -1.0)[:, None] * self.u[layer]
            self.X[layer] = X
            tilt = rng.standard_normal((2, len(FEATURES), DIM)) * 0.2
            self.g[layer] = self._unit(basis[:, 0] * rng.choice([-1, 1], len(FEATURES))[:, None] + tilt[0])
            self.h[layer] = self._unit(basis[:, 0] + tilt[1])
        self.planted = planted

    @staticmethod
    def _unit(v):
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    def slopes(self, layer: int, directions: np.ndarray) -> np.ndarray:
        """[features, directions]: each feature's slope against alpha along each direction, with noise."""
        slope = 1.0 * self.g[layer] @ directions.T + 0.5 * (self.h[layer] @ directions.T) ** 2
        if self.planted:
            slope = 0.2 * slope + (8.0 * (self.u[layer] @ directions.T)[None, :] if layer == 1 else 0.0)
        return slope + 0.15 * self.rng.standard_normal(slope.shape)


def one_draw(config, rng: np.random.Generator, planted: float, controls: str, select: bool) -> tuple[bool, bool]:
    """(any row supported, a planted-layer row supported) for one synthetic dataset."""
    data = SyntheticSteering(rng, planted)
    layers = tuple(range(N_LAYERS))
    if select:
        analysis = stats.analyse_layers(data.X, data.emotions, data.prompt_ids, n_permutations=199, n_boot=0,
                                        control=False, control_pairs=False, seed=int(rng.integers(1 << 31)))
        chosen, _ = steering.choose_layers(config, analysis, layers)
    else:
        chosen = (int(rng.integers(N_LAYERS)),)  # a layer fixed before the data
    K = config.steering.n_random
    rows = steering.feature_rows(config.contrasts)
    values = {}
    for layer in chosen:
        emotion, own = steering.contrast_directions(data.X[layer], data.emotions, data.prompt_ids, "happy", "sad",
                                                    layer, K, int(rng.integers(1 << 31)))
        if controls == "relabelled":
            vectors = np.stack([d.vector for d in own])
        else:
            draws = (np.stack([d.vector for d in own]) if controls == "orthogonalised"
                     else rng.standard_normal((K, DIM)))
            draws = draws - np.outer(draws @ emotion.vector, emotion.vector)
            with np.errstate(invalid="ignore"):  # a relabelling that repeats the design has nothing left
                vectors = draws / np.linalg.norm(draws, axis=1, keepdims=True)
        slopes = data.slopes(layer, np.vstack([emotion.vector, vectors]))
        a = np.array(ALPHAS)[:, None]
        names = [emotion.name] + [steering.control_name(emotion.name, j) for j in range(K)]
        for j, name in enumerate(names):
            # One unit (prompt x seed) whose feature is exactly linear in alpha at that slope.
            values[(layer, name)] = {r.feature: slopes[FEATURES.index(r.feature), j] * a for r in rows}
    tested = steering.steering_test(values, rows, chosen, ALPHAS, K, config.thresholds.alpha)
    return steering.verdict(tested) == steering.SUPPORTED, any(r.supported and r.layer == 1 for r in tested)


def rate(config, n: int, seed: int, **kwargs) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    any_supported, planted_supported = 0, 0
    for _ in range(n):
        hit, planted_hit = one_draw(config, rng, **kwargs)
        any_supported += hit
        planted_supported += planted_hit
    return any_supported, planted_supported


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(EXPERIMENT, Overrides(cache_dir=str(tmp_path_factory.mktemp("cache")), steer=True))


def test_relabelled_controls_hold_alpha_on_null_data_at_a_layer_fixed_in_advance(config):
    n = 1000
    hits, _ = rate(config, n, seed=11, planted=0.0, controls="relabelled", select=False)
    print(f"\nnull, relabelled controls, fixed layer: {hits}/{n} supported, rate {hits / n:.3f}, "
          f"upper 95% bound {upper_bound(hits, n):.3f} (alpha {config.thresholds.alpha})")
    # Consistent with alpha: no evidence (at 0.01) that the rate exceeds it.
    assert scipy_stats.binomtest(hits, n, config.thresholds.alpha, alternative="greater").pvalue > 0.01, hits


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="open: layers chosen by the gap test on the same labels are a selection the "
                                       "controls do not repeat (measured 148/2000 = 0.074, bound 0.084)")
def test_layers_chosen_by_significance_hold_alpha_too(config):
    n = 2000
    hits, _ = rate(config, n, seed=101, planted=0.0, controls="relabelled", select=True)
    print(f"\nnull, relabelled controls, layer chosen by the gap test: {hits}/{n} supported, rate {hits / n:.3f}, "
          f"upper 95% bound {upper_bound(hits, n):.3f}")
    assert scipy_stats.binomtest(hits, n, config.thresholds.alpha, alternative="greater").pvalue > 0.01, hits


@pytest.mark.parametrize("controls", ["orthogonalised", "isotropic"])
def test_controls_not_built_like_the_direction_are_caught(config, controls):
    n = 100
    hits, _ = rate(config, n, seed=21, planted=0.0, controls=controls, select=False)
    print(f"\nnull, {controls} controls: {hits}/{n} supported")
    assert scipy_stats.binomtest(hits, n, config.thresholds.alpha, alternative="greater").pvalue < 1e-3, hits


def test_a_planted_emotion_is_found(config):
    n = 200
    _, hits = rate(config, n, seed=31, planted=2.0, controls="relabelled", select=True)
    print(f"\nplanted at layer 1, relabelled controls, chosen layer: power {hits}/{n}")
    # It must fire far beyond alpha. Its power is bounded by the design: with 5 + 5 wordings a
    # tenth of the relabellings swap one happy wording for a sad one and lie mostly along the
    # planted direction too.
    assert scipy_stats.binomtest(hits, n, config.thresholds.alpha, alternative="greater").pvalue < 1e-6, hits
