#!/usr/bin/env bash
# The nightly replication run (what .github/workflows/nightly.yml calls; runs anywhere).
# Settings come from EMOPROBE_* variables (see `python -m emoprobe.nightly --help`);
# arguments are passed on. Exits 0 on any verdict, 2 or more when the run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m emoprobe.nightly "$@"
