"""deploy/grafana: the dashboard is valid JSON with sane panels and PromQL that parses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.unit.deploy.conftest import (
    DASHBOARD,
    DEPLOY,
    load_yaml_documents,
    promtool_check_exprs,
)

# Grafana's template variables, replaced by representative values before promtool parses them.
_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "$namespace": ".*",
    "$job": ".*",
    "$instance": ".*",
    "$model": ".*",
    "$version": ".*",
    "$metric": "f1",
}


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text(encoding="utf-8")))


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    dashboard = _dashboard()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))


def test_every_panel_queries_the_selected_datasource() -> None:
    for panel in _panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_dashboard_covers_what_operators_need() -> None:
    """The issue's list: throughput, latency percentiles, batch sizes, lag, paused partitions,
    DLQ by reason, accuracy and drift per version and feature, retrain annotations."""
    text = DASHBOARD.read_text(encoding="utf-8")
    for needle in (
        "streamapp_events_consumed_total",
        "histogram_quantile(0.99, sum by (le, model) (rate(streamapp_end_to_end_latency",
        "streamapp_batch_size",
        "streamapp_consumer_lag",
        "streamapp_paused_partitions",
        "sum by (model, reason) (rate(streamapp_dead_letter_total",
        'metric=\\"accuracy\\"',
        "max by (feature) (streamapp_feature_drift",
        "streamapp_retrain_decisions_total",
        "streamapp_retrain_pending_requests",
    ):
        assert needle in text, needle
    annotations = {a["name"]: a for a in _dashboard()["annotations"]["list"]}
    assert "streamapp_retrain_requests_total" in annotations["Retrain requests"]["expr"]


def test_every_expression_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule (variables substituted)."""
    exprs = [t["expr"] for p in _panels() for t in p["targets"]]
    exprs += [a["expr"] for a in _dashboard()["annotations"]["list"] if a.get("expr")]
    filled = []
    for expr in exprs:
        for variable, value in sorted(_VARIABLES.items(), key=lambda kv: -len(kv[0])):
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"unknown template variable in {expr}"
        filled.append(expr)
    result = promtool_check_exprs(filled, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _all_exprs() -> list[str]:
    dashboard = _dashboard()
    exprs = [t["expr"] for p in _panels() for t in p["targets"]]
    exprs += [a["expr"] for a in dashboard["annotations"]["list"] if a.get("expr")]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_every_selector_is_scoped_to_the_selected_namespace_job_and_instance() -> None:
    """Two deployments in one Prometheus (e.g. staging and production) never mix."""
    names = [v["name"] for v in _dashboard()["templating"]["list"]]
    assert names.index("namespace") < names.index("job") < names.index("instance") < names.index(
        "model"
    )
    scope = ('namespace=~"$namespace"', 'job=~"$job"', 'instance=~"$instance"')
    checked = 0
    for expr in _all_exprs():
        if expr.startswith("label_values(streamapp_build_info"):  # the scope variables themselves
            continue
        for selector in re.findall(r"streamapp_\w+(?:\{[^}]*\})?", expr):
            assert all(matcher in selector for matcher in scope), selector
            checked += 1
    assert checked >= 50


def test_lag_dead_letter_and_consumed_panels_honour_the_model_selector() -> None:
    titles = {"Events consumed / s", "Dead letters / s by reason", "Consumer lag by partition"}
    panels = [p for p in _panels() if p["title"] in titles]
    assert {p["title"] for p in panels} == titles
    for panel in panels:
        for target in panel["targets"]:
            assert 'model=~"$model"' in target["expr"], panel["title"]
    (lag,) = [p for p in panels if p["title"] == "Consumer lag by partition"]
    assert "by (group, topic, partition)" in lag["targets"][0]["expr"]


def test_template_variables_are_defined() -> None:
    names = {v["name"] for v in _dashboard()["templating"]["list"]}
    used = set(re.findall(r"\$\{?([a-z_]+)", DASHBOARD.read_text(encoding="utf-8")))
    assert used - {"__rate_interval", "__interval", "__range", "labels", "value"} <= names


def test_provisioning_points_at_the_mounted_dashboards() -> None:
    (provider_doc,) = load_yaml_documents(DEPLOY / "grafana/provisioning/dashboards/streamapp.yml")
    path = provider_doc["providers"][0]["options"]["path"]
    compose = load_yaml_documents(DEPLOY / "compose/docker-compose.yml")[0]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{path}:ro" in mounts
    assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    (datasources,) = load_yaml_documents(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
