"""bench/bench_corpus.py's paired comparison: a planted gap between two estimators is
found, and two estimators that differ only by chance are called a tie."""
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


def _clips(mode, key, acc1, acc2):
    return {"mode_acc": np.asarray(mode, float), "key_weighted": np.asarray(key, float),
            "acc1": np.asarray(acc1, float), "acc2": np.asarray(acc2, float)}


def test_a_planted_gap_is_found(bench_corpus):
    rng = np.random.default_rng(1)
    n = 80
    b = rng.random(n) < 0.6
    a = b.copy()
    a[np.flatnonzero(~b)[:20]] = True          # a gets 20 clips right that b misses, and loses none
    comparison = bench_corpus.paired_comparison(_clips(a, a, a, a), _clips(b, b, b, b))
    row = comparison["acc1"]
    assert (row["a_only"], row["b_only"]) == (20, 0)
    assert row["diff"] == pytest.approx(20 / n)
    assert row["ci"][0] > 0
    assert row["mcnemar_p"] == pytest.approx(stats.binomtest(20, 20).pvalue) and row["mcnemar_p"] < 1e-5
    assert comparison["key_weighted"]["ci"][0] > 0 and "mcnemar_p" not in comparison["key_weighted"]


def test_one_clip_apart_is_a_tie(bench_corpus):
    """The issue-15 situation: 49 of 64 against 48 of 64, the clips swapped at random."""
    rng = np.random.default_rng(2)
    a = np.zeros(64, bool)
    a[rng.permutation(64)[:49]] = True
    b = a.copy()
    b[np.flatnonzero(a)[:4]] = False
    b[np.flatnonzero(~a)[:3]] = True
    row = bench_corpus.paired_comparison(_clips(a, a, a, a), _clips(b, b, b, b))["acc1"]
    assert (row["a_only"], row["b_only"]) == (4, 3)
    assert row["ci"][0] < 0 < row["ci"][1]
    assert row["mcnemar_p"] == pytest.approx(1.0)


def test_identical_estimators_differ_by_nothing(bench_corpus):
    a = np.r_[np.ones(30), np.zeros(10)]
    row = bench_corpus.paired_comparison(_clips(a, a, a, a), _clips(a, a, a, a))["mode_acc"]
    assert row["diff"] == 0 and row["ci"] == (0.0, 0.0) and row["mcnemar_p"] == 1.0
