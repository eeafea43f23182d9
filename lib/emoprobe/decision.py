"""The go/no-go rule: one small function over the run's outcomes.

Verdicts, checked in this order:

1. INCONCLUSIVE: fewer samples per emotion than the seed's minimum. Nothing
   else is read.  Then INCONCLUSIVE too when the positive control failed
   (``Outcome.positive_control``: some extreme contrast, "death metal" against
   "lullaby", separates in no layer): a method that cannot tell those apart
   can support neither a GO nor a NO-GO (review 30b: claim 8 was decisive in
   the run summary but never read by the rule).  Its pass is no evidence of
   emotion (a model with no emotion passes it, its prompts differing), only
   that the pipeline sees the prompts.
2. NO-GO: no layer is significant after correction across the layers
   tested (``correction``: "holm", or "maxt" for Westfall-Young step-down
   max-T; the experiment config names which). Activations show no emotion
   structure; the acoustics cannot change that.
3. PIVOT, explained by wording: layers are significant, but in none of them
   does the emotion effect survive the lexical control (same emotion does not
   predict wording-pair similarity beyond the text similarity, Holm-corrected
   across layers): the prompts' shared words account for the gap. Checked
   before the acoustics, which follow the words as readily as the emotion.
4. INCONCLUSIVE: some layer is significant, but the generated audio fails
   acoustic validation, so the activation difference cannot be attributed to
   emotion (it may be wording, or anything else the prompts differ in).
5. GO: a layer is significant after correction, its emotion effect survives
   the lexical control, and its gap reaches the minimum gap (the seed's 2%)
   by its lower confidence bound, not its point estimate:
   ``gap - z(1 - alpha / n_layers) * SE`` (SE from the wording-level
   bootstrap), a bound that holds for all analysed layers at once. Taking the
   largest point gap among the significant layers is a winner's curse: with a
   true gap of 0.015 at every layer the maximum reached 0.02 in 9 of 40 runs.
   A layer without a bootstrap SE falls back to its point gap (callers that
   skip the bootstrap; the suite always has one).
   GO also needs the acoustic check to have run and passed: with no acoustic
   contrast among the analysed emotions (or the acoustic claims deselected)
   the verdict is INCONCLUSIVE. And a GO on a reduced family (``--layers`` or
   ``--emotions`` subsets, ``Outcome.family``) is recorded as
   ``GO (reduced family)``, never as a full GO. Nor is there a GO when the
   wordings confine a word other than an emotion's own name to one emotion,
   or concentrate one in an emotion (``Outcome.words_confined``, from
   ``lexical.audit_design``): words and emotion are then confounded, and the
   lexical control, which models each shared word's pull, was measured to
   pass a word-only model too often there (INCONCLUSIVE).
6. PIVOT: significant after correction, but no such layer. The reason says
   "explained by wording" when a layer reaching the gap failed the lexical
   control, else "weak signal" (the seed's "consider the negative-result paper").

A layer whose lexical control did not run (``lexical_pvalue_holm`` None) is
not counted as explained by wording, but it cannot give GO either: like the
acoustic check, the lexical control must have run for a GO (INCONCLUSIVE
otherwise); the criteria table then says "not measured".

The thresholds are the run's config's, compared with the standard (``config.verdict_deviations``:
the seed's numbers, which the shipped experiment file must equal, its metric and correction, and
extreme pairs for the positive control).  A GO needs no setting looser (alpha 0.5,
``min_n_per_emotion = 5`` or a euclidean gap would otherwise reach GO by a config edit); a NO-GO
or PIVOT needs none that can make one (a stricter alpha, a looser sample gate, the gap line
moved either way, Holm, no extreme pairs).  Refused, the verdict is INCONCLUSIVE.

A run that selected a subset of the claims (``-k``) still gets a verdict, but
``partial`` is set and the report says the verdict covers only what ran; its
GO is recorded as ``GO (partial run)``, never as a full GO, so that a reader
of the record's ``verdict`` alone cannot take it for one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

GO, PIVOT, NO_GO, INCONCLUSIVE = "GO", "PIVOT", "NO-GO", "INCONCLUSIVE"
GO_REDUCED = "GO (reduced family)"
GO_PARTIAL = "GO (partial run)"
CORRECTIONS = ("holm", "maxt")


@dataclass(frozen=True)
class LayerOutcome:
    layer: int
    gap: float
    pvalue: float
    pvalue_holm: float
    pvalue_maxt: float | None = None
    gap_se: float | None = None  # bootstrap standard error of the gap (wording, then seed)
    lexical_pvalue_holm: float | None = None  # the emotion effect's p after the lexical control


@dataclass(frozen=True)
class Family:
    """What the run tested against what the experiment plans: the family the correction covers."""

    layers_analysed: int
    layers_total: int
    emotions_analysed: tuple[str, ...]
    emotions_total: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.layers_analysed >= self.layers_total and set(self.emotions_total) <= set(self.emotions_analysed)

    def describe(self) -> str:
        return (f"{self.layers_analysed} of {self.layers_total} layers, "
                f"{len(self.emotions_analysed)} of {len(self.emotions_total)} emotions")


@dataclass(frozen=True)
class Outcome:
    """What the claims measured, as the rule needs it."""

    min_n_per_emotion_seen: int | None  # None: the sample-size claim did not run
    layers: tuple[LayerOutcome, ...]
    acoustic_pass: bool | None  # None: acoustic claims did not run
    acoustic_worst_agreement: float | None = None
    family: Family | None = None  # None: not known (treated as complete)
    acoustic_worst_contrast: str | None = None  # e.g. "happy vs sad, mode"
    # The word-overlap audit's line when some word other than an emotion's own name is confined
    # to or concentrated in one emotion (``lexical.audit_warning``); None for a crossed design
    # or when not known.
    words_confined: str | None = None
    # Whether that audit's word-only null read words by meaning, through the model's own text
    # conditioning of each word (``design.audit(word_vectors=)``); None when not known.
    audit_read_word_embeddings: bool | None = None
    # What that null found and at what shape (``lexical.DesignAudit.simulation_line``), so the
    # record says what was audited; None when not known.
    audit_simulation: str | None = None
    # The positive control (claim 8): (extreme pairs that separate in some layer after Holm,
    # pairs tested); None when it did not run.
    positive_control: tuple[int, int] | None = None
    # Settings a run chose other than the standard's (``config.verdict_deviations``), each as
    # (description, can make a GO, can make a NO-GO or PIVOT); None when not compared.
    threshold_deviations: tuple[tuple[str, bool, bool], ...] | None = None


@dataclass(frozen=True)
class Criterion:
    name: str
    value: str
    threshold: str
    passed: bool | None  # None: not measured in this run


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str
    criteria: tuple[Criterion, ...]
    partial: bool = False
    best_layer: int | None = None
    significant_layers: tuple[int, ...] = field(default_factory=tuple)
    correction: str = "holm"
    family: str | None = None  # "6 of 48 layers, 2 of 4 emotions"; None when not known
    reduced_family: bool = False
    explained_by_wording: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def no_verdict(why: str, *, correction: str = "holm") -> Decision:
    """The record of a run whose decision could not be made: INCONCLUSIVE and partial, with no criteria.

    ``why`` is the failure (an exception's type and message); the reason says that
    the record holds no verdict, so that no reader takes it for a research result.
    """
    return Decision(INCONCLUSIVE, f"no verdict: the decision could not be made ({why})", (), partial=True,
                    correction=correction)


def lower_bound(lo: LayerOutcome, alpha: float, n_layers: int) -> float:
    """The gap's lower confidence bound, simultaneous over ``n_layers`` (Bonferroni); the point gap without an SE."""
    if lo.gap_se is None:
        return lo.gap
    from statistics import NormalDist

    return lo.gap - NormalDist().inv_cdf(1.0 - alpha / max(1, n_layers)) * lo.gap_se


def _crossed(outcome: Outcome) -> str:
    """The design criterion's value: what confounds, or how the crossing was checked; then what
    the word-only null found and at what shape, where it was simulated."""
    if outcome.words_confined:
        line = "no: " + outcome.words_confined.split(" (")[0]
    elif outcome.audit_read_word_embeddings is None:
        line = "yes or not known"
    elif outcome.audit_read_word_embeddings:
        line = "yes (its word-only null also read words by meaning, through the model's conditioner)"
    else:
        line = "yes, by words and subwords (the conditioner's word embeddings were not stored, so not by meaning)"
    return f"{line}; {outcome.audit_simulation}" if outcome.audit_simulation else line


def _deviations(outcome: Outcome) -> str:
    looser = [d for d, go, _ in outcome.threshold_deviations or () if go]
    other = [d for d, go, _ in outcome.threshold_deviations or () if not go]
    parts = ([f"looser: {'; '.join(looser)}"] if looser else []) + ([f"other: {'; '.join(other)}"] if other else [])
    return ", ".join(parts) or "the standard's"


def decide(outcome: Outcome, *, alpha: float, min_gap: float, min_n: int, acoustic_threshold: float,
           partial: bool = False, correction: str = "holm") -> Decision:
    """Apply the rule in the module docstring to ``outcome``.

    The layers are read in layer order, whatever order they arrive in (under
    xdist, claim rows arrive as workers finish), so the record is the same run to run.
    """
    outcome = replace(outcome, layers=tuple(sorted(outcome.layers, key=lambda lo: lo.layer)))
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if correction == "maxt" and any(lo.pvalue_maxt is None for lo in outcome.layers):
        raise ValueError("correction 'maxt' needs every layer's max-T p-value")
    name = "Holm" if correction == "holm" else "max-T"

    def corrected(lo: LayerOutcome) -> float:
        return lo.pvalue_holm if correction == "holm" else lo.pvalue_maxt  # type: ignore[return-value]

    n_layers = len(outcome.layers)
    significant = [lo for lo in outcome.layers if corrected(lo) < alpha]
    beyond_words = [lo for lo in significant if lo.lexical_pvalue_holm is None or lo.lexical_pvalue_holm < alpha]
    lexically_explained = [lo for lo in significant if lo not in beyond_words]
    bounds = {lo.layer: lower_bound(lo, alpha, n_layers) for lo in significant}
    reaching = [lo for lo in beyond_words if bounds[lo.layer] >= min_gap]
    best = max(outcome.layers, key=lambda lo: (corrected(lo) < alpha, lower_bound(lo, alpha, n_layers)), default=None)
    family = outcome.family
    reduced = family is not None and not family.complete

    n_seen = outcome.min_n_per_emotion_seen
    top_bound = max(bounds.values(), default=None)
    go_blocked_by = [d for d, go, _ in outcome.threshold_deviations or () if go]
    no_go_blocked_by = [d for d, _, moves in outcome.threshold_deviations or () if moves]
    control_passed = outcome.positive_control is not None and \
        outcome.positive_control[0] == outcome.positive_control[1] > 0
    criteria = (
        Criterion("samples per emotion", "not run" if n_seen is None else str(n_seen), f">= {min_n}",
                  None if n_seen is None else n_seen >= min_n),
        Criterion(f"layers significant after {name}", f"{len(significant)} of {n_layers}",
                  f"at least 1 at alpha {alpha}", bool(significant) if outcome.layers else None),
        Criterion("largest gap lower bound among significant layers (simultaneous over layers)",
                  f"{top_bound:.4f} (point gap {max(lo.gap for lo in significant):.4f})" if significant
                  else "no significant layer",
                  f">= {min_gap}", bool(reaching) if significant else None),
        Criterion("significant layers whose emotion effect survives the lexical control",
                  f"{len(beyond_words)} of {len(significant)}" if significant else "no significant layer",
                  f"at least 1 at Holm p < {alpha} after the text",
                  None if not significant or all(lo.lexical_pvalue_holm is None for lo in significant)
                  else bool(beyond_words)),
        Criterion("acoustic agreement (worst contrast)",
                  "not run" if outcome.acoustic_worst_agreement is None else
                  f"{outcome.acoustic_worst_agreement:.2f}"
                  + (f" ({outcome.acoustic_worst_contrast})" if outcome.acoustic_worst_contrast else ""),
                  f"> {acoustic_threshold}", outcome.acoustic_pass),
        Criterion("wordings cross words with emotions", _crossed(outcome), "no word but an emotion's own name confined to or concentrated in one",
                  False if outcome.words_confined else None),
        Criterion("positive control: extreme contrasts separate",
                  "not run" if outcome.positive_control is None else
                  f"{outcome.positive_control[0]} of {outcome.positive_control[1]} pairs",
                  f"every pair in some layer at Holm p < {alpha}",
                  None if outcome.positive_control is None else control_passed),
        Criterion("family tested", "not known" if family is None else family.describe(),
                  "the experiment's layers and emotions", None if family is None else family.complete),
        Criterion("thresholds and settings against the standard",
                  "not compared" if outcome.threshold_deviations is None else _deviations(outcome),
                  "none that could make the verdict",
                  None if outcome.threshold_deviations is None else not go_blocked_by),
    )

    def verdict(verdict_name: str, reason: str, explained: bool = False) -> Decision:
        if verdict_name in (NO_GO, PIVOT) and no_go_blocked_by:
            # A stricter alpha or a looser sample gate makes a NO-GO easier, a looser alpha turns a
            # NO-GO into a PIVOT, a stricter gap a GO into one (config.verdict_deviations).
            reason = (f"{verdict_name} by the rule ({reason}), but under settings other than the standard "
                      f"that can make one ({'; '.join(no_go_blocked_by)}): a NO-GO or PIVOT is given only "
                      "under the standard's")
            verdict_name, explained = INCONCLUSIVE, False
        return Decision(verdict_name, reason, criteria, partial, best.layer if best else None,
                        tuple(lo.layer for lo in significant), correction,
                        None if family is None else family.describe(), reduced, explained)

    def wording_reason() -> str:
        listed = ", ".join(f"layer {lo.layer} (gap {lo.gap:.4f}, p after the text {lo.lexical_pvalue_holm:.2g})"
                           for lo in lexically_explained)
        return (f"explained by wording: the emotion effect does not survive the lexical control in {listed}; "
                "same-emotion wordings are alike through the words they share")

    if n_seen is not None and n_seen < min_n:
        return verdict(INCONCLUSIVE, f"only {n_seen} samples for some emotion; the seed's gate is {min_n}")
    if outcome.positive_control is not None and not control_passed:
        return verdict(INCONCLUSIVE, f"the positive control failed: {outcome.positive_control[0]} of "
                                     f"{outcome.positive_control[1]} extreme contrasts separate in some layer, so "
                                     "the method itself is in doubt and neither GO nor NO-GO can rest on it")
    if not outcome.layers:
        return verdict(INCONCLUSIVE, "no layer was analysed in this run")
    if not significant:
        return verdict(NO_GO, f"no layer significant after {name} correction across {n_layers} layers")
    if not beyond_words:
        return verdict(PIVOT, wording_reason(), explained=True)
    if outcome.acoustic_pass is False:
        return verdict(INCONCLUSIVE, "activations differ, but the audio fails acoustic validation, "
                                     "so the difference cannot be attributed to emotion")
    if reaching:
        top = max(reaching, key=lambda lo: bounds[lo.layer])
        if top.lexical_pvalue_holm is None:
            return verdict(INCONCLUSIVE, f"layer {top.layer} reaches the gap, but GO needs the lexical control "
                                         "(emotion beyond the words) and it did not run")
        if outcome.acoustic_pass is None:
            return verdict(INCONCLUSIVE, f"layer {top.layer} reaches the gap, but GO needs the acoustic check and "
                                         "none ran (no acoustic contrast among the analysed emotions, or the "
                                         "acoustic claims were not selected)")
        if outcome.words_confined:
            return verdict(INCONCLUSIVE, f"layer {top.layer} reaches the gap and survives the lexical control, but "
                                         f"the design confounds words with emotions ({outcome.words_confined}): "
                                         "no text model separates them reliably. Rerun on a crossed design "
                                         "(configs/experiment.toml)")
        if outcome.audit_read_word_embeddings is False:
            return verdict(INCONCLUSIVE, f"layer {top.layer} reaches the gap and survives the lexical control, but "
                                         "the word-overlap audit could not read the model's text conditioning "
                                         "of each word of the design (missing or damaged under the cache's "
                                         "text/), so wordings whose words lean on the emotions by meaning are "
                                         "not ruled out. Rerun: the lexical control stores them again")
        if go_blocked_by:
            return verdict(INCONCLUSIVE, f"layer {top.layer} reaches the gap, but under settings looser than "
                                         f"the standard ({'; '.join(go_blocked_by)}): "
                                         "a GO needs the standard's or stricter ones")
        reason = (f"layer {top.layer}: gap {top.gap:.4f}, lower bound {bounds[top.layer]:.4f} >= {min_gap}, "
                  f"{name} p {corrected(top):.2g} < {alpha}")
        if partial:
            return verdict(GO_PARTIAL, f"{reason}; in a partial run, which covers only the claims that ran, "
                                       "not a full GO: rerun every claim")
        if reduced:
            return verdict(GO_REDUCED, f"{reason}; on a reduced family ({family.describe()}), "  # type: ignore[union-attr]
                                       "not a full GO: rerun on every layer and emotion")
        return verdict(GO, reason)
    if any(bounds[lo.layer] >= min_gap for lo in lexically_explained):
        return verdict(PIVOT, wording_reason(), explained=True)
    return verdict(PIVOT, f"{len(significant)} layer(s) significant after correction, "
                          f"but none reaches the {min_gap} gap by its lower bound (weak signal)")
