"""A real Prometheus scraping a real scoring worker and monitor sees the drift alert fire.

Prometheus (Debian's /usr/bin/prometheus) runs on loopback from a temp dir with a 1 s scrape and
evaluation interval and the production rules from deploy/prometheus/alerts.yml; only the
``for:`` of StreamappFeatureDrift is shortened. The workers run as separate processes
(``python -m streamapp score`` / ``monitor``) on the session's embedded broker; the monitor runs
with a non-default ``monitoring.policy.psi_threshold``, which the alert must follow. Stationary
Agrawal traffic fills the drift window with the alert inactive; covariate-shifted traffic from
another classification function then drives it to firing, observed through the HTTP API.
Logged predictions and labels of the regression demo model go straight to the monitor, so the
regression series exist too. Finally every PromQL expression of the docs (``promql`` blocks
in docs/*.md), the Grafana dashboard (panels, annotations, variables) and, selector by selector,
the alert rules is run against this Prometheus and must return data (a few series the scenario
cannot produce excepted), so names and labels in all three match reality.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamapp.brokers import free_port
from streamapp.child import Child, streamapp_command
from streamapp.config import TopicSettings
from streamapp.schemas import Event, Label
from streamapp.training.synthetic import AGRAWAL_MODEL, agrawal
from tests.integration.conftest import produce_all
from tests.unit.deploy.conftest import docs_queries
from tests.unit.monitoring.data import labels_for, predictions

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "streamapp.json"
# Series this scenario cannot produce: no delivery failure, reload, reject, data-quality problem
# or label expiry happens in it, and the retrainer gives up on its request instead of training
# (training is tested in tests/integration/test_retrain.py).
NOT_IN_SCENARIO = (
    "delivery_errors", "reloads", "rejects", "data_quality", "label_expired", "monitor_dead_letter",
    "streamapp_retrain_training",
    # Only versions registered with a drift calibration / fitted estimator export these; the
    # committed demo models predate both (tests/unit/statistics/test_calibration.py and
    # test_estimation.py cover the gauges).
    "streamapp_drift_calibrated_threshold", "streamapp_drift_target_run_length",
    "streamapp_model_metric_estimat",
    # No candidate serves in this scenario (tests/integration/test_verdicts.py covers verdicts).
    "streamapp_candidate_", "streamapp_promotion_decisions",
)
ROLES = {"scoring": "score", "monitor": "monitor", "retrain": "retrain"}
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m", "$__range": "5m", "$model": ".*", "$version": ".*",
    "$metric": "f1", "$namespace": ".*", "$job": ".*", "$instance": ".*",
}
PSI_THRESHOLD = 0.3  # monitoring.policy.psi_threshold of the monitor (default 0.25)
REGRESSION_MODEL = "friedman-reg"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
DRIFT_ALERT = "StreamappFeatureDrift"
WINDOW = 600  # drift window (logged predictions); the alert needs >= 500 samples

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus not installed"),
]


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wait_for(
    what: str | Callable[[], str], check: Callable[[], Any], timeout: float, procs: list[Child]
) -> Any:
    """Poll ``check`` until it returns something truthy; fail early if a process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if not proc.alive():
                code = None if proc.popen is None else proc.popen.returncode
                pytest.fail(f"{proc.name} exited with {code}\n{proc.log_tail()}")
        result = check()
        if result:
            return result
        time.sleep(0.25)  # polling interval of a readiness probe, not a wait on an outcome
    logs = "\n".join(f"--- {proc.name} log (tail) ---\n{proc.log_tail()}" for proc in procs)
    description = what() if callable(what) else what
    pytest.fail(f"timed out after {timeout}s waiting for {description}\n{logs}")


def _start(
    name: str, cmd: list[str], env: dict[str, str], tmp: Path, port: int | None = None
) -> Child:
    return Child(name, cmd, env, tmp / f"{name}.log", http_port=port, cwd=tmp).start()


