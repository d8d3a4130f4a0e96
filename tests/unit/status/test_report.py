"""streamapp.status.report.build_report: workers, models, incidents and lag from heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamapp.status.report import build_report

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _beat(worker: str, role: str, age_s: float, **fields: object) -> dict[str, object]:
    at = (NOW - timedelta(seconds=age_s)).isoformat()
    return {"worker": worker, "role": role, "heartbeat_at": at, "interval_s": 5.0, **fields}


def test_report_groups_live_workers_by_model_version_variant_and_flags_stale_ones() -> None:
    request = {"reason": "accuracy_drop", "metric": "accuracy", "observed": 0.6,
               "threshold": 0.9, "window": "count:500"}
    beats = {
        "a": _beat("score/h1/1", "score", 2, model="m", version="2", candidate="3",
                   consumed_per_s=100.0, predictions_per_s=99.0, dead_letter_per_s=1.0),
        "b": _beat("score/h2/7", "score", 4, model="m", version="2", candidate=None,
                   consumed_per_s=50.0, predictions_per_s=50.0, dead_letter_per_s=0.0),
        "c": _beat("score/h3/9", "score", 60, model="m", version="1"),  # crashed: stale
        "d": _beat("monitor/h1/2", "monitor", 1, quality=[
            {"model": "m", "version": "2", "accuracy": 0.6, "max_psi": 0.3,
             "max_psi_feature": "age", "incident_open": True, "last_request": request}]),
        "e": _beat("retrain/h1/3", "retrain", 1,
                   last_decision={"ts": "2026-11-29T11:59:00+00:00", "event": "rejected"}),
    }
    lag = [{"group": "g", "topic": "ev", "partition": 0, "committed": 5, "end": 9, "lag": 4},
           {"group": "g", "topic": "ev", "partition": 1, "committed": None, "end": 3,
            "lag": None}]
    report = build_report(beats, lag, NOW)
    stale = {w["worker"]: w["stale"] for w in report["workers"]}
    assert stale == {"score/h1/1": False, "score/h2/7": False, "score/h3/9": True,
                     "monitor/h1/2": False, "retrain/h1/3": False}
    rows = {(r["model"], r["version"], r["variant"]): r for r in report["models"]}
    assert set(rows) == {("m", "2", "primary"), ("m", "3", "candidate")}
    primary = rows[("m", "2", "primary")]
    assert primary["workers"] == ["score/h1/1", "score/h2/7"]
    assert primary["consumed_per_s"] == 150.0 and primary["dead_letter_per_s"] == 1.0
    assert primary["accuracy"] == 0.6 and primary["incident_open"] is True
    assert [i["last_request"]["reason"] for i in report["incidents"]] == ["accuracy_drop"]
    assert report["lag_by_group"] == {"g": 4}
    assert report["last_retrain_decision"]["event"] == "rejected"
