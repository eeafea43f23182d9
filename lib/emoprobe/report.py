"""What the go/no-go report shows: plots, HTML fragments, the decision record, the history.

Plain functions: plots return PNG bytes, fragments return HTML strings, so
the pytest plugin only places them. Everything is self-contained (images and
audio as data URIs), because the report is passed around as one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .decision import GO, GO_PARTIAL, GO_REDUCED, INCONCLUSIVE, NO_GO, PIVOT, Decision

VERDICT_COLOURS = {GO: "#1a7f37", GO_REDUCED: "#4d8f5f", GO_PARTIAL: "#4d8f5f", PIVOT: "#b58100", NO_GO: "#cf222e", INCONCLUSIVE: "#57606a"}


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _figure()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return compact_png(buffer.getvalue())


def compact_png(png: bytes) -> bytes:
    """A plot as a 256-colour PNG: plots use few colours, and an adaptive palette without
    dithering draws them the same at about 40% of the bytes of matplotlib's RGBA."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = io.BytesIO()
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(small, format="PNG",
                                                                                         optimize=True)
    return small.getvalue()


def _integer_layers(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer")


# Axis label of each acoustic feature, with its unit.
FEATURE_UNITS = {
    "tempo_bpm": "tempo (BPM)", "centroid_mean_hz": "spectral centroid, mean (Hz)",
    "centroid_median_hz": "spectral centroid, median (Hz)", "rms": "RMS level (full scale = 1)",
    "rms_dbfs": "RMS level (dBFS)", "loudness_db": "loudness (LUFS)", "onset_rate": "onsets per second",
    "key_strength": "key strength (correlation)",
}


def png_img(png: bytes, alt: str, width: int = 520) -> str:
    data = base64.b64encode(png).decode()
    return f'<img class="emoprobe-plot" alt="{html.escape(alt)}" width="{width}" src="data:image/png;base64,{data}"/>'


def plot_layer_gaps(analysis, min_gap: float) -> bytes:
    """The gap of each layer with its bootstrap CI, against the minimum-gap line."""
    plt = _figure()
    layers = [r.layer for r in analysis.layers]
    gaps = np.array([r.statistic for r in analysis.layers])
    low = np.array([r.ci.low if r.ci else r.statistic for r in analysis.layers])
    high = np.array([r.ci.high if r.ci else r.statistic for r in analysis.layers])
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.errorbar(layers, gaps, yerr=[gaps - low, high - gaps], fmt="o", ms=4, capsize=2, label="gap (95% CI)")
    ax.axhline(min_gap, color="#cf222e", ls="--", label=f"minimum gap {min_gap}")
    ax.axhline(0, color="grey", lw=0.8)
    _integer_layers(ax)
    ax.set_ylabel("within - between similarity")
    ax.set_title("Within-minus-between gap per layer")
    ax.legend(fontsize=8)
    return _png(fig)


def plot_corrected_pvalues(analysis, alpha: float) -> bytes:
    """Uncorrected and Holm-corrected p of each layer, against alpha (log scale)."""
    plt = _figure()
    layers = [r.layer for r in analysis.layers]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.semilogy(layers, [r.pvalue for r in analysis.layers], "o", mfc="none", label="uncorrected p")
    ax.semilogy(layers, [r.pvalue_holm for r in analysis.layers], "s", ms=4, label="Holm-corrected p")
    ax.axhline(alpha, color="#cf222e", ls="--", label=f"alpha {alpha}")
    _integer_layers(ax)
    ax.set_ylabel("p (log scale)")
    ax.set_title("Label-permutation p per layer")
    ax.legend(fontsize=8)
    return _png(fig)


def plot_similarity_heatmap(similarity: np.ndarray, labels: Sequence[str], title: str) -> bytes:
    """Sample-by-sample similarity, ordered by label, with label boundaries drawn."""
    plt = _figure()
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    image = ax.imshow(similarity[np.ix_(order, order)], cmap="viridis")
    fig.colorbar(image, ax=ax, shrink=0.8)
    sorted_labels = labels[order]
    edges = [i for i in range(1, len(sorted_labels)) if sorted_labels[i] != sorted_labels[i - 1]]
    for edge in edges:
        ax.axhline(edge - 0.5, color="white", lw=0.8)
        ax.axvline(edge - 0.5, color="white", lw=0.8)
    starts = [0, *edges]
    ends = [*edges, len(sorted_labels)]
    ticks = [(s + e - 1) / 2 for s, e in zip(starts, ends)]
    ax.set_xticks(ticks, [sorted_labels[s] for s in starts], rotation=45, fontsize=8)
    ax.set_yticks(ticks, [sorted_labels[s] for s in starts], fontsize=8)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def plot_acoustic_boxes(features_by_emotion: Mapping[str, Sequence], names: Sequence[str]) -> bytes:
    """One box plot per acoustic feature (with its unit), a box per emotion."""
    plt = _figure()
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0))
    axes = np.atleast_1d(axes)
    emotions = list(features_by_emotion)
    for ax, name in zip(axes, names):
        ax.boxplot([[getattr(f, name) for f in features_by_emotion[e]] for e in emotions])
        ax.set_xticks(range(1, len(emotions) + 1), emotions, rotation=30, fontsize=8)
        ax.set_ylabel(FEATURE_UNITS.get(name, name), fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    return _png(fig)


def plot_mode_shares(features_by_emotion: Mapping[str, Sequence]) -> bytes:
    """Share of each emotion's samples the key estimator reads as minor."""
    plt = _figure()
    emotions = list(features_by_emotion)
    shares = [np.mean([f.mode == "minor" for f in features_by_emotion[e]]) if features_by_emotion[e] else np.nan
              for e in emotions]
    fig, ax = plt.subplots(figsize=(1.2 * len(emotions) + 2, 3.0))
    ax.bar(range(len(emotions)), shares, color="#57606a")
    ax.set_xticks(range(len(emotions)), emotions, rotation=30, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of samples in minor")
    ax.set_title("Mode per emotion", fontsize=9)
    return _png(fig)


def plot_power_curve(curve) -> bytes:
    """Detection rate against planted gap, from ``stats.power_curve``."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.errorbar(curve.effects, curve.power, yerr=curve.power_se, fmt="o-", ms=4, label="p < alpha")
    if getattr(curve, "power_min_gap", None) is not None:
        ax.plot(curve.effects, curve.power_min_gap, "s--", ms=4, label="p < alpha and gap >= min gap")
    ax.axhline(curve.alpha, color="grey", ls=":", label=f"alpha {curve.alpha}")
    ax.set_xlabel("planted within-minus-between gap")
    ax.set_ylabel("detection rate")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Power of the gap test, {curve.n_per_emotion} per emotion (simulated)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return _png(fig)


def plot_history(rows: Sequence[dict]) -> bytes:
    """Key numbers across runs (nightly trend): the best gap on the left axis, the
    share of layers significant after Holm on its own right axis."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(rows))
    gap_line = ax.plot(x, [np.nan if r.get("best_gap") is None else r["best_gap"] for r in rows], "o-",
                       color="#0969da", label="best layer's gap")
    ax.set_ylabel("best layer's gap (within - between)")
    share = ax.twinx()
    share_line = share.plot(x, [r.get("n_significant_holm", np.nan) / max(r.get("n_layers", 1), 1) for r in rows],
                            "s--", color="#bf3989", label="share of layers significant (Holm)")
    share.set_ylim(-0.02, 1.02)
    share.set_ylabel("share of layers significant")
    ax.set_xticks(x, [f"{r.get('date', '')[:10]}\n{r.get('verdict', '')}" for r in rows], fontsize=7)
    ax.set_title("Across runs")
    ax.legend(gap_line + share_line, [line.get_label() for line in gap_line + share_line], fontsize=8,
              loc="upper left")
    return _png(fig)


def plot_dose_response(row) -> bytes:
    """A steering row's feature against alpha: the emotion direction with its 95% CI, against its controls' band."""
    plt = _figure()
    dose = row.dose
    alphas = np.array(dose.alphas)
    mean = np.array(dose.mean)
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    ax.fill_between(alphas, dose.band_low, dose.band_high, color="#bbbbbb", alpha=0.6,
                    label=f"{row.n_random} relabelled controls, each at its own chosen layer (95%)")
    ax.errorbar(alphas, mean, yerr=[mean - np.array(dose.low), np.array(dose.high) - mean], fmt="o-", ms=4,
                capsize=2, color="#1a7f37", label=f"{row.first} - {row.second} direction (95% CI)")
    ax.set_xlabel(f"alpha (x typical pooled residual norm), direction at layer {row.layer}")
    ax.set_ylabel("share in major" if row.feature == "mode" else FEATURE_UNITS.get(row.feature, row.feature))
    ax.set_title(f"{row.feature}: Holm p = {row.pvalue_holm:.3g}", fontsize=10)
    ax.legend(fontsize=7)
    return _png(fig)


def audio_player(audio: np.ndarray, sample_rate: int, caption: str, max_seconds: float = 4.0,
                 target_rate: int = 16000) -> str:
    """An HTML audio element with the clip inline as Ogg Opus (about 15 kB for 4 s, a tenth
    of 16-bit WAV), its length and rate in the caption. Opus accepts 8, 12, 16, 24
    or 48 kHz, so the clip is resampled to ``target_rate``."""
    import soundfile
    from scipy.signal import resample_poly

    clip = np.asarray(audio, dtype=np.float64)[: int(max_seconds * sample_rate)]
    if sample_rate != target_rate:
        clip = resample_poly(clip, target_rate, sample_rate)
    peak = np.max(np.abs(clip)) if clip.size else 0.0
    if peak > 1.0:
        clip = clip / peak
    buffer = io.BytesIO()
    soundfile.write(buffer, clip.astype(np.float32), target_rate, format="OGG", subtype="OPUS")
    data = base64.b64encode(buffer.getvalue()).decode()
    label = f"{caption} ({clip.size / target_rate:.1f} s, {target_rate / 1000:g} kHz)"
    return (f'<figure class="emoprobe-audio"><figcaption>{html.escape(label)}</figcaption>'
            f'<audio controls preload="none" src="data:audio/ogg;base64,{data}"></audio></figure>')


def verdict_banner(decision: Decision, model_label: str, is_random: bool, suffix: str = "") -> str:
    """The verdict banner; ``suffix`` keeps element ids unique when several models share a report."""
    colour = VERDICT_COLOURS.get(decision.verdict, "#57606a")
    parts = [f'<div id="emoprobe-verdict{suffix}" class="emoprobe-verdict" style="background:{colour};color:white;'
             f'padding:14px 18px;border-radius:6px;margin:10px 0;font-size:20px">'
             f'<b>Verdict: {html.escape(decision.verdict)}</b> &mdash; {html.escape(decision.reason)}</div>']
    if decision.partial:
        parts.append('<div class="emoprobe-partial" style="background:#fff8c5;padding:8px 14px;border:1px solid #d4a72c">'
                     'Partial run: only some claims were selected (-k or a file subset). This verdict covers '
                     'only what ran.</div>')
    if is_random:
        parts.append(f'<div id="emoprobe-random-model{suffix}" style="background:#ffebe9;border:2px solid #cf222e;'
                     'padding:10px 14px;margin:8px 0;font-weight:bold">'
                     f'Model: {html.escape(model_label)}. This model has random weights: the report checks the '
                     'pipeline and says nothing about MusicGen. Run with --model facebook/musicgen-large for evidence.'
                     '</div>')
    return "".join(parts)


def criteria_table(decision: Decision) -> str:
    rows = []
    for c in decision.criteria:
        mark = {True: "pass", False: "FAIL", None: "not measured"}[c.passed]
        rows.append(f"<tr><td>{html.escape(c.name)}</td><td>{html.escape(c.value)}</td>"
                    f"<td>{html.escape(c.threshold)}</td><td>{mark}</td></tr>")
    return ('<table class="emoprobe-criteria" border="1" cellpadding="4" style="border-collapse:collapse">'
            "<tr><th>criterion</th><th>measured</th><th>threshold</th><th>result</th></tr>"
            + "".join(rows) + "</table>")


def table(header: Sequence[str], rows: Iterable[Sequence[object]], css_class: str) -> str:
    def cell(value):
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:.4f}"
        return html.escape("" if value is None else str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}" border="1" cellpadding="3" style="border-collapse:collapse"><tr>{head}</tr>{body}</table>'


def key_value_table(items: Mapping[str, object], css_class: str) -> str:
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in items.items())
    return f'<table class="{css_class}" border="1" cellpadding="3" style="border-collapse:collapse">{rows}</table>'


