"""BLAS pinning: numeric results that must not depend on the process layout."""

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from emoprobe.threads import single_threaded_blas


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_runs_on_one_thread_inside_and_the_callers_setting_stands_outside():
    seen = []

    @single_threaded_blas
    def product(a):
        seen.extend(_blas_threads())
        return a @ a.T

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        product(np.ones((4, 4)))
        after = _blas_threads()
    assert seen and set(seen) == {1}
    assert after == before and set(before) == {2}
