"""``benchmarks/gpu/run.sh`` is prepared on CPU: the script runs end to end (``--quick``),
checks bf16 against fp32 and writes every table, through the worker's torch runtime."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_gpu_benchmark_runs_on_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "SECONDS_PER_POINT": "0.1"}
    done = subprocess.run([str(REPO / "benchmarks/gpu/run.sh"), "--quick"], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "gpu-bench.json").read_text())
    assert {(r["model"], r["precision"]) for r in results["check"]} == {
        ("cnn-bf16", "bf16"), ("text-bf16", "bf16")}
    assert all(r["ok"] for r in results["check"])  # random CNN weights: near-uniform, no argmax
    assert {r["model"] for r in results["sweep"]} == {"cnn", "text"}
    assert all(r["events_per_s"] > 0 for r in results["sweep"])
    padding, buckets = results["buckets"]
    assert buckets["padded_tokens"] < padding["padded_tokens"]
    assert "buckets vs padding" in done.stdout
