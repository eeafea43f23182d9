"""The report's causal-evidence section: the steering table, a dose-response plot per row, and players.

Rebuilt on the controller from the store (the workers generated the steered
samples); ``generate_missing=False``, so the report never generates.
"""

from __future__ import annotations

import html

from . import analysis, report, steering
from .store import SampleStore


def section(evidence) -> list[str]:
    """The "Causal evidence" section for one model (``evidence`` is its ``evidence.Evidence``)."""
    # The record's word (it saw the claim's outcomes); worked out from the rows only without one.
    word = evidence.causal_evidence or steering.causal_evidence(evidence.claim_rows(steering.CLAIM))
    head = (f"<p><b>causal evidence: {word}</b> (never changes the verdict above). "
            "Each emotion direction (the difference of its two emotions' mean wordings, over the typical such "
            "difference across every labelling of those wordings) is added at its layer, alpha times the layer's "
            "typical residual norm, while neutral prompts are generated; its slope against alpha is ranked among "
            "the slopes of its controls, the same construction under random relabellings of the wordings, each "
            "steered at the layers its own labelling would have chosen (a permutation p), and Holm-corrected "
            "across features x contrasts x layers.</p>")
    if word == steering.NOT_RUN:
        return [head, "<p>Not run: steering is off (set <code>enabled = true</code> in <code>[steering]</code> or "
                      "pass <code>--steer</code>), or this run did not select its claim.</p>"]
    if word == steering.ERRORED:
        return [head, "<p>Steering was on but the claim did not finish: its rows in the results table say why.</p>"]
    experiment, model = evidence.experiment, evidence.model
    emotion = evidence._load_samples()["emotion"]
    layer_analysis = analysis.emotion_layers(emotion, evidence.layers, experiment)
    result, plan, stored = steering.run(experiment, model, SampleStore(experiment.cache_dir), emotion, layer_analysis,
                                        evidence.layers, generate_missing=False)
    alpha = experiment.thresholds.alpha
    if result.design_warning:
        head += (f"<p><b>{html.escape(result.design_warning)}.</b> On such wordings a model whose music follows "
                 "the words, with no emotion in it, is supported far more often than alpha, so a supported row "
                 "here is inconclusive.</p>")
    parts = [head, f"<p>Layers steered: {', '.join(map(str, result.layers))} ({html.escape(result.layer_choice)}); "
                   f"{result.rows[0].n_random} controls per contrast and layer; alphas {list(result.alphas)}; "
                   f"{result.n_extra_samples} steered samples.</p>",
             report.table(["layer", "contrast", "feature", "expected", "slope", "95% CI", "median control slope",
                           "rank p", "Holm p", "supported", "held-out separation"],
                          [[r.layer, f"{r.first} vs {r.second}", r.feature, "up" if r.sign > 0 else "down", r.slope,
                            f"{r.slope_ci[0]:.4g} to {r.slope_ci[1]:.4g}" if r.n_units > 1 else
                            "- (one prompt x seed)", r.random_slope_median, r.pvalue,
                            r.pvalue_holm, "yes" if r.pvalue_holm < alpha else "no", r.heldout_separation]
                           for r in result.rows], "emoprobe-steering")]
    for r in result.rows:
        parts.append(report.png_img(report.plot_dose_response(r), f"dose-response {r.feature} layer {r.layer}", 420))
    parts.append(_players(result, plan, stored))
    return parts


def _players(result, plan, stored) -> str:
    """The most negative alpha, 0 and the most positive of one seed along the first contrast's
    direction at the first layer."""
    first = result.rows[0]
    unit = plan[0].unit
    wanted = {min(result.alphas): None, 0.0: None, max(result.alphas): None}
    for item, sample in zip(plan, stored):
        if item.unit != unit or item.alpha not in wanted:
            continue
        if item.layer is None or (item.layer == first.layer and item.direction == f"{first.first}-{first.second}"):
            wanted[item.alpha] = (item, sample)
    players = []
    for a, found in sorted(wanted.items()):
        if found is None:
            continue
        item, sample = found
        audio, rate = sample.load_audio()
        players.append(report.audio_player(audio, rate, f"alpha {a:+g} along {first.first}-{first.second}, layer "
                                                        f"{first.layer}: {item.spec.prompt} (seed {item.spec.seed})"))
    return '<div class="emoprobe-players">' + "".join(players) + "</div>"
