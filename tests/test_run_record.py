"""The run's record: complete only when every decisive claim ran to an outcome,
no history line from an interrupted or failed run, and exit codes that mean one thing each.

Every run here is the small experiment (tests/conftest.py) on the tiny model (few samples and
permutations) sharing one cache, so after the first only the claims run.
"""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from chromium import CHROMIUM, Chromium

from emoprobe import run_record

REPO = Path(__file__).resolve().parents[1]

ARGS = ["--model", "tiny", "--n-per-emotion", "6", "--layers", "0,2"]

INTERRUPT_PLUGIN = '''
import os, pytest
_seen = []
def pytest_runtest_logreport(report):
    if report.when == "call":
        _seen.append(report.nodeid)
        if len(_seen) == int(os.environ["EMOPROBE_TEST_INTERRUPT_AFTER"]):
            raise KeyboardInterrupt
'''
FULL_DISK_PLUGIN = '''
import errno
from emoprobe import store
def _full(path, data):
    raise OSError(errno.ENOSPC, "No space left on device")
store._write_bytes = _full
'''
BROKEN_ANALYSIS_PLUGIN = '''
from emoprobe import analysis
def _broken(*args, **kwargs):
    raise RuntimeError("a planted failure of the layer analysis " + "with a long message " * 200)
analysis.emotion_layers = _broken
'''

BROKEN_DECISION_PLUGIN = '''
from emoprobe import run_record
def _broken(*args, **kwargs):
    raise RuntimeError("a planted failure of the decision")
run_record.decide = _broken
'''

# Another writer replaces data under the same name after this run read it: with
# EMOPROBE_TEST_CHANGE=samples one sample entry (new audio, and the checksum its meta records to
# match: a valid entry, other data), with =text one stored text-conditioning row; done after the
# first claim whose node id holds EMOPROBE_TEST_CHANGE_AFTER.
CHANGE_DATA_PLUGIN = '''
import json, os
from pathlib import Path
import numpy as np, soundfile as sf
from emoprobe.fileio import sha256_file
_done = []
def pytest_runtest_logreport(report):
    if report.when != "call" or _done or os.environ["EMOPROBE_TEST_CHANGE_AFTER"] not in report.nodeid:
        return
    _done.append(report.nodeid)
    cache = Path(os.environ["EMOPROBE_TEST_CACHE"])
    if os.environ["EMOPROBE_TEST_CHANGE"] == "samples":
        entry = sorted(m.parent for m in (cache / "samples").glob("*/*/meta.json"))[0]
        audio, rate = sf.read(entry / "audio.wav", dtype="float32")
        sf.write(entry / "audio.wav", audio * 0.5, rate, subtype="FLOAT")
        meta = json.loads((entry / "meta.json").read_text())
        meta["checksums"]["audio.wav"] = sha256_file(entry / "audio.wav")
        (entry / "meta.json").write_text(json.dumps(meta))
    else:
        row = sorted((cache / "text").glob("*.npy"))[0]
        np.save(row, np.load(row) * 2)
'''

# Logs the order in which the controller reads the word vectors and takes the record's digests.
READ_ORDER_PLUGIN = '''
import os
from emoprobe import run_record
def _logged(name, real):
    def call(*args, **kwargs):
        with open(os.environ["EMOPROBE_TEST_ORDER_LOG"], "a") as log:
            log.write(name + "\\n")
        return real(*args, **kwargs)
    return call
run_record.read_word_vectors = _logged("word vectors", run_record.read_word_vectors)
run_record.collect_provenance = _logged("provenance", run_record.collect_provenance)
'''


@pytest.fixture(scope="module")
def small(tmp_path_factory, small_experiment):
    root = tmp_path_factory.mktemp("record")
    shutil.copy(small_experiment, root / "experiment.toml")
    (root / "plugins").mkdir()
    (root / "plugins" / "interrupt_after.py").write_text(INTERRUPT_PLUGIN)
    (root / "plugins" / "full_disk.py").write_text(FULL_DISK_PLUGIN)
    (root / "plugins" / "broken_analysis.py").write_text(BROKEN_ANALYSIS_PLUGIN)
    (root / "plugins" / "broken_decision.py").write_text(BROKEN_DECISION_PLUGIN)
    (root / "plugins" / "change_data.py").write_text(CHANGE_DATA_PLUGIN)
    (root / "plugins" / "read_order.py").write_text(READ_ORDER_PLUGIN)
    return root