def claims_at_a_glance(summaries: Iterable) -> str:
    """Each claim's pass count and best layer (``exports.claim_summary``'s rows)."""
    return section("Claims at a glance", table(["claim", "passed", "of", "role", "best layer"],
                                               [[s.claim, s.passed, s.total, s.role, s.best] for s in summaries],
                                               "emoprobe-claims"))


def provenance_section(facts: Mapping[str, object]) -> str:
    """The run's provenance: its facts, the package versions, and the experiment file's text (folded)."""
    facts = dict(facts)
    config_text = facts.pop("config_text", "")
    versions = facts.pop("versions", {})
    return section("Provenance", [
        key_value_table(facts, "emoprobe-provenance"),
        key_value_table(versions, "emoprobe-versions"),
        f"<details><summary>Experiment file ({html.escape(str(facts.get('config_file', '')))})</summary>"
        f"<pre>{html.escape(str(config_text))}</pre></details>"])


def section(title: str, body: Iterable[str] | str) -> str:
    content = body if isinstance(body, str) else "".join(body)
    return f'<section class="emoprobe-section"><h2>{html.escape(title)}</h2>{content}</section>'


def write_decision_record(path: str | Path, record: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str))
    return path


def append_history(path: str | Path, row: dict) -> list[dict]:
    """Append ``row`` as one JSON line and return every row so far."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as history:
        history.write(json.dumps(row, default=str) + "\n")
    return read_history(path)


def read_history(path: str | Path) -> list[dict]:
    """The history's JSON-object lines; anything else (a line cut by a killed run,
    a stray value, an unreadable file) is skipped, never fatal to the run's record."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


