"""``streamapp demo --format avro``: the same short run as the JSON demo, every record in the
Confluent wire format through a local Apicurio Registry the demo starts and stops.

The loop must close exactly as with JSON (:func:`run_short_demo`), and the report must
prove the records really travelled as Avro: every prediction the demo read was a
wire-format value decoded through the registry (none was JSON), the scorer decoded the
events and the monitor the labels as Avro (their own ``streamapp_format_records_total``),
and the retrained version 2 reads the same event fields as version 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamapp.registry.registry import ModelRegistry
from tests.integration.demo_support import run_short_demo

pytestmark = pytest.mark.integration


def test_short_avro_demo_closes_the_loop_on_wire_format_records(tmp_path: Path) -> None:
    summary = run_short_demo(tmp_path, "--format", "avro",
                             more_pids=frozenset({"schema_registry"}))
    out = tmp_path / "report"
    assert summary["format"] == "avro"
    counts = summary["counts"]
    assert counts["avro_predictions_read"] == counts["predictions_read"] > 0
    assert counts["json_predictions_read"] == counts["undecodable_predictions"] == 0
    good_events = counts["events_sent"] - counts["malformed_sent"]
    assert counts["avro_events_decoded"] >= 0.9 * good_events
    assert counts["avro_labels_decoded"] > 0.3 * counts["labels_sent"]  # the logged half
    # Version 2 was trained on what version 1 scored, and reads the same event fields.
    schema = json.loads((out / "schemas" / "event.avsc").read_text())
    fields = [f["name"] for f in schema["fields"]][2:]
    registry = ModelRegistry(out / "models")
    for version in ("1", "2"):
        assert [f.name for f in registry.get("agrawal-clf", version).manifest.features] == fields
    assert "as Avro" in (out / "summary.md").read_text()
