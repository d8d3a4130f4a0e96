#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what it needs, then lint, types, tests.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
.venv/bin/ruff check streamapp tests benchmarks
.venv/bin/mypy
exec .venv/bin/pytest -p no:cacheprovider "$@"
