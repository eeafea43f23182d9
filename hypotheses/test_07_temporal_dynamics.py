"""Claim 7 (exploratory): emotions diverge during generation.

Per layer: the within-minus-between gap in the last time bin exceeds the gap
in the first (the seed's "early 0.956, late 0.929"). Reported; it never
decides the verdict.
"""

import pytest


@pytest.mark.claim
@pytest.mark.exploratory
def test_gap_grows_from_early_to_late_steps(layer, temporal_gaps, record_claim):
    t = temporal_gaps[layer]
    record_claim("temporal", layer=layer, gaps_by_bin=list(t.gaps_by_bin), early=t.early, late=t.late,
                 divergence=t.divergence)
    assert t.late > t.early, (
        f"layer {layer}: gap early {t.early:.4f}, late {t.late:.4f} (by bin: "
        + ", ".join(f"{g:.4f}" for g in t.gaps_by_bin) + ")")
