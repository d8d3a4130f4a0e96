"""Every metric the alert rules and the dashboard use is in the contract AND really exported."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.unit.deploy.conftest import (
    ALERTS,
    DASHBOARD,
    documented_series,
    exported_series,
    metric_classes,
    metric_names_in,
)


def _alert_exprs() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    """PromQL of every panel target, template variable and annotation of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs: list[str] = []

    def panels(items: list[dict[str, Any]]) -> None:
        for panel in items:
            exprs.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
            panels(panel.get("panels", []))

    panels(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if variable["type"] == "query":
            exprs.append(query["query"] if isinstance(query, dict) else query)
    exprs.extend(a["expr"] for a in dashboard["annotations"]["list"] if a.get("expr"))
    return exprs


def _used() -> dict[str, set[str]]:
    return {
        "alerts.yml": set().union(*(metric_names_in(e) for e in _alert_exprs())),
        "dashboard": set().union(*(metric_names_in(e) for e in _dashboard_exprs())),
    }


def test_metric_extraction_sees_the_expected_names() -> None:
    """Guards the checks below against silently extracting nothing."""
    used = _used()
    assert {"streamapp_feature_drift", "streamapp_model_rejects_total"} <= used["alerts.yml"]
    assert {
        "streamapp_end_to_end_latency_seconds_bucket",
        "streamapp_retrain_requests_total",
        "streamapp_model_info",
    } <= used["dashboard"]


def test_contract_parser_understands_suffixes() -> None:
    documented = documented_series()
    assert "streamapp_batch_size_bucket" in documented  # histogram rows expand
    assert "streamapp_model_info" in documented
    assert "streamapp_batch_size_total" not in documented


@pytest.mark.parametrize("source", ["alerts.yml", "dashboard"])
def test_every_metric_used_is_in_the_contract(source: str) -> None:
    missing = _used()[source] - documented_series()
    assert not missing, f"{source} uses metrics not in docs/metrics.md: {sorted(missing)}"


def test_both_roles_metric_modules_exist() -> None:
    """The scoring and monitoring metric classes are found (else the next test proves little)."""
    modules = {cls.__module__ for cls in metric_classes()}
    assert {
        "streamapp.metrics.common",
        "streamapp.metrics.scoring",
        "streamapp.metrics.monitoring",
        "streamapp.metrics.retrain",
    } <= modules


@pytest.mark.parametrize("source", ["alerts.yml", "dashboard"])
def test_every_metric_used_is_exported(source: str) -> None:
    missing = _used()[source] - exported_series()
    assert not missing, f"{source} uses metrics streamapp does not export: {sorted(missing)}"


def test_every_panel_refers_to_at_least_one_streamapp_metric() -> None:
    for expr in _dashboard_exprs():
        assert metric_names_in(expr), f"dashboard expression without a streamapp metric: {expr}"
