"""Architecture rules, checked on what importing a module really loads (third-party included).

The scoring core never imports Kafka; the Kafka layer never imports torch; production
code never loads the users' test kit. The rules between streamapp's own packages are
checked statically in tests/unit/test_architecture.py (docs/architecture.md).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "streamapp.scoring.decode",
    "streamapp.scoring.batcher",
    "streamapp.scoring.scorer",
    "streamapp.scoring.router",
    "streamapp.scoring.reload",
]
KAFKA = ["streamapp.kafka.source", "streamapp.kafka.sink", "streamapp.kafka.commit",
         "streamapp.metrics.scoring"]


def _loaded(module: str, forbidden: list[str]) -> list[str]:
    code = (
        f"import sys, {module}\n"
        f"print(','.join(m for m in {forbidden!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


@pytest.mark.parametrize("module", CORE)
def test_core_does_not_import_kafka(module: str) -> None:
    assert _loaded(module, ["confluent_kafka", "aiokafka", "faust"]) == []


@pytest.mark.parametrize("module", KAFKA)
def test_kafka_layer_does_not_import_model_runtimes(module: str) -> None:
    assert _loaded(module, ["torch", "onnxruntime"]) == []


@pytest.mark.parametrize(
    "module",
    ["streamapp.runtime.loader", "streamapp.registration", "streamapp.retrain.job",
     "streamapp.ingest.check"],
)
def test_production_code_does_not_load_the_test_kit(module: str) -> None:
    assert _loaded(module, ["streamapp.testing", "streamapp.testing.fakes"]) == []
