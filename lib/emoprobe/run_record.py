"""One model's run as a record: its verdict from the claims' numbers, its provenance,
``decision.json``'s entry, its history line, and the dated archive of the run's files.

The pytest plugin (``fixtures/report.py``) gathers the claims' recorded numbers
and outcomes; everything it then decides and writes is computed here, so the
record can be rebuilt and tested without pytest.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import numpy as np

from . import design, exports, listen, provenance, replication, report, steering
from .decision import Decision, Family, LayerOutcome, Outcome, decide

if TYPE_CHECKING:
    from .config import ExperimentConfig
    from .models import ModelInfo

ClaimRows = Callable[[str], list]  # claim name -> this model's recorded rows of that claim


def canonical_claim_order(claims: Sequence[Mapping]) -> list[Mapping]:
    """The claims sorted by claim, then layer, then test id: the order of the record and the report.

    Under xdist the rows reach the controller as workers finish, so two runs on
    the same data would otherwise write differently ordered records.
    """
    def key(c: Mapping):
        layer = c.get("layer")
        return (str(c.get("claim", "")), layer if isinstance(layer, int) else -1, str(c.get("nodeid", "")))

    return sorted(claims, key=key)


def decide_model(experiment: ExperimentConfig, claim_rows: ClaimRows, family: Family, partial: bool,
                 listening: Callable[[], tuple], word_vectors: Mapping | None = None) -> Decision:
    """The go/no-go rule (``decision.decide``) on one model's claim numbers, then its listening check.

    ``word_vectors``: the model's text conditioning of each word of the design
    (``dataset.conditioner_word_vectors``); the word-overlap audit then also simulates a
    word-only model that reads words by meaning as this conditioner does.
    """
    from .config import verdict_deviations

    thresholds = experiment.thresholds
    deviations = verdict_deviations(experiment)
    sizes = claim_rows("sample_size")
    acoustic = claim_rows("acoustic")
    worst = min(acoustic, key=lambda r: r["agreement"], default=None)
    lexical_p = {r["layer"]: r["pvalue_holm"] for r in claim_rows("lexical")}
    extreme = claim_rows("extreme")
    # The audit simulates the run's own shape: the samples each wording has (missing ones
    # included), where the sample-size claim recorded them; the plan's otherwise.
    audit = design.audit_experiment(experiment, sizes[0].get("wording_counts") if sizes else None,
                                    word_vectors=word_vectors)[1]
    outcome = Outcome(
        min_n_per_emotion_seen=sizes[0]["min_n"] if sizes else None,
        layers=tuple(LayerOutcome(r["layer"], r["gap"], r["pvalue"], r["pvalue_holm"], r.get("pvalue_maxt"),
                                  r.get("gap_se"), lexical_p.get(r["layer"])) for r in claim_rows("permutation")),
        acoustic_pass=all(r["agreement"] > thresholds.acoustic_agreement for r in acoustic) if acoustic else None,
        acoustic_worst_agreement=worst["agreement"] if worst else None,
        acoustic_worst_contrast=f"{' vs '.join(worst['contrast'])}, {worst['feature']}" if worst else None,
        family=family,
        words_confined=audit.warning(),
        audit_read_word_embeddings=audit.read_word_embeddings,
        audit_simulation=audit.simulation_line(),
        positive_control=(sum(r["n_significant_holm"] >= 1 for r in extreme), len(extreme)) if extreme else None,
        threshold_deviations=tuple((d.describe(), d.looser, d.moves_no_go) for d in deviations),
    )
    decision = decide(outcome, alpha=thresholds.alpha, min_gap=thresholds.min_gap,
                      min_n=thresholds.min_n_per_emotion, acoustic_threshold=thresholds.acoustic_agreement,
                      partial=partial, correction=experiment.statistics.correction)
    if experiment.listening.records or experiment.listening.decisive:
        result, problem = listening()
        decision = listen.with_listening(decision, result, experiment.listening.decisive,
                                         alpha=thresholds.alpha, problem=problem)
    return decision


def sample_keys(experiment: ExperimentConfig, model: ModelInfo) -> list[str]:
    """The store keys of the samples the experiment plans for this model."""
    from .config import plan_samples
    from .store import KeyParams, sample_key

    params = KeyParams.from_config(experiment, model.identity)
    return [sample_key(spec, params) for spec in plan_samples(experiment)]


def digest(keys: Sequence[str]) -> str:
    return hashlib.sha256("".join(keys).encode()).hexdigest()[:12]


def content_digest(cache_dir: str | Path, keys: Sequence[str]) -> str:
    """A digest of the data the store in ``cache_dir`` holds under ``keys`` (each key with the checksums
    its entry records, ``store.content_digest``), read from the entries' meta without
    hashing the data again. The memoised analyses are keyed by the same checksums, so
    the record names the data its statistics were computed from, not only the inputs
    that ``sample_keys_digest`` names: an entry regenerated under the same key changes it."""
    from .store import SampleStore, content_digest as digest_of

    store = SampleStore(cache_dir)
    return digest_of((key, store.recorded_checksums(key)) for key in keys)


def loaded_content_digest(keys: Sequence[str], samples: Iterable) -> str:
    """``content_digest`` of the samples one process loaded and analysed (``store.StoredSample``,
    each with the checksums its load verified), over ``keys`` in order; a key it did not load
    counts as missing.  Equal to ``content_digest`` of the store for the same keys unless an
    entry changed after the load: the record compares the two, so that a run whose data another
    writer replaced while it ran is not recorded as one analysis of one dataset."""
    from .store import content_digest as digest_of

    loaded = {s.key: s.checksums for s in samples}
    return digest_of((key, loaded.get(key)) for key in keys)


def design_texts(experiment: ExperimentConfig) -> list[str]:
    """Every wording and word of the design, sorted: the texts whose conditioning the lexical
    control and the word-overlap audit read."""
    from .config import planned_wordings
    from .dataset import audit_words

    return sorted({w for ws in planned_wordings(experiment).values() for w in ws} | set(audit_words(experiment)))


def text_rows_digest(texts: Sequence[str], rows: np.ndarray) -> str:
    """SHA-256 over each text and its conditioning row, in order."""
    out = hashlib.sha256()
    for text, row in zip(texts, rows):
        out.update(text.encode() + b"\0" + np.ascontiguousarray(row, dtype=np.float32).tobytes())
    return out.hexdigest()


def _design_rows(experiment: ExperimentConfig, model: ModelInfo) -> tuple[list[str], np.ndarray | None]:
    """(``design_texts``, the model's stored text conditioning of each, or None where any row is
    missing or the store's text folder is not readable)."""
    from .dataset import text_conditioning

    texts = design_texts(experiment)
    try:
        return texts, text_conditioning(experiment, model, texts, compute_missing=False)
    except OSError:
        return texts, None


def text_conditioning_digest(experiment: ExperimentConfig, model: ModelInfo) -> str | None:
    """``text_rows_digest`` of the model's stored text conditioning of ``design_texts``
    (``dataset.text_conditioning``), which the lexical control and the word-overlap
    audit read: the record names those rows as ``sample_content_digest`` names the samples' data
    (review 30c).  None when any row is missing, as on a cache filled before they were kept."""
    texts, rows = _design_rows(experiment, model)
    return None if rows is None else text_rows_digest(texts, rows)


def read_word_vectors(experiment: ExperimentConfig, model: ModelInfo) -> tuple[dict | None, str | None]:
    """(``dataset.conditioner_word_vectors``, ``text_rows_digest`` of the rows they came from):
    one read of every text of the design, so that the controller's word-overlap audit is
    covered by the same digest comparison as the workers' lexical control.  The digest is None
    where some wording's row is missing (the vectors are then read alone, as before)."""
    from .dataset import audit_words, conditioner_word_vectors

    texts, rows = _design_rows(experiment, model)
    if rows is None:
        return conditioner_word_vectors(experiment, model), None
    row_of = dict(zip(texts, rows))
    return {word: row_of[word] for word in audit_words(experiment)}, text_rows_digest(texts, rows)


def collect_provenance(experiment: ExperimentConfig, model: ModelInfo, layers: Sequence[int], repo: Path,
                       argv: Sequence[str], keys: Sequence[str], started: float) -> dict:
    """What the run was. Taken once per run, so the HTML and the JSON carry one date and one duration."""
    return {
        "model": model.label, "model_is_random": model.is_random,
        "model_revision": provenance.hub_revision(model.name, model.kind),
        "base_seed": experiment.base_seed, "n_per_emotion": experiment.n_per_emotion,
        "emotions": list(experiment.emotions), "layers": list(layers),
        "config_hash": experiment.config_hash(), "config_file": str(experiment.source),
        "cache_dir": str(experiment.cache_dir),
        **provenance.git_state(repo),
        "command": provenance.command_line(["pytest", *argv]),
        "n_samples": len(keys), "sample_keys_digest": digest(keys),
        "sample_content_digest": content_digest(experiment.cache_dir, keys),
        "text_conditioning_digest": text_conditioning_digest(experiment, model),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "duration_s": round(time.time() - started, 1),
        **provenance.machine(),
        "versions": provenance.package_versions(),
        "config_text": provenance.config_text(experiment.source),
    }


def replication_of(decision: Decision, experiment: ExperimentConfig, model_name: str,
                   permutation_rows: Sequence[Mapping], history_path: Path) -> dict | None:
    """This night among the earlier complete nights of the same configuration; None for a
    partial run or one on a reduced family, which is no replicate."""
    if decision.partial or decision.reduced_family:
        return None
    tonight = {"model": model_name, "design_hash": experiment.config_hash(seeds=False),
               "base_seed": experiment.base_seed, "verdict": decision.verdict, "partial": False,
               "layers": exports.history_layers(permutation_rows)}
    earlier = report.read_history(history_path)
    return replication.replicate([*earlier, tonight], model_name, tonight["design_hash"]).to_dict()


def model_record(decision: Decision, claim_rows: ClaimRows, *, model_name: str, claims: Sequence[Mapping],
                 tests: Mapping[str, str], facts: Mapping, keys: Sequence[str], partial_reason: str | None,
                 interrupted: bool, replicated: Mapping | None, listening: Mapping | None = None,
                 with_listening: bool = False, errored: Sequence[str] = ()) -> dict:
    """One model's entry of ``decision.json`` (``exports.decision_schema`` describes it);
    ``errored``: the tests that raised in their body (an exception, not a failed claim)."""
    best = [r for r in claim_rows("permutation") if r["layer"] == decision.best_layer]
    any_layer = claim_rows("any_layer")
    return {
        "verdict": decision.verdict, "reason": decision.reason, "partial": decision.partial,
        "partial_reason": partial_reason, "interrupted": interrupted,
        "criteria": decision.to_dict()["criteria"], "best_layer": decision.best_layer,
        "best_gap": best[0]["gap"] if best else None,
        "significant_layers": list(decision.significant_layers),
        "explained_by_wording": decision.explained_by_wording,
        "n_significant_holm": any_layer[0]["n_significant_holm"] if any_layer else len(decision.significant_layers),
        "n_significant_uncorrected": any_layer[0]["n_significant_uncorrected"] if any_layer else None,
        "n_significant_maxt": any_layer[0].get("n_significant_maxt") if any_layer else None,
        "correction": decision.correction, "family": decision.family, "reduced_family": decision.reduced_family,
        "model": model_name,
        "tests": dict(tests),
        "claims": list(claims),
        "provenance": facts,
        "sample_keys": list(keys),
        **({"listening": listening} if with_listening else {}),
        "causal_evidence": steering.causal_evidence(claim_rows(steering.CLAIM), [
            "error in call" if nodeid in errored else outcome
            for nodeid, outcome in tests.items() if steering.HYPOTHESIS in nodeid]),
        "replication": replicated,
    }


def history_row(record: Mapping, experiment: ExperimentConfig, model_name: str, n_layers: int,
                permutation_rows: Sequence[Mapping]) -> dict:
    """The run's line in ``history.jsonl``: what the trend and the replication read."""
    return {
        "date": record["provenance"]["date"], "verdict": record["verdict"], "partial": record["partial"],
        "model": model_name, "n_per_emotion": experiment.n_per_emotion,
        "base_seed": experiment.base_seed, "config_hash": record["provenance"]["config_hash"],
        "design_hash": experiment.config_hash(seeds=False),
        "best_layer": record["best_layer"], "best_gap": record["best_gap"],
        "n_significant_holm": record["n_significant_holm"], "n_layers": n_layers,
        "family": record["family"], "reduced_family": record["reduced_family"],
        "layers": exports.history_layers(permutation_rows),
    }


def archive(out_dir: Path, html_path: Path, started: float) -> list[Path]:
    """Copies of the run's report and record under ``out_dir/archive`` with the run's start
    in the name: the next run overwrites ``report.html`` and ``decision.json``."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(started))
    folder = out_dir / "archive"
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for source, name in ((html_path, f"report-{stamp}.html"), (out_dir / "decision.json", f"decision-{stamp}.json")):
        if source.exists():
            copies.append(Path(shutil.copyfile(source, folder / name)))
    return copies
