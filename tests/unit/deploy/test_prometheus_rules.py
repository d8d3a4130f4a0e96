"""deploy/prometheus: rule syntax and unit tests via promtool, and the shape of every alert."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.unit.deploy.conftest import ALERTS, DEPLOY, OPERATIONS_DOC, load_yaml_documents, promtool

REQUIRED_ALERTS = {
    "StreamappFeatureDrift",
    "StreamappPredictionDrift",
    "StreamappAccuracyDrop",
    "StreamappRegressionErrorHigh",
    "StreamappLabelCoverageCollapse",
    "StreamappConsumerLagGrowing",
    "StreamappDeadLetterRate",
    "StreamappNoPredictions",
    "StreamappModelRejected",
}
RUNBOOK_PREFIX = "https://github.com/streamapp/streamapp/blob/main/docs/operations.md#"
# Alerts on one-off events (a rejected artifact, an incident opening) fire at once; everything
# else must hold for a while so a noisy window or a rebalance does not page.
EVENT_ALERTS = {"StreamappModelRejected", "StreamappRetrainIncidentOpen"}
_DURATION = re.compile(r"^(\d+)([smh])$")


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _seconds(duration: str) -> int:
    match = _DURATION.match(duration)
    assert match, f"unsupported duration {duration!r}"
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]]


def _github_anchors(markdown: str) -> set[str]:
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_promtool_check_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_promtool_rule_unit_tests() -> None:
    tests = DEPLOY / "prometheus" / "tests" / "alerts_test.yml"
    result = subprocess.run(
        [promtool(), "test", "rules", str(tests)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_unit_tested() -> None:
    tests = yaml.safe_load((DEPLOY / "prometheus" / "tests" / "alerts_test.yml").read_text())
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in _alerts()} <= fired


def test_required_alerts_exist_with_severity_and_annotations() -> None:
    alerts = {rule["alert"]: rule for rule in _alerts()}
    assert set(alerts) >= REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        assert annotations["runbook_url"] == RUNBOOK_PREFIX + name.lower(), name


def test_runbook_anchors_exist_in_operations_doc() -> None:
    anchors = _github_anchors(OPERATIONS_DOC.read_text(encoding="utf-8"))
    for rule in _alerts():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in anchors, f"docs/operations.md has no heading for #{anchor}"


def test_for_durations_avoid_flapping() -> None:
    for rule in _alerts():
        seconds = _seconds(rule.get("for", "0s"))
        if rule["alert"] in EVENT_ALERTS:
            continue
        assert seconds >= 5 * 60, f"{rule['alert']}: for {rule.get('for')} would flap"


def test_prometheus_rule_crd_matches_alerts_yml() -> None:
    """deploy/k8s/base/prometheusrule.yaml is generated from alerts.yml and must match it."""
    (crd,) = load_yaml_documents(DEPLOY / "k8s" / "base" / "prometheusrule.yaml")
    assert crd["kind"] == "PrometheusRule"
    assert crd["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"], (
        "regenerate with: python deploy/k8s/render_prometheusrule.py"
    )


def test_example_prometheus_config_is_valid(tmp_path: Path) -> None:
    """prometheus.yml passes `promtool check config` once its rule path points at alerts.yml."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    # StreamappWorkerDown relies on them
    assert jobs == {"streamapp-scoring", "streamapp-monitor", "streamapp-retrain"}
    config["rule_files"] = [str(ALERTS)]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool(), "check", "config", str(local)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_routes_and_inhibitions_refer_to_real_alerts() -> None:
    (config,) = load_yaml_documents(DEPLOY / "alertmanager" / "alertmanager.yml")
    receivers = {r["name"] for r in config["receivers"]}
    route = config["route"]
    assert route["receiver"] in receivers
    assert all(sub["receiver"] in receivers for sub in route["routes"])
    assert {"alertname", "model", "version"} <= set(route["group_by"])  # one page per incident
    alerts = {rule["alert"] for rule in _alerts()}
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            match = re.fullmatch(r'alertname(=~|=)"([^"]+)"', matcher)
            if match:
                names = match[2].split("|") if match[1] == "=~" else [match[2]]
                assert set(names) <= alerts, matcher