def run(small, name, *args, cache=None, env=None, experiment=None, workers=0):
    """One run of hypotheses/ writing its report, record and history under ``small/name``."""
    out = small / name
    out.mkdir()
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join([str(small / "plugins"), environment.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/", *(["-n", str(workers)] if workers else ["-p", "no:xdist"]),
         *ARGS, "--experiment",
         str(experiment or small / "experiment.toml"), "--cache-dir", str(cache or small / "cache"),
         f"--html={out / 'report.html'}", "-q", "-o", f"cache_dir={small / 'pytest-cache'}", *args],
        cwd=REPO, capture_output=True, text=True, timeout=1200, env=environment)
    record_path = out / "decision.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else None
    history = out / "history.jsonl"
    lines = history.read_text().splitlines() if history.exists() else []
    return result, record, lines


@pytest.fixture(scope="module")
def whole(small):
    return run(small, "whole")


def test_a_whole_run_is_complete_and_failed_claims_exit_1(small, whole):
    result, record, history = whole
    assert result.returncode == 1, result.stdout[-3000:]  # claims fail on random weights: a research result
    assert record["partial"] is False and record["partial_reason"] is None and record["interrupted"] is False
    assert len(history) == 1
    # The record names the data the analyses read, not only their inputs (review 30 F4).
    from emoprobe.store import SampleStore

    assert all(SampleStore(small / "cache").recorded_checksums(key) for key in record["sample_keys"])
    assert record["provenance"]["sample_content_digest"] == run_record.content_digest(
        small / "cache", record["sample_keys"])
    assert record["provenance"]["sample_keys_digest"] == run_record.digest(record["sample_keys"])
    # And the text conditioning the lexical control and the audit read (review 30c): recorded, and
    # changed by an edit of one stored row.
    from emoprobe.config import Overrides, load_config
    from emoprobe.models import describe_model

    experiment = load_config(small / "experiment.toml", Overrides(model="tiny", cache_dir=str(small / "cache")))
    info = describe_model("tiny")
    recorded = record["provenance"]["text_conditioning_digest"]
    assert re.fullmatch("[0-9a-f]{64}", recorded) and recorded == run_record.text_conditioning_digest(experiment, info)
    copy = small / "text-copy"
    shutil.copytree(small / "cache" / "text", copy / "text")
    row = sorted((copy / "text").glob("*.npy"))[0]
    values = np.load(row)
    np.save(row, values * 2)   # still a row the conditioner could write (float32-exact), with other values
    edited = dataclasses.replace(experiment, cache_dir=copy)
    assert run_record.text_conditioning_digest(edited, info) not in (None, recorded)


def test_under_xdist_the_workers_report_the_planned_claims(small, whole):
    result, record, _ = run(small, "xdist-whole", workers=2)
    assert result.returncode == 1, result.stdout[-3000:]
    assert record["partial"] is False, record["partial_reason"]
    claims = record["claims"]
    assert claims == run_record.canonical_claim_order(claims)  # not the order in which workers finished
    result, record, _ = run(small, "xdist-keyword", "-k", "not sample_size", workers=2)
    assert record["partial"] is True and "did not run to an outcome" in record["partial_reason"]


@pytest.mark.parametrize("change, after, what", [("samples", "test_01_", "samples"),
                                                  ("text", "test_12_", "text conditioning")])
def test_a_run_whose_data_change_while_it_runs_is_partial(small, whole, tmp_path, change, after, what):
    """The claims read the samples and the text conditioning once per process; an entry
    regenerated under the same key, or a text row rewritten, before the end (another run on the
    same cache) leaves a record whose digests name data no claim read.  The run says so and is
    partial, so it can be no GO.  The complete runs above are the null: nothing changes, and
    the record is whole."""
    cache = tmp_path / "cache"
    shutil.copytree(small / "cache", cache)
    result, record, _ = run(small, f"changed-{change}", "-p", "change_data", cache=cache,
                            env={"EMOPROBE_TEST_CACHE": str(cache), "EMOPROBE_TEST_CHANGE": change,
                                 "EMOPROBE_TEST_CHANGE_AFTER": after})
    assert result.returncode == 1, result.stdout[-3000:]
    assert record["partial"] is True, record["partial_reason"]
    assert f"the {what} of tiny changed while it ran" in record["partial_reason"], record["partial_reason"]
    field = "sample_content_digest" if change == "samples" else "text_conditioning_digest"
    assert record["provenance"][field] != whole[1]["provenance"][field]
    assert "partial run" in result.stdout