def _worker_env(
    bootstrap: str, topics: TopicSettings, registry: Path, port: int, unique: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMAPP_")}
    env.update(
        {
            "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "STREAMAPP_MODEL__REGISTRY": str(registry),
            "STREAMAPP_MODEL__NAME": AGRAWAL_MODEL,
            "STREAMAPP_MODEL__DEVICE": "cpu",
            "STREAMAPP_HTTP__HOST": "127.0.0.1",
            "STREAMAPP_HTTP__PORT": str(port),
            "STREAMAPP_LOG__FORMAT": "json",
            "STREAMAPP_SAMPLING__LOG_RATE": "1.0",
            "STREAMAPP_SCORING__GROUP_ID": f"scoring-{unique}",
            # one scoring process: Prometheus scrapes http.port only, not the supervisor's
            # http.port + i children (on a 2-core host the DLQ landed on the unscraped one)
            "STREAMAPP_SCORING__PROCESSES": "1",
            "STREAMAPP_MONITORING__APP_ID": f"monitor-{unique}",
            "STREAMAPP_MONITORING__DRIFT_WINDOW": str(WINDOW),
            "STREAMAPP_MONITORING__POLICY__PSI_THRESHOLD": str(PSI_THRESHOLD),
            # The drift incident's request is skipped (a decision) instead of waiting 15 min.
            "STREAMAPP_RETRAIN__MAX_WAIT_S": "3",
            "STREAMAPP_RETRAIN__GROUP_ID": f"retrain-{unique}",
        }
    )
    for field, value in topics.model_dump().items():
        env[f"STREAMAPP_TOPICS__{field.upper()}"] = str(value)
    return env


def _rules_with_short_for(target: Path) -> None:
    """The production rules, with the drift alert's ``for:`` cut to seconds for the test."""
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    found = 0
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if rule.get("alert") == DRIFT_ALERT:
                rule["for"] = "3s"
                found += 1
    assert found == 1
    target.write_text(yaml.safe_dump(rules), encoding="utf-8")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Callable[[list[str]], None], list[Child]]]:
    """Yield (base url, start(targets), procs); Prometheus is started when targets are known."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs: list[Child] = []

    def start(targets: list[str]) -> None:
        rules = tmp_path / "alerts.yml"
        _rules_with_short_for(rules)
        jobs = tuple(f"streamapp-{role}" for role in ROLES)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in zip(jobs, targets, strict=True)
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        cmd = [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        procs.append(_start("prometheus", cmd, dict(os.environ), tmp_path))

    try:
        yield base, start, procs
    finally:
        for proc in procs:
            proc.stop()


def _shifted(n: int, seed: int) -> Iterator[dict[str, float | int]]:
    """Agrawal events from another concept with a covariate shift on salary, age and loan."""
    for features, _label in agrawal(n, seed=seed, function=4):
        yield {
            **features,
            "salary": float(features["salary"]) * 3.0,
            "age": float(features["age"]) + 35.0,
            "loan": float(features["loan"]) * 0.2,
        }


def _events(
    rows: Iterator[dict[str, float | int]], prefix: str
) -> list[tuple[bytes | None, bytes]]:
    now = datetime.now(UTC)
    out: list[tuple[bytes | None, bytes]] = []
    for i, features in enumerate(rows):
        event_id = f"{prefix}-{i}"
        event = Event(event_id=event_id, event_time=now, features=features)
        out.append((event_id.encode(), event.model_dump_json().encode()))
    return out


def _labels(rows: list[tuple[dict[str, float | int], float | int]], prefix: str) -> list[Any]:
    now = datetime.now(UTC)
    return [
        (
            f"{prefix}-{i}".encode(),
            Label(event_id=f"{prefix}-{i}", label=y, label_time=now).model_dump_json().encode(),
        )
        for i, (_features, y) in enumerate(rows)
    ]


def _fill(expr: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    return expr


def _dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every dashboard target, annotation and query variable, filled in."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = [
        (f"panel {panel['title']}", _fill(str(target["expr"])))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    out += [  # annotations mark events (`changes(...) > 0`): their series, without the filter
        (f"annotation {a['name']}", _fill(re.sub(r"\s*>\s*0$", "", str(a["expr"]))))
        for a in dashboard["annotations"]["list"]
        if a.get("expr")
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":  # label_values(SELECTOR, label): the selector has data
            selector = re.fullmatch(r"label_values\((.*), \w+\)", variable["query"]["query"])
            assert selector, variable["query"]["query"]
            out.append((f"variable ${variable['name']}", _fill(selector[1])))
    return out


def _rule_queries() -> list[tuple[str, str]]:
    """(alert, selector) of every ``streamapp_*`` selector in the alert rules.

    Alert expressions are empty while nothing is wrong, so each rule's selectors are checked
    for data; the whole expressions are run too, to prove they evaluate.
    """
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [
        (rule["alert"], selector)
        for group in rules["groups"]
        for rule in group["rules"]
        for selector in re.findall(r"streamapp_\w+(?:\{[^}]*\})?", rule["expr"])
    ]


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _regression_records(prefix: str) -> tuple[list[Any], list[Any]]:
    """Logged predictions and labels of the regression demo model, timed now (monitor input)."""
    now = datetime.now(UTC)
    preds = [
        p.model_copy(update={"event_time": now, "scored_time": now})
        for p in predictions(300, seed=5, prefix=prefix, model=REGRESSION_MODEL)
    ]
    labels = [
        lab.model_copy(update={"label_time": now}) for lab in labels_for(preds, correct=1.0)
    ]
    return (
        [(p.event_id.encode(), p.model_dump_json().encode()) for p in preds],
        [(lab.event_id.encode(), lab.model_dump_json().encode()) for lab in labels],
    )


def _alert_state(base: str) -> str:
    """State of the drift rule: inactive, pending or firing ('' before the first evaluation)."""
    groups = _get_json(f"{base}/api/v1/rules?type=alert")["data"]["groups"]
    for group in groups:
        for rule in group["rules"]:
            if rule["name"] == DRIFT_ALERT:
                return str(rule["state"])
    return ""


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return list(_get_json(url)["data"]["result"])


def test_drift_alert_goes_from_inactive_to_firing(
    bootstrap: str,
    topic_settings: TopicSettings,
    model_registry_dir: Path,
    unique: str,
    tmp_path: Path,
    prometheus: tuple[str, Callable[[list[str]], None], list[Child]],
) -> None:
    base, start_prometheus, prom_procs = prometheus
    ports = {role: free_port() for role in ROLES}
    procs: list[Child] = []
    try:
        for role, port in ports.items():
            env = _worker_env(bootstrap, topic_settings, model_registry_dir, port, unique)
            procs.append(_start(role, streamapp_command(ROLES[role]), env, tmp_path, port))
        for proc in procs:
            wait_for(f"{proc.name} ready", proc.ready, 120, procs)

        start_prometheus([f"127.0.0.1:{ports[role]}" for role in ROLES])
        everything = procs + prom_procs
        wait_for("prometheus ready", lambda: _status(f"{base}/-/ready") == 200, 60, everything)
        wait_for(
            "every target scraped",
            lambda: len(_query(base, 'up{job=~"streamapp-.*"} == 1')) == len(ROLES),
            60,
            everything,
        )

        # Stationary traffic (the training concept) fills the drift window: alert inactive.
        # Its labels and a few malformed events feed the accuracy and dead-letter panels.
        rows = list(agrawal(WINDOW + 100, seed=101))
        stationary = _events((x for x, _ in rows), f"{unique}-s")
        malformed: list[tuple[bytes | None, bytes]] = [(None, b"{not json")] * 5
        produce_all(bootstrap, topic_settings.events, stationary + malformed)
        produce_all(bootstrap, topic_settings.labels, _labels(rows, f"{unique}-s"))
        logged, labels = _regression_records(f"{unique}-r")
        produce_all(bootstrap, topic_settings.prediction_log, logged)
        produce_all(bootstrap, topic_settings.labels, labels)
        wait_for(
            "a full drift window in Prometheus",
            lambda: _query(base, f"streamapp_drift_window_samples >= {WINDOW}"),
            120,
            everything,
        )
        wait_for("the drift rule evaluated", lambda: _alert_state(base), 30, everything)
        assert _alert_state(base) == "inactive"
        psi_expr = f'max(streamapp_feature_drift{{model="{AGRAWAL_MODEL}", statistic="psi"}})'
        (psi,) = _query(base, psi_expr)
        assert float(psi["value"][1]) < PSI_THRESHOLD, psi
        # The rule compares against the threshold the monitor's policy exports, not a constant.
        (threshold,) = _query(
            base, f'streamapp_policy_threshold{{model="{AGRAWAL_MODEL}", threshold="psi"}}'
        )
        assert float(threshold["value"][1]) == PSI_THRESHOLD

        # Drifted traffic replaces the window: the alert fires, once for the model version.
        drifted = _events(_shifted(WINDOW + 100, seed=202), f"{unique}-d")
        produce_all(bootstrap, topic_settings.events, drifted)
        seen: list[str] = []

        def firing() -> bool:
            state = _alert_state(base)
            if not seen or seen[-1] != state:
                seen.append(state)
            return state == "firing"

        wait_for("the drift alert to fire", firing, 120, everything)
        assert seen[0] == "inactive", seen
        alerts = [
            a
            for a in _get_json(f"{base}/api/v1/alerts")["data"]["alerts"]
            if a["labels"]["alertname"] == DRIFT_ALERT and a["state"] == "firing"
        ]
        assert len(alerts) == 1, alerts
        labels = alerts[0]["labels"]
        assert (labels["model"], labels["version"], labels["severity"]) == (
            AGRAWAL_MODEL,
            "1",
            "warning",
        )
        assert float(alerts[0]["value"]) > PSI_THRESHOLD
        assert "agrawal-clf v1" in alerts[0]["annotations"]["summary"]

        # Every PromQL expression of the docs, the dashboard and the rules returns data from
        # the real workers (names and labels match), except series this scenario never produces.
        for expr in _alert_exprs():
            _query(base, expr)  # evaluates (an invalid expression is a 400 and fails here)
        queries = [
            (where, expr)
            for where, expr in docs_queries() + _dashboard_queries() + _rule_queries()
            if not any(name in expr for name in NOT_IN_SCENARIO)
        ]
        assert len([q for q in queries if q[0].endswith(".md")]) >= 5, "docs' promql blocks"
        assert len(queries) >= 70

        def empty() -> list[str]:
            return [f"{where}: {expr}" for where, expr in queries if not _query(base, expr)]

        wait_for(
            lambda: f"data for every query; empty: {empty()}",
            lambda: not empty(),
            90,
            everything,
        )

        # Every role logged structured JSON lines only (faust must not swap the handler).
        for proc in procs:
            proc.stop()
            lines = [line for line in proc.log_text().splitlines() if line.strip()]
            assert len(lines) >= 2, proc.log_tail()
            for line in lines:
                assert line.startswith("{"), f"{proc.name} wrote a non-JSON log line: {line}"
                record = json.loads(line)
                assert {"ts", "level", "logger", "pid", "msg"} <= set(record), line
    finally:
        for proc in reversed(procs):  # workers before the broker (session fixture) goes
            proc.stop()
