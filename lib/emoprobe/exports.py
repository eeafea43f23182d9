"""Machine-readable exports of a run: the decision record's schema, a per-layer CSV, a CI summary.

``decision.json`` carries ``schema_version``; the JSON Schema it follows ships
beside this module (``decision.schema.json``) and a test validates real records
against it. The per-layer CSV has one row per (model, layer) and one column
per claim number, so ``pandas.read_csv("layers.csv")`` is the whole import.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from importlib import resources
from typing import Mapping, Sequence

SCHEMA_VERSION = 1

# Which number of which claim row becomes which CSV column.
_LAYER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("gap", "gap", "gap"),
    ("gap", "ci_low", "ci[0]"),
    ("gap", "ci_high", "ci[1]"),
    ("gap", "within", "within"),
    ("gap", "between", "between"),
    ("gap", "effect_class", "effect_class"),
    ("gap", "passed_gap", "@passed"),
    ("permutation", "pvalue", "pvalue"),
    ("permutation", "pvalue_holm", "pvalue_holm"),
    ("permutation", "pvalue_bh", "pvalue_bh"),
    ("permutation", "passed_permutation", "@passed"),
    ("probe", "probe_accuracy", "accuracy"),
    ("probe", "probe_chance", "chance"),
    ("probe", "probe_pvalue", "pvalue"),
    ("acoustic_guided", "mantel_r", "statistic"),
    ("acoustic_guided", "mantel_pvalue", "pvalue"),
    ("temporal", "temporal_divergence", "divergence"),
)
LAYER_CSV_COLUMNS = ("model", "layer", *(column for _, column, _ in _LAYER_COLUMNS))


def decision_schema() -> dict:
    """The JSON Schema of ``decision.json``."""
    return json.loads(resources.files(__package__).joinpath("decision.schema.json").read_text())


def _pick(row: Mapping, path: str):
    if path == "@passed":
        return row.get("outcome") == "passed"
    if path.endswith("]"):
        name, index = path[:-1].split("[")
        values = row.get(name) or []
        return values[int(index)] if len(values) > int(index) else None
    return row.get(path)


def layer_rows(record: Mapping) -> list[dict]:
    """One dict per (model, layer): the per-layer numbers of every claim that ran."""
    rows: dict[tuple[str, int], dict] = {}
    models = record.get("models") or {record.get("model"): record}
    for model, model_record in models.items():
        for claim in model_record.get("claims", []):
            if "layer" not in claim or claim.get("metric"):
                continue  # per-metric rows would overwrite each other; they stay in the JSON
            row = rows.setdefault((model, int(claim["layer"])), {"model": model, "layer": int(claim["layer"])})
            for name, column, path in _LAYER_COLUMNS:
                if claim.get("claim") == name:
                    row[column] = _pick(claim, path)
    return [rows[k] for k in sorted(rows)]


def layers_csv(record: Mapping) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LAYER_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in layer_rows(record):
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in LAYER_CSV_COLUMNS})
    return buffer.getvalue()


def step_summary_markdown(record: Mapping, report_path: str | None = None) -> str:
    """The verdict and criteria of each model, as GitHub's job summary shows Markdown."""
    lines = []
    models = record.get("models") or {record.get("model"): record}
    for model, r in models.items():
        partial = " (partial run)" if r.get("partial") else ""
        lines += [f"## {model}: {r['verdict']}{partial}", "", r.get("reason", ""), "",
                  "| criterion | measured | threshold | result |", "|---|---|---|---|"]
        for c in r.get("criteria", []):
            mark = {True: "pass", False: "FAIL", None: "not measured"}[c.get("passed")]
            lines.append(f"| {_md(c['name'])} | {_md(c['value'])} | {_md(c['threshold'])} | {mark} |")
        replication = r.get("replication")
        if replication:
            lines += ["", f"Replication: {replication['summary']} (same configuration)."]
        lines.append("")
    if report_path:
        lines.append(f"Report: `{report_path}`")
    return "\n".join(lines) + "\n"


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class ClaimSummary:
    claim: str
    passed: int
    total: int
    role: str  # "decisive" or "exploratory"
    best: str  # the best layer's numbers, or ""


def claim_summary(rows: Sequence[Mapping]) -> list[ClaimSummary]:
    """Per claim (in the order first seen): passed of run, role, and the best layer's numbers."""
    by_claim: dict[str, list[Mapping]] = {}
    for row in rows:
        by_claim.setdefault(row["claim"], []).append(row)
    return [ClaimSummary(claim, sum(r.get("outcome") == "passed" for r in group), len(group),
                         "exploratory" if all(r.get("exploratory") for r in group) else "decisive",
                         _best_layer(group)) for claim, group in by_claim.items()]


def _best_layer(rows: Sequence[Mapping]) -> str:
    """The best layer (smallest p, else largest gap or divergence) and its numbers."""
    layered = [r for r in rows if "layer" in r and not r.get("metric")]
    if not layered:
        return ""
    if all(isinstance(r.get("pvalue"), (int, float)) for r in layered):
        best = min(layered, key=lambda r: r["pvalue"])
        keys = ("gap", "statistic", "accuracy", "pvalue", "pvalue_holm")
    else:
        key = next((k for k in ("gap", "divergence") if k in layered[0]), None)
        if key is None:
            return ""
        best, keys = max(layered, key=lambda r: r[key]), (key,)
    numbers = ", ".join(f"{k} {best[k]:.3g}" for k in keys if isinstance(best.get(k), (int, float)))
    return f"layer {best['layer']}: {numbers}"


def history_layers(claims: Sequence[Mapping]) -> list[dict]:
    """The per-layer numbers a history line keeps, so later nights can replicate them."""
    return [{"layer": c["layer"], "gap": c["gap"], "pvalue": c["pvalue"], "pvalue_holm": c.get("pvalue_holm")}
            for c in claims if c.get("claim") == "permutation"]
