"""Wall-time accounting shared by the benchmarks: wrap a function, sum its time by name."""

import time
from collections import defaultdict

TIMERS: dict[str, float] = defaultdict(float)


def timed(name, function):
    """``function``, adding each call's wall time to ``TIMERS[name]``."""
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TIMERS[name] += time.perf_counter() - start

    return wrapper
