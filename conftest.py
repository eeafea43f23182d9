"""Registers the suite's pytest plugins (options, session fixtures, report)."""

import sys
from pathlib import Path

# The library is installed by `make setup`; this keeps a bare checkout importable too.
sys.path.insert(0, str(Path(__file__).parent / "lib"))

pytest_plugins = ["fixtures.options", "fixtures.samples", "fixtures.analysis", "fixtures.report"]
