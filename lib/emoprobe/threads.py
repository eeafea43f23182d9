"""One BLAS thread for numeric work whose result must not depend on where it runs.

OpenBLAS splits a product into per-thread blocks and sums them in an order set
by the thread count (and, on AMD EPYC with ``OPENBLAS_CORETYPE=Haswell``, by the
kernel that variable selects). The same audio then gives features that differ in
the 13th digit between a pool worker and the main process, and a cache entry
written by one is not what the other would write. Pinning BLAS to one thread for
the duration of the call fixes the summation order everywhere. The limit is
scoped to the call, so callers' own settings stand.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_CONTROLLER: Any = None


def _controller() -> Any:
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController  # comes with scikit-learn

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def single_threaded_blas(function: F) -> F:
    """Decorate ``function`` to run with BLAS limited to one thread (restored afterwards)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _controller().limit(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