def test_the_controller_reads_the_word_vectors_before_it_takes_the_records_digests(small, whole, tmp_path):
    """Review 32 F2: the digests were taken first and the audit's word vectors read after, so a
    row rewritten in between was audited while the record named the old one; and with two models
    (review 32b F5) the second model's digests were taken before its read."""
    log = tmp_path / "order.log"
    cache = tmp_path / "cache"   # a copy: the module's cache stays one model's (other tests count its rows)
    shutil.copytree(small / "cache", cache)
    result, record, _ = run(small, "read-order", "--model", "null", "-p", "read_order", cache=cache,
                            env={"EMOPROBE_TEST_ORDER_LOG": str(log)})
    assert result.returncode == 1, result.stdout[-3000:]
    assert set(record["models"]) == {"tiny", "null"}
    for model in record["models"].values():
        assert model["partial"] is False and model["partial_reason"] is None, model["partial_reason"]
    assert log.read_text().splitlines()[:4] == ["word vectors"] * 2 + ["provenance"] * 2, log.read_text()


def test_deselecting_only_exploratory_claims_keeps_the_run_complete(small, whole):
    result, record, history = run(small, "not-exploratory", "-m", "not exploratory")
    assert result.returncode == 1, result.stdout[-3000:]
    assert record["partial"] is False, record["partial_reason"]
    assert len(history) == 1


@pytest.mark.parametrize("name, args", [
    ("keyword", ["-k", "permuted"]),
    ("exitfirst", ["-x"]),
    ("stepwise", ["--sw"]),
    ("deselect", ["--deselect", "hypotheses/test_01_sample_size.py::test_every_emotion_has_enough_samples[tiny]"]),
    ("last-failed", ["--lf"]),
    ("ignore", ["--ignore", "hypotheses/test_01_sample_size.py"]),
    ("ignore-glob", ["--ignore-glob", "*/test_01_*"]),
])
def test_a_run_missing_any_decisive_claim_is_partial(small, whole, name, args):
    result, record, history = run(small, name, *args)
    # --sw stops the session at the first failure, which pytest reports as interrupted (2).
    assert result.returncode == (2 if name == "stepwise" else 1), result.stdout[-3000:]
    assert record["partial"] is True
    assert {"stepwise": "interrupted", "last-failed": "--lf", "ignore": "--ignore",
            "ignore-glob": "--ignore"}.get(name, "did not run to an outcome") in \
        record["partial_reason"]
    assert "partial run" in result.stdout


def test_an_interrupted_run_is_partial_exits_2_and_adds_no_history_line(small, whole):
    result, record, history = run(small, "interrupted", "-p", "interrupt_after",
                                  env={"EMOPROBE_TEST_INTERRUPT_AFTER": "12"})
    assert result.returncode == 2, result.stdout[-3000:]
    assert record["interrupted"] is True and record["partial"] is True
    assert history == []


def test_a_full_disk_stops_the_run_exits_6_and_records_nothing(small, tmp_path):
    cache = tmp_path / "cache"
    result, record, history = run(small, "full-disk", "-p", "full_disk", cache=cache)
    out = result.stdout + result.stderr
    assert result.returncode == 6, out[-3000:]
    assert "no space left on" in out and str(cache) in out
    # One claim errors and the session stops: not one error per claim. Counted by outcome
    # lines, since pytest prints the message untruncated only where $CI is set.
    assert len(re.findall(r"^_+ ERROR at setup of ", result.stdout, re.M)) == 1, result.stdout[-3000:]
    assert len(re.findall(r"^(?:ERROR|FAILED) hypotheses/", result.stdout, re.M)) == 1, result.stdout[-3000:]
    assert not list((cache / "samples").glob("*/*")) and not list((cache / "tmp").iterdir())
    assert record["partial"] is True and history == []


