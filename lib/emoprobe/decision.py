"""The go/no-go rule: one small function over the run's outcomes.

Verdicts, checked in this order:

1. INCONCLUSIVE: fewer samples per emotion than the seed's minimum. Nothing
   else is read.
2. NO-GO: no layer is significant after Holm correction across the layers
   tested. Activations show no emotion structure; the acoustics cannot change
   that.
3. PIVOT, explained by wording: layers are significant, but in none of them
   does the emotion effect survive the lexical control (same emotion does not
   predict wording-pair similarity beyond the text similarity, Holm-corrected
   across layers): the prompts' shared words account for the gap. Checked
   before the acoustics, which follow the words as readily as the emotion.
4. INCONCLUSIVE: some layer is significant, but the generated audio fails
   acoustic validation, so the activation difference cannot be attributed to
   emotion (it may be wording, or anything else the prompts differ in).
5. GO: a layer is significant after correction, its within-minus-between gap
   reaches the minimum gap (the seed's 2%), and its emotion effect survives the
   lexical control.
6. PIVOT: significant after correction, but no such layer. The reason says
   "explained by wording" when a layer reaching the gap failed the lexical
   control, else "weak signal" (the seed's "consider the negative-result paper").

A layer whose lexical control did not run (``lexical_pvalue_holm`` None) is
not held back by it, as acoustics that did not run do not hold back GO; the
criteria table then says "not measured".

A run that selected a subset of the claims (``-k``) still gets a verdict, but
``partial`` is set and the report says the verdict covers only what ran.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

GO, PIVOT, NO_GO, INCONCLUSIVE = "GO", "PIVOT", "NO-GO", "INCONCLUSIVE"


@dataclass(frozen=True)
class LayerOutcome:
    layer: int
    gap: float
    pvalue: float
    pvalue_holm: float
    lexical_pvalue_holm: float | None = None  # the emotion effect's p after the lexical control


@dataclass(frozen=True)
class Outcome:
    """What the claims measured, as the rule needs it."""

    min_n_per_emotion_seen: int | None  # None: the sample-size claim did not run
    layers: tuple[LayerOutcome, ...]
    acoustic_pass: bool | None  # None: acoustic claims did not run
    acoustic_worst_agreement: float | None = None


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
    explained_by_wording: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def decide(outcome: Outcome, *, alpha: float, min_gap: float, min_n: int, acoustic_threshold: float,
           partial: bool = False) -> Decision:
    """Apply the rule in the module docstring to ``outcome``."""
    significant = [lo for lo in outcome.layers if lo.pvalue_holm < alpha]
    beyond_words = [lo for lo in significant if lo.lexical_pvalue_holm is None or lo.lexical_pvalue_holm < alpha]
    lexically_explained = [lo for lo in significant if lo not in beyond_words]
    reaching = [lo for lo in beyond_words if lo.gap >= min_gap]
    best = max(outcome.layers, key=lambda lo: (lo.pvalue_holm < alpha, lo.gap), default=None)

    n_seen = outcome.min_n_per_emotion_seen
    criteria = (
        Criterion("samples per emotion", "not run" if n_seen is None else str(n_seen), f">= {min_n}",
                  None if n_seen is None else n_seen >= min_n),
        Criterion("layers significant after Holm", f"{len(significant)} of {len(outcome.layers)}",
                  f"at least 1 at alpha {alpha}", bool(significant) if outcome.layers else None),
        Criterion("largest gap among significant layers",
                  f"{max(lo.gap for lo in significant):.4f}" if significant else "no significant layer",
                  f">= {min_gap}", bool(reaching) if significant else None),
        Criterion("significant layers whose emotion effect survives the lexical control",
                  f"{len(beyond_words)} of {len(significant)}" if significant else "no significant layer",
                  f"at least 1 at Holm p < {alpha} after the text",
                  None if not significant or all(lo.lexical_pvalue_holm is None for lo in significant)
                  else bool(beyond_words)),
        Criterion("acoustic agreement (worst contrast)",
                  "not run" if outcome.acoustic_worst_agreement is None else f"{outcome.acoustic_worst_agreement:.2f}",
                  f"> {acoustic_threshold}", outcome.acoustic_pass),
    )

    def verdict(name: str, reason: str, explained: bool = False) -> Decision:
        return Decision(name, reason, criteria, partial, best.layer if best else None,
                        tuple(lo.layer for lo in significant), explained)

    def wording_reason() -> str:
        listed = ", ".join(f"layer {lo.layer} (gap {lo.gap:.4f}, p after the text {lo.lexical_pvalue_holm:.2g})"
                           for lo in lexically_explained)
        return (f"explained by wording: the emotion effect does not survive the lexical control in {listed}; "
                "same-emotion wordings are alike through the words they share")

    if n_seen is not None and n_seen < min_n:
        return verdict(INCONCLUSIVE, f"only {n_seen} samples for some emotion; the seed's gate is {min_n}")
    if not outcome.layers:
        return verdict(INCONCLUSIVE, "no layer was analysed in this run")
    if not significant:
        return verdict(NO_GO, f"no layer significant after Holm correction across {len(outcome.layers)} layers")
    if not beyond_words:
        return verdict(PIVOT, wording_reason(), explained=True)
    if outcome.acoustic_pass is False:
        return verdict(INCONCLUSIVE, "activations differ, but the audio fails acoustic validation, "
                                     "so the difference cannot be attributed to emotion")
    if reaching:
        top = max(reaching, key=lambda lo: lo.gap)
        return verdict(GO, f"layer {top.layer}: gap {top.gap:.4f} >= {min_gap}, Holm p {top.pvalue_holm:.2g} < {alpha}")
    if any(lo.gap >= min_gap for lo in lexically_explained):
        return verdict(PIVOT, wording_reason(), explained=True)
    return verdict(PIVOT, f"{len(significant)} layer(s) significant after correction, "
                          f"but none reaches the {min_gap} gap (weak signal)")
