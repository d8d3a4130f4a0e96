#!/usr/bin/env bash
# The GPU benchmark in one run (under 8 minutes on an H100): CUDA outputs checked against the
# CPU's, throughput against batch size for a ResNet-50 and a transformer text classifier in
# fp32 / bf16 / fp16, micro-batching against per-event scoring, length buckets against padding
# to the batch's longest. Results: Markdown on stdout, JSON in ${OUT:-.}/gpu-bench.json.
#
# Where it runs: a machine whose python3 has torch (CUDA) and numpy, such as the device image.
# streamapp's other runtime needs (pydantic, msgspec, orjson, ...) travel as wheels in .whl/:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --platform manylinux2014_x86_64 -d .whl pydantic pydantic-core annotated-types \
#     typing-inspection pydantic-settings python-dotenv msgspec orjson
# On a CPU machine it runs too (`--quick` for a smoke run): the same code path, no copies.
# Exit status 1 when a device output is outside its tolerance.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/streamapp-site .whl/*.whl
  export PYTHONPATH="/tmp/streamapp-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
export PYTHONUNBUFFERED=1
exec timeout 470 "$PY" -m benchmarks.gpu.run --seconds "${SECONDS_PER_POINT:-2}" \
  --out "${OUT:-.}/gpu-bench.json" "$@"
