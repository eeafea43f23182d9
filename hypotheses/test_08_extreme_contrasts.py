"""Claim 8 (positive control): extreme contrasts separate in at least one layer.

"Extremely aggressive death metal" against "gentle lullaby", "intense EDM
rave" against "silent meditation": if even these show nothing after Holm
correction, the method, not emotion, is in doubt.
"""

import pytest


@pytest.mark.claim
def test_extreme_contrast_separates_somewhere(extreme_pair, extreme_analysis, experiment, record_claim):
    result = extreme_analysis[extreme_pair]
    index = int(extreme_pair.removeprefix("extreme"))
    prompts = experiment.extreme_pairs[index]
    best = min(result.layers, key=lambda r: r.pvalue_holm)
    record_claim("extreme", pair=list(prompts), n_significant_holm=result.n_significant_holm,
                 best_layer=best.layer, best_gap=best.statistic, best_pvalue_holm=best.pvalue_holm)
    assert result.n_significant_holm >= 1, (
        f"{prompts[0]!r} vs {prompts[1]!r}: no layer separates after Holm (best layer {best.layer}: "
        f"gap {best.statistic:.4f}, Holm p {best.pvalue_holm:.3g}); the method itself is in doubt")
