"""Known-answer runs: the whole suite finds a planted signal and finds nothing in noise.

Each known-truth model is the tiny MusicGen with a truth planted through
hooks (``emoprobe.truth.known_truth``). The planted runs go through everything, from
generation to the verdict in decision.json, as a researcher's run would.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from emoprobe import analysis
from emoprobe.config import Overrides, load_config
from emoprobe.dataset import collect_samples
from emoprobe.decision import GO, NO_GO, PIVOT, LayerOutcome, Outcome, decide
from emoprobe.models import describe_model
from emoprobe.store import SampleStore

REPO = Path(__file__).resolve().parents[1]
# The crossed design: on a design that confines words to one emotion no run can reach GO
# (``decision``), whatever is planted.
EXPERIMENT = REPO / "tests" / "data" / "known_truth_crossed.toml"
PREVIOUS_DESIGN = REPO / "tests" / "data" / "known_truth.toml"
PLANTED_GO = "planted:layers=1,3;size=2"
PLANTED_PIVOT = "planted:layers=1,3;size=0.45;wording=off"
LEXICAL = "lexical:size=2"
PLANTED_LEXICAL = "planted+lexical:layers=1,3;size=2;words=2"
# Every known-truth model on the crossed design, in one run of the suite (the session's
# crossed_run fixture, tests/conftest.py): each model's record, verdict and report section
# are its own, and one run's start-up (workers importing torch and audiocraft) is paid once.
CROSSED_MODELS = (PLANTED_GO, "null", PLANTED_PIVOT, LEXICAL, PLANTED_LEXICAL)


def run_suite(models, out, *extra, experiment=EXPERIMENT):
    html = out / "report.html"
    model_options = [arg for model in ([models] if isinstance(models, str) else models) for arg in ("--model", model)]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/", "-n", "2", *model_options, "--experiment", str(experiment),
         "--cache-dir", str(out / "cache"), f"--html={html}", "--self-contained-html", "-p", "no:cacheprovider",
         "-q", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=2400)
    assert result.returncode in (0, 1), result.stdout[-4000:] + result.stderr[-4000:]
    return json.loads((out / "decision.json").read_text()), result


def claim_outcomes(record, claim):
    return {c["nodeid"]: c for c in record["claims"] if c["claim"] == claim}


@pytest.fixture(scope="module")
def planted_and_null(crossed_run):
    """One run of the suite over several models, the planted one first and the null one among them."""
    record, result, out = crossed_run
    return record, result, (out / "report.html").read_text()


@pytest.fixture(scope="module")
def planted_go(planted_and_null):
    record, result, _ = planted_and_null
    return record["models"][PLANTED_GO], result


def test_planted_signal_gives_go_at_exactly_the_planted_layers(planted_go):
    record, result = planted_go
    assert record["verdict"] == GO, record["reason"]
    assert record["significant_layers"] == [1, 3]
    assert "VERDICT: GO" in result.stdout and f"emoprobe: {PLANTED_GO}: VERDICT GO:" in result.stdout


def test_planted_audio_passes_every_acoustic_claim(planted_go):
    record, _ = planted_go
    acoustic = claim_outcomes(record, "acoustic")
    assert acoustic and all(c["outcome"] == "passed" for c in acoustic.values()), \
        {k: (c["feature"], c["agreement"]) for k, c in acoustic.items() if c["outcome"] != "passed"}


def test_other_metrics_and_the_probe_find_the_planted_layers_too(planted_go):
    record, _ = planted_go
    for claim in ("metric", "probe"):
        rows = list(claim_outcomes(record, claim).values())
        assert rows, f"no {claim} claims recorded"
        found = {r["layer"] for r in rows if r["outcome"] == "passed"}
        assert {1, 3} <= found, (claim, found)


def test_planted_below_the_line_gives_pivot(crossed_run):
    record = crossed_run[0]["models"][PLANTED_PIVOT]
    assert record["verdict"] == PIVOT, record["reason"]
    assert set(record["significant_layers"]) <= {1, 3} and record["significant_layers"]


def test_null_model_gives_no_go_in_the_same_run_with_its_own_report_section(planted_and_null):
    record, result, html = planted_and_null
    null = record["models"]["null"]
    assert null["verdict"] == NO_GO, null["reason"]
    assert "VERDICT: NO-GO" in result.stdout and "emoprobe: null: VERDICT NO-GO:" in result.stdout
    # Each model has its own verdict, tests and section; the top level is the first model's.
    assert record["verdict"] == GO and set(record["models"]) == set(CROSSED_MODELS)
    assert all(nodeid.split("[")[1].startswith("null") for nodeid in null["tests"])
    n = len(CROSSED_MODELS)
    assert html.count('class="emoprobe-model"') == n and html.count('class="emoprobe-verdict"') == n \
        and 'id="emoprobe-verdict"' in html and f'id="emoprobe-verdict-{n}"' in html


def library_verdict(model, seed, cache_dir, duration_s=2.0, n_permutations=999):
    """The same pipeline without pytest (generation, capture, store, statistics, rule), for repeated runs."""
    config = load_config(EXPERIMENT, Overrides(model=model, seed=seed, cache_dir=str(cache_dir)))
    config = dataclasses.replace(
        config, extreme_pairs=(), generation=dataclasses.replace(config.generation, duration_s=duration_s),
        statistics=dataclasses.replace(config.statistics, n_permutations=n_permutations, n_bootstrap=0))
    info = describe_model(config.model)
    sets, _ = collect_samples(config, info, SampleStore(config.cache_dir), progress=False)
    layers = tuple(range(info.n_layers))
    result = analysis.emotion_layers(sets["emotion"], layers, config)
    t = config.thresholds
    outcome = Outcome(config.n_per_emotion, tuple(LayerOutcome(r.layer, r.statistic, r.pvalue, r.pvalue_holm,
                                                                lexical_pvalue_holm=0.0)
                                                   for r in result.layers), acoustic_pass=True)
    # The acoustic and lexical checks taken as passed is the most GO-prone assumption.
    return decide(outcome, alpha=t.alpha, min_gap=t.min_gap, min_n=t.min_n_per_emotion,
                  acoustic_threshold=t.acoustic_agreement), result


# The repeated-null check (GO at most alpha) runs on 500 simulated datasets per
# known null in tests/test_verdicts.py, through the statistics and the rule.


def test_seed_like_model_is_classed_as_noise(tmp_path):
    decision, result = library_verdict("seed-like", 7, tmp_path)
    assert decision.verdict == NO_GO, decision.reason
    for layer in result.layers:
        assert layer.effect_class == "noise", (layer.layer, layer.statistic)
        assert 0.93 < layer.gap.between < 0.97 and 0 < layer.gap.control - layer.gap.between < 0.02


def test_wording_sensitive_model_does_not_yield_go(tmp_path):
    decision, result = library_verdict("paraphrase:size=4", 11, tmp_path)
    assert decision.verdict != GO, decision.reason
    # Wording is strong: same-wording pairs are far closer than anything else...
    assert all(r.gap.control - r.gap.between > 0.05 for r in result.layers)
    # ...yet the emotion gap, measured across wordings, is not significant.
    assert result.n_significant_holm == 0
