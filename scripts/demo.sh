#!/usr/bin/env bash
# The main job on a local development broker: installs what it needs, then runs
# `streamapp demo --local-broker` (Apache Kafka from scripts/install-kafka.sh).
# Extra arguments go to the demo (e.g. scripts/demo.sh --duration 60).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh demo
exec .venv/bin/streamapp demo --local-broker "$@"
