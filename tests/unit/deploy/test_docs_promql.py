"""The PromQL in the docs parses and names only metrics streamapp exports.

That each query also returns data from real workers is checked against a real Prometheus in
tests/integration/test_prometheus_alerts.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.unit.deploy.conftest import (
    docs_queries,
    documented_series,
    exported_series,
    metric_names_in,
    promtool_check_exprs,
)


def test_docs_have_promql_blocks() -> None:
    files = {name for name, _ in docs_queries()}
    assert {"monitoring.md", "operations.md"} <= files
    assert len(docs_queries()) >= 5


def test_every_docs_query_parses(tmp_path: Path) -> None:
    result = promtool_check_exprs([expr for _, expr in docs_queries()], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_in_the_docs_queries_is_exported_and_documented() -> None:
    used = set().union(*(metric_names_in(expr) for _, expr in docs_queries()))
    assert "streamapp_regression_squared_error_total" in used  # the RMSE query
    assert not used - exported_series(), sorted(used - exported_series())
    assert not used - documented_series(), sorted(used - documented_series())
