#!/usr/bin/env bash
# Set up .venv/ on a fresh Python 3.11 x86_64 machine; a second run does nothing.
#
# audiocraft 1.3.0 pins torch 2.1.0, numpy<2 and av 11, none of which install on
# Python 3.11 today, so it goes in without its dependencies, after what it
# really imports (requirements/lock.txt, which pins everything, torch 2.9.1 and
# torchaudio 2.9.1 included). xformers likewise: audiocraft imports xformers.ops.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.emoprobe-setup
want=$(cat scripts/setup.sh requirements/*.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

# pip's complaints about this machine's missing local index folders are noise.
pip_install() {
  .venv/bin/python -m pip install --quiet "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
  return "${PIPESTATUS[0]}"
}

echo "emoprobe: setting up .venv/ (first time: about 8 GB and a few minutes)" >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install --upgrade pip
pip_install -r requirements/lock.txt
pip_install --no-deps -r requirements/no-deps.txt
pip_install --no-deps -e .
.venv/bin/python -c "from audiocraft.models import MusicGen; import emoprobe, essentia, pingouin" \
  || { echo "emoprobe: set-up finished but imports fail" >&2; exit 1; }
echo "$want" > "$stamp"
echo "emoprobe: .venv/ ready" >&2