def test_rows_that_all_error_keep_a_short_traceback_once(small, whole):
    """Every claim that reads the layer analysis errors with one (long) traceback: each row
    keeps its first and last lines, and a row repeating an earlier row's text points there."""
    import html as html_lib

    from emoprobe import results_rows

    result, record, history = run(small, "errors", "-p", "broken_analysis")
    assert result.returncode == 6, result.stdout[-3000:]
    assert "a planted failure of the layer analysis" in result.stdout  # the terminal keeps the error
    blob = re.search(r'data-jsonblob="([^"]*)"', (small / "errors" / "report.html").read_text()).group(1)
    rows = [r for rs in json.loads(html_lib.unescape(blob))["tests"].values() for r in rs]
    errors = [r for r in rows if r["result"] == "Error"]
    assert len(errors) >= 4, [r["result"] for r in rows]
    shown = [r["log"] for r in errors if not r["log"].startswith("Same text as the row of ")]
    assert all("RuntimeError: a planted failure" in log for log in shown), shown[:1]
    assert all("left out" in log for log in shown), "a long traceback was not cut"
    limit = results_rows.HEAD_CHARS + results_rows.TAIL_CHARS + len(results_rows.TRUNCATED) + 10
    assert max(len(r["log"]) for r in errors) <= limit
    assert len(shown) < len(errors), "no row pointed to an earlier one with the same error"


# No spaces: a test ID keeps them as "_", which would defuse a payload that needs one.
PAYLOADS = ["<img/src=x/onerror=document.body.setAttribute('data-pwned','img')>",
            '<script>document.body.setAttribute("data-pwned","script")</script>',
            '"><svg/onload=document.body.setAttribute(\'data-pwned\',\'svg\')>']


def test_hostile_prompts_run_no_script_in_the_report(small, tmp_path):
    """Prompts reach test IDs, captions and tables; none may reach the page as markup."""
    assert CHROMIUM, "Debian's chromium is needed for this test; `make test` installs it (scripts/install-browser.sh)"
    text = (small / "experiment.toml").read_text()
    text = text.replace('"extremely aggressive death metal", "gentle lullaby"', f"{json.dumps(PAYLOADS[0])}, {json.dumps(PAYLOADS[1])}")
    text = text.replace('"intense EDM rave", "silent meditation"', f"{json.dumps(PAYLOADS[2])}, \"calm drone\"")
    text = text.replace('"warm sunny melody with bells"', json.dumps("happy " + PAYLOADS[0]))
    assert text.count("data-pwned") == 4
    experiment = tmp_path / "hostile.toml"
    experiment.write_text(text)
    result, record, _ = run(small, "hostile", "-k", "extreme or sample_size", cache=tmp_path / "cache",
                            experiment=experiment)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    ids = re.findall(r"hypotheses/\S+::\S+", result.stdout)
    assert all(re.fullmatch(r"[A-Za-z0-9_./:\[\]-]+", i) for i in ids), ids
    report = small / "hostile" / "report.html"
    assert "data-pwned" in report.read_text()  # the payloads are in the page, as text
    chromium = Chromium(tmp_path / "profile", tmp_path)
    try:
        chromium.open(report.as_uri())
        dom = chromium.dom()
    finally:
        chromium.close()
    assert 'id="emoprobe-verdict"' in dom, "the report did not render"
    assert not re.search(r"<body[^>]*data-pwned", dom), "a prompt ran as script in the report"
    # Nor did any reach the page as markup: as an element its attribute would be serialised quoted.
    assert 'onerror="document.body' not in dom and 'onload="document.body' not in dom
    assert "<script>document.body" not in dom


