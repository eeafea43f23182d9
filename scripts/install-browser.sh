#!/usr/bin/env bash
# Debian's chromium, for the test that opens the report in a real headless browser.
set -euo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "emoprobe: chromium is missing; install Debian's chromium package (needs root)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
