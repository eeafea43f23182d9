"""Statistics engine: similarity, label-permutation tests, corrections, effect sizes."""

from .permutation import *  # noqa: F401,F403
from .permutation import (  # noqa: F401
    _PermutationEngine, _check_count, _control_engine, _gap_engine, _label_batches, _make_design, _plan,
    _single_threaded_blas,
)
from .permutation import __all__  # noqa: F401
