"""Shared helpers for the deploy/ tests: repo paths, YAML loading, metric-name sets, kustomize.

Nothing here starts a long-running process; promtool and kustomize are run by the tests that
need them.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

import streamapp.metrics

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "streamapp.json"
DOCS = REPO / "docs"
METRICS_DOC = DOCS / "metrics.md"
OPERATIONS_DOC = REPO / "docs" / "operations.md"
K8S = DEPLOY / "k8s"
OVERLAYS = ("cpu", "cuda")

_METRIC_IN_EXPR = re.compile(r"\bstreamapp_[a-zA-Z0-9_]+\b")
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count"),
    "info": ("_info",),
    "gauge": ("",),
}


def load_yaml_documents(path: Path) -> list[Any]:
    """Every YAML document of ``path`` (``---`` separated), empty documents dropped."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def metric_names_in(expr: str) -> set[str]:
    """The ``streamapp_*`` metric names a PromQL expression refers to."""
    return set(_METRIC_IN_EXPR.findall(expr))


def documented_series() -> set[str]:
    """Series names the metrics contract (docs/metrics.md) allows, with type suffixes expanded."""
    names: set[str] = set()
    row = re.compile(r"^\|\s*`(streamapp_[a-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|", re.MULTILINE)
    for name, kind in row.findall(METRICS_DOC.read_text(encoding="utf-8")):
        names.add(name)
        if kind in ("histogram", "summary"):
            names.update(name + suffix for suffix in _SUFFIXES[kind])
    return names


def metric_classes() -> list[type]:
    """Every metrics class in ``streamapp/metrics/*``: defined there and taking ``prometheus=``."""
    found: list[type] = []
    for info in pkgutil.iter_modules(streamapp.metrics.__path__):
        module = importlib.import_module(f"streamapp.metrics.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            if "prometheus" in inspect.signature(cls).parameters:
                found.append(cls)
    return found


def exported_series() -> set[str]:
    """Series names streamapp exports: every metrics class on a fresh registry, suffixes added.

    Labelled metrics have no samples until used, so names come from the metric
    families and their types, not from samples.
    """
    names: set[str] = set()
    for cls in metric_classes():
        registry = CollectorRegistry()
        cls(prometheus=registry)
        for family in registry.collect():
            names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def promtool() -> str:
    """Path of promtool, or skip (CI installs Debian's prometheus package, so it runs there)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


def kustomize() -> list[str]:
    """The command that renders a kustomization directory given as its last argument.

    ``.tools/bin/kustomize`` (built by scripts/bootstrap.sh where nothing else is
    installed), a ``kustomize`` on PATH, or ``kubectl kustomize``. Fails, never skips,
    when none is there: bootstrap guarantees one.
    """
    local = REPO / ".tools" / "bin" / "kustomize"
    if local.is_file():
        return [str(local), "build"]
    for name, subcommand in (("kustomize", "build"), ("kubectl", "kustomize")):
        path = shutil.which(name)
        if path is not None:
            return [path, subcommand]
    pytest.fail("neither kustomize nor kubectl is installed: run scripts/bootstrap.sh dev")


@functools.cache
def render_overlay(name: str) -> tuple[dict[str, Any], ...]:
    """The objects ``kustomize build deploy/k8s/<name>`` renders (what ``apply -k`` sends)."""
    result = subprocess.run(
        [*kustomize(), str(K8S / name)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kustomize {name}: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc is not None)


def docs_queries() -> list[tuple[str, str]]:
    """(file name, PromQL) of every ``promql`` code block in docs/*.md."""
    return [
        (path.name, block.strip())
        for path in sorted(DOCS.glob("*.md"))
        for block in re.findall(r"```promql\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    ]


def promtool_check_exprs(exprs: list[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check rules`` on the expressions, each as a recording rule (parses them)."""
    rules = [{"record": f"check:expr_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = workdir / "exprs_as_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "check", "rules": rules}]}))
    return subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
