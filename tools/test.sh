#!/usr/bin/env bash
# Runs the linter and the whole test suite (ref, lava, and loihi when lava-loihi is present).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check neurodeploy tests tools
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$rc"