def test_collecting_leaves_the_html_record_alone(tmp_path):
    # --collect-only runs no claim; it once overwrote report.html with an empty INCONCLUSIVE
    # while decision.json kept the real verdict.
    html = tmp_path / "report.html"
    html.write_text("the last real run's record")
    result = subprocess.run([sys.executable, "-m", "pytest", "hypotheses/", "--collect-only", "-q", "--model", "tiny",
                             "--html", str(html), "-p", "no:cacheprovider"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert html.read_text() == "the last real run's record"


def test_claims_are_recorded_by_claim_then_layer_whatever_order_workers_report_them():
    rows = [{"claim": "permutation", "layer": 10, "nodeid": "h::t[tiny-10]"},
            {"claim": "acoustic", "nodeid": "h::a[tiny-happy]"},
            {"claim": "permutation", "layer": 2, "nodeid": "h::t[tiny-2]"},
            {"claim": "lexical", "layer": 0, "nodeid": "h::l[tiny-0]"},
            {"claim": "acoustic", "nodeid": "h::a[tiny-calm]"}]
    ordered = run_record.canonical_claim_order(rows)
    assert [(r["claim"], r.get("layer")) for r in ordered] == [
        ("acoustic", None), ("acoustic", None), ("lexical", 0), ("permutation", 2), ("permutation", 10)]
    assert [r["nodeid"] for r in ordered[:2]] == ["h::a[tiny-calm]", "h::a[tiny-happy]"]
    assert run_record.canonical_claim_order(list(reversed(rows))) == ordered


def test_the_verdict_reads_the_conditioners_word_embeddings_where_the_run_stored_them():
    # tests/data/synonym_wordings.toml: no word, stem or letter gives the emotions away, so only a
    # word-only model that reads meaning shows the confound (tests/test_design.py). The verdict
    # sees it only when the run hands it the conditioner's embedding of each word.
    import dataclasses

    from emoprobe import design
    from emoprobe.config import load_config, planned_wordings
    from emoprobe.truth import synthetic

    experiment = load_config(REPO / "tests" / "data" / "synonym_wordings.toml")
    experiment = dataclasses.replace(experiment, thresholds=dataclasses.replace(experiment.thresholds,
                                                                               word_only_null_datasets=100))
    wordings = planned_wordings(experiment)
    groups = {ws[i].split()[0]: e for e, ws in wordings.items() for i in range(5)}
    reads_meaning = synthetic.meaning_vectors(groups, design.conditioner_words(wordings), 2.0)

    def crossed(word_vectors):
        decision = run_record.decide_model(experiment, lambda claim: [], None, False, lambda: (None, None),
                                           word_vectors)
        return {c.name: c for c in decision.criteria}["wordings cross words with emotions"]

    flagged = crossed(reads_meaning)
    assert flagged.passed is False and "word-only model" in flagged.value, flagged
    unseen = crossed(None)
    assert unseen.passed is None and "not by meaning" in unseen.value, unseen
    # Embeddings that read no meaning leave the design crossed, and say that they were read.
    plain = crossed(synthetic.meaning_vectors({}, design.conditioner_words(wordings), 2.0))
    assert plain.passed is None and "by meaning, through the model's conditioner" in plain.value, plain


def test_a_whole_run_stores_the_word_embeddings_and_its_verdict_reads_them(whole):
    _, record, _ = whole
    row = {c["name"]: c for c in record["criteria"]}["wordings cross words with emotions"]
    assert "through the model's conditioner" in row["value"], row


def test_word_embeddings_lost_from_the_store_are_computed_again_by_the_lexical_control(small, whole):
    # The controller that decides has no model; the worker that runs the lexical control has one
    # at hand when it must, so a store that lost them (or filled before they were kept) regains them.
    cache = small / "cache-without-text"
    shutil.copytree(small / "cache", cache)
    shutil.rmtree(cache / "text")
    _, record, _ = run(small, "text-lost", "-k", "lexical", cache=cache)
    row = {c["name"]: c for c in record["criteria"]}["wordings cross words with emotions"]
    assert "through the model's conditioner" in row["value"], row
    assert len(list((cache / "text").glob("*.npy"))) >= len(list((small / "cache" / "text").glob("*.npy")))


def test_a_decision_that_raises_still_leaves_a_record_that_says_there_is_no_verdict(small, whole):
    # Once, a bad file the decision read raised in pytest_sessionfinish, and the run left no
    # decision.json, no report and no verdict line (review 24).
    result, record, history = run(small, "decision-raises", "-p", "broken_decision", "-k", "sample_size")
    assert result.returncode == 6, result.stdout[-3000:] + result.stderr[-3000:]
    assert record["verdict"] == "INCONCLUSIVE" and "a planted failure of the decision" in record["reason"], record
    assert record["partial"] is True and "could not be made" in record["partial_reason"]
    assert history == []  # no verdict, so no line for the replication record
    assert (small / "decision-raises" / "report.html").exists()
    assert "VERDICT INCONCLUSIVE" in result.stdout and "no verdict" in result.stdout


def test_the_verdicts_audit_simulates_the_samples_each_wording_has(monkeypatch):
    # Review 29: a run that lost samples can still reach GO, so its audit must be simulated at the
    # counts the sample-size claim saw, not at the plan's; without that row, the plan's.
    from emoprobe import design, lexical
    from emoprobe.config import load_config

    experiment = load_config(REPO / "configs" / "experiment.toml")
    seen = []

    def audit(emotions, thresholds, *, seeds_per_wording=None, **_):
        seen.append((dict(emotions), seeds_per_wording))
        return dataclasses.replace(lexical.audit_design(emotions, thresholds.max_word_same_emotion_share),
                                   word_only_rate=0.012, word_only_limit=0.05,
                                   simulated_samples=tuple(n for per in seeds_per_wording.values() for n in per))

    monkeypatch.setattr(design, "audit", audit)
    counts = {f"{e}/{i}": 4 for e in experiment.emotions for i in range(5)}
    counts.update({"happy/0": 3, "happy/1": 2, "sad/4": 0})
    size_row = {"claim": "sample_size", "min_n": 16, "wording_counts": counts}
    decision = run_record.decide_model(experiment, lambda claim: [size_row] if claim == "sample_size" else [],
                                       None, False, lambda: (None, None))
    # The record says what was audited, at what shape.
    [crossed] = [c for c in decision.criteria if c.name == "wordings cross words with emotions"]
    assert "in 0.012 of simulated datasets (limit 0.050), simulated at 2 to 4 samples per wording" in crossed.value
    emotions, seeds = seen[-1]
    assert seeds["happy"] == (3, 2, 4, 4, 4) and seeds["sad"] == (4, 4, 4, 4)
    assert emotions["sad"] == tuple(experiment.emotions["sad"][:4])
    run_record.decide_model(experiment, lambda claim: [], None, False, lambda: (None, None))
    assert seen[-1][1] == {e: (4,) * 5 for e in experiment.emotions}


def test_a_failed_positive_control_keeps_a_run_from_go(monkeypatch):
    # Review 30b: claim 8's rows never reached the rule, so a run whose extreme contrasts
    # separated in no layer was still a complete GO.
    from emoprobe import design, lexical
    from emoprobe.config import load_config
    from emoprobe.decision import GO, INCONCLUSIVE, Family

    experiment = load_config(REPO / "configs" / "experiment.toml")
    monkeypatch.setattr(design, "audit", lambda emotions, thresholds, **_: dataclasses.replace(
        lexical.audit_design(emotions, thresholds.max_word_same_emotion_share), read_word_embeddings=True))
    go_rows = {
        "sample_size": [{"claim": "sample_size", "min_n": 20}],
        "permutation": [{"claim": "permutation", "layer": 0, "gap": 0.1, "pvalue": 1e-4, "pvalue_holm": 1e-4,
                         "pvalue_maxt": 1e-4, "gap_se": 0.005}],
        "lexical": [{"claim": "lexical", "layer": 0, "pvalue_holm": 1e-3}],
        "acoustic": [{"claim": "acoustic", "agreement": 0.95, "contrast": ["happy", "sad"], "feature": "mode"}],
    }
    family = Family(1, 1, tuple(experiment.emotions), tuple(experiment.emotions))

    def decide_with(extreme):
        rows = {**go_rows, "extreme": [{"claim": "extreme", "n_significant_holm": n} for n in extreme]}
        return run_record.decide_model(experiment, lambda claim: rows.get(claim, []), family, False,
                                       lambda: (None, None))

    assert decide_with([3, 1]).verdict == GO
    assert decide_with([]).verdict == GO                 # claim 8 not run: its absence is the family's business
    failed = decide_with([2, 0])
    assert failed.verdict == INCONCLUSIVE and "positive control failed: 1 of 2" in failed.reason


def test_the_verdict_compares_the_run_thresholds_with_the_standard():
    import dataclasses

    from emoprobe.config import DEFAULT_CONFIG_PATH, load_config

    experiment = load_config(DEFAULT_CONFIG_PATH)
    experiment = dataclasses.replace(experiment, thresholds=dataclasses.replace(
        experiment.thresholds, alpha=0.5, min_gap=0.05, word_only_null_datasets=100))
    decision = run_record.decide_model(experiment, lambda claim: [], None, False, lambda: (None, None), None)
    row = {c.name: c for c in decision.criteria}["thresholds and settings against the standard"]
    assert row.passed is False, row
    assert row.value == ("looser: alpha 0.5 (standard 0.05); word_only_null_datasets 100 (standard 300), "
                         "other: min_gap 0.05 (standard 0.02)"), row.value
