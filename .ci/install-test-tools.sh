#!/usr/bin/env bash
# Installs the external checkers the test suite runs for real: xmllint (JUnit XSD), Debian's
# Chromium (the HTML report), and a Python venv with check-jsonschema and junitparser.
# Idempotent: safe to run on every CI run and on a developer machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check check-jsonschema junitparser
