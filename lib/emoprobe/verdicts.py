"""The whole verdict on many simulated datasets: how often does the rule say GO when it must not?

Each dataset is a synthetic experiment (``emoprobe.truth.synthetic``: 4 emotions x
5 wordings x 4 seeds, several layers) run through the same statistics as the
suite (``stats.analyse_layers``: wording-level gap test, hierarchical
bootstrap, Holm and max-T across layers) and the same rule
(``decision.decide``), with the acoustic check assumed passed: the most
GO-prone assumption, so the rates are upper bounds for real runs.

Known truths (``TRUTHS``), each a generator of one dataset's layers:

* ``null``: no emotion, no wording effect.
* ``seed-like``: no emotion; the wording effect tuned to the seed's numbers
  (control 0.9508 against between 0.9461).
* ``paraphrase``: no emotion; a strong wording effect (60% of the noise
  variance shared by a wording's seeds).
* ``planted``: a true gap at every layer (``gap=``), for the winner's-curse check.

Other known-truth generators (a ``lexical`` one, say) register themselves in
``TRUTHS`` with :func:`register_truth`; the calibration test runs every
registered null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import stats
from .truth import synthetic
from .decision import GO, NO_GO, LayerOutcome, Outcome, decide

__all__ = ["TRUTHS", "NULLS", "register_truth", "VerdictRates", "simulate_verdicts"]

LayerGenerator = Callable[..., tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]]


def _layers(**fixed) -> LayerGenerator:
    def generate(rng: np.random.Generator, n_layers: int, gap: float = 0.0, **geometry):
        return synthetic.synthetic_layers(rng, n_layers, {k: gap for k in range(n_layers)} if gap else None,
                                          **{**fixed, **geometry})
    return generate


TRUTHS: dict[str, LayerGenerator] = {
    "null": _layers(prompt_share=0.0),
    "seed-like": _layers(**synthetic.seed_like_geometry()),
    "paraphrase": _layers(prompt_share=0.6),
    "planted": _layers(prompt_share=0.1),
}
#: The known truths with no emotion effect: the verdict must not say GO on them.
NULLS: list[str] = ["null", "seed-like", "paraphrase"]


def register_truth(name: str, generator: LayerGenerator, *, null: bool) -> None:
    """Add a known-truth generator ``generator(rng, n_layers, gap=0.0, **geometry)``."""
    TRUTHS[name] = generator
    if null and name not in NULLS:
        NULLS.append(name)


@dataclass(frozen=True)
class VerdictRates:
    truth: str
    n_datasets: int
    n_go: int
    n_not_no_go: int  # some layer significant after correction (the rule's first step failed to stop)
    go_upper_95: float  # Clopper-Pearson upper bound of the GO rate
    n_go_point_gap: int  # GO had the rule taken the point gap (the old, winner's-curse rule)

    @property
    def go_rate(self) -> float:
        return self.n_go / self.n_datasets

    @property
    def significant_rate(self) -> float:
        return self.n_not_no_go / self.n_datasets


def _upper(k: int, n: int) -> float:
    from scipy.stats import binomtest

    return float(binomtest(k, n).proportion_ci(0.95, method="exact").high)


def simulate_verdicts(truth: str, n_datasets: int, *, n_layers: int = 4, gap: float = 0.0,
                      n_permutations: int = 399, n_boot: int = 200, alpha: float = 0.05, min_gap: float = 0.02,
                      correction: str = "maxt", seed: int = 0, **geometry) -> VerdictRates:
    """Verdicts of ``n_datasets`` simulated experiments of one known truth (module docstring)."""
    generate = TRUTHS[truth]
    rng = np.random.default_rng(seed)
    n_go = n_significant = n_go_point = 0
    for _ in range(n_datasets):
        acts, emotions, prompts = generate(rng, n_layers, gap, **geometry)
        analysis = stats.analyse_layers(acts, emotions, prompts, n_permutations=n_permutations, n_boot=n_boot,
                                        alpha=alpha, min_gap=min_gap, control=False, control_pairs=False,
                                        seed=int(rng.integers(2**31)), bootstrap_method="percentile")
        # The lexical control and the acoustic check are taken as passed: the most
        # GO-prone assumption, so the GO rate below is an upper bound.
        rows = tuple(LayerOutcome(r.layer, r.statistic, r.pvalue, r.pvalue_holm, r.pvalue_maxt,  # type: ignore[arg-type]
                                  r.ci.standard_error if r.ci else None, lexical_pvalue_holm=0.0)
                     for r in analysis.layers)
        n_min = min(analysis.layers[0].n_per_emotion.values())
        rule = dict(alpha=alpha, min_gap=min_gap, min_n=n_min, acoustic_threshold=0.8, correction=correction)
        decision = decide(Outcome(n_min, rows, acoustic_pass=True, acoustic_worst_agreement=1.0), **rule)
        n_go += decision.verdict == GO
        n_significant += decision.verdict != NO_GO
        point = tuple(LayerOutcome(r.layer, r.gap, r.pvalue, r.pvalue_holm, r.pvalue_maxt, lexical_pvalue_holm=0.0)
                      for r in rows)
        n_go_point += decide(Outcome(n_min, point, acoustic_pass=True, acoustic_worst_agreement=1.0),
                             **rule).verdict == GO
    return VerdictRates(truth, n_datasets, n_go, n_significant, _upper(n_go, n_datasets), n_go_point)


def fwer_bound(alpha: float, n: int) -> float:
    """alpha plus three Monte Carlo standard errors over ``n`` datasets."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / n)
