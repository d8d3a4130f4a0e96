from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from streamapp.demo.report import ACCURACY_PNG, THROUGHPUT_PNG, paragraph, render
from streamapp.demo.result import DemoResult, Marker, Sample, judge
from streamapp.demo.traffic import TrafficPlan
from streamapp.demo.view import LiveView, status_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


VERDICT = "promote v2 vs v1: mcnemar, accuracy effect +0.480, p=1e-30 < 0.00625, 212 pairs"


def _result(
    accuracy_v2: float = 0.97, promoted: bool = True, shadow: str | None = None
) -> DemoResult:
    """A synthetic run; ``shadow``: v2 went through a shadow phase with this final decision."""
    plan = TrafficPlan(rate=100, duration_s=60, drift_at_s=20)
    markers = [
        Marker(20, "drift", "shift"),
        Marker(23, "detected", "PSI"),
        Marker(24, "request", "acc"),
    ]
    decisions: list[dict[str, object]] = []
    if shadow is not None:
        markers.append(Marker(34, "shadow", "2"))
        markers.append(Marker(38, "verdict", VERDICT.replace("promote", shadow, 1)))
        decisions.append({
            "t": 38.0, "candidate_version": "2", "primary_version": "1", "mode": "shadow",
            "decision": shadow, "test": "mcnemar", "effect": 0.48, "p_value": 1e-30,
            "alpha": 0.00625, "samples": 212,
        })
    if promoted:
        markers.append(Marker(40, "promotion", "2"))
    samples = [
        Sample(
            t=float(t),
            events_sent=100 * t,
            throughput=100.0,
            p50_ms=8.0,
            p99_ms=30.0,
            batch_size=4.0,
            lag=0.0,
            dead_letters=t // 10,
            label_coverage=0.9,
            accuracy={"1": 0.99 if t < 20 else 0.5} if t < 40 else {"2": accuracy_v2},
            monitor_accuracy={"1": 0.98},
            drift={} if 40 <= t < 45 else {"salary": 0.02 if t < 20 else 0.8, "age": 0.01},
        )
        for t in range(1, 61)
    ]
    series = {"1": [(float(t), 0.99 if t < 20 else 0.5, 100) for t in range(0, 40, 2)]}
    if promoted:
        series["2"] = [(float(t), accuracy_v2, 100) for t in range(40, 60, 2)]
    served = {"1", "2"} if promoted else {"1"}
    accuracy = {"2": (accuracy_v2, 1000)} if promoted else {}
    decided = {"2": shadow} if shadow is not None else {}
    verdict = judge(markers, served, "1", accuracy, 0.85, 100, decided)
    counts = {
        "events_sent": 6000.0,
        "malformed_sent": 18.0,
        "dead_letters": 18.0,
        "labels_sent": 5000.0,
        "labels_dropped": 600.0,
    }
    return DemoResult(plan, samples, markers, series, counts, verdict, decisions=decisions)


def test_render_writes_pngs_and_summaries(tmp_path: Path) -> None:
    files = render(_result(), tmp_path)
    for name in (ACCURACY_PNG, THROUGHPUT_PNG):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"]["closed"] is True
    md = (tmp_path / "summary.md").read_text()
    assert "LOOP CLOSED" in md and ACCURACY_PNG in md and "| 40.0 | new version promoted: 2 |" in md
    assert len(files) == 4


def test_render_survives_an_empty_interrupted_run(tmp_path: Path) -> None:
    plan = TrafficPlan()
    verdict = judge([], set(), "1", {}, 0.85, 100)
    result = DemoResult(plan, [], [], {}, {}, verdict, interrupted=True, error="stopped")
    render(result, tmp_path)
    assert (tmp_path / ACCURACY_PNG).read_bytes().startswith(PNG_MAGIC)
    assert "LOOP NOT CLOSED (interrupted)" in (tmp_path / "summary.md").read_text()


def test_verdict_needs_every_stage() -> None:
    assert _result().verdict.closed
    low = _result(accuracy_v2=0.6).verdict
    assert low.promoted and not low.recovered and not low.closed
    none = _result(promoted=False).verdict
    assert none.retrain_requested and not none.promoted and not none.closed
    early = judge([Marker(5, "detected", ""), Marker(20, "drift", "")], {"1"}, "1", {}, 0.85, 1)
    assert not early.drift_detected  # a detection before the drift point does not count
    not_served = judge(
        [Marker(1, "drift", ""), Marker(2, "request", ""), Marker(3, "promotion", "2")],
        {"1"},
        "1",
        {"2": (0.99, 500)},
        0.85,
        100,
    )
    assert not not_served.promoted  # promoted but never seen serving = no hot reload


def test_paragraph_states_the_numbers() -> None:
    text = paragraph(_result())
    assert "Drift injected at t=20s, detected at t=23s" in text
    assert "Version 2 trained and promoted at t=40s" in text
    assert "0.970" in text and "LOOP CLOSED" in text


def test_the_report_records_the_records_format(tmp_path: Path) -> None:
    plain = _result()
    assert plain.format == "json" and "Sent 6000 events at 100/s" in paragraph(plain)
    result = _result()
    result.format = "avro"
    assert paragraph(result).startswith("Sent 6000 events as Avro (events, labels and ")
    render(result, tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["format"] == "avro"
    assert "| format | Avro |" in (tmp_path / "summary.md").read_text()


def test_shadow_path_needs_a_promote_verdict_and_is_reported(tmp_path: Path) -> None:
    result = _result(shadow="promote")
    assert result.verdict.shadowed and result.verdict.closed
    text = paragraph(result)
    assert "Version 2 trained at t=34s and scored in shadow." in text
    assert f"Shadow verdict at t=38s: {VERDICT}." in text
    assert "Production moved to version 2 at t=40s; its accuracy on drifted traffic: 0.970" in text
    assert "shadow verdict promote yes" in text and "LOOP CLOSED" in text
    render(result, tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert "| 34.0 | new version in shadow: 2 |" in md
    assert f"| 38.0 | shadow verdict: {VERDICT} |" in md
    assert "| 38.0 | v2 vs v1 | shadow | promote | mcnemar | +0.480 | 1e-30 | 0.00625 | 212 |" in md
    assert json.loads((tmp_path / "summary.json").read_text())["decisions"][0]["samples"] == 212
    # a shadowed version that reached production without a promote verdict does not close it
    keep = _result(shadow="keep_collecting").verdict
    assert keep.promoted and keep.recovered and not keep.closed


def test_plain_view_without_tty_prints_periodic_lines() -> None:
    console = Console(file=__import__("io").StringIO(), force_terminal=False, width=300)
    view = LiveView(console, every_s=0.0)
    assert not view.tty
    sample = _result().samples[30]
    with view:
        view.show(sample, "idle", [])
        view.training(3, 10)
        view.show(sample, "training", [])
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert out.count("t=31s") == 2 and "retrain: training" in out
    table = status_table(sample, "idle", ["t=1s x"])
    assert table.row_count == 12
