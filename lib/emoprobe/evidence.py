"""The report's evidence sections: what the verdict's numbers rest on, shown as plots, tables and audio.

The sections: per-layer plots and tables, causal evidence (steering), the lexical
control, the word audit, similarity heatmaps, acoustics, audio, the listening
check, power, trend and replication.

Built on the controller at the end of a run from the sample store and the
memoised analyses (the workers filled both), and from the claims' recorded
numbers. Each section is guarded: one that cannot be built says why, and the
report still renders (the claims have already reported the failure).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from . import analysis, listen, report

if TYPE_CHECKING:
    from .config import ExperimentConfig
    from .models import ModelInfo

ACOUSTIC_PLOT_FEATURES = ("tempo_bpm", "centroid_mean_hz", "rms", "onset_rate")


class Evidence:
    """One model's evidence sections.

    ``claims``: this model's recorded claim rows; ``history``: its history lines
    (this run's included); ``replication``: its record's replication (or None);
    ``listening``: gives the scored listening check and, if none, why (``listen.result_for_run``);
    called only when the experiment names listening records; ``causal_evidence``: the record's
    steering word, which the steering section shows rather than working it out again.
    """

    def __init__(self, experiment: ExperimentConfig, model: ModelInfo, layers: Sequence[int],
                 claims: Sequence[Mapping], history: Sequence[Mapping], replication: Mapping | None,
                 listening: Callable[[], tuple], causal_evidence: str | None = None,
                 word_vectors: Mapping | None = None):
        self.experiment = experiment
        self.model = model
        self.layers = layers
        self.claims = claims
        self.history = list(history)
        self.replication = replication
        self.listening = listening
        self.causal_evidence = causal_evidence  # the record's word (steering), when the record has one
        self.word_vectors = word_vectors  # the conditioner's word embeddings the verdict's audit read (or None)

    def claim_rows(self, claim: str) -> list[Mapping]:
        return [c for c in self.claims if c["claim"] == claim]

    def sections(self) -> list[str]:
        """Plots and audio built from the store; a section that cannot be built says why."""
        sections = []
        try:
            samples = self._load_samples()
        except Exception as err:  # the claims already report the failure; the report must still render
            return [report.section("Evidence", f"<p>Samples could not be loaded: {err}</p>")]
        emotion = samples["emotion"]
        sections.append(self._guarded("Per-layer evidence", lambda: self._per_layer(emotion)))
        sections.append(self._guarded("Causal evidence: steering", self._steering))
        sections.append(self._guarded("Emotion beyond the words", self._beyond_words))
        sections.append(self._guarded("Word-overlap audit", self._audit))
        sections.append(self._guarded("Similarity heatmaps", lambda: self._heatmaps(emotion)))
        sections.append(self._guarded("Acoustics per emotion", lambda: self._acoustics(emotion)))
        sections.append(self._guarded("Listen to the samples", lambda: self._audio(emotion)))
        if self.experiment.listening.records:
            sections.append(self._guarded("Listening check", lambda: listen.report_section(*self.listening())))
        sections.append(self._guarded("Power of the gap test (simulated)", self._power))
        sections.append(self._guarded("Trend across runs", self._trend))
        sections.append(self._guarded("Replication across nights", self._replication))
        return sections

    def _guarded(self, title, build) -> str:
        try:
            return report.section(title, build())
        except Exception as err:
            return report.section(title, f"<p>Not available: {type(err).__name__}: {err}</p>")

    def _load_samples(self):
        from .dataset import collect_samples
        from .store import SampleStore

        # Load only: the controller never generates (the workers did, or failed and said so).
        sets, _ = collect_samples(self.experiment, self.model, SampleStore(self.experiment.cache_dir),
                                  progress=False, generate_missing=False)
        return sets

    def _per_layer(self, emotion) -> list[str]:
        """Gap and corrected p per layer as plots, and every claim's per-layer number as one table."""
        thresholds = self.experiment.thresholds
        layer_analysis = analysis.emotion_layers(emotion, self.layers, self.experiment)
        parts = [report.png_img(report.plot_layer_gaps(layer_analysis, thresholds.min_gap), "gap per layer", 640),
                 report.png_img(report.plot_corrected_pvalues(layer_analysis, thresholds.alpha), "p per layer", 640)]
        metric_p = {(r["layer"], r["metric"]): r["pvalue"] for r in self.claim_rows("metric")}
        probe = {r["layer"]: r for r in self.claim_rows("probe")}
        mantel = {r["layer"]: r for r in self.claim_rows("acoustic_guided")}
        metrics = sorted({m for _, m in metric_p})
        header = ["layer", "gap", "95% CI", "p", "Holm p", "effect class",
                  *[f"p ({m})" for m in metrics], "probe accuracy (chance)", "Mantel r"]
        rows = []
        for r in layer_analysis.layers:
            ci = f"{r.ci.low:.4f} to {r.ci.high:.4f}" if r.ci else "-"
            acc = f"{probe[r.layer]['accuracy']:.2f} ({probe[r.layer]['chance']:.2f})" if r.layer in probe else "-"
            rows.append([r.layer, r.statistic, ci, r.pvalue, r.pvalue_holm, r.effect_class,
                         *[metric_p.get((r.layer, m)) for m in metrics], acc,
                         mantel[r.layer]["statistic"] if r.layer in mantel else None])
        parts.append(report.table(header, rows, "emoprobe-layers"))
        return parts

    def _steering(self) -> list[str]:
        from . import steering_report

        return steering_report.section(self)

    def _beyond_words(self) -> list[str]:
        """Per layer, the emotion effect on wording-pair similarity before and after the lexical control."""
        rows = sorted(self.claim_rows("lexical"), key=lambda r: r["layer"])
        if not rows:
            return ["<p>The lexical control (claim 12) did not run.</p>"]
        header = ["layer", "effect before the text", "p before", "effect after the text", "partial r",
                  "p after", "Holm p after", "text R²", "survives"]
        alpha = self.experiment.thresholds.alpha
        table = report.table(header, [[r["layer"], r["effect_raw"], r["pvalue_raw"], r["effect_controlled"],
                                       r["partial_r"], r["pvalue"], r["pvalue_holm"], r["text_r2"],
                                       "yes" if r["pvalue_holm"] < alpha else "no"] for r in rows],
                             "emoprobe-lexical")
        return ["<p>Same-emotion minus different-emotion similarity of wording pairs, then the same-emotion "
                "coefficient once the text similarities (the model's text conditioning, content-word TF-IDF, "
                "words confined to one emotion) are in the regression; p from permuting the emotion labels of "
                "whole wordings with the text fixed.</p>", table]

    def _audit(self) -> list[str]:
        from . import design
        from .lexical import word_audit

        max_share = self.experiment.thresholds.max_word_same_emotion_share
        sizes = self.claim_rows("sample_size")
        wordings, audit = design.audit_experiment(self.experiment, sizes[0].get("wording_counts") if sizes else None,
                                                  word_vectors=self.word_vectors)
        flagged = {w for words in audit.confined.values() for w in words} | \
            {w for words in audit.concentrated.values() for w, _ in words}

        def status(r) -> str:
            if r.own_name:
                return "emotion name"
            if r.word not in flagged:
                return "shared"
            return "CONFINED to one emotion" if r.confined else "CONCENTRATED in one emotion"

        rows = [[r.word, ", ".join(r.emotions), r.n_wordings,
                 "" if r.same_emotion_share is None else f"{r.same_emotion_share:.2f}", status(r)]
                for r in word_audit(wordings)]       # the wordings the audit read, so rows and flags agree
        warning = audit.warning()
        note = f"<p><b>{html.escape(warning)}</b></p>" if warning else (
            "<p>No word other than an emotion's own name is confined to one emotion, none has more than "
            f"{max_share:.2f} of the wording pairs sharing it within one emotion, and on word-only models of "
            f"these wordings the gap test and the lexical control both passed in at most "
            f"{audit.word_only_rate:.3f} of simulated datasets ({audit.word_only_limit:.3f} allowed)"
            + (", one of them reading words by meaning through this model's text conditioning of each word"
               if audit.read_word_embeddings else
               "; none read words by meaning: the model's text conditioning of each word was not stored")
            + ".</p>")
        return [note, report.table(["word", "emotions using it", "wordings", "same-emotion share of its pairs",
                                    "status"], rows, "emoprobe-audit")]

    def _heatmaps(self, emotion) -> list[str]:
        layer_analysis = analysis.emotion_layers(emotion, self.layers, self.experiment)
        metric = self.experiment.statistics.metric
        best, middle = analysis.best_layer(layer_analysis), analysis.middle_layer(self.layers)
        parts = []
        for layer, why in ((best, "best layer"), (middle, "middle layer")):
            S = analysis.similarity(emotion, layer, metric)
            parts.append(report.png_img(report.plot_similarity_heatmap(
                S, emotion.conditions, f"layer {layer} ({why}), {metric}"), f"similarity layer {layer}", 420))
        return parts

    def _acoustics(self, emotion) -> str:
        features = analysis.acoustic_features(emotion, self.experiment, progress=False)
        grouped = analysis.features_by_condition(emotion, features)
        return (report.png_img(report.plot_acoustic_boxes(grouped, ACOUSTIC_PLOT_FEATURES), "acoustic features", 900)
                + report.png_img(report.plot_mode_shares(grouped), "mode per emotion", 420))

    def _audio(self, emotion, per_emotion: int = 2) -> str:
        players = []
        for condition in self.experiment.emotions:
            for sample in [s for s in emotion.samples if s.spec.condition == condition][:per_emotion]:
                audio, rate = sample.load_audio()
                players.append(report.audio_player(audio, rate, f"{condition}: {sample.spec.prompt} (seed {sample.spec.seed})"))
        return '<div class="emoprobe-players">' + "".join(players) + "</div>"

    def _power(self) -> str:
        from . import design, stats
        from .truth import synthetic

        # The run's own permutation count, layers and design, not a generic curve.
        thresholds, experiment = self.experiment.thresholds, self.experiment
        wordings = min(len(p) for p in experiment.emotions.values())
        seeds = max(1, experiment.n_per_emotion // wordings)
        settings = dict(alpha=thresholds.alpha, n_permutations=experiment.statistics.n_permutations,
                        n_layers=len(self.layers))
        payload = {**settings, "min_gap": thresholds.min_gap, "wordings": wordings, "seeds": seeds,
                   "emotions": len(experiment.emotions), "v": 2}

        def compute():
            curve = stats.power_curve(synthetic.planted_activations, min_gap=thresholds.min_gap, n_per_emotion=wordings * seeds,
                                      n_seeds_per_prompt=seeds, n_emotions=len(experiment.emotions), n_sim=100,
                                      **settings, **synthetic.seed_like_geometry())
            n80 = design.n_for_power(thresholds.min_gap, len(experiment.emotions), wordings, target=0.8,
                                     correction=experiment.statistics.correction, n_sim=60, **settings)
            return curve, n80

        curve, n80 = analysis.memoised(experiment.cache_dir, "power_curve", payload, compute)
        where = (f"{n80} samples per emotion" if n80 is not None
                 else f"no N up to {wordings * 40} per emotion")
        return (report.png_img(report.plot_power_curve(curve), "power curve", 480)
                + f"<p>Simulated with this run's {settings['n_permutations']} permutations and the correction over "
                  f"{settings['n_layers']} layers (one true layer detected at p &lt; alpha / layers), "
                  f"{wordings} wordings x {seeds} seeds per emotion, on the seed's geometry. The planted gap "
                  f"{thresholds.min_gap} reaches 80% power at {where}.</p>")

    def _replication(self) -> list[str]:
        rep = self.replication
        if not rep:
            return ["<p>Not computed: a partial run, or one on a reduced family, is not a replicate.</p>"]
        if rep["n_nights"] < 2:
            return [f"<p>{rep['n_nights']} complete night of this configuration so far; "
                    "the replication appears from the second on.</p>"]
        rows = [[r["layer"], r["n_nights"], r["mean_gap"],
                 "-" if r["ci_low"] is None else f"{r['ci_low']:.4f} to {r['ci_high']:.4f}",
                 r["combined_p"], r["combined_p_holm"]] for r in rep["layers"]]
        return [f"<p><b>{rep['summary']}</b> of this configuration (design hash {rep['design_hash'][:12]}, any seed). "
                "Each night is an independent replicate on new seeds: the interval is over nights' gaps, "
                "and the combined p is Stouffer's over the nights' permutation p-values (a replication test, "
                "not pooled data), Holm-corrected across layers. Each seed counts once (a rerun reads the same samples); "
                f"partial or interrupted runs and other configurations are left out ({rep['excluded']} line(s)).</p>",
                report.table(["layer", "nights", "mean gap", "95% CI across nights", "combined p (Stouffer)",
                              "Holm"], rows, "emoprobe-replication")]

    def _trend(self) -> str:
        rows = self.history
        if len(rows) < 2:
            return "<p>The trend appears from the second run on.</p>"
        return report.png_img(report.plot_history(rows[-30:]), "history", 700)
