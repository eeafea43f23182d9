# The two commands of the README. Both set up .venv/ first (once).
PY := .venv/bin/python

.PHONY: setup report test bench listen nightly

setup:
	@bash scripts/setup.sh

# The whole hypothesis suite, offline, on the tiny random model: a pipeline
# check that leaves reports/report.html. For evidence, pass MODEL=facebook/musicgen-large
# (or small, medium, melody, or a checkpoint folder) on a GPU box.
MODEL ?= tiny
report: setup
	@$(PY) -m pytest hypotheses/ -n auto $(foreach m,$(MODEL),--model '$(m)'); status=$$?; \
	if [ $$status -eq 1 ]; then echo "emoprobe: some claims failed on the data (a result, not a crash): see reports/report.html"; fi; \
	exit $$status

# The blinded listening page of the samples `make report` cached (same MODEL):
# reports/listening/<model>/listening.html, its key beside it. Score the
# downloaded answers with: .venv/bin/python -m emoprobe.listen score answers-*.json
listen: setup
	@for m in $(MODEL); do $(PY) -m emoprobe.listen build --model "$$m" || exit 1; done

# The suite's own engineering tests (what CI runs), on two xdist workers: CI's box has two
# cores and one process kept one of them mostly idle. Each worker runs BLAS, OpenMP and torch
# on one thread, as do the suite runs it starts (tests/conftest.py): a first try with their
# default two threads each took 83 min on a loaded box, one calibration 29 s -> 923 s.
# --dist loadfile with tests/conftest.py's scheduler keeps each file (and the two files sharing
# crossed_run) on one worker, longest first; --no-loadscope-reorder keeps that order.
# Measured on 2026-11-26 on a box shared with other jobs, same files back to back:
# test_suite_smoke, test_report, test_verdicts, test_threads (26 tests) took 811 s on two
# workers (load 7 to 10) and 1811 s in one process (load 3.5 to 7); test_nightly and
# test_shard (99 tests), one process first, 502 s (load 2.1 to 4.5), then two workers 315 s
# (load 3.0 to 4.2). The whole make test in a fresh clone (fc49f9b, 667 tests): 24 min 48 s on
# two workers at load 2.2-2.4; 37 and 44 min in one process in the two fresh clones before.
# 2026-11-27: 678 tests in 15 min 52 s (92bf27f); 671 in 15 min 43 s with a freshly built .venv,
# which is where two workers first compiled librosa's numba kernels at once (emoprobe.compiled_kernels).
test: setup
	@bash scripts/install-browser.sh
	@bash scripts/install-tools.sh
	$(PY) -m pytest tests/ -n 2 --dist loadfile --no-loadscope-reorder --durations=25

bench: setup
	$(PY) bench/bench_capture.py

# The nightly replication run (EMOPROBE_* variables; see scripts/nightly.sh).
nightly: setup
	@bash scripts/nightly.sh
