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

# The suite's own engineering tests (what CI runs).
# One process. Two xdist workers (-n 2 --dist loadfile) were tried once, on a box
# loaded by other jobs (load 6-11): 83 min, and one calibration that takes 29 s
# alone took 923 s, so the gain, if any, was not shown.
test: setup
	@bash scripts/install-browser.sh
	@bash scripts/install-tools.sh
	$(PY) -m pytest tests/ --durations=25

bench: setup
	$(PY) bench/bench_capture.py

# The nightly replication run (EMOPROBE_* variables; see scripts/nightly.sh).
nightly: setup
	@bash scripts/nightly.sh
