"""Claim 12: the emotion effect survives the lexical control (emotion beyond the words).

Per layer: on the off-diagonal wording pairs, same emotion predicts activation
similarity beyond the text similarities (the model's own text conditioning,
content-word TF-IDF, words confined to one emotion), with the p from permuting
the emotion labels of whole wordings while the text stays fixed, Holm-corrected
across layers. GO needs a significant layer where this holds; a significant gap
the text explains gives PIVOT, "explained by wording".
"""

import pytest


@pytest.mark.claim
def test_emotion_effect_survives_the_lexical_control(layer, lexical_results, experiment, record_claim):
    result = lexical_results[layer]
    alpha = experiment.thresholds.alpha
    record_claim("lexical", layer=layer, effect_raw=result.effect_raw, pvalue_raw=result.pvalue_raw,
                 effect_controlled=result.effect_controlled, partial_r=result.partial_r, pvalue=result.pvalue,
                 pvalue_holm=result.pvalue_holm, text_r2=result.text_r2,
                 text_coefficients=dict(result.text_coefficients), n_wordings=result.n_wordings,
                 n_pairs=result.n_pairs, n_permutations=result.n_permutations, alpha=alpha)
    assert result.pvalue_holm < alpha, (
        f"layer {layer}: emotion effect {result.effect_raw:.4f} on wording-pair similarity "
        f"(p {result.pvalue_raw:.3g} before the text) is {result.effect_controlled:.4f} after the text "
        f"(partial r {result.partial_r:.3f}, p {result.pvalue:.3g}, Holm {result.pvalue_holm:.3g} >= {alpha}; "
        f"the text alone explains {result.text_r2:.0%} of the pair similarities) over "
        f"{result.n_wordings} wordings and {result.n_permutations} permutations")