UNRECORDED = "emoprobe-unrecorded"  # a row with no claim numbers (it errored first): never hidden


def row_filter_class(column: str, value) -> str:
    """The class a results-table cell carries for the row filters, e.g. ``emoprobe-claim-gap``.

    Only [a-z0-9-] survives, so a value from the experiment file cannot leave the attribute.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")
    return f"emoprobe-{column}-{slug}" if slug else ""


_FILTER_SCRIPT = """<script>
document.querySelectorAll('.emoprobe-row-filter').forEach(function (select) {
  select.addEventListener('change', function () {
    document.body.setAttribute('data-emoprobe-' + select.dataset.column, select.value);
  });
});
</script>"""


def row_filters(choices: Mapping[str, Sequence]) -> str:
    """Selectors that narrow pytest-html's results table to one claim, role or layer.

    ``choices`` maps a results-table column (``claim``, ``role``, ``layer``) to
    its values. A selection sets an attribute on the page's body (pytest-html
    re-draws the whole table when it sorts), and a CSS rule per value hides the
    rows whose cell lacks that value's class, so the filters survive re-drawing.
    """
    controls, rules = [], []
    for column, values in choices.items():
        distinct = sorted({str(v) for v in values if row_filter_class(column, v)},
                          key=lambda v: (len(v), v) if column == "layer" else (0, v))
        options = ['<option value="">all</option>'] + [
            f'<option value="{row_filter_class(column, v)}">{html.escape(v)}</option>' for v in distinct]
        controls.append(f'<label>{html.escape(column)} <select class="emoprobe-row-filter" data-column="{column}">'
                        f'{"".join(options)}</select></label>')
        for v in distinct:
            cls = row_filter_class(column, v)
            rules.append(f'body[data-emoprobe-{column}="{cls}"] #results-table tbody.results-table-row'
                         f':not(:has(td.{cls})):not(:has(td.{UNRECORDED})) {{ display: none; }}')
    note = "Rows that errored before recording their numbers always show."
    return section("Find rows", [f'<p class="emoprobe-filters">{" ".join(controls)} {note}</p>',
                                 f"<style>{chr(10).join(rules)}</style>", _FILTER_SCRIPT])
