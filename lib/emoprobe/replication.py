"""Nights as replications: each nightly run is an independent replicate on new seeds.

A night draws its own base seed, so its samples, and hence its per-layer gaps
and permutation p-values, are independent of every other night's. Across the
nights of one configuration (same design hash (the config hash without the seed), same model, complete runs of the whole
family only)
this module reports, per layer:

* the mean gap and a t-interval across nights (each night's gap is one
  observation; nights, not samples, are the replicates);
* one night per base seed: a rerun of a seed reads the same samples;
* a combined one-sided test of the nights' p-values by Stouffer's method
  (``scipy.stats.combine_pvalues``), which assumes the nights are independent
  and each p is valid (super-uniform) under the null. It is a *replication*
  test over independent runs, never a pooled analysis of their samples;
* Holm across layers of the combined p-values;

and "GO in k of n nights". Nights with another configuration hash are left
out, because their gaps measure something else.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import scipy.stats

from .decision import GO
from .stats import correct_across_layers


@dataclass(frozen=True)
class LayerReplication:
    layer: int
    n_nights: int
    mean_gap: float
    ci_low: float | None  # None with fewer than two nights
    ci_high: float | None
    combined_p: float
    combined_p_holm: float


@dataclass(frozen=True)
class Replication:
    model: str
    design_hash: str
    n_nights: int
    n_go: int
    layers: tuple[LayerReplication, ...]
    excluded: int  # history lines of this model left out (other config, partial, interrupted)

    @property
    def summary(self) -> str:
        return f"GO in {self.n_go} of {self.n_nights} nights"

    def to_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary}


def is_complete(row: Mapping) -> bool:
    """A history line that a replication may count: a whole, uninterrupted run."""
    return (not row.get("partial") and not row.get("interrupted") and not row.get("reduced_family")
            and bool(row.get("layers")))


def replicate(rows: Iterable[Mapping], model: str, design_hash: str, *, confidence: float = 0.95) -> Replication:
    """Combine the history ``rows`` of ``model`` run with ``design_hash`` (see module docstring).

    ``design_hash`` is the configuration's hash without its base seed
    (``ExperimentConfig.config_hash(seeds=False)``): nights differ in their
    seeds only. A rerun of one seed is the same samples again, not a replicate,
    so each base seed counts once (its latest line). Each row needs ``layers``:
    a list of ``{"layer", "gap", "pvalue"}``; a night missing a layer does not
    count towards that layer, and a malformed line is left out.
    """
    mine = [r for r in rows if isinstance(r, Mapping) and r.get("model") == model]
    by_seed: dict[object, Mapping] = {}
    for row in mine:
        if row.get("design_hash") == design_hash and is_complete(row) and _well_formed(row):
            by_seed[row.get("base_seed")] = row
    nights = list(by_seed.values())
    by_layer: dict[int, list[tuple[float, float]]] = {}
    for night in nights:
        for entry in night["layers"]:
            by_layer.setdefault(int(entry["layer"]), []).append((float(entry["gap"]), float(entry["pvalue"])))
    layers = sorted(by_layer)
    combined = [_stouffer([p for _, p in by_layer[layer]]) for layer in layers]
    holm = correct_across_layers(combined).pvalues_holm if combined else ()
    results = []
    for layer, p, p_holm in zip(layers, combined, holm):
        gaps = np.array([g for g, _ in by_layer[layer]])
        low = high = None
        if gaps.size >= 2 and np.std(gaps) > 0:
            low, high = (float(v) for v in scipy.stats.t.interval(
                confidence, gaps.size - 1, loc=gaps.mean(), scale=scipy.stats.sem(gaps)))
        elif gaps.size >= 2:
            low = high = float(gaps.mean())
        results.append(LayerReplication(layer, int(gaps.size), float(gaps.mean()), low, high, p, p_holm))
    return Replication(model, design_hash, len(nights), sum(r.get("verdict") == GO for r in nights),
                       tuple(results), len(mine) - len(nights))


def _well_formed(row: Mapping) -> bool:
    """Per-layer numbers that a replicate can contribute: finite gaps, p in [0, 1]."""
    try:
        return all(math.isfinite(float(e["gap"])) and 0.0 <= float(e["pvalue"]) <= 1.0 and int(e["layer"]) >= 0
                   for e in row["layers"])
    except (KeyError, TypeError, ValueError):
        return False


def _stouffer(pvalues: Sequence[float]) -> float:
    # A permutation p can be exactly 1; its z would be -inf and veto every other
    # night, so it is taken as the largest p below 1.
    p = np.clip(np.asarray(pvalues, dtype=float), 1e-300, np.nextafter(1.0, 0.0))
    if p.size == 1:
        return float(p[0])
    return float(scipy.stats.combine_pvalues(p, method="stouffer").pvalue)
