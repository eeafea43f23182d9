"""Registers the suite's pytest plugins: options, session fixtures, analyses, the go/no-go report.

``lib/`` and the repository root are on the path through pytest.ini's
``pythonpath``, so a bare checkout works as well as the installed package.
"""

pytest_plugins = ["fixtures.options", "fixtures.samples", "fixtures.analysis", "fixtures.steering", "fixtures.report", "fixtures.terminal", "fixtures.results_table"]
