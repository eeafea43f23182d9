"""The go/no-go rule: one small function over the run's outcomes.

Verdicts, checked in this order:

1. INCONCLUSIVE: fewer samples per emotion than the seed's minimum. Nothing
   else is read.
2. NO-GO: no layer is significant after Holm correction across the layers
   tested. Activations show no emotion structure; the acoustics cannot change
   that.
3. INCONCLUSIVE: some layer is significant, but the generated audio fails
   acoustic validation, so the activation difference cannot be attributed to
   emotion (it may be wording, or anything else the prompts differ in).
4. GO: a layer is significant after correction and its within-minus-between
   gap reaches the minimum gap (the seed's 2%).
5. PIVOT: significant after correction, but no significant layer reaches the
   minimum gap (the seed's "weak signal: consider the negative-result paper").

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


@dataclass(frozen=True)
class Outcome:
    """What the claims measured, as the rule needs it."""

    min_n_per_emotion_seen: int | None  # None: the sample-size claim did not run
    layers: tuple[LayerOutcome, ...]
    acoustic_pass: bool | None  # None: acoustic claims did not run
    acoustic_worst_agreement: float | None = None
    acoustic_worst_contrast: str | None = None  # e.g. "happy vs sad, mode"


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

    def to_dict(self) -> dict:
        return asdict(self)


def decide(outcome: Outcome, *, alpha: float, min_gap: float, min_n: int, acoustic_threshold: float,
           partial: bool = False) -> Decision:
    """Apply the rule in the module docstring to ``outcome``."""
    significant = [lo for lo in outcome.layers if lo.pvalue_holm < alpha]
    reaching = [lo for lo in significant if lo.gap >= min_gap]
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
        Criterion("acoustic agreement (worst contrast)",
                  "not run" if outcome.acoustic_worst_agreement is None else
                  f"{outcome.acoustic_worst_agreement:.2f}"
                  + (f" ({outcome.acoustic_worst_contrast})" if outcome.acoustic_worst_contrast else ""),
                  f"> {acoustic_threshold}", outcome.acoustic_pass),
    )

    def verdict(name: str, reason: str) -> Decision:
        return Decision(name, reason, criteria, partial, best.layer if best else None,
                        tuple(lo.layer for lo in significant))

    if n_seen is not None and n_seen < min_n:
        return verdict(INCONCLUSIVE, f"only {n_seen} samples for some emotion; the seed's gate is {min_n}")
    if not outcome.layers:
        return verdict(INCONCLUSIVE, "no layer was analysed in this run")
    if not significant:
        return verdict(NO_GO, f"no layer significant after Holm correction across {len(outcome.layers)} layers")
    if outcome.acoustic_pass is False:
        return verdict(INCONCLUSIVE, "activations differ, but the audio fails acoustic validation, "
                                     "so the difference cannot be attributed to emotion")
    if reaching:
        top = max(reaching, key=lambda lo: lo.gap)
        return verdict(GO, f"layer {top.layer}: gap {top.gap:.4f} >= {min_gap}, Holm p {top.pvalue_holm:.2g} < {alpha}")
    return verdict(PIVOT, f"{len(significant)} layer(s) significant after correction, "
                          f"but none reaches the {min_gap} gap (weak signal)")
