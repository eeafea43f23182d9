"""bench/bench_corpus.py's paired comparison: a planted gap between two estimators is
found, a difference of a few clips is called a tie, and the interval agrees with the test."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_corpus.py"


@pytest.fixture(scope="module")
def bench_corpus():
    spec = importlib.util.spec_from_file_location("bench_corpus_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _clips(right, key=None):
    right = np.asarray(right, float)
    return {"mode_acc": right, "key_weighted": right if key is None else np.asarray(key, float), "acc1": right,
            "acc2": right}


def _pair(n, a_only, b_only, both=0):
    """Right/wrong per clip for two estimators with the given discordant counts."""
    a, b = np.zeros(n), np.zeros(n)
    a[:a_only] = 1
    b[a_only:a_only + b_only] = 1
    a[a_only + b_only:a_only + b_only + both] = b[a_only + b_only:a_only + b_only + both] = 1
    return a, b


def test_a_planted_gap_is_found(bench_corpus):
    a, b = _pair(80, 20, 0, both=40)
    comparison = bench_corpus.paired_comparison(_clips(a), _clips(b))
    row = comparison["acc1"]
    assert (row["a_only"], row["b_only"], row["diff"]) == (20, 0, pytest.approx(20 / 80))
    assert row["p"] == pytest.approx(stats.binomtest(20, 20).pvalue) and row["p"] < 1e-5
    split = stats.binomtest(20, 20).proportion_ci(confidence_level=0.95, method="exact")
    assert row["ci"] == pytest.approx((20 / 80 * (2 * split.low - 1), 20 / 80 * (2 * split.high - 1)))
    assert row["ci"][0] > 0
    key = comparison["key_weighted"]
    assert key["ci"][0] > 0 and key["p"] < 1e-3 and "a_only" not in key


def test_a_few_clips_one_way_are_a_tie(bench_corpus):
    # The reviewer's case: 3 of 84 clips right only for a. McNemar p = 0.25, and the
    # interval must hold 0 too (BCa's gave +0.012 to +0.095).
    a, b = _pair(84, 3, 0, both=60)
    key_a, key_b = np.where(a > b, 0.5, 0.0), np.zeros(84)
    comparison = bench_corpus.paired_comparison(_clips(a, key_a), _clips(b, key_b))
    assert comparison["acc1"]["p"] == pytest.approx(0.25)
    assert comparison["acc1"]["ci"][0] < 0 < comparison["acc1"]["ci"][1]
    assert comparison["key_weighted"]["p"] > 0.05
    assert comparison["key_weighted"]["ci"][0] <= 0 < comparison["key_weighted"]["ci"][1]


@pytest.mark.parametrize("a_only", range(0, 31))
def test_the_interval_holds_zero_exactly_when_the_test_is_not_significant(bench_corpus, a_only):
    for b_only in range(0, 31):
        if a_only + b_only == 0:
            continue
        a, b = _pair(100, a_only, b_only)
        flat_key = np.zeros(100)       # the key's bootstrap is not what this test is about
        row = bench_corpus.paired_comparison(_clips(a, flat_key), _clips(b, flat_key))["mode_acc"]
        holds_zero = row["ci"][0] <= 0 <= row["ci"][1]
        assert holds_zero == (row["p"] >= 0.05), (a_only, b_only, row)


def test_the_key_p_is_two_sided_sign_flipping(bench_corpus):
    # 4 clips one way by 0.5, the rest equal: of the 16 sign patterns of the 4, 2 are as
    # extreme (all +, all -), so the exact two-sided p is 2/16; a one-sided test gives 1/16.
    key_a = np.r_[np.full(4, 0.5), np.zeros(80)]
    flat = np.zeros(84)
    row = bench_corpus.paired_comparison(_clips(flat, key_a), _clips(flat, flat))["key_weighted"]
    assert row["p"] == pytest.approx(2 / 16, abs=0.015)


def test_the_confidence_level_is_used(bench_corpus):
    a, b = _pair(84, 12, 4, both=50)
    key_a = np.where(a > b, 0.5, np.where(b > a, 0.2, 1.0))
    wide = bench_corpus.paired_comparison(_clips(a, key_a), _clips(b), confidence=0.95)
    narrow = bench_corpus.paired_comparison(_clips(a, key_a), _clips(b), confidence=0.5)
    for fig in ("acc1", "key_weighted"):
        assert wide[fig]["ci"][0] < narrow[fig]["ci"][0] < narrow[fig]["ci"][1] < wide[fig]["ci"][1], fig


def test_identical_estimators_differ_by_nothing(bench_corpus):
    a = np.r_[np.ones(30), np.zeros(10)]
    comparison = bench_corpus.paired_comparison(_clips(a), _clips(a))
    for fig in ("mode_acc", "key_weighted"):
        row = comparison[fig]
        assert row["diff"] == 0 and row["ci"] == (0.0, 0.0) and row["p"] == 1.0
    # Every clip one full point apart in key score: no spread, and the interval is the difference.
    ones, zeros = np.ones(40), np.zeros(40)
    assert bench_corpus.paired_comparison(_clips(a, ones), _clips(a, zeros))["key_weighted"]["ci"] == (1.0, 1.0)


@pytest.mark.parametrize("a, b", [([], []), ([1, 0], [1]), ([1, np.nan], [1, 0]), ([1, 0.5], [1, 0]),
                                  ([1, 2], [1, 0])])
def test_bad_scores_are_refused(bench_corpus, a, b):
    with pytest.raises(ValueError):
        bench_corpus.paired_comparison(_clips(a, np.zeros(len(a))), _clips(b, np.zeros(len(b))))
    with pytest.raises(ValueError, match="key_weighted"):
        bench_corpus.paired_comparison({"mode_acc": np.ones(2)}, _clips(np.ones(2)))


def test_another_runs_results_are_checked_before_use(bench_corpus, tmp_path):
    records = [{"name": f"c{i}", "tonic": "C", "mode": "major", "bpm": 100.0} for i in range(3)]
    good = [{**r, "results": {"emoprobe": {"tempo": 100.0, "tonic": "C", "mode": "major"}}} for r in records]
    path = tmp_path / "run.json"

    def read(content):
        path.write_text(content if isinstance(content, str) else __import__("json").dumps(content))
        return bench_corpus.read_against(str(path), records)

    assert [r["emoprobe"]["tempo"] for r in read(good[::-1])] == [100.0] * 3      # matched by name, not order
    for bad, why in ((good[:2], "no result"), (good + good[:1], "twice"),
                     ([{**good[0], "bpm": 120.0}] + good[1:], "another truth"),
                     ([{**g, "results": {"essentia": {}}} for g in good], "no 'emoprobe'"),
                     ("not json", "cannot read"), ({"name": "c0"}, "not a list")):
        with pytest.raises(SystemExit, match=why):
            read(bad)
